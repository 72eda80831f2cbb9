//! The writer: records per second from the channel through the writer
//! thread to /dev/null, against serde_json serialising the same records into
//! a Vec (the ceiling). Interleaved rounds, medians.
//!
//!   cargo bench --bench writer -- [--records 500000] [--rounds 5]

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Parser;
use ebpf_jsonl::cli::parse_count;
use ebpf_jsonl::clock::Timestamp;
use ebpf_jsonl::error::Error;
use ebpf_jsonl::output::{self, FileSink};
use ebpf_jsonl::pipeline;
use ebpf_jsonl::record::{
    Comm, ExecId, ExecPaths, ExecRecord, ExecText, FlowRecord, Identity, IpProto, Record,
};
use ebpf_jsonl_testkit::stats::median;

#[derive(Debug, Parser)]
#[command(about = "Measures the writer: records/s through the pipeline against serde_json alone")]
struct Args {
    /// Records per run
    #[arg(long, value_name = "N", default_value_t = 500_000,
          value_parser = |s: &str| parse_count(s, 1, 100_000_000))]
    records: u32,

    /// Runs of each, interleaved; the median is reported
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = |s: &str| parse_count(s, 1, 1000))]
    rounds: u32,

    /// Passed by `cargo bench`; ignored
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    if let Err(e) = run(&Args::parse()) {
        eprintln!("writer bench: {e}");
        std::process::exit(e.exit_code());
    }
}

fn exec(i: u64) -> Record {
    let args = format!("/usr/bin/curl\0-sS\0--max-time\05\0https://example.invalid/api/v1/items/{i}\0-o\0/tmp/out\0");
    Record::Exec(ExecRecord {
        timestamp: Timestamp(1_795_594_942_123_456_789 + i as i64),
        pid: 3360 + i as u32,
        tid: 3360 + i as u32,
        ppid: 3359,
        uid: 1000,
        gid: 1000,
        ident: Identity {
            euid: 1000,
            egid: 1000,
            auid: Some(1000),
            sessionid: Some(3),
        },
        secureexec: false,
        tty: Some("pts/3".into()),
        comm: Comm(*b"curl\0\0\0\0\0\0\0\0\0\0\0\0"),
        parent_comm: Comm(*b"bash\0\0\0\0\0\0\0\0\0\0\0\0"),
        text: ExecText::new(b"/usr/bin/curl", args.as_bytes()),
        args_truncated: false,
        args_size: Some(args.len() as u32),
        paths: ExecPaths {
            cwd: Some(b"/home/app/work".as_slice().into()),
            exe: Some(b"/usr/bin/curl".as_slice().into()),
            fileless: false,
        },
        ret: 0,
        error: None,
        exec_id: ExecId {
            pid: 3360 + i as u32,
            boot_ns: 81_234_567_890 + i,
        },
        parent_exec_id: ExecId {
            pid: 3359,
            boot_ns: 81_000_000_000,
        },
        cgroup_id: 4242,
        cgroup: Some(
            "/system.slice/docker-4c0ffee0123456789abcdef0123456789abcdef0123456789abcdef012345678.scope"
                .into(),
        ),
        container_id: Some(
            "4c0ffee0123456789abcdef0123456789abcdef0123456789abcdef012345678".into(),
        ),
        mntns: 4026531841,
        pidns: 4026531836,
    })
}

/// A light exec: two arguments, a host cgroup, no container.
fn exec_host(i: u64) -> Record {
    let mut r = exec(i);
    if let Record::Exec(e) = &mut r {
        e.comm = Comm(*b"true\0\0\0\0\0\0\0\0\0\0\0\0");
        e.text = ExecText::new(b"/bin/true", format!("/bin/true\0{i}\0").as_bytes());
        e.cgroup = Some("/user.slice/user-1000.slice/session-3.scope".into());
        e.container_id = None;
    }
    r
}

fn flow(i: u64) -> Record {
    Record::Flow(FlowRecord {
        timestamp: Timestamp(1_795_594_943_000_000_000),
        iface: "eth0".into(),
        direction: "ingress",
        proto: IpProto {
            number: 17,
            ipv6: false,
        },
        src_ip: std::net::Ipv4Addr::from(0x0a00_0000 + i as u32).into(),
        src_port: Some(40000 + (i % 20000) as u16),
        dst_ip: "10.0.0.1".parse().expect("address"),
        dst_port: Some(9000),
        icmp_type: None,
        icmp_code: None,
        fragment: false,
        packets: 12 + i,
        bytes: 1704 + i,
    })
}

/// serde_json into a Vec, emptied every 64 KiB as a writer's buffer would
/// be (without the write): the ceiling.
fn ceiling(records: &[Record]) -> Duration {
    let mut buf = Vec::with_capacity(128 * 1024);
    let t = Instant::now();
    for r in records {
        serde_json::to_writer(&mut buf, r).expect("serialises");
        buf.push(b'\n');
        if buf.len() >= 64 * 1024 {
            std::hint::black_box(&buf);
            buf.clear();
        }
    }
    std::hint::black_box(&buf);
    t.elapsed()
}

/// The real path: reader-side sender → channel → writer thread → /dev/null.
fn pipeline_run(records: Vec<Record>) -> Result<Duration, Error> {
    let (mut tx, rx) = pipeline::channel();
    let sink = FileSink::open("/dev/null".as_ref())
        .map_err(|e| Error::Failure(format!("opening /dev/null: {e}")))?;
    let t = Instant::now();
    let writer = std::thread::spawn(move || output::write_all(rx, sink));
    for r in records {
        tx.send_wait(r);
    }
    tx.finish();
    writer
        .join()
        .map_err(|_| Error::Failure("writer thread failed".into()))?
        .map_err(|e| Error::Failure(format!("writing: {e}")))?;
    Ok(t.elapsed())
}

fn run(args: &Args) -> Result<(), Error> {
    let n = args.records as u64;
    let mut out = String::new();
    out.push_str(&format!(
        "Writer: {n} records per run, {} interleaved rounds, medians\n\
         | records | ceiling (serde_json → Vec) rec/s | pipeline (channel → writer → /dev/null) rec/s | pipeline / ceiling |\n\
         |---|---|---|---|\n",
        args.rounds
    ));
    type Make = fn(u64) -> Record;
    let kinds: [(&str, Make); 3] = [
        ("exec (container, 7 args)", exec),
        ("exec (host, 2 args)", exec_host),
        ("flow", flow),
    ];
    for (name, make) in kinds {
        let (mut ceil, mut pipe) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            let recs: Vec<Record> = (0..n).map(make).collect();
            ceil.push(n as f64 / ceiling(&recs).as_secs_f64());
            drop(recs);
            let recs: Vec<Record> = (0..n).map(make).collect();
            pipe.push(n as f64 / pipeline_run(recs)?.as_secs_f64());
        }
        let (c, p) = (median(&ceil), median(&pipe));
        out.push_str(&format!("| {name} | {c:.0} | {p:.0} | {:.2} |\n", p / c));
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| Error::Failure(format!("writing the report: {e}")))
}
