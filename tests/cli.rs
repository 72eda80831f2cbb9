//! Bad input is refused before anything is attached: every flag value that
//! does not fit is exit 2 with a one-line error naming the flag and the
//! limit; a missing capability is exit 3 naming that capability, and
//! `check` names the same one.

use ebpf_jsonl_testkit as common;
use ebpf_jsonl_testkit::net;

use common::{run_tool, run_tool_in, run_without_caps};
use net::Pair;
use serde_json::Value;

/// The error's own lines: clap follows it with a blank line and a
/// "For more information, try '--help'." tip, which is not part of it.
fn message_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("For more information"))
        .collect()
}

/// Exit 2, nothing on stdout, one line naming `flag` and saying `says`.
#[track_caller]
fn assert_refused(
    (st, out, err): (std::process::ExitStatus, String, String),
    args: &[&str],
    flag: &str,
    says: &str,
) {
    assert_eq!(st.code(), Some(2), "{args:?}: exit {st}; stderr:\n{err}");
    assert_eq!(out, "", "{args:?}: nothing on stdout");
    let lines = message_lines(&err);
    assert_eq!(lines.len(), 1, "{args:?}: one line, got:\n{err}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {err}");
    assert!(lines[0].contains(flag), "{args:?}: names {flag}: {err}");
    assert!(lines[0].contains(says), "{args:?}: says {says:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn exec_values_that_do_not_fit_are_refused_before_attaching() {
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    let no_pid = (pid_max.trim().parse::<u64>().unwrap() + 1).to_string();
    let many_uids: Vec<String> = (0..65)
        .flat_map(|u| ["--uid".into(), u.to_string()])
        .collect();
    let many_comms: Vec<String> = (0..65)
        .flat_map(|i| ["--comm".into(), format!("c{i}")])
        .collect();
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        // Each of these used to attach, then panic (or wrap silently).
        (
            vec!["--duration", "9223372036854775807"],
            "--duration",
            "at most 8760h",
        ),
        (
            vec!["--duration", "18446744073709551615h"],
            "--duration",
            "at most 8760h",
        ),
        (vec!["--duration", "8761h"], "--duration", "at most 8760h"),
        (
            vec!["--duration", "99999999999999999999999ms"],
            "--duration",
            "too long",
        ),
        (vec!["--duration", "0s"], "--duration", "positive"),
        (
            vec!["--max-args", "99999999999"],
            "--max-args",
            "1 to 65536",
        ),
        (vec!["--max-args", "0"], "--max-args", "1 to 65536"),
        (
            vec!["--max-argv-bytes", "99999999999999999999K"],
            "--max-argv-bytes",
            "1 to 64K",
        ),
        (
            vec!["--max-argv-bytes", "18014398509481984K"],
            "--max-argv-bytes",
            "1 to 64K",
        ),
        (
            vec!["--ringbuf-size", "18014398509481984K"],
            "--ringbuf-size",
            "4K to 256M",
        ),
        (
            vec!["--ringbuf-size", "3M"],
            "--ringbuf-size",
            "power of two",
        ),
        (vec!["--uid", "4294967295"], "--uid", "0 to 4294967294"),
        (vec!["--uid", "99999999999"], "--uid", "0 to 4294967294"),
        (vec!["--pid", "99999999999"], "--pid", "1 to 2147483647"),
        (vec!["--pid", &no_pid], "--pid", "no process"),
        (
            vec!["--comm", "sixteen-bytes-xx"],
            "--comm",
            "1 to 15 bytes",
        ),
        (
            many_uids.iter().map(String::as_str).collect(),
            "--uid",
            "at most 64",
        ),
        (
            many_comms.iter().map(String::as_str).collect(),
            "--comm",
            "at most 64",
        ),
    ];
    for (flags, flag, says) in cases {
        let mut args = vec!["exec"];
        args.extend(flags);
        assert_refused(run_tool(&args), &args, flag, says);
    }
}

#[test]
fn a_bad_match_regex_is_one_line() {
    for (re, says) in [
        ("(", "unclosed group, at byte 0"),
        ("a{2,1}", "invalid repetition count range"),
        ("ok\n(", "unclosed group"),
        ("a{99999999}", "size limit"),
    ] {
        let args = ["exec", "--match", re];
        assert_refused(run_tool(&args), &args, "--match", says);
    }
}

#[test]
fn xdp_values_that_do_not_fit_are_refused_before_attaching() {
    // A real interface (in namespaces of its own): the old code attached to
    // it and then panicked.
    let pair = Pair::new(false);
    let ifc = pair.if_a.as_str();
    for (flags, flag, says) in [
        (
            ["--interval", "18446744073709551615"],
            "--interval",
            "at most 8760h",
        ),
        (
            ["--interval", "9223372036854775807s"],
            "--interval",
            "at most 8760h",
        ),
        (
            ["--idle-timeout", "18446744073709552s"],
            "--idle-timeout",
            "at most 8760h",
        ),
        (
            ["--duration", "18446744073709551615h"],
            "--duration",
            "at most 8760h",
        ),
        (["--max-flows", "4294967296"], "--max-flows", "1 to 1048576"),
        (["--max-flows", "1048577"], "--max-flows", "1 to 1048576"),
    ] {
        let mut args = vec!["xdp", ifc];
        args.extend(flags);
        assert_refused(run_tool_in(Some(&pair.ns_a), &args), &args, flag, says);
        assert!(!pair.has_xdp(), "{args:?} left a program attached");
    }
}

#[test]
fn interface_names_are_checked_and_quoted_on_one_line() {
    for (name, says) in [
        ("eth\n0", r"'\n'"),
        ("x\u{1b}[31m", r"'\u{1b}'"),
        ("a/b", "'/'"),
        ("a b", "' '"),
        ("sixteen-bytes-xx", "at most 15 bytes"),
        ("", "cannot be empty"),
    ] {
        for args in [vec!["xdp", name], vec!["check", "--iface", name]] {
            let flag = if args[0] == "xdp" {
                "<IFACE>"
            } else {
                "--iface"
            };
            assert_refused(run_tool(&args), &args, flag, says);
        }
    }
    // The raw value is never printed: the newline comes out as `\n`.
    let (_, _, err) = run_tool(&["xdp", "eth\n0"]);
    assert!(err.contains(r"'eth\n0'"), "{err}");
}

#[test]
fn an_unknown_flag_with_a_newline_stays_on_one_line() {
    let args = ["exec", "--dura\ntion", "1s"];
    let (st, _, err) = run_tool(&args);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(err.contains(r"'--dura\ntion'"), "{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        r"error: unexpected argument '--dura\ntion' found"
    );
}

#[test]
fn errors_quoting_a_path_with_a_newline_stay_on_one_line() {
    // Not clap's errors but ours, printed once in main: still one line.
    for args in [
        ["exec", "--cgroup", "/no-such-cgroup\nx"],
        ["exec", "--output", "/no-such-dir\nx/out.jsonl"],
    ] {
        let (st, out, err) = run_tool(&args);
        assert_eq!(st.code(), Some(2), "{args:?}: {err}");
        assert_eq!(out, "");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.starts_with("ebpf-jsonl: error: ") && err.contains(r"\nx"),
            "{err}"
        );
    }
}

fn check_without(drop: &[&str]) -> Value {
    let out = run_without_caps(None, drop, &["check"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check without {drop:?}: {e}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let ok = v["exec"]["can_run"] == true && v["xdp"]["can_run"] == true;
    assert_eq!(out.status.code(), Some(if ok { 0 } else { 1 }), "{v}");
    for cap in drop {
        assert_eq!(
            v["privileges"][format!("cap_{cap}")],
            false,
            "setpriv dropped {cap}: {v}"
        );
    }
    v
}

#[test]
fn check_names_the_capability_that_is_missing() {
    // CAP_SYS_ADMIN stands in for CAP_PERFMON: only without both is one missing.
    let v = check_without(&["perfmon"]);
    assert_eq!(v["exec"]["can_run"], true, "{v}");
    assert_eq!(v["xdp"]["can_run"], true, "{v}");

    let v = check_without(&["sys_admin", "perfmon"]);
    assert_eq!(v["exec"]["reason"], "missing CAP_PERFMON", "{v}");
    assert_eq!(v["xdp"]["reason"], "missing CAP_PERFMON", "{v}");
    assert!(
        v["exec"]["fix"]
            .as_str()
            .unwrap()
            .contains("grant CAP_PERFMON"),
        "{v}"
    );
    assert_eq!(
        v["hooks"]["tp_btf"]["loads"], false,
        "and the kernel agrees: {v}"
    );

    let v = check_without(&["sys_admin", "bpf"]);
    assert_eq!(v["exec"]["reason"], "missing CAP_BPF", "{v}");
    assert_eq!(v["xdp"]["reason"], "missing CAP_BPF", "{v}");

    // CAP_SYS_ADMIN stands in for CAP_NET_ADMIN too.
    let v = check_without(&["net_admin"]);
    assert_eq!(v["xdp"]["can_run"], true, "{v}");
    let v = check_without(&["sys_admin", "net_admin"]);
    assert_eq!(v["exec"]["can_run"], true, "{v}");
    assert_eq!(v["xdp"]["reason"], "missing CAP_NET_ADMIN", "{v}");
    assert_eq!(v["xdp_loads"], false, "and the kernel agrees: {v}");

    // CAP_DAC_READ_SEARCH is needed for nothing (cgroup paths come from the
    // kernel's names): reported, and exec's verdict is a plain yes.
    let v = check_without(&["dac_read_search"]);
    assert_eq!(
        v["exec"],
        serde_json::json!({"hook": v["exec"]["hook"], "can_run": true, "reason": null, "fix": null}),
        "{v}"
    );
    assert!(v["exec"]["hook"].is_string(), "{v}");
    assert_eq!(v["xdp"]["can_run"], true, "{v}");

    let v = check_without(&["sys_admin", "bpf", "perfmon", "net_admin"]);
    assert_eq!(
        v["exec"]["reason"], "missing CAP_BPF and CAP_PERFMON",
        "{v}"
    );
    assert_eq!(
        v["xdp"]["reason"], "missing CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN",
        "{v}"
    );
}

#[test]
fn capabilities_of_a_user_namespace_do_not_count() {
    // unshare -U maps us to root with every capability, in a namespace of
    // our own: bpf() refuses, and check must not blame the kernel for it.
    let unshare = |args: &[&str]| {
        std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", common::BIN])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("unshare (util-linux)")
    };
    let out = unshare(&["check"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["privileges"]["cap_bpf"], true, "{v}");
    assert_eq!(v["privileges"]["initial_user_namespace"], false, "{v}");
    for (cmd, missing) in [
        ("exec", "CAP_BPF and CAP_PERFMON"),
        ("xdp", "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"),
    ] {
        let reason = v[cmd]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("missing {missing} in the initial user namespace")),
            "{v}"
        );
        assert!(
            v[cmd]["fix"].as_str().unwrap().contains("user namespace"),
            "{v}"
        );
    }
    let out = unshare(&["exec", "--duration", "5s"]);
    assert_refused_for(
        &out,
        "CAP_BPF and CAP_PERFMON in the initial user namespace \
         (those held in this process's own user namespace do not count for BPF)",
    );
}

/// What exec says on stderr when all is well: which hooks it attached
/// (and, before that, if tp_btf is unavailable, that it falls back to
/// raw_tp), no warning, nothing about capabilities.
#[track_caller]
fn assert_no_warning(stderr: &str) {
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("ebpf-jsonl: exec: attached ")),
        "{stderr}"
    );
    for l in stderr.lines() {
        assert!(
            l.starts_with("ebpf-jsonl: exec: "),
            "unexpected: {l}\n{stderr}"
        );
        assert!(
            !l.contains("warning") && !l.contains("CAP_"),
            "unexpected: {l}\n{stderr}"
        );
    }
}

/// The minimum is CAP_BPF + CAP_PERFMON, cgroups included: as nobody with
/// just those two, exec starts without a warning, names the cgroup of what
/// it sees, and ends cleanly (tests/exec_cgroup.rs covers paths in depth).
#[test]
fn exec_with_only_cap_bpf_and_cap_perfmon_names_cgroups_and_warns_of_nothing() {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup v2 line in /proc/self/cgroup")
        .to_string();
    let mut t = common::Tracer::start_minimal_caps(&["exec"]);
    let m = common::marker("mincaps");
    common::run(std::process::Command::new("/bin/true").arg(&m));
    let v = t.exec_with(&m);
    assert_eq!(v["cgroup"], own.as_str(), "{v}");
    let done = t.stop();
    assert_eq!(done.status.code(), Some(0), "stderr: {}", done.stderr);
    assert_no_warning(&done.stderr);
}

/// Exit 3, one line naming exactly what is missing, nothing on stdout.
#[track_caller]
fn assert_refused_for(out: &std::process::Output, missing: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("not privileged enough: missing {missing}; ")),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn exec_and_xdp_refuse_naming_the_missing_capability() {
    // (--duration: should one wrongly start, it still ends.)
    let out = run_without_caps(
        None,
        &["sys_admin", "perfmon"],
        &["exec", "--duration", "5s"],
    );
    assert_refused_for(&out, "CAP_PERFMON");
    // Without CAP_DAC_READ_SEARCH it runs, and has nothing to warn about.
    let out = run_without_caps(None, &["dac_read_search"], &["exec", "--duration", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert_no_warning(&err);

    let pair = Pair::new(false);
    let xdp = ["xdp", pair.if_a.as_str(), "--duration", "1s"];
    // The verifier needs CAP_PERFMON for the flow program: said up front,
    // not as a verifier refusal.
    let out = run_without_caps(Some(&pair.ns_a), &["sys_admin", "perfmon"], &xdp);
    assert_refused_for(&out, "CAP_PERFMON");
    let out = run_without_caps(Some(&pair.ns_a), &["sys_admin", "net_admin"], &xdp);
    assert_refused_for(&out, "CAP_NET_ADMIN");
    assert!(!pair.has_xdp());

    // With CAP_SYS_ADMIN, CAP_NET_ADMIN is not needed: it runs.
    let out = run_without_caps(Some(&pair.ns_a), &["net_admin"], &xdp);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    let last: Value = serde_json::from_slice(
        out.stdout
            .split(|&b| b == b'\n')
            .rfind(|l| !l.is_empty())
            .expect("records on stdout"),
    )
    .unwrap();
    common::validate(&last);
    assert_eq!(last["type"], "xdp_stats", "{last}");
}
