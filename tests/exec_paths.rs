//! `cwd`, `exe` and `fileless` of exec records against the real kernel: both
//! paths resolved in the kernel at the event, as the process itself sees
//! them (its root, its mounts), for removed directories, symlinks,
//! execveat(fd), /proc/self/exe, memfds and files deleted before the exec,
//! past the walk's bounds, and across mount points.

use ebpf_jsonl_testkit as common;

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::exec_helper::{execveat, write_program};
use common::{marker, run, Tracer};
use serde_json::Value;

/// A fresh directory, removed (with what it holds) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(marker(tag));
        std::fs::create_dir(&d).unwrap();
        TempDir(d.canonicalize().unwrap())
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn real(p: &str) -> String {
    std::fs::canonicalize(p)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Runs `cmd` to completion after `prep` in the child, just before its exec
/// (`prep` makes async-signal-safe syscalls only); returns its pid.
fn run_after(
    mut cmd: Command,
    prep: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
) -> u32 {
    // SAFETY: `prep` only makes syscalls, on data prepared before the fork.
    unsafe {
        cmd.pre_exec(prep);
    }
    run(&mut cmd)
}

/// A libc call's result as io::Result.
fn ok(r: libc::c_int) -> std::io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// (cwd, exe, fileless) of a record.
fn paths(v: &Value) -> (Value, Value, Value) {
    (v["cwd"].clone(), v["exe"].clone(), v["fileless"].clone())
}

fn want(cwd: &str, exe: &str, fileless: bool) -> (Value, Value, Value) {
    (cwd.into(), exe.into(), fileless.into())
}

#[test]
fn cwd_is_the_directory_the_exec_ran_in() {
    let dir = TempDir::new("cwd");
    let mut t = Tracer::start(&["exec"]);
    let m = marker("cwd");
    run(Command::new("/bin/true").arg(&m).current_dir(dir.path()));
    let v = t.exec_with(&m);
    assert_eq!(paths(&v), want(dir.str(), &real("/bin/true"), false), "{v}");
}

#[test]
fn a_directory_removed_before_the_exec_is_shown_deleted() {
    let dir = TempDir::new("gone");
    let gone = dir.path().join("d");
    std::fs::create_dir(&gone).unwrap();
    let gone_c = c(gone.to_str().unwrap());
    let mut t = Tracer::start(&["exec"]);
    let m = marker("gone");
    let mut cmd = Command::new("/bin/true");
    cmd.arg(&m);
    // SAFETY: chdir and rmdir only (unsafe: both are libc calls).
    run_after(cmd, move || unsafe {
        ok(libc::chdir(gone_c.as_ptr()))?;
        ok(libc::rmdir(gone_c.as_ptr()))
    });
    let v = t.exec_with(&m);
    assert_eq!(
        v["cwd"],
        format!("{} (deleted)", gone.display()).as_str(),
        "as readlink /proc/PID/cwd shows it: {v}"
    );
}

#[test]
fn exe_through_a_symlink_is_its_target() {
    let dir = TempDir::new("link");
    let link = dir.path().join("to-true");
    std::os::unix::fs::symlink("/bin/true", &link).unwrap();
    let mut t = Tracer::start(&["exec"]);
    let m = marker("link");
    run(Command::new(&link).arg(&m));
    let v = t.exec_with(&m);
    assert_eq!(v["filename"], link.to_str().unwrap(), "as passed: {v}");
    assert_eq!(v["exe"], real("/bin/true").as_str(), "{v}");

    // A #! script: what runs is its interpreter, as /proc/PID/exe says.
    let script = write_program(dir.path(), "script", "#!/bin/sh\n", 0o755);
    let m = marker("script");
    run(Command::new(&script).arg(&m));
    let v = t.exec_with(&m);
    assert_eq!(v["filename"], script.to_str().unwrap());
    assert_eq!(v["exe"], real("/bin/sh").as_str(), "{v}");
}

#[test]
fn exe_of_execveat_through_an_fd_and_of_proc_self_exe() {
    let mut t = Tracer::start(&["exec"]);
    let file = File::open("/bin/true").unwrap();
    let m = marker("fexec");
    execveat(file.as_raw_fd(), "", libc::AT_EMPTY_PATH, &["t", &m]);
    let v = t.exec_with(&m);
    assert_eq!(
        (&v["filename"], &v["exe"]),
        (&"".into(), &real("/bin/true").into())
    );

    let dir = File::open(Path::new(&real("/bin/true")).parent().unwrap()).unwrap();
    let m = marker("dirfd");
    execveat(dir.as_raw_fd(), "true", 0, &["true", &m]);
    assert_eq!(t.exec_with(&m)["exe"], real("/bin/true").as_str());

    // A shell that runs itself again through /proc/self/exe.
    let m = marker("self");
    run(Command::new("/bin/sh")
        .args(["-c", "exec /proc/self/exe -c : \"$0-again\""])
        .arg(&m));
    let v = t.exec_with(&format!("{m}-again"));
    assert_eq!(v["filename"], "/proc/self/exe");
    assert_eq!(v["exe"], real("/bin/sh").as_str(), "{v}");
}

/// A copy of /bin/true in a memfd named `name`.
fn memfd_true(name: &str) -> File {
    let n = c(name);
    // SAFETY: a plain syscall on a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(n.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor we own.
    let mut f = unsafe { File::from_raw_fd(fd) };
    f.write_all(&std::fs::read("/bin/true").unwrap()).unwrap();
    f
}

#[test]
fn fileless_execs_are_named_as_the_kernel_names_them() {
    let mut t = Tracer::start(&["exec"]);
    let name = marker("memfd");
    let memfd = memfd_true(&name);
    let m = marker("memfd");
    execveat(memfd.as_raw_fd(), "", libc::AT_EMPTY_PATH, &["m", &m]);
    let v = t.exec_with(&m);
    assert_eq!(
        paths(&v),
        want(
            std::env::current_dir().unwrap().to_str().unwrap(),
            &format!("/memfd:{name} (deleted)"),
            true
        ),
        "as readlink /proc/PID/exe shows it: {v}"
    );

    // A file removed before its exec, run through a descriptor.
    let dir = TempDir::new("unlinked");
    let copy = dir.path().join("true-copy");
    std::fs::copy("/bin/true", &copy).unwrap();
    let file = File::open(&copy).unwrap();
    std::fs::remove_file(&copy).unwrap();
    let m = marker("unlinked");
    execveat(file.as_raw_fd(), "", libc::AT_EMPTY_PATH, &["u", &m]);
    let v = t.exec_with(&m);
    assert_eq!(v["exe"], format!("{} (deleted)", copy.display()).as_str());
    assert_eq!(v["fileless"], true, "{v}");

    // Not fileless: the same bytes with a link in a filesystem.
    let m = marker("linked");
    run(Command::new("/bin/true").arg(&m));
    assert_eq!(t.exec_with(&m)["fileless"], false);
}

/// Runs /bin/true MARKER in `base`/`names[0]`/…/`names[n-1]`, made one level
/// at a time with relative paths (the whole may be longer than PATH_MAX).
fn run_deep(base: &Path, names: &[String], m: &str) {
    let base = c(base.to_str().unwrap());
    let names: Vec<CString> = names.iter().map(|n| c(n)).collect();
    let mut cmd = Command::new("/bin/true");
    cmd.arg(m);
    // SAFETY: chdir and mkdir only (unsafe: both are libc calls).
    run_after(cmd, move || unsafe {
        ok(libc::chdir(base.as_ptr()))?;
        for n in &names {
            ok(libc::mkdir(n.as_ptr(), 0o755))?;
            ok(libc::chdir(n.as_ptr()))?;
        }
        Ok(())
    });
}

#[test]
fn a_cwd_past_the_walks_bounds_keeps_its_innermost_levels() {
    let dir = TempDir::new("deep");
    let mut t = Tracer::start(&["exec"]);

    // 40 levels: the kernel walks 32.
    let levels: Vec<String> = (0..40).map(|i| format!("d{i:02}")).collect();
    let m = marker("levels");
    run_deep(dir.path(), &levels, &m);
    let v = t.exec_with(&m);
    assert_eq!(v["cwd"], format!("…/{}", levels[8..].join("/")).as_str());

    // 20 names of 250 bytes: 16 fit in the 4 KiB the kernel carries.
    let long: Vec<String> = (0..20)
        .map(|i| format!("{i:02}{}", "n".repeat(248)))
        .collect();
    let m = marker("bytes");
    run_deep(dir.path(), &long, &m);
    let v = t.exec_with(&m);
    assert_eq!(v["cwd"], format!("…/{}", long[4..].join("/")).as_str());
    assert_eq!(v["exe"], real("/bin/true").as_str());
}

#[test]
fn a_cwd_across_mount_points() {
    let dir = TempDir::new("mounts");
    let (tmpfs, src, bind) = (
        dir.path().join("tmpfs"),
        dir.path().join("src"),
        dir.path().join("bind"),
    );
    for d in [&tmpfs, &src.join("sub"), &bind] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut t = Tracer::start(&["exec"]);
    let (m1, m2) = (marker("tmpfs"), marker("bind"));
    // In a private mount namespace: a tmpfs, and a bind mount of src.
    let script = r#"mount -t tmpfs none "$1" && mkdir "$1/in" && mount --bind "$2" "$3" &&
                    (cd "$1/in" && /bin/true "$4-here") && cd "$3/sub" && exec /bin/true "$5-here""#;
    let st = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .args([&tmpfs, &src, &bind])
        .args([&m1, &m2])
        .status()
        .unwrap();
    assert!(st.success(), "the mounts: {st}");
    // (the markers with a suffix: unshare's own argv holds them bare)
    let v = t.exec_with(&format!("{m1}-here"));
    assert_eq!(v["cwd"], format!("{}/in", tmpfs.display()).as_str(), "{v}");
    let v = t.exec_with(&format!("{m2}-here"));
    assert_eq!(v["cwd"], format!("{}/sub", bind.display()).as_str(), "{v}");
}

/// Runs /bin/true MARKER chrooted into /usr (its /bin/true is /usr/bin/true);
/// with `cd`, in that directory of the new root, else where the test is.
fn run_chrooted(cd: Option<&str>, outside: &Path, m: &str) {
    let cd = cd.map(c);
    let mut cmd = Command::new("/bin/true");
    cmd.arg(m).current_dir(outside);
    // SAFETY: chroot and chdir only (unsafe: both are libc calls).
    run_after(cmd, move || unsafe {
        ok(libc::chroot(c"/usr".as_ptr()))?;
        cd.as_ref().map_or(Ok(()), |d| ok(libc::chdir(d.as_ptr())))
    });
}

#[test]
fn a_chrooted_process_sees_its_own_root() {
    let dir = TempDir::new("chroot");
    let mut t = Tracer::start(&["exec"]);
    let m = marker("chroot");
    run_chrooted(Some("/lib"), dir.path(), &m);
    let v = t.exec_with(&m);
    assert_eq!(paths(&v), want("/lib", "/bin/true", false), "{v}");

    // chroot(2) leaves the working directory where it was: outside the root,
    // which getcwd() reports as unreachable.
    let m = marker("outside");
    run_chrooted(None, dir.path(), &m);
    let unreachable = format!("(unreachable){}", dir.str());
    assert_eq!(t.exec_with(&m)["cwd"], unreachable.as_str());
}

#[test]
fn a_failed_exec_has_the_callers_cwd_and_no_exe() {
    let dir = TempDir::new("failed");
    let mut t = Tracer::start(&["exec", "--failed"]);
    let m = marker("failed");
    let missing = format!("/nonexistent/{m}");
    assert!(Command::new(&missing)
        .arg(&m)
        .current_dir(dir.path())
        .status()
        .is_err());
    let v = t.wait_for(&m, |v| v["filename"] == missing.as_str());
    assert_eq!(v["ret"], -2);
    assert_eq!(
        paths(&v),
        (dir.str().into(), Value::Null, false.into()),
        "{v}"
    );
}
