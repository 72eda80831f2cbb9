//! The package's files, modes, owners and control fields, exactly; and that each file is
//! what it is made from (the portable binary, what it generates, examples/systemd/).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::{deb, portable, stdout_of, REPO};

/// Every file the package installs, its mode, and what it is made from: a file of the
/// repository, or (after `$`) the portable binary's output for those arguments, gzipped
/// for the man page.
pub const FILES: [(&str, u32, &str); 10] = [
    ("usr/bin/ebpf-jsonl", 0o755, "target/portable/ebpf-jsonl"),
    ("usr/share/man/man1/ebpf-jsonl.1.gz", 0o644, "$ man"),
    (
        "usr/share/bash-completion/completions/ebpf-jsonl",
        0o644,
        "$ completions bash",
    ),
    (
        "usr/share/zsh/vendor-completions/_ebpf-jsonl",
        0o644,
        "$ completions zsh",
    ),
    (
        "usr/share/fish/vendor_completions.d/ebpf-jsonl.fish",
        0o644,
        "$ completions fish",
    ),
    (
        "lib/systemd/system/ebpf-jsonl-exec.service",
        0o644,
        "examples/systemd/ebpf-jsonl-exec.service",
    ),
    (
        "lib/systemd/system/ebpf-jsonl-xdp.service",
        0o644,
        "examples/systemd/ebpf-jsonl-xdp.service",
    ),
    (
        "etc/logrotate.d/ebpf-jsonl",
        0o644,
        "examples/systemd/ebpf-jsonl.logrotate",
    ),
    ("usr/share/doc/ebpf-jsonl/README.md", 0o644, "README.md"),
    (
        "usr/share/doc/ebpf-jsonl/copyright",
        0o644,
        "(both licences)",
    ),
];

/// `-rwxr-xr-x` for 0o755, with the type letter.
fn mode_string(kind: char, mode: u32) -> String {
    let bits = (0..9).rev().map(|i| match (mode >> i & 1, i % 3) {
        (0, _) => '-',
        (_, 2) => 'r',
        (_, 1) => 'w',
        _ => 'x',
    });
    std::iter::once(kind).chain(bits).collect()
}

#[test]
fn the_package_holds_exactly_its_files_owned_by_root() {
    let deb = deb().to_str().unwrap();
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for line in stdout_of("dpkg-deb", &["-c", deb]).lines() {
        // -rw-r--r-- 0/0  987 2026-12-01 00:00 ./etc/logrotate.d/ebpf-jsonl
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [perms, owner, _, _, _, path] = fields[..] else {
            panic!("dpkg-deb -c: {line}")
        };
        assert!(owner == "0/0" || owner == "root/root", "{line}: not root's");
        if path == "./" {
            // the archive's root (dpkg-deb --build writes it)
            assert_eq!(perms, "drwxr-xr-x", "{line}");
            continue;
        }
        let path = path.strip_prefix("./").expect(line);
        match path.strip_suffix('/') {
            Some(dir) => assert!(dirs.insert((dir.to_string(), perms.to_string()))),
            None => assert!(files.insert((path.to_string(), perms.to_string()))),
        }
    }
    let want: BTreeSet<_> = FILES
        .iter()
        .map(|(f, mode, _)| (f.to_string(), mode_string('-', *mode)))
        .collect();
    assert_eq!(files, want, "dpkg-deb -c {deb}");
    // The directories: each one leading to a file, 0755.
    let parents: BTreeSet<_> = FILES
        .iter()
        .flat_map(|(f, ..)| {
            Path::new(f)
                .ancestors()
                .skip(1)
                .map(|a| a.to_str().unwrap().to_string())
        })
        .filter(|a| !a.is_empty())
        .map(|a| (a, mode_string('d', 0o755)))
        .collect();
    assert_eq!(dirs, parents, "dpkg-deb -c {deb}: directories");
}

#[test]
fn each_packaged_file_is_what_it_is_made_from() {
    let deb = deb().to_str().unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-contents");
    let _ = fs::remove_dir_all(&out);
    stdout_of("dpkg-deb", &["-x", deb, out.to_str().unwrap()]);
    let bin = portable();
    let bin = bin.to_str().unwrap();
    for (file, _, from) in FILES {
        let got = fs::read(out.join(file)).unwrap();
        let want = match from.strip_prefix("$ ") {
            Some("man") => {
                let gunzip = stdout_of(
                    "sh",
                    &["-c", "gzip -dc \"$0\"", out.join(file).to_str().unwrap()],
                );
                assert_eq!(gunzip, stdout_of(bin, &["man"]), "{file}: `ebpf-jsonl man`");
                assert_eq!(got[..2], [0x1f, 0x8b], "{file}: gzip");
                continue;
            }
            Some(args) => stdout_of(bin, &args.split(' ').collect::<Vec<_>>()).into_bytes(),
            None if from.starts_with('(') => continue,
            None => fs::read(Path::new(REPO).join(from)).unwrap(),
        };
        assert!(got == want, "{file} is not {from}");
    }
    // The copyright file (Debian's machine-readable format) holds both licences' texts.
    let copyright = fs::read_to_string(out.join("usr/share/doc/ebpf-jsonl/copyright")).unwrap();
    let field = "License: MIT or Apache-2.0";
    assert!(copyright
        .starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"));
    assert!(copyright.contains(field), "copyright: no {field:?}");
    for (name, license) in [("MIT", "LICENSE-MIT"), ("Apache-2.0", "LICENSE-APACHE")] {
        let text = fs::read_to_string(Path::new(REPO).join(license)).unwrap();
        let indented: Vec<String> = text
            .lines()
            .map(|l| {
                if l.trim().is_empty() {
                    " .".into()
                } else {
                    format!(" {l}")
                }
            })
            .collect();
        let paragraph = format!("\nLicense: {name}\n{}\n", indented.join("\n"));
        assert!(
            copyright.contains(&paragraph),
            "copyright: no {license} paragraph"
        );
    }
    // md5sums lists every file, and each sum is right (what `dpkg --verify` reads).
    let sums = stdout_of(
        "sh",
        &[
            "-c",
            "dpkg-deb --ctrl-tarfile \"$0\" | tar -xO ./md5sums",
            deb,
        ],
    );
    let listed: BTreeSet<&str> = sums
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(_, f)| f)
        .collect();
    let packaged: BTreeSet<&str> = FILES.iter().map(|(f, ..)| *f).collect();
    assert_eq!(listed, packaged, "md5sums: the files");
    let check = format!("cd \"$0\" && md5sum --quiet -c <<'EOF'\n{sums}EOF");
    stdout_of("sh", &["-c", &check, out.to_str().unwrap()]);
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn the_control_file_says_what_the_package_is_and_needs() {
    let deb = deb().to_str().unwrap();
    let field = |name: &str| {
        stdout_of("dpkg-deb", &["-f", deb, name])
            .trim_end()
            .to_string()
    };
    assert_eq!(field("Package"), "ebpf-jsonl");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Architecture"), "amd64");
    assert_eq!(field("Section"), "admin");
    let maintainer = field("Maintainer");
    assert!(
        maintainer.contains(" <") && maintainer.ends_with('>'),
        "Maintainer: {maintainer}"
    );
    let description = field("Description");
    let (synopsis, long) = description
        .split_once('\n')
        .expect("an extended description");
    assert_eq!(synopsis, env!("CARGO_PKG_DESCRIPTION"));
    assert!(
        synopsis.len() < 80,
        "Description: a synopsis under 80 characters"
    );
    let long = long.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        long.contains("neither enabled nor started"),
        "Description: {long}"
    );
    // Depends: the glibc the binary needs, no other library (libelf and zlib are linked in).
    let depends = field("Depends");
    let floor = stdout_of(
        "sh",
        &[
            "-c",
            "objdump -T \"$0\" | grep -o 'GLIBC_[0-9.]*' | sed s/GLIBC_// | sort -uV | tail -n 1",
            portable().to_str().unwrap(),
        ],
    );
    assert_eq!(depends, format!("libc6 (>= {})", floor.trim()), "Depends");
    for lib in ["libelf", "zlib", "libgcc"] {
        assert!(!depends.contains(lib), "Depends: {depends}");
    }
    // No maintainer script (nothing enables or starts a unit), the logrotate file a conffile,
    // md5sums (checked in each_packaged_file_is_what_it_is_made_from).
    let control = stdout_of(
        "sh",
        &["-c", "dpkg-deb --ctrl-tarfile \"$0\" | tar -t", deb],
    );
    let control: BTreeSet<&str> = control
        .lines()
        .map(|l| l.trim_start_matches("./"))
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        control,
        BTreeSet::from(["conffiles", "control", "md5sums"]),
        "control archive"
    );
    let conffiles = stdout_of(
        "sh",
        &[
            "-c",
            "dpkg-deb --ctrl-tarfile \"$0\" | tar -xO ./conffiles",
            deb,
        ],
    );
    assert_eq!(conffiles.trim(), "/etc/logrotate.d/ebpf-jsonl");
}
