//! A missing capability is exit 3 naming that capability, and `check` names the
//! same one; capabilities of a user namespace do not count; CAP_BPF and
//! CAP_PERFMON are enough for exec, cgroups included.

use ebpf_jsonl_testkit as common;
use ebpf_jsonl_testkit::net;

use common::run_without_caps;
use net::Pair;
use serde_json::Value;

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
        serde_json::json!({"hook": v["exec"]["hook"], "failed_hook": v["exec"]["failed_hook"],
                           "failed_argv_reader": v["exec"]["failed_argv_reader"],
                           "can_run": true, "reason": null, "fix": null}),
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
