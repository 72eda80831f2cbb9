//! How `--failed`'s programs walk a failed exec's argv in the caller's memory
//! (bpf/exec_failed.bpf.h): each program that reports failed execs comes as
//! twins, `NAME` with loops the compiler unrolls, which the verifier walks
//! element by element (some 170,000 instructions per program at the default
//! caps, 370,000 at the largest), and `NAME_loop` with bpf_loop (Linux
//! 5.17+), whose callback it checks once. The same records either way.

use libbpf_rs::libbpf_sys;

pub use crate::cli::ArgvReader as Reader;
use crate::error::Error;

impl Reader {
    pub fn name(self) -> &'static str {
        match self {
            Reader::Loop => "loop",
            Reader::Unrolled => "unrolled",
        }
    }

    /// Whether program `name` of the exec object is this reader's: a
    /// program with a `_loop` twin is the unrolled one, its twin the loop
    /// one; `has` says whether the object has a program of a given name.
    pub fn takes(self, name: &str, has: impl Fn(&str) -> bool) -> bool {
        match name.strip_suffix("_loop") {
            Some(base) if has(base) => self == Reader::Loop,
            _ if has(&format!("{name}_loop")) => self == Reader::Unrolled,
            _ => true,
        }
    }
}

/// A program's name without its reader's suffix: the hook it is the twin for.
pub fn base_name(name: &str) -> &str {
    name.strip_suffix("_loop").unwrap_or(name)
}

/// The reader to load: the one forced (tests), else this kernel's. A forced
/// `loop` on a kernel without bpf_loop is refused before load, in one line.
pub fn choose(forced: Option<Reader>) -> Result<Reader, Error> {
    match forced {
        Some(Reader::Loop) if !has_bpf_loop() => Err(Error::Kernel(
            "--argv-reader loop: this kernel has no bpf_loop helper (Linux 5.17+); \
             --argv-reader unrolled works on every kernel"
                .into(),
        )),
        Some(r) => Ok(r),
        None => Ok(detect()),
    }
}

/// The reader this kernel takes: the loop one where there is bpf_loop.
pub fn detect() -> Reader {
    if has_bpf_loop() {
        Reader::Loop
    } else {
        Reader::Unrolled
    }
}

/// Whether programs of exec's kinds may call bpf_loop. libbpf's probe
/// cannot load a tracing (fexit, tp_btf) program without a target, so it
/// asks for a raw tracepoint one: the kernel gives every tracing kind
/// bpf_loop from the same base set of helpers (5.17+). An error of the
/// probe itself (privileges, say) picks the reader every kernel takes and
/// leaves the real load to report it.
pub fn has_bpf_loop() -> bool {
    // SAFETY: a plain probe; no options (NULL is allowed).
    let r = unsafe {
        libbpf_sys::libbpf_probe_bpf_helper(
            libbpf_sys::BPF_PROG_TYPE_RAW_TRACEPOINT,
            libbpf_sys::BPF_FUNC_loop,
            std::ptr::null(),
        )
    };
    r == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reader_takes_one_twin_and_every_program_without_one() {
        let progs = [
            "exec_btf",
            "sys_exit_btf",
            "sys_exit_btf_loop",
            "fexit_execve",
        ];
        let has = |n: &str| progs.contains(&n) || n == "fexit_execve_loop";
        let taken =
            |r: Reader| -> Vec<&str> { progs.into_iter().filter(|p| r.takes(p, has)).collect() };
        assert_eq!(taken(Reader::Loop), ["exec_btf", "sys_exit_btf_loop"]);
        assert_eq!(
            taken(Reader::Unrolled),
            ["exec_btf", "sys_exit_btf", "fexit_execve"]
        );
        assert_eq!(base_name("fexit_execveat_loop"), "fexit_execveat");
    }
}
