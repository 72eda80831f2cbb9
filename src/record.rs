//! The records ebpf-jsonl prints: one enum, serialised with a `type` tag, so
//! every subcommand shares the reader → channel → writer path.

use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::Serialize;
use std::sync::Arc;

use crate::clock::Timestamp;

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Exec(ExecRecord),
    Exit(ExitRecord),
    Lost(LostRecord),
    Flow(FlowRecord),
    XdpStats(XdpStatsRecord),
}

/// What a flow record weighs in the writer queue (it owns no heap memory).
pub const FLOW_WEIGHT: usize = 128;

impl Record {
    /// Rough heap + inline size, for the writer queue's memory budget.
    pub fn weight(&self) -> usize {
        match self {
            Record::Exec(e) => 224 + e.text.len(),
            Record::Exit(_) => 128,
            Record::Lost(_) => crate::pipeline::LOST_WEIGHT,
            Record::Flow(_) => FLOW_WEIGHT,
            Record::XdpStats(_) => 160,
        }
    }
}

/// One execve/execveat: successful (`ret` 0), or failed (with --failed).
#[derive(Debug)]
pub struct ExecRecord {
    pub timestamp: Timestamp,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub comm: Comm,
    /// `filename` and `args`, in one allocation.
    pub text: ExecText,
    pub args_truncated: bool,
    /// Bytes of the whole argv (each element's NUL included), when known.
    pub args_size: Option<u32>,
    pub ret: i32,
    pub error: Option<&'static str>,
    pub exec_id: ExecId,
    pub cgroup_id: u64,
    pub cgroup: Option<Arc<str>>,
    pub container_id: Option<Arc<str>>,
    pub mntns: u32,
    pub pidns: u32,
}

impl Serialize for ExecRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("ExecRecord", 19)?;
        m.serialize_field("timestamp", &self.timestamp)?;
        m.serialize_field("pid", &self.pid)?;
        m.serialize_field("tid", &self.tid)?;
        m.serialize_field("ppid", &self.ppid)?;
        m.serialize_field("uid", &self.uid)?;
        m.serialize_field("gid", &self.gid)?;
        m.serialize_field("comm", &self.comm)?;
        m.serialize_field("filename", &String::from_utf8_lossy(self.text.filename()))?;
        m.serialize_field("args", &self.text.args())?;
        m.serialize_field("args_truncated", &self.args_truncated)?;
        m.serialize_field("args_size", &self.args_size)?;
        m.serialize_field("ret", &self.ret)?;
        m.serialize_field("error", &self.error)?;
        m.serialize_field("exec_id", &self.exec_id)?;
        m.serialize_field("cgroup_id", &self.cgroup_id)?;
        m.serialize_field("cgroup", &self.cgroup)?;
        m.serialize_field("container_id", &self.container_id)?;
        m.serialize_field("mntns", &self.mntns)?;
        m.serialize_field("pidns", &self.pidns)?;
        m.end()
    }
}

/// An exec's filename followed by its argv (each element NUL-terminated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecText {
    buf: Box<[u8]>,
    filename_len: usize,
}

impl ExecText {
    /// `argv` as the kernel lays it out: elements each ending in NUL.
    pub fn new(filename: &[u8], argv: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(filename.len() + argv.len());
        buf.extend_from_slice(filename);
        buf.extend_from_slice(argv);
        Self::from_parts(buf, filename.len())
    }

    /// `buf` holds the filename's `filename_len` bytes, then argv.
    pub fn from_parts(buf: Vec<u8>, filename_len: usize) -> Self {
        ExecText {
            buf: buf.into_boxed_slice(),
            filename_len,
        }
    }

    pub fn filename(&self) -> &[u8] {
        &self.buf[..self.filename_len]
    }

    pub fn args(&self) -> Argv<'_> {
        Argv(&self.buf[self.filename_len..])
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// The end of a whole process (thread group).
#[derive(Debug, Serialize)]
pub struct ExitRecord {
    pub timestamp: Timestamp,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub comm: Comm,
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
    /// `exec --failed`: an execve/execveat could not be followed (the table of
    /// execs in progress was full), so its failure would go unreported.
    InflightFull,
    /// `exec --pid`: a new descendant could not be followed (the table of
    /// traced processes was full); its execs and exit are not reported.
    PidsFull,
    /// `exec --exits`: an exit could not be reported exactly once (the table
    /// of ended processes was full), so it was not reported.
    ExitsFull,
    /// An event from the kernel too malformed to decode.
    Malformed,
}

impl LostReason {
    /// Every reason, in the order loss reports are printed.
    pub const ALL: [LostReason; 6] = [
        LostReason::RingbufFull,
        LostReason::ConsumerSlow,
        LostReason::InflightFull,
        LostReason::PidsFull,
        LostReason::ExitsFull,
        LostReason::Malformed,
    ];
}

/// A task's name (up to 16 bytes, NUL-padded) printed as a JSON string.
/// Kernel bytes: valid UTF-8 passes through as is; each invalid sequence
/// becomes U+FFFD (the documented, lossy encoding), as for every string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Comm(pub [u8; 16]);

impl Comm {
    pub fn bytes(&self) -> &[u8] {
        let n = self.0.iter().position(|&c| c == 0).unwrap_or(16);
        &self.0[..n]
    }
}

impl Serialize for Comm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(self.bytes()))
    }
}

/// argv as the kernel laid it out: every element NUL-terminated. Printed as a
/// JSON array of strings, element for element, empty strings kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argv<'a>(pub &'a [u8]);

impl<'a> Argv<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> {
        let b: &'a [u8] = self.0;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        let empty = self.0.is_empty();
        b.split(|&c| c == 0).filter(move |_| !empty)
    }
}

impl Serialize for Argv<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for arg in self.iter() {
            seq.serialize_element(&String::from_utf8_lossy(arg))?;
        }
        seq.end()
    }
}

/// `xdp`: the packets and bytes of one flow within one interval; `timestamp`
/// is the interval's end. Ports only for TCP and UDP, type and code for ICMP,
/// neither for a flow of later fragments (`fragment`).
#[derive(Debug, Serialize)]
pub struct FlowRecord {
    pub timestamp: Timestamp,
    pub iface: std::sync::Arc<str>,
    pub proto: IpProto,
    pub src_ip: std::net::IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    pub dst_ip: std::net::IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Later fragments (offset > 0) of IP datagrams: no transport header, so
    /// no ports or ICMP type; present (true) only on such flows.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fragment: bool,
    pub packets: u64,
    pub bytes: u64,
}

/// An IP protocol number, printed as `tcp`, `udp`, `icmp` (IPv4), `icmpv6`
/// (IPv6) or the number as a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpProto {
    pub number: u8,
    pub ipv6: bool,
}

impl Serialize for IpProto {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.number, self.ipv6) {
            (6, _) => s.serialize_str("tcp"),
            (17, _) => s.serialize_str("udp"),
            (1, false) => s.serialize_str("icmp"),
            (58, true) => s.serialize_str("icmpv6"),
            (n, _) => s.collect_str(&n),
        }
    }
}

/// `xdp`: cumulative counts since the start, after each interval's flows.
/// `packets` is every packet seen; each one is in exactly one flow or one of
/// the four categories.
#[derive(Debug, Serialize)]
pub struct XdpStatsRecord {
    pub timestamp: Timestamp,
    pub iface: std::sync::Arc<str>,
    pub packets: u64,
    pub bytes: u64,
    /// Flows in the table now.
    pub flows: u64,
    pub untracked_packets: u64,
    pub untracked_bytes: u64,
    pub excluded_packets: u64,
    pub excluded_bytes: u64,
    pub non_ip_packets: u64,
    pub non_ip_bytes: u64,
    pub malformed_packets: u64,
    pub malformed_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comm(name: &str) -> Comm {
        let mut c = [0u8; 16];
        c[..name.len()].copy_from_slice(name.as_bytes());
        Comm(c)
    }

    fn exec(args: &[u8]) -> Record {
        Record::Exec(ExecRecord {
            timestamp: Timestamp(1_764_058_942_123_456_789),
            pid: 3360,
            tid: 3361,
            ppid: 3359,
            uid: 0,
            gid: 0,
            comm: comm("true"),
            text: ExecText::new(b"/bin/true", args),
            args_truncated: false,
            args_size: Some(15),
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
            r#"{"type":"exec","timestamp":"2025-11-25T08:22:22.123456789Z","pid":3360,"tid":3361,"ppid":3359,"uid":0,"gid":0,"comm":"true","filename":"/bin/true","args":["/bin/true","a b",""],"args_truncated":false,"args_size":15,"ret":0,"error":null,"exec_id":"3360-81234567890","cgroup_id":4242,"cgroup":"/system.slice/docker-ab12.scope","container_id":"ab12","mntns":4026531841,"pidns":4026531836}"#
        );
    }

    #[test]
    fn argv_edge_cases() {
        let json = |b: &[u8]| serde_json::to_value(Argv(b)).unwrap();
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
            comm: comm("true"),
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

    #[test]
    fn flow_records_match_contract() {
        let flow = |proto: IpProto, ports: Option<(u16, u16)>, icmp: Option<(u8, u8)>| {
            Record::Flow(FlowRecord {
                timestamp: Timestamp(1_795_594_943_000_000_000),
                iface: "eth0".into(),
                proto,
                src_ip: "10.0.0.2".parse().unwrap(),
                src_port: ports.map(|p| p.0),
                dst_ip: "10.0.0.1".parse().unwrap(),
                dst_port: ports.map(|p| p.1),
                icmp_type: icmp.map(|i| i.0),
                icmp_code: icmp.map(|i| i.1),
                fragment: false,
                packets: 12,
                bytes: 1704,
            })
        };
        let udp = IpProto {
            number: 17,
            ipv6: false,
        };
        assert_eq!(
            serde_json::to_string(&flow(udp, Some((40001, 9000)), None)).unwrap(),
            r#"{"type":"flow","timestamp":"2026-11-25T08:22:23.000000000Z","iface":"eth0","proto":"udp","src_ip":"10.0.0.2","src_port":40001,"dst_ip":"10.0.0.1","dst_port":9000,"packets":12,"bytes":1704}"#
        );
        let icmp = IpProto {
            number: 1,
            ipv6: false,
        };
        assert_eq!(
            serde_json::to_string(&flow(icmp, None, Some((8, 0)))).unwrap(),
            r#"{"type":"flow","timestamp":"2026-11-25T08:22:23.000000000Z","iface":"eth0","proto":"icmp","src_ip":"10.0.0.2","dst_ip":"10.0.0.1","icmp_type":8,"icmp_code":0,"packets":12,"bytes":1704}"#
        );
        let gre = IpProto {
            number: 47,
            ipv6: false,
        };
        assert_eq!(
            serde_json::to_string(&flow(gre, None, None)).unwrap(),
            r#"{"type":"flow","timestamp":"2026-11-25T08:22:23.000000000Z","iface":"eth0","proto":"47","src_ip":"10.0.0.2","dst_ip":"10.0.0.1","packets":12,"bytes":1704}"#
        );
        let name = |number, ipv6| serde_json::to_string(&IpProto { number, ipv6 }).unwrap();
        assert_eq!(name(6, true), r#""tcp""#);
        assert_eq!(name(58, true), r#""icmpv6""#);
        assert_eq!(name(58, false), r#""58""#);
        assert_eq!(name(1, true), r#""1""#);
        let v6 = Record::Flow(FlowRecord {
            src_ip: "fd00::2".parse().unwrap(),
            dst_ip: "fd00::1".parse().unwrap(),
            ..match flow(
                IpProto {
                    number: 17,
                    ipv6: true,
                },
                Some((1, 2)),
                None,
            ) {
                Record::Flow(f) => f,
                _ => unreachable!(),
            }
        });
        let line = serde_json::to_string(&v6).unwrap();
        assert!(line.contains(r#""src_ip":"fd00::2","src_port":1,"dst_ip":"fd00::1","dst_port":2"#));
    }

    #[test]
    fn xdp_stats_record_matches_contract() {
        let r = Record::XdpStats(XdpStatsRecord {
            timestamp: Timestamp(1_795_594_943_000_000_000),
            iface: "eth0".into(),
            packets: 90210,
            bytes: 8012345,
            flows: 37,
            untracked_packets: 0,
            untracked_bytes: 0,
            excluded_packets: 0,
            excluded_bytes: 0,
            non_ip_packets: 12,
            non_ip_bytes: 720,
            malformed_packets: 0,
            malformed_bytes: 0,
        });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"xdp_stats","timestamp":"2026-11-25T08:22:23.000000000Z","iface":"eth0","packets":90210,"bytes":8012345,"flows":37,"untracked_packets":0,"untracked_bytes":0,"excluded_packets":0,"excluded_bytes":0,"non_ip_packets":12,"non_ip_bytes":720,"malformed_packets":0,"malformed_bytes":0}"#
        );
    }
}
