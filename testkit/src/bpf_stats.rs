//! BPF programs' run time from the kernel's own statistics
//! (kernel.bpf_stats_enabled): [`StatsEnabled`] turns them on for as long as
//! it lives, [`run_time`] sums them over a process's BPF program fds.

use std::io;

/// kernel.bpf_stats_enabled set to 1 while this lives; the old value is
/// restored on drop.
pub struct StatsEnabled {
    old: String,
}

const KNOB: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl StatsEnabled {
    pub fn enable() -> io::Result<StatsEnabled> {
        let old = std::fs::read_to_string(KNOB)?.trim().to_string();
        std::fs::write(KNOB, "1")?;
        Ok(StatsEnabled { old })
    }
}

impl Drop for StatsEnabled {
    fn drop(&mut self) {
        let _ = std::fs::write(KNOB, &self.old);
    }
}

/// Run time and run count of BPF programs, summed.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunTime {
    pub ns: u64,
    pub count: u64,
}

impl std::ops::Sub for RunTime {
    type Output = RunTime;

    fn sub(self, rhs: RunTime) -> RunTime {
        RunTime {
            ns: self.ns.saturating_sub(rhs.ns),
            count: self.count.saturating_sub(rhs.count),
        }
    }
}

/// The run_time_ns and run_cnt of every BPF program process `pid` holds an
/// fd of (links "anon_inode:bpf-prog" in /proc/PID/fd), from their fdinfo.
pub fn run_time(pid: u32) -> io::Result<RunTime> {
    let mut total = RunTime::default();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let entry = entry?;
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if link.as_os_str() != "anon_inode:bpf-prog" {
            continue;
        }
        let fd = entry.file_name();
        let Ok(info) =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy()))
        else {
            continue;
        };
        for line in info.lines() {
            let mut f = line.split_whitespace();
            let (Some(key), Some(value)) = (f.next(), f.next()) else {
                continue;
            };
            let value: u64 = value.parse().unwrap_or(0);
            match key {
                "run_time_ns:" => total.ns += value,
                "run_cnt:" => total.count += value,
                _ => {}
            }
        }
    }
    Ok(total)
}
