//! Bad input is refused before anything is attached: every flag value that
//! does not fit is exit 2 with a one-line error naming the flag and the
//! limit. (A missing capability is tests/privileges.rs's.)

use ebpf_jsonl_testkit as common;
use ebpf_jsonl_testkit::net;

use common::{run_tool, run_tool_in};
use net::Pair;

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
    // Sixty-five distinct values of a repeatable flag.
    let many = |flag: &str| -> Vec<String> {
        (0..65)
            .flat_map(|i| {
                let v = if flag == "--comm" {
                    format!("c{i}")
                } else {
                    i.to_string()
                };
                [flag.to_string(), v]
            })
            .collect()
    };
    // Each of these used to attach, then panic (or wrap silently).
    let cases: [(&str, &str, &[&str]); 15] = [
        (
            "--duration",
            "at most 8760h",
            &["9223372036854775807", "18446744073709551615h", "8761h"],
        ),
        ("--duration", "too long", &["99999999999999999999999ms"]),
        ("--duration", "positive", &["0s"]),
        ("--max-args", "1 to 65536", &["99999999999", "0"]),
        (
            "--max-argv-bytes",
            "1 to 64K",
            &["99999999999999999999K", "18014398509481984K"],
        ),
        ("--ringbuf-size", "4K to 256M", &["18014398509481984K"]),
        ("--ringbuf-size", "power of two", &["3M"]),
        ("--uid", "0 to 4294967294", &["4294967295", "99999999999"]),
        ("--euid", "0 to 4294967294", &["4294967295", "99999999999"]),
        ("--pid", "1 to 2147483647", &["99999999999"]),
        ("--pid", "no process", &[&no_pid]),
        ("--comm", "1 to 15 bytes", &["sixteen-bytes-xx"]),
        ("--uid", "at most 64", &[]),
        ("--euid", "at most 64", &[]),
        ("--comm", "at most 64", &[]),
    ];
    for (flag, says, values) in cases {
        let mut runs: Vec<Vec<&str>> = values.iter().map(|v| vec!["exec", flag, v]).collect();
        let many = many(flag);
        if values.is_empty() {
            runs.push(
                ["exec"]
                    .into_iter()
                    .chain(many.iter().map(String::as_str))
                    .collect(),
            );
        }
        for args in runs {
            assert_refused(run_tool(&args), &args, flag, says);
        }
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
    for (flag, says, value) in [
        (
            "--interval",
            "at most 8760h",
            &["18446744073709551615", "9223372036854775807s"][..],
        ),
        ("--idle-timeout", "at most 8760h", &["18446744073709552s"]),
        ("--duration", "at most 8760h", &["18446744073709551615h"]),
        ("--max-flows", "1 to 1048576", &["4294967296", "1048577"]),
    ]
    .into_iter()
    .flat_map(|(flag, says, values)| values.iter().map(move |v| (flag, says, *v)))
    {
        let args = vec!["xdp", ifc, flag, value];
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
