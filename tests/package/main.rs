//! The Debian package `./dev.sh deb` builds: what it holds, file for file (contents.rs), and
//! that it installs and runs `ebpf-jsonl check` in clean Debian 12 and Debian 11 roots made
//! with debootstrap, as README "Install" says (install.rs; the roots: chroot.rs).
//! Needs root, dpkg-deb, debootstrap and unshare (./dev.sh deps installs them); never skips.

mod chroot;
mod contents;
mod install;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The package, built by `./dev.sh deb` once per test run (seconds when
/// target/portable is fresh, as `./dev.sh test` leaves it).
pub fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let built = run_in(REPO, "./dev.sh", &["deb"]);
        assert!(built.status.success(), "./dev.sh deb: {}", said(&built));
        let name = format!("ebpf-jsonl_{}_amd64.deb", env!("CARGO_PKG_VERSION"));
        let deb = Path::new(REPO).join("target/debian").join(name);
        assert!(deb.is_file(), "./dev.sh deb made no {}", deb.display());
        deb
    })
}

/// The binary the package holds.
pub fn portable() -> PathBuf {
    Path::new(REPO).join("target/portable/ebpf-jsonl")
}

/// Runs PROGRAM ARGS in DIR; a missing tool fails the test with a line saying how to get it.
pub fn run_in(dir: impl AsRef<Path>, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): ./dev.sh deps installs it"))
}

pub fn run(program: &str, args: &[&str]) -> Output {
    run_in(REPO, program, args)
}

/// An Output's status and both streams, for a failure message.
pub fn said(out: &Output) -> String {
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    let (stdout, stderr) = (
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr),
    );
    format!("{}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status)
}

/// stdout of a command that must succeed.
pub fn stdout_of(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(out.status.success(), "{program} {args:?}: {}", said(&out));
    String::from_utf8(out.stdout).unwrap()
}
