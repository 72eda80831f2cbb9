//! Clean Debian roots: `debootstrap --variant=minbase SUITE` once into a cached tarball
//! (${XDG_CACHE_HOME:-~/.cache}/ebpf-jsonl/rootfs/SUITE.tar.gz, from the mirror the host's
//! apt uses), unpacked fresh for each test into a directory removed even on failure.
//! Everything mounted (the chroot's /proc, /sys, /dev; debootstrap's own) is mounted in a
//! private mount namespace, so nothing stays mounted on the host whatever happens.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use super::{run, said};

/// The host's Debian mirror: its apt sources' first `.../debian` URI (as
/// tests/kernels/matrix.sh finds it), or $EBPF_JSONL_DEBIAN_MIRROR.
fn mirror() -> String {
    if let Ok(m) = std::env::var("EBPF_JSONL_DEBIAN_MIRROR") {
        return m;
    }
    let mut sources = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(d) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = d.flatten().map(|e| e.path()).collect();
        more.sort();
        sources.extend(more);
    }
    let uri = |line: &str| {
        let words = line
            .strip_prefix("URIs:")
            .or_else(|| line.strip_prefix("deb "))?;
        let words = words.split_whitespace().filter(|w| !w.starts_with('['));
        let first = words.clone().next()?;
        first
            .trim_end_matches('/')
            .ends_with("/debian")
            .then(|| first.trim_end_matches('/').to_string())
    };
    let text = sources
        .iter()
        .filter_map(|s| fs::read_to_string(s).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let found = text.lines().map(str::trim).find_map(uri);
    found.expect("no Debian mirror (a .../debian URI) in /etc/apt's sources: set EBPF_JSONL_DEBIAN_MIRROR=URL")
}

/// The cached minbase root of SUITE, made now if it is not there.
fn tarball(suite: &str) -> PathBuf {
    let cache = std::env::var("XDG_CACHE_HOME").map(PathBuf::from);
    let cache =
        cache.unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
    let dir = cache.join("ebpf-jsonl/rootfs");
    let tarball = dir.join(format!("{suite}.tar.gz"));
    if tarball.is_file() {
        return tarball;
    }
    fs::create_dir_all(&dir).unwrap();
    let tmp = Root::empty(&format!("debootstrap-{suite}"));
    let (root, mirror) = (tmp.path.to_str().unwrap(), mirror());
    let started = Instant::now();
    // apt's downloaded packages and lists go: the root is as small as debootstrap can make
    // it, and the tests install from a file, with no network.
    let script = r#"debootstrap --variant=minbase "$1" "$2" "$3" >"$2.log" 2>&1 || { tail -n 20 "$2.log"; exit 1; }
        rm -rf "$2"/var/cache/apt/archives/*.deb "$2"/var/lib/apt/lists/*"#;
    let made = run(
        "unshare",
        &[
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            suite,
            root,
            &mirror,
        ],
    );
    assert!(
        made.status.success(),
        "debootstrap {suite} (./dev.sh deps installs debootstrap): {}",
        said(&made)
    );
    eprintln!(
        "debootstrap --variant=minbase {suite}: {:.0?}",
        started.elapsed()
    );
    let part = dir.join(format!("{suite}.tar.gz.{}", std::process::id()));
    let tar = run("tar", &["-C", root, "-czf", part.to_str().unwrap(), "."]);
    assert!(tar.status.success(), "tar {suite}: {}", said(&tar));
    fs::rename(&part, &tarball).unwrap();
    let _ = fs::remove_file(format!("{root}.log"));
    tarball
}

/// A root directory of the tests' own, removed when dropped (unless something is still
/// mounted below it: then it is left, and said, rather than deleting through a mount).
pub struct Root {
    pub path: PathBuf,
}

impl Root {
    fn empty(name: &str) -> Root {
        let path =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Root { path }
    }

    /// A fresh minbase root of SUITE.
    pub fn debian(suite: &str) -> Root {
        let tarball = tarball(suite);
        let root = Root::empty(&format!("root-{suite}"));
        let path = root.path.to_str().unwrap();
        let unpacked = run("tar", &["-C", path, "-xzf", tarball.to_str().unwrap()]);
        assert!(
            unpacked.status.success(),
            "tar -x {}: {}",
            tarball.display(),
            said(&unpacked)
        );
        root
    }

    /// SCRIPT run by /bin/sh chrooted into the root, as root, with /proc, /sys and /dev
    /// mounted there, in mount and network namespaces of its own (so with no network).
    pub fn run(&self, script: &str) -> Output {
        let enter = r#"mount -t proc proc "$0/proc" && mount --rbind /sys "$0/sys" && mount --rbind /dev "$0/dev" &&
            exec chroot "$0" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive /bin/sh -ec "$1""#;
        let root = self.path.to_str().unwrap();
        run(
            "unshare",
            &[
                "--mount",
                "--net",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                enter,
                root,
                script,
            ],
        )
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let ours = self.path.to_str().unwrap();
        if let Some(m) = mounts
            .lines()
            .find(|l| l.split(' ').nth(4).is_some_and(|p| p.starts_with(ours)))
        {
            eprintln!("{ours} left in place: still mounted there: {m}");
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}
