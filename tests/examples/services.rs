//! The systemd units and the logrotate config: what ebpf-jsonl needs of them (which
//! capabilities, which paths, which protections would break it) and that they name each
//! other right. Syntax, keys, the commands' paths and the hardening (NoNewPrivileges,
//! PrivateTmp, ProtectSystem, ProtectHome, ...) are the validators' (validators.rs).

use std::collections::BTreeSet;

use super::files::{outputs, read, rel, units, with_ext};

/// Each unit, how its ExecStart goes on after /usr/bin/ebpf-jsonl (where the package
/// installs it: README "Install"), and the capabilities that needs, no more: exec's
/// cgroup paths are the kernel's names, so no CAP_DAC_READ_SEARCH.
const UNITS: [(&str, &str, &str); 2] = [
    ("ebpf-jsonl-exec", "exec --exits", "CAP_BPF CAP_PERFMON"),
    ("ebpf-jsonl-xdp", "xdp", "CAP_BPF CAP_PERFMON CAP_NET_ADMIN"),
];

/// Settings both units need as they are: the log directory the only writable path
/// (ebpf-jsonl creates its file 0640, so UMask keeps the group's read bit), SIGHUP to
/// reopen it, a restart when it fails.
const SETTINGS: [(&str, &str); 5] = [
    ("Restart", "on-failure"),
    ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ("LogsDirectory", "ebpf-jsonl"),
    ("ReadWritePaths", "/var/log/ebpf-jsonl"),
    ("UMask", "0027"),
];

/// Settings that would break loading BPF, resolving cgroups or (`xdp`) seeing the
/// host's interfaces, with the value that breaks it and the units it breaks.
const BREAKS: [(&str, &str, &str); 3] = [
    ("PrivateUsers", "yes", ""), // capabilities in a user namespace are no use
    ("ProcSubset", "pid", ""),   // hides /proc/mounts
    ("PrivateNetwork", "yes", "xdp"),
];

#[test]
fn systemd_units_grant_what_ebpf_jsonl_needs() {
    let units = units();
    let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, UNITS.map(|(name, ..)| format!("{name}.service")));
    for (u, (f, command, needed)) in units.iter().zip(UNITS) {
        let argv = u.argv().join(" ");
        let runs = format!("/usr/bin/ebpf-jsonl {command} ");
        assert!(argv.starts_with(&runs), "{f} runs {command}");
        // Exactly the capabilities it needs (CAP_SYS_RESOURCE allowed, for old kernels'
        // memlock), granted as ambient too.
        let mut bounding = u.words("CapabilityBoundingSet");
        assert_eq!(bounding, u.words("AmbientCapabilities"), "{f}: ambient");
        bounding.remove("CAP_SYS_RESOURCE");
        let needed: BTreeSet<&str> = needed.split_whitespace().collect();
        assert_eq!(bounding, needed, "{f}: CapabilityBoundingSet");
        for (key, value) in SETTINGS {
            assert_eq!(u.get(key), Some(value), "{f}: {key}");
        }
        for (key, value, _) in BREAKS.iter().filter(|b| f.contains(b.2)) {
            assert_ne!(u.get(key), Some(*value), "{f}: {key}={value} breaks it");
        }
        let filter = u.words("SystemCallFilter");
        for call in ["bpf", "perf_event_open"] {
            assert!(filter.is_empty() || filter.contains(call), "{f}: {call}");
        }
        assert_eq!(u.all("WantedBy"), ["multi-user.target"], "{f}");
        let dir = u.output().rsplit_once('/').map(|(dir, _)| dir);
        assert_eq!(dir, u.get("ReadWritePaths"), "{f}: --output");
    }
}

/// Each block of a logrotate config (whose syntax `logrotate -d` has checked): its
/// paths and the lines inside.
fn rotations<'a>(text: &'a str) -> Vec<(Vec<&'a str>, Vec<&'a str>)> {
    let code = text.lines().map(str::trim).filter(|l| !l.starts_with('#'));
    let code: Vec<&str> = code.filter(|l| !l.is_empty()).collect();
    let blocks = code.split(|l| *l == "}").filter(|b| !b.is_empty());
    let block = |b: &[&'a str]| {
        let (head, body) = b.split_first().unwrap();
        let paths = head.strip_suffix('{').expect("a block").split_whitespace();
        (paths.collect(), body.to_vec())
    };
    blocks.map(block).collect()
}

#[test]
fn logrotate_reopens_by_sighup() {
    let units = units();
    let mut rotated = BTreeSet::new();
    for p in with_ext("logrotate") {
        let text = read(&p);
        for (paths, body) in rotations(&text) {
            let what = format!("{} {paths:?}", rel(&p));
            // ebpf-jsonl reopens its file on SIGHUP: nothing copies or creates it.
            let copies = |d: &&str| *d == "copytruncate" || d.starts_with("create");
            assert!(!body.iter().any(copies), "{what}: copytruncate or create");
            let script = body.iter().skip_while(|l| **l != "postrotate").skip(1);
            let script: Vec<&str> = script.take_while(|l| **l != "endscript").copied().collect();
            let [cmd] = script[..] else {
                panic!("{what}: one postrotate command, not {script:?}")
            };
            let hup = cmd.strip_prefix("systemctl kill -s HUP ");
            let unit_name = hup.and_then(|rest| rest.split_whitespace().next());
            let unit_name = unit_name.unwrap_or_else(|| panic!("{what}: {cmd}: no HUP"));
            let unit = units.iter().find(|u| u.name == unit_name);
            let output = unit.map(|u| u.output().to_string());
            assert_eq!(paths, output.as_slice(), "{what}: {unit_name}'s output");
            rotated.extend(output);
        }
    }
    assert_eq!(rotated, outputs(), "every unit's output is rotated");
}
