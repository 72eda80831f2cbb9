//! Running the built binary and other commands: the tool as a command (with
//! default signal dispositions, optionally in a network namespace, as nobody
//! or without capabilities), run to completion, children moved into a cgroup.

use std::process::{Command, ExitStatus, Output, Stdio};

/// The ebpf-jsonl binary cargo built next to the tests and benches
/// (`target/<profile>/ebpf-jsonl`; build.rs derives it).
pub const BIN: &str = env!("EBPF_JSONL_BIN");

/// Runs a command to completion and returns its pid.
pub fn run(cmd: &mut Command) -> u32 {
    let mut c = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let pid = c.id();
    c.wait().expect("wait child");
    pid
}

/// Runs `cmd` to completion after moving the child into `cgroup` (before it
/// execs); returns its pid.
pub fn run_in_cgroup(cgroup: &std::path::Path, cmd: &mut Command) -> u32 {
    use std::os::unix::process::CommandExt;
    let procs = std::ffi::CString::new(cgroup.join("cgroup.procs").to_str().unwrap()).unwrap();
    // SAFETY: open/write/close only, on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
    run(cmd)
}

/// `ebpf-jsonl` (inside network namespace `ns` if given) as a command to
/// add arguments to, with default signal dispositions.
pub fn tool_command(ns: Option<&str>) -> Command {
    tool_command_as(ns, Privileges::Root)
}

/// Whom the tool runs as: setpriv(1) options between the namespace and it.
#[derive(Clone, Copy, Debug)]
pub enum Privileges<'a> {
    /// The test's own root, every capability.
    Root,
    /// nobody, with no capabilities at all.
    Nobody,
    /// nobody holding only CAP_BPF and CAP_PERFMON (the minimum README
    /// states), through ambient capabilities.
    MinimalCaps,
    /// root without these capabilities (as setpriv spells them: `sys_admin`,
    /// `perfmon`): they leave the bounding set, so the effective set lacks them.
    Without(&'a [&'a str]),
}

impl Privileges<'_> {
    fn setpriv_args(self) -> Vec<String> {
        let (nobody, caps, ambient) = match self {
            Privileges::Root => return Vec::new(),
            Privileges::Nobody => (true, "-all".to_string(), false),
            Privileges::MinimalCaps => (true, "-all,+bpf,+perfmon".to_string(), true),
            Privileges::Without(drop) => {
                let caps = drop.iter().map(|c| format!("-{c}")).collect::<Vec<_>>();
                (false, caps.join(","), false)
            }
        };
        let mut a: Vec<String> = Vec::new();
        if nobody {
            a.extend(["--reuid=65534", "--regid=65534", "--clear-groups"].map(String::from));
        }
        // Inheritable (and ambient) sets hold what the bounding set keeps,
        // only when ambient capabilities carry them over to nobody.
        a.push(format!(
            "--inh-caps={}",
            if ambient { &caps } else { "-all" }
        ));
        if ambient {
            a.push(format!("--ambient-caps={caps}"));
        }
        a.push(format!("--bounding-set={caps}"));
        a
    }
}

/// `ebpf-jsonl` as `privs` (inside network namespace `ns` if given) as a
/// command to add arguments to, with default signal dispositions: the one
/// launcher of the tool.
pub fn tool_command_as(ns: Option<&str>, privs: Privileges) -> Command {
    let mut argv: Vec<String> = Vec::new();
    if let Some(ns) = ns {
        argv.extend(["ip", "netns", "exec", ns].map(String::from));
    }
    let setpriv = privs.setpriv_args();
    if !setpriv.is_empty() {
        argv.push("setpriv".into());
        argv.extend(setpriv);
    }
    argv.push(BIN.into());
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    default_signals(&mut c);
    c
}

/// Gives `cmd` the default disposition of every signal the tests send, and
/// an empty signal mask, whatever the test runner inherited: a runner
/// started in the background of a non-interactive shell ignores SIGINT and
/// SIGQUIT, under nohup SIGHUP, and children inherit that.
pub fn default_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [
                libc::SIGHUP,
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGTERM,
                libc::SIGUSR1,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Runs `ebpf-jsonl ARGS` without waiting for an attach (usage errors and the like).
pub fn run_tool(args: &[&str]) -> (ExitStatus, String, String) {
    run_tool_in(None, args)
}

/// Like [`run_tool`], inside network namespace `ns` if given.
pub fn run_tool_in(ns: Option<&str>, args: &[&str]) -> (ExitStatus, String, String) {
    let out = run_as(ns, Privileges::Root, args);
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `ebpf-jsonl ARGS` as nobody with no capabilities at all (setpriv).
pub fn run_unprivileged(args: &[&str]) -> Output {
    run_as(None, Privileges::Nobody, args)
}

/// Runs `ebpf-jsonl ARGS` as root but without the capabilities in `drop`
/// (see [`Privileges::Without`]), inside network namespace `ns` if given.
pub fn run_without_caps(ns: Option<&str>, drop: &[&str], args: &[&str]) -> Output {
    run_as(ns, Privileges::Without(drop), args)
}

/// Runs `ebpf-jsonl ARGS` as `privs` to completion, its output collected.
pub fn run_as(ns: Option<&str>, privs: Privileges, args: &[&str]) -> Output {
    tool_command_as(ns, privs)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ebpf-jsonl (setpriv is util-linux's)")
}
