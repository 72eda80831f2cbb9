//! `exec`'s flags, their parsers and the limits of the kernel's filters.

use clap::Args;

use super::common::Common;
use super::values::{decimal, parse_count, parse_size};
// The kernel filters' sizes, from bpf/exec.h through the skeleton.
use crate::exec::failed_hook::FailedHook;
use crate::exec::skel::{
    ARGV_MAX_LEN, COMM_LEN, MAX_CGROUP_FILTERS, MAX_COMM_FILTERS, MAX_UID_FILTERS,
};

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub common: Common,

    /// Keep at most this many argv elements per exec (then args_truncated is true)
    // (each element takes at least its NUL of the captured bytes)
    #[arg(long, value_name = "N", default_value_t = 128,
          value_parser = |s: &str| parse_count(s, 1, ARGV_MAX_LEN))]
    pub max_args: u32,

    /// Capture at most this many bytes of argv per exec (up to 64K)
    #[arg(long, value_name = "BYTES", default_value = "4K",
          value_parser = |s: &str| parse_size(s, 1, ARGV_MAX_LEN.into()))]
    pub max_argv_bytes: u32,

    /// Kernel ring buffer size (a power of two, 4K to 256M)
    #[arg(long, value_name = "BYTES", default_value = "1M",
          value_parser = parse_ringbuf_size)]
    pub ringbuf_size: u32,

    /// Also print one `exit` record per process (thread group) that ends
    #[arg(long)]
    pub exits: bool,

    /// Also print execve/execveat calls that failed (ret < 0, with `error`)
    #[arg(long)]
    pub failed: bool,

    /// Which hooks see failed execs: `auto` takes the cheapest this kernel
    /// loads, in this order: `fexit` (on the execve/execveat implementations:
    /// nothing runs on other syscalls), `tracepoint` (syscalls:sys_{enter,exit}_execve{,at};
    /// tracefs is mounted privately for their ids if need be; blind to 32-bit
    /// processes), `raw` (sys_enter/sys_exit: a program on every syscall of the
    /// host). A tier that cannot load exits 4
    #[arg(long, value_name = "HOOK", value_enum, default_value_t = FailedHook::Auto,
          requires = "failed")]
    pub failed_hook: FailedHook,

    /// Only processes of this real uid (repeatable, up to 64; filtered in the kernel)
    #[arg(long, value_name = "UID", value_parser = parse_uid)]
    pub uid: Vec<u32>,

    /// Only processes of this effective uid, after the exec: a setuid-root
    /// program run by anyone is euid 0 (repeatable, up to 64; filtered in
    /// the kernel). With --uid, both must match
    #[arg(long, value_name = "EUID", value_parser = parse_uid)]
    pub euid: Vec<u32>,

    /// Only this process and its descendants started after the tool (repeatable; in the kernel)
    #[arg(long, value_name = "PID", value_parser = parse_pid)]
    pub pid: Vec<u32>,

    /// Only processes in this cgroup v2 directory or below it (repeatable, up to 8; in the kernel)
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,

    /// Only programs with this name, as in `comm` (repeatable, up to 64; in the kernel)
    #[arg(long, value_name = "NAME", value_parser = parse_comm)]
    pub comm: Vec<String>,

    /// Only execs whose argv, joined by spaces, matches this regular expression (in userspace)
    #[arg(long = "match", value_name = "REGEX", value_parser = parse_regex)]
    pub matches: Option<regex::Regex>,

    /// For tests: the capacity of the kernel's process tables (processes
    /// followed for --pid, execs in progress for --failed, ended processes
    /// for --exits, exec'd processes' exec times), so their full paths can
    /// be exercised
    #[arg(long, value_name = "N", hide = true,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub table_size: Option<u32>,

    /// For tests: how the failed-exec programs walk argv, instead of the way
    /// the kernel is probed for (`unrolled` runs on 5.17+ too)
    #[arg(long, value_enum, hide = true)]
    pub argv_reader: Option<ArgvReader>,
}

/// How `--failed`'s programs walk a failed exec's argv (src/exec/reader.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ArgvReader {
    /// bpf_loop, whose callback the verifier checks once (Linux 5.17+)
    Loop,
    /// loops the compiler unrolls and the verifier walks whole, for kernels before 5.17
    Unrolled,
}

impl ExecArgs {
    /// What no single value shows: how many distinct values a repeatable
    /// filter flag got, against the kernel filter's size.
    pub fn check_counts(&self) -> Result<(), clap::Error> {
        let distinct = |v: Vec<String>| {
            v.into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        let uids = distinct(self.uid.iter().map(u32::to_string).collect());
        let euids = distinct(self.euid.iter().map(u32::to_string).collect());
        let comms = distinct(self.comm.clone());
        for (flag, n, max, what) in [
            (
                "--uid <UID>",
                uids,
                MAX_UID_FILTERS,
                "distinct uids (the kernel filter's size)",
            ),
            (
                "--euid <EUID>",
                euids,
                MAX_UID_FILTERS,
                "distinct euids (the kernel filter's size)",
            ),
            (
                "--comm <NAME>",
                comms,
                MAX_COMM_FILTERS,
                "distinct names (the kernel filter's size)",
            ),
            (
                "--cgroup <PATH>",
                self.cgroup.len(),
                MAX_CGROUP_FILTERS,
                "cgroups",
            ),
        ] {
            if n > max {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::TooManyValues,
                    format!(
                        "too many values for '{flag}': {n} given, at most {max} {what}\n\n\
                             For more information, try '--help'.\n"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A real uid: 0 to 4294967294 ((uid_t)-1 means "no uid" to the kernel).
pub(super) fn parse_uid(s: &str) -> Result<u32, String> {
    const MAX: u64 = u32::MAX as u64 - 1;
    match decimal(s) {
        None => Err(format!("not a user id; use a number from 0 to {MAX}")),
        Some(Some(n)) if n <= MAX => Ok(n as u32),
        Some(_) => Err(format!("out of range: user ids are 0 to {MAX}")),
    }
}

pub(super) fn parse_pid(s: &str) -> Result<u32, String> {
    let pid = match decimal(s) {
        None => return Err("not a process id; use a number like 1234".into()),
        Some(Some(n)) if (1..=i32::MAX as u64).contains(&n) => n as u32,
        Some(_) => return Err(format!("out of range: process ids are 1 to {}", i32::MAX)),
    };
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(format!("no process with pid {pid} is running"));
    }
    Ok(pid)
}

fn parse_comm(s: &str) -> Result<String, String> {
    // TASK_COMM_LEN bytes, the last one a NUL.
    let max = COMM_LEN - 1;
    if s.is_empty() || s.len() > max {
        return Err(format!(
            "{} bytes long: the kernel keeps 1 to {max} bytes of a program name",
            s.len()
        ));
    }
    Ok(s.to_string())
}

pub(super) fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s)
        .map_err(|e| format!("not a valid regular expression: {}", regex_error(s, &e)))
}

/// regex's own message spans several lines (the pattern, a caret line, the
/// cause): this says the cause and where, on one line.
fn regex_error(s: &str, e: &regex::Error) -> String {
    let at = |span: &regex_syntax::ast::Span| {
        let text = s.get(span.start.offset..span.end.offset).unwrap_or("");
        if text.is_empty() {
            format!("at byte {}", span.start.offset)
        } else {
            format!(
                "at byte {} (`{}`)",
                span.start.offset,
                crate::error::one_line(text)
            )
        }
    };
    match regex_syntax::Parser::new().parse(s) {
        Err(regex_syntax::Error::Parse(p)) => format!("{}, {}", p.kind(), at(p.span())),
        Err(regex_syntax::Error::Translate(t)) => format!("{}, {}", t.kind(), at(t.span())),
        // Anything else (e.g. the compiled program is too big): regex's text, joined.
        _ => e
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(": "),
    }
}

pub(super) fn parse_ringbuf_size(s: &str) -> Result<u32, String> {
    let v = parse_size(s, 4096, 256 << 20)?;
    if !v.is_power_of_two() {
        return Err("not a power of two; use e.g. 1M, 4M or 16M".into());
    }
    Ok(v)
}
