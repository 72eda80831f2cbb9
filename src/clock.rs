//! Kernel boot-time nanoseconds → UTC wall-clock time, printed as RFC3339 with
//! nanoseconds and `Z` (the form Fluent Bit's `%L%z` and Vector's `%+` take).

use serde::{Serialize, Serializer};

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; both clocks exist on every Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(clock_ns(libc::CLOCK_REALTIME))
    }

    /// Writes `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (30 bytes).
    pub fn format(self, buf: &mut [u8; 30]) -> &str {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(0, 9999) as u32;
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, sod / 3600);
        put(14, 2, sod / 60 % 60);
        put(17, 2, sod % 60);
        put(20, 9, nanos);
        buf[4] = b'-';
        buf[7] = b'-';
        buf[10] = b'T';
        buf[13] = b':';
        buf[16] = b':';
        buf[19] = b'.';
        buf[29] = b'Z';
        std::str::from_utf8(buf).expect("ASCII")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 30];
        s.serialize_str(self.format(&mut buf))
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Maps `bpf_ktime_get_boot_ns()` values to wall-clock time. The offset is
/// re-measured with [`BootClock::resync`] so NTP steps are followed.
#[derive(Clone, Copy, Debug)]
pub struct BootClock {
    offset_ns: i64,
}

impl Default for BootClock {
    fn default() -> Self {
        Self::new()
    }
}

impl BootClock {
    pub fn new() -> Self {
        let mut c = BootClock { offset_ns: 0 };
        c.resync();
        c
    }

    /// Samples REALTIME around BOOTTIME a few times and keeps the tightest pair.
    pub fn resync(&mut self) {
        let mut best = i64::MAX;
        for _ in 0..3 {
            let a = clock_ns(libc::CLOCK_REALTIME);
            let b = clock_ns(libc::CLOCK_BOOTTIME);
            let c = clock_ns(libc::CLOCK_REALTIME);
            if c - a < best {
                best = c - a;
                self.offset_ns = a + (c - a) / 2 - b;
            }
        }
    }

    pub fn wall(&self, boot_ns: u64) -> Timestamp {
        Timestamp(boot_ns as i64 + self.offset_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(ns: i64) -> String {
        Timestamp(ns).format(&mut [0; 30]).to_string()
    }

    #[test]
    fn formats_rfc3339_nanos_utc() {
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            fmt(1_764_058_942_123_456_789),
            "2025-11-25T08:22:22.123456789Z"
        );
        // 2000-02-29, a leap day in a century leap year.
        assert_eq!(
            fmt(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            fmt(4_102_444_799_999_999_999),
            "2099-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn serializes_as_json_string() {
        let s = serde_json::to_string(&Timestamp(1_500_000_000_000_000_000)).unwrap();
        assert_eq!(s, "\"2017-07-14T02:40:00.000000000Z\"");
    }

    #[test]
    fn boot_clock_tracks_realtime() {
        let c = BootClock::new();
        let boot = clock_ns(libc::CLOCK_BOOTTIME) as u64;
        let diff = (c.wall(boot).0 - Timestamp::now().0).abs();
        assert!(diff < 50_000_000, "boot→wall off by {diff} ns");
    }
}
