//! `ebpf-jsonl check`: one JSON object saying what this host allows, and
//! whether `exec` and `xdp` can run here (and if not, why and the fix).
//! exec's and xdp's own programs are loaded (and attached) for real, exec's
//! in each flavour with everything on at the largest caps, so `can_run` is
//! true only where the subcommand loads too.

use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use serde::Serialize;
use serde_json::json;

use crate::cli::CheckArgs;
use crate::error::Error;
use crate::exec::attach as exec;
use crate::exec::failed_hook::Tier;
use crate::kernel::{self, Caps, Need};

mod program;
mod xdp_probe;
use program::{Probe, Program};
use xdp_probe::xdp_program;

bpf_skel!(skel, "probe.skel.rs");
use skel::ProbeSkelBuilder;

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

/// exec at its hardest for the verifier: every program (--exits, --failed,
/// a pid filter), every filter, --max-args and --max-argv-bytes at their maximum.
fn hardest_exec() -> exec::Config {
    let max = crate::exec::skel::ARGV_MAX_LEN;
    exec::Config {
        argv_cap: max,
        max_args: max,
        ringbuf_size: 64 * 1024,
        exits: true,
        failed: true,
        // the raw tier: the programs that run on every syscall
        failed_hook: crate::exec::failed_hook::FailedHook::Raw,
        uids: vec![u32::MAX - 1],
        euids: vec![u32::MAX - 1],
        pids: vec![0],
        comms: vec!["ebpf-jsonl-chk".into()],
        cgroups: crate::exec::cgroup::cgroup2_root()
            .and_then(|p| std::fs::File::open(p).ok())
            .into_iter()
            .collect(),
        table_size: None,
        // what exec would load here
        argv_reader: crate::exec::reader::detect(),
    }
}

fn exec_program(flavour: exec::Flavour, tier: Tier, cfg: &exec::Config) -> Program {
    match exec::try_one(flavour, Some(tier), cfg) {
        Ok(hooks) => Program {
            loads: true,
            attaches: true,
            hooks,
            ..Default::default()
        },
        // fexit refused reads as EPERM even to root: not a privilege matter
        Err(e) if tier != Tier::Raw => {
            let mut p = Program::failed(&e);
            p.error = Some(crate::exec::failed_hook::strip_privilege(e));
            p
        }
        Err(e) => Program::failed(&e),
    }
}

/// What each tier of --failed hooks does here, with the first exec flavour
/// that works (the raw tier is that flavour's own program above).
fn failed_tiers(
    exec_progs: &[(&'static str, Program); 2],
    cfg: &exec::Config,
) -> Vec<(Tier, Program)> {
    let working = exec::Flavour::ALL
        .into_iter()
        .zip(exec_progs)
        .find(|(_, (_, p))| p.attaches);
    Tier::ALL
        .into_iter()
        .map(|tier| {
            let p = match working {
                None => Program::failed(&Error::Kernel("no exec flavour loads".into())),
                Some((_, (_, p))) if tier == Tier::Raw => p.clone(),
                Some((flavour, _)) => exec_program(flavour, tier, cfg),
            };
            (tier, p)
        })
        .collect()
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
    let cfg = hardest_exec();
    let exec_progs = exec::Flavour::ALL.map(|f| (f.prefix(), exec_program(f, Tier::Raw, &cfg)));
    let mut hooks = [
        ("tp_btf", exec_progs[0].1.hook()),
        ("raw_tp", exec_progs[1].1.hook()),
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
    let (xdp_prog, xdp_iface) = xdp_program(args.iface.as_deref());

    let exec_hook = exec_progs.iter().find(|(_, p)| p.attaches).map(|(n, _)| *n);
    let failed_hooks = failed_tiers(&exec_progs, &cfg);
    let failed_hook = failed_hooks
        .iter()
        .find(|(_, p)| p.attaches)
        .map(|(t, _)| t.name());
    // exec's reason and fix when no flavour works: the last flavour's (the
    // fallback), with what a refused program needs if it is known.
    let (_, last) = &exec_progs[1];
    let exec_reason = format!(
        "exec's programs load and attach in neither flavour (raw_tp: {})",
        last.error.as_deref().unwrap_or("?")
    );
    let exec_fix = exec_progs.iter().rev().find_map(|(_, p)| p.needs).map_or(
        "use a kernel with BPF tracing (CONFIG_BPF_EVENTS) and BTF; rerun with --verbose for libbpf's log"
            .to_string(),
        |n| format!("use a kernel with {n}"),
    );
    let xdp_reason = format!(
        "the xdp program does not load: {}",
        xdp_prog.error.as_deref().unwrap_or("?")
    );
    let xdp_fix = xdp_prog.needs.map_or(
        "use a kernel with XDP support (Linux 5.9 or newer, for XDP through bpf_link)".to_string(),
        |n| format!("use a kernel with {n}"),
    );
    // What stops each command once it has its privileges, in the order checked:
    // (the command's need, whether it holds, the reason, the fix).
    #[rustfmt::skip]
    let blockers = [
        (Need::Tracing, !btf, "the kernel has no BTF (/sys/kernel/btf/vmlinux)", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions' 5.5+ kernels)"),
        (Need::Tracing, !ringbuf.loads, "the kernel has no BPF ring buffer", "use Linux 5.8 or newer"),
        (Need::Tracing, exec_hook.is_none(), exec_reason.as_str(), exec_fix.as_str()),
        (Need::Xdp, !btf, "the kernel has no BTF (/sys/kernel/btf/vmlinux)", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y"),
        (Need::Xdp, !xdp_prog.loads, xdp_reason.as_str(), xdp_fix.as_str()),
        (Need::Xdp, !xdp_prog.attaches, "XDP attaches to the interface in neither native nor generic mode", "check the interface name; if another XDP program is attached, detach it (ip link set dev IFACE xdp off)"),
    ];
    let exec = Verdict::first_blocker(&caps, Need::Tracing, &blockers);
    let xdp = Verdict::first_blocker(&caps, Need::Xdp, &blockers);
    let ok = exec.can_run && xdp.can_run;
    let to_value = |p: &Program| serde_json::to_value(p).unwrap_or_default();
    let programs: serde_json::Map<_, _> = exec_progs
        .iter()
        .map(|(n, p)| (format!("exec_{n}"), to_value(p)))
        .chain([("xdp".to_string(), to_value(&xdp_prog))])
        .collect();
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
        "xdp_loads": xdp_prog.loads,
        "xdp_attach": xdp_iface,
        "programs": programs,
        "failed_hooks": failed_hooks.iter().map(|(t, p)| (t.name().to_string(), to_value(p)))
            .collect::<serde_json::Map<_, _>>(),
        "exec": {"hook": exec_hook, "failed_hook": failed_hook, "failed_argv_reader": cfg.argv_reader.name(), "can_run": exec.can_run, "reason": exec.reason, "fix": exec.fix},
        "xdp": {"can_run": xdp.can_run, "reason": xdp.reason, "fix": xdp.fix, "egress_hook": crate::xdp::egress::detect().name()},
    });
    crate::output::print_json(&report)?;
    Ok(ok)
}
