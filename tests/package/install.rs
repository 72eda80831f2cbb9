//! README "Install", run as written (as root, so without `sudo`) in clean Debian roots: the
//! package installs with nothing else (no network: the base system meets its Depends), and
//! `ebpf-jsonl check` says exec and xdp can run; in Debian 11 the bare portable binary too.
//! The two roots' tests run in parallel.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::chroot::Root;
use super::contents::FILES;
use super::{deb, portable, said, stdout_of, REPO};

/// README "Install"'s commands for the package and the portable binary.
const PACKAGE: &str = "sudo apt-get install ./target/debian/ebpf-jsonl_*.deb";
const PORTABLE: &str = "sudo install -m 0755 target/portable/ebpf-jsonl /usr/bin/";
/// Where the roots hold the checkout's target/debian and target/portable.
const CHECKOUT: &str = "/srv/ebpf-jsonl";

/// A fresh SUITE root holding the package and the portable binary under CHECKOUT.
fn root_with_builds(suite: &str) -> Root {
    let deb = deb();
    let root = Root::debian(suite);
    let checkout = root.path.join(CHECKOUT.trim_start_matches('/'));
    for (from, dir) in [
        (deb.to_path_buf(), "target/debian"),
        (portable(), "target/portable"),
    ] {
        fs::create_dir_all(checkout.join(dir)).unwrap();
        fs::copy(&from, checkout.join(dir).join(from.file_name().unwrap())).unwrap();
    }
    root
}

/// `ebpf-jsonl check`'s verdict, kept in /srv/NAME.json by [`check`] (which also exited 0
/// if the script did): JSON saying exec and xdp can run.
fn assert_check_passes(root: &Root, name: &str, what: &str) {
    let json = fs::read_to_string(root.path.join(format!("srv/{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{what}: check printed no JSON ({e}): {json}"));
    for program in ["exec", "xdp"] {
        assert_eq!(
            v[program]["can_run"], true,
            "{what}: {program} cannot run: {json}"
        );
    }
}

/// BINARY's `check`, its stdout kept in /srv/NAME.json.
fn check(binary: &str, name: &str) -> String {
    format!("{binary} check >/srv/{name}.json")
}

/// The package is installed, its files are there with their modes, the logrotate file is a
/// conffile, and no unit is enabled.
fn assert_installed(root: &Root, suite: &str) {
    let status = fs::read_to_string(root.path.join("var/lib/dpkg/status")).unwrap();
    let ours = status
        .split("\n\n")
        .find(|s| s.starts_with("Package: ebpf-jsonl\n"));
    let ours = ours.unwrap_or_else(|| panic!("{suite}: ebpf-jsonl not in dpkg's status"));
    assert!(
        ours.contains("\nStatus: install ok installed\n"),
        "{suite}: {ours}"
    );
    assert!(
        ours.contains("\n /etc/logrotate.d/ebpf-jsonl "),
        "{suite}: the logrotate file is no conffile: {ours}"
    );
    for (file, mode, _) in FILES {
        let meta =
            fs::metadata(root.path.join(file)).unwrap_or_else(|e| panic!("{suite}: /{file}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{suite}: /{file}");
    }
    let enabled = stdout_of(
        "find",
        &[
            root.path.join("etc").to_str().unwrap(),
            "-name",
            "ebpf-jsonl*.service",
        ],
    );
    assert!(enabled.is_empty(), "{suite}: units enabled: {enabled}");
}

/// README's PACKAGE command as root, answering no to any question: had it more to install
/// (and no network to fetch it), apt-get would ask, and stop.
fn install_package() -> String {
    format!(
        "cd {CHECKOUT} && {} </dev/null",
        PACKAGE.strip_prefix("sudo ").unwrap()
    )
}

#[test]
fn the_package_installs_and_check_runs_on_debian_12() {
    let root = root_with_builds("bookworm");
    let script = format!("{}\n{}", install_package(), check("ebpf-jsonl", "package"));
    let out = root.run(&script);
    assert!(out.status.success(), "bookworm: {}", said(&out));
    assert_check_passes(&root, "package", "bookworm: the package");
    assert_installed(&root, "bookworm");
}

#[test]
fn the_portable_binary_and_the_package_run_check_in_debian_11() {
    let root = root_with_builds("bullseye");
    // The bare binary; README's portable install (on PATH); then the package over it.
    let script = [
        check(&format!("{CHECKOUT}/target/portable/ebpf-jsonl"), "bare"),
        format!(
            "cd {CHECKOUT} && {}",
            PORTABLE.strip_prefix("sudo ").unwrap()
        ),
        "ebpf-jsonl --version".into(),
        install_package(),
        check("ebpf-jsonl", "package"),
    ];
    let out = root.run(&script.join("\n"));
    assert!(out.status.success(), "bullseye: {}", said(&out));
    assert_check_passes(&root, "bare", "bullseye: the bare portable binary");
    assert_check_passes(&root, "package", "bullseye: the package");
    assert_installed(&root, "bullseye");
}

/// The section's code: README's commands are the ones run above, and building from source
/// names the Debian packages dev.sh installs to build (BUILD_PKGS). `cargo install --locked
/// --path .` itself is a release build (minutes of CI): `./dev.sh run` builds the same way.
#[test]
fn readme_install_says_what_the_tests_run() {
    let readme = fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let start = readme
        .find("\n### Install\n")
        .expect("README: no ### Install");
    let section = &readme[start + 1..];
    let section = &section[..section[1..].find("\n#").map_or(section.len(), |n| n + 1)];
    let code: Vec<&str> = section.lines().map(str::trim).collect();
    for command in [
        PACKAGE,
        "./dev.sh build-portable",
        PORTABLE,
        "cargo install --locked --path .",
    ] {
        assert!(
            code.contains(&command),
            "README Install: no line {command:?}"
        );
    }
    let dev = fs::read_to_string(Path::new(REPO).join("dev.sh")).unwrap();
    let pkgs = dev
        .split("BUILD_PKGS=(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("dev.sh: BUILD_PKGS");
    let pkgs: Vec<&str> = pkgs
        .split_whitespace()
        .map(|e| e.rsplit_once(':').map_or(e, |(p, _)| p))
        .collect();
    let apt = format!("sudo apt-get install {}", pkgs.join(" "));
    assert!(
        code.contains(&apt.as_str()),
        "README Install: no line {apt:?}"
    );
}

/// The Rust that README and dev.sh ask for is Cargo.toml's `rust-version`, and no dependency
/// built for Linux (Cargo.lock's versions, which `--locked` installs) declares a newer one.
/// (Our own code's use of newer std APIs is clippy's `incompatible_msrv` lint, run by CI.)
#[test]
fn the_rust_asked_for_is_the_one_the_dependencies_need() {
    let manifest: toml::Table = fs::read_to_string(Path::new(REPO).join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let ours = manifest["package"]["rust-version"].as_str().unwrap();
    let readme = fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let dev = fs::read_to_string(Path::new(REPO).join("dev.sh")).unwrap();
    for (text, what, line) in [
        (&readme, "README Install", format!("(Rust {ours} or newer)")),
        (
            &readme,
            "README From the repository",
            format!("Rust ≥ {ours}"),
        ),
        (
            &dev,
            "dev.sh need_cargo",
            format!("install Rust {ours} or newer"),
        ),
    ] {
        assert!(
            text.contains(&line),
            "{what}: no {line:?} (Cargo.toml's rust-version)"
        );
    }
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", "x86_64-unknown-linux-gnu"])
        .current_dir(REPO)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata: {}", said(&out));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // "1.85" is "1.85.0".
    let version = |v: &str| -> [u32; 3] {
        let mut n = v.split('.').map(|n| n.parse().unwrap());
        [(); 3].map(|()| n.next().unwrap_or(0))
    };
    let needed = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["rust_version"].as_str()?, p["name"].as_str()?)))
        .max_by_key(|(v, _)| version(v))
        .unwrap();
    assert!(
        version(needed.0) <= version(ours),
        "{} needs Rust {}, newer than Cargo.toml's rust-version {ours}",
        needed.1,
        needed.0
    );
}
