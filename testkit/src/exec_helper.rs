//! What the exec tests run: the C helper (exec_helper.c next to this file,
//! built by build.rs with `cc -O2 -pthread`) and programs written on the fly.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
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

/// Runs execveat(dirfd, path, flags) with `argv` and no environment in a
/// forked child (`dirfd` must stay open until it returns); returns its pid.
pub fn execveat(dirfd: i32, path: &str, flags: i32, argv: &[&str]) -> u32 {
    let path = CString::new(path).unwrap();
    let argv: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let (p_path, p_argv, p_envp) = (
        path.as_ptr() as usize,
        ptrs.as_ptr() as usize,
        envp.as_ptr() as usize,
    );
    let mut cmd = Command::new("/nonexistent-placeholder");
    // SAFETY: only the execveat syscall runs between fork and exec; every
    // pointer was prepared before the fork and outlives it.
    unsafe {
        cmd.pre_exec(move || {
            libc::syscall(libc::SYS_execveat, dirfd, p_path, p_argv, p_envp, flags);
            Err(std::io::Error::last_os_error())
        });
    }
    crate::run(&mut cmd)
}
