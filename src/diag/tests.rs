//! The two forms of a stderr line, clap's report on one line, a panic's line.

use super::*;

fn parsed(text: &str) -> serde_json::Value {
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{text:?}"
    );
    serde_json::from_str(text).unwrap()
}

#[test]
fn text_lines_are_as_they_always_were() {
    let l = |level, ours| line(level, "exec: attached x", ours, false);
    assert_eq!(l(Level::Info, true), "ebpf-jsonl: exec: attached x\n");
    assert_eq!(l(Level::Warn, true), "ebpf-jsonl: exec: attached x\n");
    assert_eq!(
        l(Level::Error, true),
        "ebpf-jsonl: error: exec: attached x\n"
    );
    assert_eq!(l(Level::Warn, false), "exec: attached x\n");
}

#[test]
fn json_lines_have_time_level_and_message() {
    let v = parsed(&line(Level::Warn, "xdp: a \"quoted\"\nsecond", true, true));
    assert_eq!(v["level"], "warn");
    assert_eq!(v["message"], "xdp: a \"quoted\"\nsecond");
    let ts = v["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 30, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    // Our own prefix is never part of the message, not even for errors.
    let text = line(Level::Error, "no BTF", true, true);
    assert!(text.starts_with("{\"timestamp\":\""), "{text}");
    let v = parsed(&text);
    assert_eq!(v["level"], "error");
    assert_eq!(v["message"], "no BTF");
}

#[test]
fn clap_reports_fold_into_one_line() {
    let rendered = "error: unexpected argument '--nope' found\n\n  tip: to pass '--nope' as a \
                    value, use '-- --nope'\n\nUsage: ebpf-jsonl exec [OPTIONS]\n\nFor more \
                    information, try '--help'.\n";
    assert_eq!(
        one_line_usage(rendered),
        "unexpected argument '--nope' found; tip: to pass '--nope' as a value, use '-- --nope'; \
         Usage: ebpf-jsonl exec [OPTIONS]; For more information, try '--help'."
    );
}

#[test]
fn panics_are_one_line() {
    let text = panic_text(Some("reader"), Some("src/x.rs:1:2"), &"boom\nmore");
    assert_eq!(text, "thread 'reader' panicked at src/x.rs:1:2: boom\nmore");
    let owned: Box<dyn Any + Send> = Box::new(String::from("owned"));
    assert_eq!(
        panic_text(None, None, owned.as_ref()),
        "thread '<unnamed>' panicked: owned"
    );
    let v = parsed(&line(Level::Error, &text, true, true));
    assert_eq!(v["message"], text);
}

/// This test binary again, running only this test with `CHILD` set: there it
/// panics in json mode, on a thread of its own, with RUST_BACKTRACE=1.
#[test]
fn a_panic_in_json_mode_is_one_line_without_backtrace() {
    const CHILD: &str = "EBPF_JSONL_DIAG_PANIC_CHILD";
    if std::env::var_os(CHILD).is_some() {
        set_format(Format::Json);
        install_panic_hook();
        let t = std::thread::Builder::new().name("reader".into());
        let _ = t.spawn(|| panic!("boom\nsecond line")).unwrap().join();
        return;
    }
    let name = "diag::tests::a_panic_in_json_mode_is_one_line_without_backtrace";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let v = parsed(&err);
    assert_eq!(v["level"], "error");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.starts_with("thread 'reader' panicked at src/diag/tests.rs:"),
        "{message}"
    );
    assert!(message.ends_with(": boom\nsecond line"), "{message}");
}
