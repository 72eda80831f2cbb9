//! Readings from /proc for the tests and benches.

/// A `kB` field of /proc/`pid`/status (`"self"` for this process), such as
/// `VmHWM:` (peak resident set) or `VmRSS:`; None if it cannot be read.
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident set of a live process, in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(&pid.to_string(), "VmHWM:").expect("VmHWM line in /proc/PID/status")
}

/// CPU time of every thread of `pid` so far, in ns (/proc/PID/task/*/schedstat);
/// 0 if it is gone.
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}
