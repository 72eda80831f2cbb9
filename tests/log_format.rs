//! `--log-format json`: every line the real binary writes on stderr is one
//! JSON object (`ebpf-jsonl schema log`) — usage errors, `check`'s notes and
//! libbpf's log, real `exec` and `xdp` runs' notes — while stdout stays records only;
//! `--log-format text` (the default) keeps the lines as they were.

use ebpf_jsonl_testkit as common;

use std::process::Command;
use std::sync::OnceLock;

use common::net::Pair;
use common::{marker, run, run_tool, Tracer};
use serde_json::Value;

/// Each stderr line, parsed and checked against `schema log`: it has the
/// three fields, and `subcommand` when it is given.
#[track_caller]
fn json_lines(stderr: &str) -> Vec<Value> {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let (st, out, err) = run_tool(&["schema", "log"]);
        assert!(st.success(), "schema log: {err}");
        let schema: Value = serde_json::from_str(&out).expect("schema log is JSON");
        jsonschema::draft202012::new(&schema).expect("a valid draft 2020-12 schema")
    });
    assert!(
        stderr.ends_with('\n'),
        "stderr ends with a whole line: {stderr:?}"
    );
    let lines = stderr.lines().map(|l| {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        if let Err(e) = schema.validate(&v) {
            panic!("does not match `schema log`: {e}: {l}");
        }
        for field in ["timestamp", "level", "message"] {
            assert!(v[field].is_string(), "{field}: {l}");
        }
        v
    });
    lines.collect()
}

#[test]
fn a_usage_error_is_one_json_line_and_exit_2() {
    let cases: [&[&str]; 5] = [
        &["exec", "--nope", "--log-format", "json"],
        &["--log-format=json", "exec", "--pid", "0"],
        &["--log-format", "json", "xdp"],
        &["--log-format", "json", "check", "--iface", "bad/name"],
        &["--log-format", "json", "nope"],
    ];
    for args in cases {
        let (st, out, err) = run_tool(args);
        assert_eq!(st.code(), Some(2), "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}: nothing on stdout");
        let lines = json_lines(&err);
        assert_eq!(lines.len(), 1, "{args:?}: one line:\n{err}");
        assert_eq!(lines[0]["level"], "error", "{args:?}");
        let message = lines[0]["message"].as_str().unwrap();
        assert!(!message.starts_with("error: "), "{args:?}: {message}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The last --log-format wins; `text` keeps clap's own report.
    let (st, _, err) = run_tool(&["--log-format", "json", "exec", "--log-format", "text", "-z"]);
    assert_eq!(st.code(), Some(2));
    assert!(err.starts_with("error: unexpected argument '-z'"), "{err}");
}

#[test]
fn check_writes_only_json_lines_on_stderr() {
    let (_, out, err) = run_tool(&["check", "--log-format", "json", "--verbose"]);
    let report: Value = serde_json::from_str(&out).expect("check's report on stdout");
    assert!(report.is_object(), "{out}");
    let lines = json_lines(&err);
    // --verbose forwards libbpf's log: there is some, each line an object.
    let libbpf = lines.iter().filter(|v| {
        let m = v["message"].as_str().unwrap();
        m.starts_with("libbpf: ")
    });
    assert!(libbpf.count() > 0, "libbpf's log:\n{err}");
    for v in &lines {
        assert_eq!(v["subcommand"], "check", "{v}");
        assert!(["info", "warn", "error"].contains(&v["level"].as_str().unwrap()));
    }
}

#[test]
fn a_real_exec_run_says_attached_in_json_and_prints_only_records() {
    let mut t = Tracer::start(&["--log-format", "json", "exec"]);
    let m = marker("logfmt");
    run(Command::new("/bin/true").arg(&m));
    // Records on stdout, each validated against the records' schema.
    let rec = t.exec_with(&m);
    assert_eq!(rec["type"], "exec");
    let done = t.stop_ok();
    let lines = json_lines(&done.stderr);
    let attached = lines.iter().find(|v| {
        let m = v["message"].as_str().unwrap();
        m.starts_with("exec: attached ")
    });
    let attached = attached.unwrap_or_else(|| panic!("no attached line:\n{}", done.stderr));
    assert_eq!(attached["level"], "info");
    assert_eq!(attached["subcommand"], "exec");
    for r in &done.records {
        assert!(r["type"].is_string(), "stdout holds records only: {r}");
    }
}

#[test]
fn a_real_xdp_run_says_its_hooks_and_notes_in_json() {
    let pair = Pair::new(false);
    let args = [
        "--log-format",
        "json",
        "--direction",
        "both",
        "--mode",
        "generic",
    ];
    let tool = pair.tool(&[&args[..], &["--interval", "200ms"]].concat());
    let done = tool.stop_ok();
    let lines = json_lines(&done.stderr);
    let said = |start: &str| {
        let line = lines
            .iter()
            .find(|v| v["message"].as_str().unwrap().starts_with(start));
        let line = line.unwrap_or_else(|| panic!("no {start:?} line:\n{}", done.stderr));
        assert_eq!(line["subcommand"], "xdp", "{line}");
        line["level"].as_str().unwrap().to_string()
    };
    let ingress = format!("xdp: attached to {} (ifindex ", pair.if_a);
    assert_eq!(said(&ingress), "info");
    assert_eq!(said("xdp: egress: attached to "), "info");
    assert_eq!(said("xdp: note: generic mode sees packets"), "info");
    assert!(
        done.records.iter().any(|r| r["type"] == "xdp_stats"),
        "{:?}",
        done.records
    );
}

#[test]
fn an_error_is_the_same_message_in_both_forms() {
    let args = ["exec", "--output", "/nonexistent-dir/exec.jsonl"];
    let (st, out, text) = run_tool(&args);
    assert_eq!((st.code(), out.as_str()), (Some(2), ""), "{text}");
    let line = text.strip_prefix("ebpf-jsonl: error: ").expect(&text);
    assert_eq!(line.lines().count(), 1, "{text}");
    let (st, out, json) = run_tool(&[&args[..], &["--log-format", "json"]].concat());
    assert_eq!((st.code(), out.as_str()), (Some(2), ""), "{json}");
    let lines = json_lines(&json);
    assert_eq!(lines.len(), 1, "{json}");
    assert_eq!(lines[0]["level"], "error");
    assert_eq!(lines[0]["message"], line.trim_end(), "{json}");
    assert_eq!(lines[0]["subcommand"], "exec");
}

#[test]
fn text_stays_the_default_and_rejects_other_formats() {
    // The default and `text` are the same bytes (less the run's timestamps: none in text).
    let bad = ["exec", "--output", "/nonexistent-dir/exec.jsonl"];
    let (_, _, default) = run_tool(&bad);
    let (_, _, text) = run_tool(&[&bad[..], &["--log-format", "text"]].concat());
    assert_eq!(default, text);
    assert!(!default.starts_with('{'), "{default}");
    let (st, out, err) = run_tool(&["exec", "--log-format", "yaml"]);
    assert_eq!((st.code(), out.as_str()), (Some(2), ""), "{err}");
    assert!(
        err.starts_with("error: invalid value 'yaml' for '--log-format"),
        "{err}"
    );
}
