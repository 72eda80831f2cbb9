//! The systemd units and the logrotate config: what ebpf-jsonl needs of them (which
//! capabilities, which paths, which protections would break it) and that they name each
//! other right. Syntax, keys and the overall hardening are the validators' (validators.rs).

use std::collections::BTreeSet;

use super::files::{read, rel, units, with_ext};

/// Settings both units need as they are: the log directory the only writable path
/// (ebpf-jsonl creates its file 0640, so UMask keeps the group's read bit), SIGHUP to
/// reopen it, and the protections the exposure ceiling would not single out.
const SETTINGS: [(&str, &str); 10] = [
    ("NoNewPrivileges", "yes"),
    ("PrivateTmp", "yes"),
    ("ProtectHome", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectControlGroups", "yes"), // cgroup paths come from the kernel's names anyway
    ("Restart", "on-failure"),
    ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ("LogsDirectory", "ebpf-jsonl"),
    ("ReadWritePaths", "/var/log/ebpf-jsonl"),
    ("UMask", "0027"),
];

/// Settings that would break loading BPF, resolving cgroups or (`xdp`) seeing the
/// host's interfaces, with the value that breaks it.
const BREAKS: [(&str, &str, &str); 3] = [
    (
        "PrivateUsers",
        "yes",
        "capabilities in a user namespace are no use",
    ),
    ("ProcSubset", "pid", "hides /proc/mounts"),
    ("PrivateNetwork", "yes", "xdp needs the host's interfaces"),
];

#[test]
fn systemd_units_grant_what_ebpf_jsonl_needs() {
    let units = units();
    let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["ebpf-jsonl-exec.service", "ebpf-jsonl-xdp.service"]);
    for u in &units {
        let f = &u.name;
        let argv = u.argv();
        assert_eq!(argv[0], "/usr/local/bin/ebpf-jsonl", "{f}");
        // exec's cgroup paths need nothing more (the kernel's names), so no
        // CAP_DAC_READ_SEARCH: that would be more than it needs.
        let (needed, sub) = if argv[1] == "exec" {
            (&["CAP_BPF", "CAP_PERFMON"][..], "exec")
        } else {
            (&["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"][..], "xdp")
        };
        assert_eq!(*f, format!("ebpf-jsonl-{sub}.service"), "{f} runs {sub}");

        // Only the capabilities it needs (CAP_SYS_RESOURCE allowed), granted as ambient too.
        let bounding = u.words("CapabilityBoundingSet");
        assert_eq!(bounding, u.words("AmbientCapabilities"), "{f}: ambient");
        for c in needed {
            assert!(bounding.contains(c), "{f}: lacks {c}");
        }
        for c in &bounding {
            let allowed = needed.contains(c) || *c == "CAP_SYS_RESOURCE";
            assert!(allowed, "{f}: {c} is more than it needs");
        }
        for (key, value) in SETTINGS {
            assert_eq!(u.get(key), Some(value), "{f}: {key}");
        }
        for (key, value, why) in BREAKS
            .iter()
            .filter(|b| sub == "xdp" || b.0 != "PrivateNetwork")
        {
            assert_ne!(u.get(key), Some(*value), "{f}: {key}={value}: {why}");
        }
        assert_eq!(u.all("INSTALL", "WantedBy"), ["multi-user.target"], "{f}");
        assert_eq!(
            u.output().rsplit_once('/').unwrap().0,
            "/var/log/ebpf-jsonl"
        );
        let filter = u.words("SystemCallFilter");
        if !filter.is_empty() {
            for call in ["bpf", "perf_event_open"] {
                assert!(filter.contains(call), "{f}: SystemCallFilter lacks {call}");
            }
            // open_by_handle_at is of use only with CAP_DAC_READ_SEARCH.
            assert_eq!(
                filter.contains("open_by_handle_at"),
                bounding.contains("CAP_DAC_READ_SEARCH"),
                "{f}: SystemCallFilter names open_by_handle_at iff CAP_DAC_READ_SEARCH is held"
            );
        }
    }
    assert_eq!(
        units[0].get("ExecStart"),
        Some("/usr/local/bin/ebpf-jsonl exec --exits --output /var/log/ebpf-jsonl/exec.jsonl")
    );
}

/// Each block of a logrotate config (whose syntax `logrotate -d` has checked) as its
/// paths, directives and postrotate lines.
fn rotations(text: &str) -> Vec<(Vec<String>, Vec<&str>, Vec<&str>)> {
    let code = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let mut blocks: Vec<(Vec<String>, Vec<&str>, Vec<&str>)> = Vec::new();
    let mut in_script = false;
    for line in code.filter(|l| *l != "}") {
        match (line.strip_suffix('{'), blocks.last_mut()) {
            (Some(paths), _) => blocks.push((
                paths.split_whitespace().map(String::from).collect(),
                vec![],
                vec![],
            )),
            (None, Some(b)) => match line {
                "postrotate" | "endscript" => in_script = line == "postrotate",
                _ if in_script => b.2.push(line),
                _ => b.1.push(line),
            },
            (None, None) => panic!("a directive outside a block: {line}"),
        }
    }
    blocks
}

#[test]
fn logrotate_reopens_by_sighup() {
    let units = units();
    let mut rotated = BTreeSet::new();
    for p in with_ext("logrotate") {
        for (paths, directives, postrotate) in rotations(&read(&p)) {
            let what = format!("{} {paths:?}", rel(&p));
            assert!(
                !directives
                    .iter()
                    .any(|d| *d == "copytruncate" || d.starts_with("create")),
                "{what}: ebpf-jsonl reopens its file on SIGHUP: no copytruncate, no create"
            );
            assert_eq!(postrotate.len(), 1, "{what}: one postrotate command");
            let cmd = postrotate[0];
            let unit_name = cmd
                .strip_prefix("systemctl kill -s HUP ")
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| {
                    panic!("{what}: postrotate should be systemctl kill -s HUP UNIT")
                });
            let unit = units
                .iter()
                .find(|u| u.name == unit_name)
                .unwrap_or_else(|| panic!("{what}: no examples/systemd/{unit_name}"));
            assert_eq!(
                paths,
                [unit.output()],
                "{what}: {unit_name} writes another file"
            );
            rotated.extend(paths);
        }
    }
    let outputs: BTreeSet<String> = units.iter().map(|u| u.output()).collect();
    assert_eq!(rotated, outputs, "every unit's output is rotated");
}
