//! What the exec tests share: the C helper they run (tests/data/exec_helper.c), programs
//! written on the fly, and the `lost` counts. Used through `mod exec_support;` by
//! tests/exec.rs, tests/exec_exits.rs, tests/exec_failed.rs and tests/exec_filters.rs.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// tests/data/exec_helper.c, built once per test run with `cc`.
pub fn helper() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/exec_helper.c");
        // In cargo's scratch directory for tests; built under a name of its
        // own, then renamed, so test runs side by side never see half a file.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let exe = dir.join("exec_helper");
        let tmp = dir.join(format!("exec_helper.{}", std::process::id()));
        let out = Command::new("cc")
            .args(["-O2", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .output()
            .expect("cc (gcc) compiles the test helper");
        assert!(
            out.status.success(),
            "cc {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &exe).unwrap();
        exe
    })
}

/// Runs the helper; returns (pid, its stdout).
pub fn run_helper(args: &[&str]) -> (u32, String) {
    let child = Command::new(helper())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (pid, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The `count`s of the `lost` records with this reason.
pub fn lost(records: &[Value], reason: &str) -> u64 {
    records
        .iter()
        .filter(|v| v["type"] == "lost" && v["reason"] == reason)
        .map(|v| v["count"].as_u64().unwrap())
        .sum()
}

/// Writes `text` to a new file `name` in `dir` (made if missing) with `mode`.
pub fn write_program(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}
