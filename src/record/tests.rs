//! The contract tests: each record type, byte for byte.

use super::*;
use crate::clock::Timestamp;

fn comm(name: &str) -> Comm {
    let mut c = [0u8; crate::exec::skel::COMM_LEN];
    c[..name.len()].copy_from_slice(name.as_bytes());
    Comm(c)
}

fn paths(cwd: Option<&[u8]>, exe: Option<&[u8]>, fileless: bool) -> ExecPaths {
    ExecPaths {
        cwd: cwd.map(Into::into),
        exe: exe.map(Into::into),
        fileless,
    }
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
        paths: paths(Some(b"/root"), Some(b"/usr/bin/true"), false),
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
        r#"{"type":"exec","timestamp":"2025-11-25T08:22:22.123456789Z","pid":3360,"tid":3361,"ppid":3359,"uid":0,"gid":0,"comm":"true","filename":"/bin/true","args":["/bin/true","a b",""],"args_truncated":false,"args_size":15,"cwd":"/root","exe":"/usr/bin/true","fileless":false,"ret":0,"error":null,"exec_id":"3360-81234567890","cgroup_id":4242,"cgroup":"/system.slice/docker-ab12.scope","container_id":"ab12","mntns":4026531841,"pidns":4026531836}"#
    );
}

#[test]
fn paths_print_as_strings_or_null() {
    let json = |p: ExecPaths| serde_json::to_string(&p).unwrap();
    assert_eq!(
        json(ExecPaths::default()),
        r#"{"cwd":null,"exe":null,"fileless":false}"#
    );
    let p = paths(
        Some(b"/tmp/\xffd (deleted)"),
        Some(b"/memfd:x (deleted)"),
        true,
    );
    assert_eq!(p.heap_bytes(), 17 + 18);
    assert_eq!(
        json(p),
        r#"{"cwd":"/tmp/�d (deleted)","exe":"/memfd:x (deleted)","fileless":true}"#
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
