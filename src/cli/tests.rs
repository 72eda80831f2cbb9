//! The value parsers' unit tests, and clap's own check of the definitions.

use std::time::Duration;

use super::exec::{parse_pid, parse_regex, parse_ringbuf_size, parse_uid};
use super::*;

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("ten")
        .unwrap_err()
        .contains("not a duration"));
    assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
    assert!(parse_duration("-1s").is_err());
    assert!(parse_duration("+1s").is_err());
    assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
    for long in [
        "8761h",
        "31536001",
        "9223372036854775807",
        "18446744073709551615h",
        "18446744073709552s",
        "99999999999999999999999ms",
    ] {
        assert!(
            parse_duration(long).unwrap_err().contains("too long"),
            "{long}"
        );
    }
}

#[test]
fn counts_and_ids() {
    assert_eq!(parse_count("128", 1, 65536), Ok(128));
    assert!(parse_count("0", 1, 65536)
        .unwrap_err()
        .contains("1 to 65536"));
    assert!(parse_count("99999999999999999999", 1, 9)
        .unwrap_err()
        .contains("out of range"));
    assert!(parse_count("+5", 1, 9)
        .unwrap_err()
        .contains("not a number"));
    assert_eq!(parse_uid("0"), Ok(0));
    assert_eq!(parse_uid("4294967294"), Ok(u32::MAX - 1));
    assert!(parse_uid("4294967295")
        .unwrap_err()
        .contains("out of range"));
    assert!(parse_pid("99999999999")
        .unwrap_err()
        .contains("out of range"));
    assert!(parse_pid("0").unwrap_err().contains("out of range"));
    assert_eq!(
        parse_pid(&std::process::id().to_string()),
        Ok(std::process::id())
    );
}

#[test]
fn interface_names() {
    assert_eq!(parse_iface("eth0").as_deref(), Ok("eth0"));
    assert_eq!(
        parse_iface("a23456789012345").as_deref(),
        Ok("a23456789012345")
    );
    assert!(parse_iface("a234567890123456")
        .unwrap_err()
        .contains("at most 15"));
    for bad in ["", ".", "..", "a/b", "a:1", "a b", "eth\n0", "\u{1b}[31m"] {
        let e = parse_iface(bad).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn regex_errors_are_one_line() {
    for bad in ["(", "a{2,1}", "\\p{Nope}", "x\n(", "[z-a]"] {
        let e = parse_regex(bad).unwrap_err();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("not a valid regular expression"), "{e}");
    }
    assert!(parse_regex("(")
        .unwrap_err()
        .contains("unclosed group, at byte 0"));
}

#[test]
fn sizes() {
    assert_eq!(parse_size("4096", 1, 1 << 20), Ok(4096));
    assert_eq!(parse_size("32K", 1, 1 << 20), Ok(32768));
    assert_eq!(parse_size("1M", 1, 1 << 20), Ok(1 << 20));
    assert!(parse_size("2M", 1, 1 << 20)
        .unwrap_err()
        .contains("out of range: use 1 to 1M bytes"));
    assert!(parse_size("99999999999999999999K", 1, 1 << 20)
        .unwrap_err()
        .contains("out of range"));
    assert!(parse_size("18014398509481984K", 1, 1 << 20)
        .unwrap_err()
        .contains("out of range"));
    assert!(parse_ringbuf_size("12K")
        .unwrap_err()
        .contains("power of two"));
}

#[test]
fn cidrs() {
    let c = |s| parse_cidr(s).map(|c| (c.addr.to_string(), c.prefix));
    assert_eq!(c("10.0.0.0/8"), Ok(("10.0.0.0".into(), 8)));
    assert_eq!(c("192.0.2.7"), Ok(("192.0.2.7".into(), 32)));
    assert_eq!(c("fd00::/8"), Ok(("fd00::".into(), 8)));
    assert_eq!(c("::1"), Ok(("::1".into(), 128)));
    assert!(c("10.0.0.0/33").unwrap_err().contains("0 to 32"));
    assert!(c("fd00::/129").unwrap_err().contains("0 to 128"));
    assert!(c("10.0.0/8").unwrap_err().contains("not an address prefix"));
    assert!(c("10.0.0.0/").is_err());
    assert!(c("eth0").is_err());
}

#[test]
fn cli_is_well_formed() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[test]
fn log_format_is_read_from_the_raw_arguments() {
    use crate::diag::Format::{Json, Text};
    let f = |args: &[&str]| log_format_in(args.iter().map(std::ffi::OsString::from));
    assert_eq!(f(&["ebpf-jsonl", "exec"]), Text);
    assert_eq!(
        f(&["ebpf-jsonl", "--log-format", "json", "exec", "--nope"]),
        Json
    );
    assert_eq!(f(&["ebpf-jsonl", "exec", "--log-format=json"]), Json);
    // The last one wins; a bad value or none changes nothing; `--` ends the options.
    assert_eq!(f(&["x", "--log-format=json", "--log-format", "text"]), Text);
    assert_eq!(f(&["x", "--log-format=json", "--log-format", "yaml"]), Json);
    assert_eq!(f(&["x", "--log-format=json", "--log-format"]), Json);
    assert_eq!(f(&["x", "--", "--log-format", "json"]), Text);
}
