//! What the exec tests run: the C helper (exec_helper.c next to this file,
//! built by build.rs with `cc -O2 -pthread`) and programs written on the fly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The built exec_helper (its comm is `exec_helper`).
pub fn helper() -> &'static Path {
    Path::new(env!("EXEC_HELPER"))
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

/// Writes `text` to a new file `name` in `dir` (made if missing) with `mode`.
pub fn write_program(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}
