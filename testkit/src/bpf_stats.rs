//! BPF programs' own run time (kernel.bpf_stats_enabled): what a tracer
//! costs inside the kernel, per program run, summed over its programs.

use std::io;

const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// While alive, the kernel counts every BPF program's run time; dropping it
/// puts back the value it found (also when a bench panics).
pub struct StatsEnabled {
    old: String,
}

impl StatsEnabled {
    pub fn enable() -> io::Result<StatsEnabled> {
        let old = std::fs::read_to_string(SYSCTL)?.trim().to_string();
        std::fs::write(SYSCTL, "1")?;
        Ok(StatsEnabled { old })
    }
}

impl Drop for StatsEnabled {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(SYSCTL, &self.old) {
            eprintln!("bpf_stats: could not restore {SYSCTL} to {}: {e}", self.old);
        }
    }
}

/// Run time and runs, summed over programs.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunTime {
    pub ns: u64,
    pub count: u64,
}

impl std::ops::Sub for RunTime {
    type Output = RunTime;
    fn sub(self, before: RunTime) -> RunTime {
        RunTime {
            ns: self.ns.saturating_sub(before.ns),
            count: self.count.saturating_sub(before.count),
        }
    }
}

/// The run time so far of every BPF program `pid` holds an fd of (an
/// `anon_inode:bpf-prog` in /proc/PID/fd), each program once however many
/// fds it has, from its fdinfo's `run_time_ns` and `run_cnt`.
pub fn run_time(pid: u32) -> io::Result<RunTime> {
    let mut seen = Vec::new();
    let mut sum = RunTime::default();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let fd = fd?;
        let Ok(link) = std::fs::read_link(fd.path()) else {
            continue; // closed since the listing
        };
        if link.as_os_str() != "anon_inode:bpf-prog" {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(info) else {
            continue;
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(id) = field("prog_id:") {
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
        }
        sum.ns += field("run_time_ns:").unwrap_or(0);
        sum.count += field("run_cnt:").unwrap_or(0);
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_never_underflows() {
        let a = RunTime { ns: 10, count: 2 };
        let b = RunTime { ns: 4, count: 3 };
        let d = a - b;
        assert_eq!((d.ns, d.count), (6, 0));
    }

    #[test]
    fn a_process_without_programs_costs_nothing() {
        let r = run_time(std::process::id()).unwrap();
        assert_eq!((r.ns, r.count), (0, 0));
    }
}
