//! `ebpf-jsonl check`: one JSON object saying what this host allows, and
//! whether `exec` and `xdp` can run here (and if not, why and the fix).

use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use serde::Serialize;
use serde_json::json;

use crate::cli::{CheckArgs, XdpMode};
use crate::error::Error;
use crate::kernel::{self, Caps, Need};

bpf_skel!(skel, "probe.skel.rs");
use skel::ProbeSkelBuilder;

#[derive(Debug, Default, Serialize)]
struct Probe {
    loads: bool,
    attaches: bool,
    error: Option<String>,
}

/// Loads only `prog` (a program name in probe.bpf.c) and attaches it.
fn probe(prog: &str, attach: bool) -> Probe {
    kernel::clear_libbpf_log();
    let mut obj = MaybeUninit::uninit();
    let err = |what: &str, e: libbpf_rs::Error| {
        let detail = kernel::last_libbpf_error()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        Some(format!("{what}: {e}{detail}"))
    };
    let mut open = match ProbeSkelBuilder::default().open(&mut obj) {
        Ok(o) => o,
        Err(e) => {
            return Probe {
                error: err("open", e),
                ..Default::default()
            }
        }
    };
    for mut p in open.open_object_mut().progs_mut() {
        let name = p.name().to_string_lossy().into_owned();
        p.set_autoload(name == prog);
    }
    let skel = match open.load() {
        Ok(s) => s,
        Err(e) => {
            return Probe {
                error: err("load", e),
                ..Default::default()
            }
        }
    };
    if !attach {
        return Probe {
            loads: true,
            ..Default::default()
        };
    }
    let res = skel
        .object()
        .progs_mut()
        .find(|p| p.name().to_string_lossy() == prog)
        .map(|p| p.attach());
    match res {
        Some(Ok(_link)) => Probe {
            loads: true,
            attaches: true,
            error: None,
        },
        Some(Err(e)) => Probe {
            loads: true,
            attaches: false,
            error: err("attach", e),
        },
        None => Probe {
            loads: true,
            attaches: false,
            error: Some("program not found".into()),
        },
    }
}

/// Attaches the probe XDP program to `iface` in one mode, then detaches it.
fn probe_xdp(iface: &str, mode: XdpMode) -> Probe {
    let ifindex = match crate::xdp::attach::ifindex(iface) {
        Ok(i) => i,
        Err(e) => {
            return Probe {
                error: Some(e.to_string()),
                ..Default::default()
            }
        }
    };
    let mut obj = MaybeUninit::uninit();
    let mut open = match ProbeSkelBuilder::default().open(&mut obj) {
        Ok(o) => o,
        Err(e) => {
            return Probe {
                error: Some(format!("open: {e}")),
                ..Default::default()
            }
        }
    };
    for mut p in open.open_object_mut().progs_mut() {
        let name = p.name().to_string_lossy().into_owned();
        p.set_autoload(name == "probe_xdp");
    }
    let skel = match open.load() {
        Ok(s) => s,
        Err(e) => {
            return Probe {
                error: Some(format!("load: {e}")),
                ..Default::default()
            }
        }
    };
    match crate::xdp::attach::attach(&skel.progs.probe_xdp, iface, ifindex, mode) {
        Ok(link) => {
            link.detach();
            Probe {
                loads: true,
                attaches: true,
                error: None,
            }
        }
        Err(e) => Probe {
            loads: true,
            attaches: false,
            error: Some(e.to_string()),
        },
    }
}

fn tracefs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("tracefs"))
}

#[derive(Serialize)]
struct Verdict {
    can_run: bool,
    reason: Option<String>,
    fix: Option<String>,
}

impl Verdict {
    /// Whether the command that has `need` can run: not if `caps` lack its
    /// privileges, nor if one of its `blockers` (need, holds, reason, fix)
    /// holds; the first that does gives the reason and the fix.
    fn first_blocker(caps: &Caps, need: Need, blockers: &[(Need, bool, &str, &str)]) -> Self {
        let found = caps.shortfall(need).or_else(|| {
            blockers
                .iter()
                .find(|(n, holds, _, _)| *n == need && *holds)
                .map(|(_, _, reason, fix)| (reason.to_string(), fix.to_string()))
        });
        Verdict {
            can_run: found.is_none(),
            fix: found.as_ref().map(|(_, fix)| fix.clone()),
            reason: found.map(|(reason, _)| reason),
        }
    }
}

pub fn run(args: &CheckArgs) -> Result<bool, Error> {
    kernel::raise_memlock();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let btf = kernel::has_btf();
    let caps = kernel::caps();
    let tracefs = tracefs_mounted();
    let mut hooks = [
        ("tp_btf", probe("probe_tp_btf", true)),
        ("raw_tp", probe("probe_raw_tp", true)),
        ("tracepoint", probe("probe_tracepoint", true)),
        ("kprobe", probe("probe_kprobe", true)),
        ("fentry", probe("probe_fentry", true)),
    ];
    if !tracefs {
        if let Some((_, p)) = hooks
            .iter_mut()
            .find(|(n, p)| *n == "tracepoint" && !p.attaches)
        {
            let e = p.error.take().unwrap_or_default();
            p.error = Some(format!(
                "{e} (tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing)"
            ));
        }
    }
    let ringbuf = probe("probe_ringbuf", false);
    let xdp_load = probe("probe_xdp", false);
    let xdp_iface = args.iface.as_deref().map(|i| {
        json!({
            "iface": i,
            "native": probe_xdp(i, XdpMode::Native),
            "generic": probe_xdp(i, XdpMode::Generic),
        })
    });

    let exec_hook = hooks[..2].iter().find(|(_, p)| p.attaches).map(|(n, _)| *n);
    let xdp_ok_iface = xdp_iface
        .as_ref()
        .is_none_or(|v| v["native"]["attaches"] == true || v["generic"]["attaches"] == true);
    // What stops each command once it has its privileges, in the order checked:
    // (the command's need, whether it holds, the reason, the fix).
    #[rustfmt::skip]
    let blockers = [
        (Need::Tracing, !btf, "the kernel has no BTF (/sys/kernel/btf/vmlinux)", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions' 5.5+ kernels)"),
        (Need::Tracing, !ringbuf.loads, "the kernel has no BPF ring buffer", "use Linux 5.8 or newer"),
        (Need::Tracing, exec_hook.is_none(), "neither tp_btf nor raw_tp programs attach to sched_process_exec", "use a kernel with BPF tracing (CONFIG_BPF_EVENTS) and BTF; rerun with --verbose for libbpf's log"),
        (Need::Xdp, !btf, "the kernel has no BTF (/sys/kernel/btf/vmlinux)", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y"),
        (Need::Xdp, !xdp_load.loads, "XDP programs do not load", "use a kernel with XDP support (Linux 5.9 or newer, for XDP through bpf_link)"),
        (Need::Xdp, !xdp_ok_iface, "XDP attaches to the interface in neither native nor generic mode", "check the interface name; if another XDP program is attached, detach it (ip link set dev IFACE xdp off)"),
    ];
    let exec = Verdict::first_blocker(&caps, Need::Tracing, &blockers);
    let xdp = Verdict::first_blocker(&caps, Need::Xdp, &blockers);
    let ok = exec.can_run && xdp.can_run;
    let report = json!({
        "kernel": {"release": release, "btf": btf},
        "privileges": {
            "euid": caps.euid,
            "cap_bpf": caps.bpf,
            "cap_perfmon": caps.perfmon,
            "cap_net_admin": caps.net_admin,
            "cap_sys_admin": caps.sys_admin,
            "cap_dac_read_search": caps.dac_read_search,
            "initial_user_namespace": caps.init_userns,
        },
        "tracefs_mounted": tracefs,
        "hooks": hooks.iter().map(|(n, p)| (n.to_string(), serde_json::to_value(p).unwrap()))
            .collect::<serde_json::Map<_, _>>(),
        "ringbuf": ringbuf.loads,
        "xdp_loads": xdp_load.loads,
        "xdp_attach": xdp_iface,
        "exec": {"hook": exec_hook, "can_run": exec.can_run, "reason": exec.reason, "fix": exec.fix},
        "xdp": xdp,
    });
    crate::output::print_json(&report)?;
    Ok(ok)
}
