//! The records ebpf-jsonl prints: one enum, serialised with a `type` tag, so
//! every subcommand shares the reader → channel → writer path.

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::Arc;

use crate::clock::Timestamp;

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Exec(ExecRecord),
    Exit(ExitRecord),
    Lost(LostRecord),
}

impl Record {
    /// Rough heap + inline size, for the writer queue's memory budget.
    pub fn weight(&self) -> usize {
        match self {
            Record::Exec(e) => 224 + e.filename.0.len() + e.args.0.len(),
            Record::Exit(_) => 128,
            Record::Lost(_) => crate::pipeline::LOST_WEIGHT,
        }
    }
}

/// One execve/execveat: successful (`ret` 0), or failed (with --failed).
#[derive(Debug, Serialize)]
pub struct ExecRecord {
    pub timestamp: Timestamp,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub comm: Bytes,
    pub filename: Bytes,
    pub args: Argv,
    pub args_truncated: bool,
    pub ret: i32,
    pub error: Option<&'static str>,
    pub exec_id: ExecId,
    pub cgroup_id: u64,
    pub cgroup: Option<Arc<str>>,
    pub container_id: Option<Arc<str>>,
    pub mntns: u32,
    pub pidns: u32,
}

/// The end of a whole process (thread group).
#[derive(Debug, Serialize)]
pub struct ExitRecord {
    pub timestamp: Timestamp,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub comm: Bytes,
    pub exit_code: u8,
    pub signal: Option<&'static str>,
    pub core_dumped: bool,
    pub duration_ns: u64,
    pub exec_id: ExecId,
}

/// Pairs a process's exec with its exit: the pid and the boot-time ns of the
/// exec (or of the fork, for a process not seen exec'ing), unique across uptime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecId {
    pub pid: u32,
    pub boot_ns: u64,
}

impl Serialize for ExecId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}-{}", self.pid, self.boot_ns))
    }
}

/// Events the tool could not deliver, reported in-band.
#[derive(Debug, Serialize)]
pub struct LostRecord {
    pub timestamp: Timestamp,
    pub count: u64,
    pub reason: LostReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LostReason {
    /// The kernel's ring buffer was full (the reader fell behind).
    RingbufFull,
    /// The writer queue was full (stdout's consumer fell behind).
    ConsumerSlow,
}

/// Kernel bytes printed as a JSON string. Valid UTF-8 passes through as is;
/// each invalid sequence becomes U+FFFD (the documented, lossy encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bytes(pub Box<[u8]>);

impl Bytes {
    pub fn lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.lossy())
    }
}

/// argv as the kernel laid it out: every element NUL-terminated. Printed as a
/// JSON array of strings, element for element, empty strings kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv(pub Box<[u8]>);

impl Argv {
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let b: &[u8] = &self.0;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        let empty = self.0.is_empty();
        b.split(|&c| c == 0).filter(move |_| !empty)
    }
}

impl Serialize for Argv {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for arg in self.iter() {
            seq.serialize_element(&String::from_utf8_lossy(arg))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(args: &[u8]) -> Record {
        Record::Exec(ExecRecord {
            timestamp: Timestamp(1_764_058_942_123_456_789),
            pid: 3360,
            tid: 3361,
            ppid: 3359,
            uid: 0,
            gid: 0,
            comm: Bytes(b"true".to_vec().into()),
            filename: Bytes(b"/bin/true".to_vec().into()),
            args: Argv(args.to_vec().into()),
            args_truncated: false,
            ret: 0,
            error: None,
            exec_id: ExecId {
                pid: 3360,
                boot_ns: 81_234_567_890,
            },
            cgroup_id: 4242,
            cgroup: Some("/system.slice/docker-ab12.scope".into()),
            container_id: Some("ab12".into()),
            mntns: 4026531841,
            pidns: 4026531836,
        })
    }

    #[test]
    fn exec_record_matches_contract() {
        let line = serde_json::to_string(&exec(b"/bin/true\0a b\0\0")).unwrap();
        assert_eq!(
            line,
            r#"{"type":"exec","timestamp":"2025-11-25T08:22:22.123456789Z","pid":3360,"tid":3361,"ppid":3359,"uid":0,"gid":0,"comm":"true","filename":"/bin/true","args":["/bin/true","a b",""],"args_truncated":false,"ret":0,"error":null,"exec_id":"3360-81234567890","cgroup_id":4242,"cgroup":"/system.slice/docker-ab12.scope","container_id":"ab12","mntns":4026531841,"pidns":4026531836}"#
        );
    }

    #[test]
    fn argv_edge_cases() {
        let json = |b: &[u8]| serde_json::to_value(Argv(b.to_vec().into())).unwrap();
        assert_eq!(json(b""), serde_json::json!([]));
        assert_eq!(json(b"\0"), serde_json::json!([""]));
        assert_eq!(json(b"\0\0"), serde_json::json!(["", ""]));
        assert_eq!(json(b"a\nb\0\"q\"\0"), serde_json::json!(["a\nb", "\"q\""]));
        // Invalid UTF-8 → U+FFFD, valid multi-byte kept.
        assert_eq!(
            json(b"\xff\xfeok\0\xc3\xa9\0"),
            serde_json::json!(["\u{fffd}\u{fffd}ok", "é"])
        );
    }

    #[test]
    fn exit_record_matches_contract() {
        let r = Record::Exit(ExitRecord {
            timestamp: Timestamp(0),
            pid: 3360,
            ppid: 3359,
            uid: 0,
            comm: Bytes(b"true".to_vec().into()),
            exit_code: 137,
            signal: Some("SIGKILL"),
            core_dumped: false,
            duration_ns: 1_830_000,
            exec_id: ExecId {
                pid: 3360,
                boot_ns: 5,
            },
        });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"exit","timestamp":"1970-01-01T00:00:00.000000000Z","pid":3360,"ppid":3359,"uid":0,"comm":"true","exit_code":137,"signal":"SIGKILL","core_dumped":false,"duration_ns":1830000,"exec_id":"3360-5"}"#
        );
    }

    #[test]
    fn lost_record_matches_contract() {
        let r = Record::Lost(LostRecord {
            timestamp: Timestamp(0),
            count: 17,
            reason: LostReason::RingbufFull,
        });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"lost","timestamp":"1970-01-01T00:00:00.000000000Z","count":17,"reason":"ringbuf_full"}"#
        );
    }
}
