//! `ebpf-jsonl check` and `ebpf-jsonl schema`.

use ebpf_jsonl_testkit as common;

use common::run_tool;
use serde_json::Value;

#[test]
fn check_reports_what_this_host_allows() {
    let (st, out, err) = run_tool(&["check"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(st.code(), Some(0), "{v:#}\n{err}");
    assert_eq!(out.lines().count(), 1, "one JSON object");
    assert!(v["kernel"]["release"].as_str().unwrap().contains('.'));
    assert_eq!(v["kernel"]["btf"], true);
    assert_eq!(v["privileges"]["euid"], 0);
    assert_eq!(v["ringbuf"], true);
    for hook in ["tp_btf", "raw_tp", "tracepoint", "kprobe", "fentry"] {
        let h = &v["hooks"][hook];
        assert!(
            h["loads"].is_boolean() && h["attaches"].is_boolean(),
            "{hook}: {h}"
        );
        if h["attaches"] == false {
            assert!(h["error"].is_string(), "a failing hook says why: {h}");
        }
    }
    // The hooks `exec` uses work here, and it says which one it would use.
    assert_eq!(v["hooks"]["tp_btf"]["attaches"], true);
    assert_eq!(v["hooks"]["raw_tp"]["attaches"], true);
    assert_eq!(v["exec"]["can_run"], true);
    assert_eq!(v["exec"]["hook"], "tp_btf");
    assert_eq!(v["xdp"]["can_run"], true);
    // The egress hook `xdp --direction egress` would use: 6.18 has TCX (6.6+).
    assert_eq!(v["xdp"]["egress_hook"], "tcx");
    // Those verdicts come from exec's and xdp's real programs, loaded and
    // attached: exec's in both flavours, every program it may load.
    for flavour in ["tp_btf", "raw_tp"] {
        let p = &v["programs"][format!("exec_{flavour}")];
        assert_eq!(
            (&p["loads"], &p["attaches"]),
            (&true.into(), &true.into()),
            "{p}"
        );
        assert_eq!(
            (&p["error"], &p["needs"]),
            (&Value::Null, &Value::Null),
            "{p}"
        );
        let hooks: Vec<String> = ["exec", "exit", "free", "fork"]
            .iter()
            .map(|h| format!("{flavour}/sched_process_{h}"))
            .chain(["sys_enter", "sys_exit"].map(|h| format!("{flavour}/{h}")))
            .collect();
        assert_eq!(p["hooks"], serde_json::json!(hooks), "{p}");
        assert_eq!(v["hooks"][flavour]["attaches"], p["attaches"]);
    }
    let x = &v["programs"]["xdp"];
    assert_eq!(
        (&x["loads"], &x["error"]),
        (&true.into(), &Value::Null),
        "{x}"
    );
    // The flavour `xdp` would load here: 6.18 has 64-bit atomics.
    assert_eq!(x["flavour"], "atomic", "{x}");
    assert_eq!(v["xdp_loads"], true);
    if v["tracefs_mounted"] == false {
        assert_eq!(v["hooks"]["tracepoint"]["attaches"], false);
        assert!(v["hooks"]["tracepoint"]["error"]
            .as_str()
            .unwrap()
            .contains("tracefs is not mounted"));
    }
}

#[test]
fn check_without_privileges_says_why_and_how_to_fix() {
    let out = common::run_unprivileged(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exec"]["can_run"], false);
    assert!(v["exec"]["fix"].as_str().unwrap().contains("CAP_BPF"));
    assert_eq!(v["xdp"]["can_run"], false);
    assert!(v["xdp"]["fix"].as_str().unwrap().contains("CAP_NET_ADMIN"));
}

#[test]
fn schema_is_draft_2020_12_for_every_type() {
    let (st, out, _) = run_tool(&["schema"]);
    assert_eq!(st.code(), Some(0));
    let all: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        all["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::meta::validate(&all).expect("the schema is itself valid");
    for t in ["exec", "exit", "lost", "flow", "xdp_stats"] {
        let (st, out, _) = run_tool(&["schema", t]);
        assert_eq!(st.code(), Some(0));
        let one: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(one["properties"]["type"]["const"], t);
        jsonschema::meta::validate(&one).expect("valid");
    }
    // The contract examples validate; a missing or extra field does not.
    let exec = serde_json::json!({"type":"exec","timestamp":"2026-11-25T08:22:22.123456789Z","pid":3360,"tid":3360,"ppid":3359,"uid":0,"gid":0,"euid":0,"egid":0,"auid":null,"sessionid":null,"secureexec":false,"tty":null,"comm":"true","parent_comm":"sh","filename":"/bin/true","args":["/bin/true","a b",""],"args_truncated":false,"args_size":15,"cwd":"/root","exe":"/usr/bin/true","fileless":false,"ret":0,"error":null,"exec_id":"3360-81234567890","parent_exec_id":"3359-81234000000","cgroup_id":4242,"cgroup":"/","container_id":null,"mntns":4026531841u32,"pidns":4026531836u32});
    common::validate(&exec);
    let v = jsonschema::draft202012::new(&all).unwrap();
    let mut extra = exec.clone();
    extra["surprise"] = 1.into();
    assert!(!v.is_valid(&extra));
    let mut missing = exec.clone();
    missing.as_object_mut().unwrap().remove("cgroup_id");
    assert!(!v.is_valid(&missing));

    let (st, _, err) = run_tool(&["schema", "nope"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn recorded_example_output_matches_the_schema() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            common::validate(&v);
            n += 1;
        }
    }
    assert!(n > 20, "examples/data holds recorded output ({n} lines)");
}

#[test]
fn man_page_and_completions_come_from_the_cli_definitions() {
    let (st, man, _) = run_tool(&["man"]);
    assert_eq!(st.code(), Some(0));
    assert!(man.contains(".TH ebpf-jsonl 1"), "roff man page");
    for sub in ["exec", "xdp", "check", "schema"] {
        assert!(man.contains(sub), "man page lists {sub}");
    }
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef ebpf-jsonl"),
        ("fish", "complete -c ebpf-jsonl"),
    ] {
        let (st, text, _) = run_tool(&["completions", shell]);
        assert_eq!(st.code(), Some(0));
        assert!(text.contains(needle), "{shell}: {needle}");
        assert!(
            text.contains("max-argv-bytes"),
            "{shell} completes exec's flags"
        );
    }
    let (st, _, err) = run_tool(&["completions", "tcsh"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("tcsh"), "{err}");
    // --help carries short examples.
    let (_, help, _) = run_tool(&["exec", "--help"]);
    assert!(
        help.contains("Examples:") && help.contains("| jq"),
        "{help}"
    );
}
