//! Bytes that are not UTF-8 survive: the record's strings stay valid UTF-8
//! (U+FFFD for what is not), and its `*_b64` siblings give back the exact
//! bytes, decoded here by coreutils' `base64 -d`, as a consumer would.

use ebpf_jsonl_testkit as common;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use common::{marker, run, Tracer};
use serde_json::Value;

/// `base64 -d` of a record's field (the schema's recipe).
fn decode(v: &Value) -> Vec<u8> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("a base64 string, not {v}"));
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("coreutils base64");
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "base64 -d refused {s}");
    out.stdout
}

struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn invalid_utf8_in_argv_and_file_name_is_recovered_exactly() {
    let dir = Dir(std::env::temp_dir().join(marker("bytes")));
    std::fs::create_dir_all(&dir.0).unwrap();
    let name: &[u8] = b"\xffbin\xfetrue";
    let path = dir.0.join(OsStr::from_bytes(name));
    std::os::unix::fs::symlink("/bin/true", &path).unwrap();

    let mut t = Tracer::start(&["exec"]);
    let m = marker("bytes");
    let odd: &[u8] = b"\xffMARK\xfe";
    run(Command::new(&path)
        .arg(&m)
        .arg(OsStr::from_bytes(odd))
        .arg("")
        .arg("plain"));
    let v = t.exec_with(&m);
    drop(t.stop_ok());

    // The strings as before: valid UTF-8, each invalid byte as U+FFFD.
    assert_eq!(v["args"][2], "\u{fffd}MARK\u{fffd}");
    let shown = format!("{}/\u{fffd}bin\u{fffd}true", dir.0.display());
    assert_eq!(v["filename"], shown.as_str());

    // The exact bytes: every element, so indices line up with args.
    let args = v["args"].as_array().unwrap();
    let b64 = v["args_b64"]
        .as_array()
        .unwrap_or_else(|| panic!("args_b64 on {v}"));
    assert_eq!(b64.len(), args.len(), "{v}");
    let argv: Vec<Vec<u8>> = b64.iter().map(decode).collect();
    let path_bytes = path.as_os_str().as_bytes();
    let want: [&[u8]; 5] = [path_bytes, m.as_bytes(), odd, b"", b"plain"];
    assert_eq!(argv, want);
    assert_eq!(decode(&v["filename_b64"]), path_bytes);
    // The kernel names the task after the file it was asked to run.
    assert_eq!(v["comm"], "\u{fffd}bin\u{fffd}true");
    assert_eq!(decode(&v["comm_b64"]), name);
}

#[test]
fn valid_utf8_record_carries_no_b64_field() {
    let mut t = Tracer::start(&["exec"]);
    let m = marker("utf8");
    run(Command::new("/bin/true").arg(&m).arg("ünïcödé ✓"));
    let v = t.exec_with(&m);
    drop(t.stop_ok());
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert!(keys.iter().all(|k| !k.ends_with("_b64")), "{v}");
}

#[test]
fn invalid_utf8_in_cwd_and_exe_is_recovered_exactly() {
    let dir = Dir(std::env::temp_dir().join(marker("bytes-paths")));
    let odd = dir.0.join(OsStr::from_bytes(b"\xfed\xffir"));
    std::fs::create_dir_all(&odd).unwrap();
    let exe = odd.join(OsStr::from_bytes(b"tr\xffue"));
    std::fs::copy("/bin/true", &exe).unwrap();
    let odd = odd.canonicalize().unwrap();
    let exe = exe.canonicalize().unwrap();

    let mut t = Tracer::start(&["exec"]);
    let m = marker("bytes-paths");
    run(Command::new(&exe).arg(&m).current_dir(&odd));
    let v = t.exec_with(&m);
    drop(t.stop_ok());
    assert_eq!(decode(&v["cwd_b64"]), odd.as_os_str().as_bytes(), "{v}");
    assert_eq!(decode(&v["exe_b64"]), exe.as_os_str().as_bytes(), "{v}");
    assert!(
        v["cwd"].as_str().unwrap().ends_with("/\u{fffd}d\u{fffd}ir"),
        "{v}"
    );
}
