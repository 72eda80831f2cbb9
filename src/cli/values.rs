//! Value parsers that several subcommands' flags share: numbers, durations,
//! sizes, interface names. Each error is one line naming what to give instead.

use std::time::Duration;

/// A decimal number and nothing else (no sign, no spaces): `None` if it is
/// not one, `Some(None)` if it is one too large for a u64.
pub(super) fn decimal(s: &str) -> Option<Option<u64>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().ok())
}

/// A count within `[min, max]`.
pub fn parse_count(s: &str, min: u32, max: u32) -> Result<u32, String> {
    let n = decimal(s).ok_or_else(|| format!("not a number; use {min} to {max}"))?;
    match n {
        Some(n) if (u64::from(min)..=u64::from(max)).contains(&n) => Ok(n as u32),
        _ => Err(format!("out of range: use {min} to {max}")),
    }
}

/// The longest duration any flag takes: one year. Longer ones would
/// overflow the clock arithmetic (a deadline is now + duration); to run
/// without end, leave `--duration` out.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// `500ms`, `10s`, `2m`, `1h`; a bare number is seconds. Positive, at most
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n = decimal(num).ok_or("not a duration; use e.g. 500ms, 10s, 2m or 1h")?;
    let ms_per: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("unknown unit {unit:?}; use ms, s, m or h")),
    };
    let max_ms = MAX_DURATION.as_millis() as u64;
    let ms = n
        .and_then(|n| n.checked_mul(ms_per))
        .filter(|&ms| ms <= max_ms)
        .ok_or_else(|| format!("too long: at most {}h (365 days)", max_ms / 3_600_000))?;
    if ms == 0 {
        return Err("zero; give a positive duration".into());
    }
    Ok(Duration::from_millis(ms))
}

/// `4096` → "4096", `65536` → "64K", `1 << 20` → "1M".
fn size_name(v: u64) -> String {
    match v {
        v if v >= 1 << 20 && v % (1 << 20) == 0 => format!("{}M", v >> 20),
        v if v >= 1 << 10 && v % (1 << 10) == 0 => format!("{}K", v >> 10),
        v => v.to_string(),
    }
}

/// `4096`, `4K`, `1M` (binary units), within `[min, max]` (at most 4G - 1).
pub fn parse_size(s: &str, min: u64, max: u64) -> Result<u32, String> {
    debug_assert!(max <= u64::from(u32::MAX));
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n = decimal(num).ok_or("not a size; use e.g. 4096, 32K or 4M")?;
    let mult: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        _ => return Err(format!("unknown unit {unit:?}; use K or M")),
    };
    match n.and_then(|n| n.checked_mul(mult)) {
        Some(v) if (min..=max).contains(&v) => Ok(v as u32),
        _ => Err(format!(
            "out of range: use {} to {} bytes",
            size_name(min),
            size_name(max)
        )),
    }
}

/// An interface name as the kernel accepts one (dev_valid_name): 1 to 15
/// bytes (IFNAMSIZ - 1), not `.` or `..`, no `/`, `:` or whitespace; and no
/// control characters, so it prints on one line.
pub fn parse_iface(s: &str) -> Result<String, String> {
    const HOW: &str = "see `ip link` for this host's interfaces";
    if s.is_empty() {
        return Err(format!("an interface name cannot be empty; {HOW}"));
    }
    if s.len() > 15 {
        return Err(format!(
            "{} bytes long: interface names are at most 15 bytes; {HOW}",
            s.len()
        ));
    }
    if s == "." || s == ".." {
        return Err(format!("not an interface name; {HOW}"));
    }
    if let Some(c) = s
        .chars()
        .find(|&c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "an interface name cannot contain {c:?} ('/', ':', whitespace and control characters are not allowed); {HOW}"
        ));
    }
    Ok(s.to_string())
}
