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
        uid: 1000,
        gid: 1000,
        ident: Identity {
            euid: 0,
            egid: 0,
            auid: Some(1000),
            sessionid: Some(3),
        },
        secureexec: true,
        tty: Some("pts/3".into()),
        comm: comm("true"),
        parent_comm: comm("bash"),
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
        parent_exec_id: ExecId {
            pid: 3359,
            boot_ns: 81_200_000_000,
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
        r#"{"type":"exec","timestamp":"2025-11-25T08:22:22.123456789Z","pid":3360,"tid":3361,"ppid":3359,"uid":1000,"gid":1000,"euid":0,"egid":0,"auid":1000,"sessionid":3,"secureexec":true,"tty":"pts/3","comm":"true","parent_comm":"bash","filename":"/bin/true","args":["/bin/true","a b",""],"args_truncated":false,"args_size":15,"cwd":"/root","exe":"/usr/bin/true","fileless":false,"ret":0,"error":null,"exec_id":"3360-81234567890","parent_exec_id":"3359-81200000000","cgroup_id":4242,"cgroup":"/system.slice/docker-ab12.scope","container_id":"ab12","mntns":4026531841,"pidns":4026531836}"#
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
        r#"{"cwd":"/tmp/�d (deleted)","cwd_b64":"L3RtcC//ZCAoZGVsZXRlZCk=","exe":"/memfd:x (deleted)","fileless":true}"#
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

/// The exit record of the contract.
fn exit_record() -> Record {
    Record::Exit(ExitRecord {
        timestamp: Timestamp(0),
        pid: 3360,
        ppid: 3359,
        uid: 0,
        gid: 0,
        ident: Identity {
            euid: 0,
            egid: 0,
            auid: None,
            sessionid: None,
        },
        comm: comm("true"),
        exit_code: 137,
        signal: Some("SIGKILL"),
        core_dumped: false,
        duration_ns: 1_830_000,
        exec_id: ExecId {
            pid: 3360,
            boot_ns: 5,
        },
    })
}

#[test]
fn exit_record_matches_contract() {
    assert_eq!(
        serde_json::to_string(&exit_record()).unwrap(),
        r#"{"type":"exit","timestamp":"1970-01-01T00:00:00.000000000Z","pid":3360,"ppid":3359,"uid":0,"gid":0,"euid":0,"egid":0,"auid":null,"sessionid":null,"comm":"true","exit_code":137,"signal":"SIGKILL","core_dumped":false,"duration_ns":1830000,"exec_id":"3360-5"}"#
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
            direction: "ingress",
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
        r#"{"type":"flow","timestamp":"2026-11-25T08:22:23.000000000Z","iface":"eth0","direction":"ingress","proto":"udp","src_ip":"10.0.0.2","src_port":40001,"dst_ip":"10.0.0.1","dst_port":9000,"packets":12,"bytes":1704}"#
    );
    let icmp = IpProto {
        number: 1,
        ipv6: false,
    };
    assert_eq!(
        serde_json::to_string(&flow(icmp, None, Some((8, 0)))).unwrap(),
        r#"{"type":"flow","timestamp":"2026-11-25T08:22:23.000000000Z","iface":"eth0","direction":"ingress","proto":"icmp","src_ip":"10.0.0.2","dst_ip":"10.0.0.1","icmp_type":8,"icmp_code":0,"packets":12,"bytes":1704}"#
    );
    let gre = IpProto {
        number: 47,
        ipv6: false,
    };
    assert_eq!(
        serde_json::to_string(&flow(gre, None, None)).unwrap(),
        r#"{"type":"flow","timestamp":"2026-11-25T08:22:23.000000000Z","iface":"eth0","direction":"ingress","proto":"47","src_ip":"10.0.0.2","dst_ip":"10.0.0.1","packets":12,"bytes":1704}"#
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
        direction: "egress",
        interval_ns: 1_000_123_456,
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
        r#"{"type":"xdp_stats","timestamp":"2026-11-25T08:22:23.000000000Z","iface":"eth0","direction":"egress","interval_ns":1000123456,"packets":90210,"bytes":8012345,"flows":37,"untracked_packets":0,"untracked_bytes":0,"excluded_packets":0,"excluded_bytes":0,"non_ip_packets":12,"non_ip_bytes":720,"malformed_packets":0,"malformed_bytes":0}"#
    );
}

/// A base64 decoder of its own (RFC 4648 §4, padded), to check the encoder.
fn unbase64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert_eq!(s.len() % 4, 0, "padded: {s}");
    let mut bits = 0u32;
    let (mut n, mut out) = (0, Vec::new());
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64 alphabet") as u32;
        bits = bits << 6 | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

fn exec_json(filename: &[u8], args: &[u8]) -> serde_json::Value {
    let Record::Exec(mut e) = exec(args) else {
        unreachable!()
    };
    e.text = ExecText::new(filename, args);
    serde_json::to_value(Record::Exec(e)).unwrap()
}

#[test]
fn argvs_differing_only_in_invalid_bytes_print_different_records() {
    let a = exec_json(b"/bin/true", b"/bin/true\0\xffMARK\xfe\0");
    let b = exec_json(b"/bin/true", b"/bin/true\0\xfeMARK\xff\0");
    assert_eq!(a["args"], b["args"], "the lossy strings are the same");
    assert_ne!(a, b);
    assert_eq!(
        a["args_b64"],
        serde_json::json!(["L2Jpbi90cnVl", "/01BUkv+"]),
        "every element, valid ones too, so indices line up"
    );
    assert_eq!(
        unbase64(a["args_b64"][1].as_str().unwrap()),
        b"\xffMARK\xfe"
    );
    assert!(
        a.get("filename_b64").is_none(),
        "only the field that lost bytes"
    );
}

#[test]
fn every_byte_value_round_trips_through_b64() {
    let all: Vec<u8> = (1..=255u8).collect();
    // Every length mod 3 (padding), every byte at every position mod 3.
    for start in 0..3 {
        let bytes = &all[start..];
        let mut argv = bytes.to_vec();
        argv.push(0);
        let v = exec_json(bytes, &argv);
        assert_eq!(unbase64(v["filename_b64"].as_str().unwrap()), bytes);
        assert_eq!(unbase64(v["args_b64"][0].as_str().unwrap()), bytes);
        assert_eq!(v["args_b64"].as_array().unwrap().len(), 1);
    }
    for (s, b64) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v")] {
        assert_eq!(text::Base64(s.as_bytes()).encode(), b64);
    }
}

#[test]
fn valid_utf8_prints_no_b64_field() {
    let v = exec_json("/usr/bin/é✓".as_bytes(), "é✓\0\0x\0".as_bytes());
    assert_eq!(v["args"], serde_json::json!(["é✓", "", "x"]));
    assert_eq!(v["filename"], "/usr/bin/é✓");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert!(keys.iter().all(|k| !k.ends_with("_b64")), "{keys:?}");
    assert_eq!(exec_json(b"", b"")["args"], serde_json::json!([]));
}

#[test]
fn comm_with_invalid_bytes_carries_its_bytes_on_exec_and_exit() {
    let Record::Exec(mut e) = exec(b"x\0") else {
        unreachable!()
    };
    e.comm = Comm(*b"cu\xffrl\0\0\0\0\0\0\0\0\0\0\0");
    let v = serde_json::to_value(Record::Exec(e)).unwrap();
    assert_eq!(v["comm"], "cu\u{fffd}rl");
    assert_eq!(unbase64(v["comm_b64"].as_str().unwrap()), b"cu\xffrl");
    let full = Comm(*b"\xff234567890abcdef");
    let Record::Exit(mut x) = exit_record() else {
        unreachable!()
    };
    x.comm = full;
    let line = serde_json::to_string(&x).unwrap();
    assert!(
        line.contains(
            "\"comm\":\"\u{fffd}234567890abcdef\",\"comm_b64\":\"/zIzNDU2Nzg5MGFiY2RlZg==\""
        ),
        "all 16 bytes, next to comm: {line}"
    );
}
