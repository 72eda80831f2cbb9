//! Loads the exec programs and attaches them, choosing a flavour of hook this
//! kernel supports: tp_btf (BTF-typed tracepoints, 5.5+), then raw_tp (4.17+).
//! Neither needs kprobes, fentry or a mounted tracefs. `--failed` adds the
//! cheapest tier of hooks that loads ([`failed_hook`]).

use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};

use super::failed_hook::{
    self, attach_tracepoint, prepare, strip_privilege, FailedHook, Prepared, Tier,
};
use super::reader::{base_name, Reader};
use super::skel::{ExecSkel, ExecSkelBuilder, OpenExecSkel};
use crate::diag;
use crate::error::Error;
use crate::kernel;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    TpBtf,
    RawTp,
}

impl Flavour {
    /// In the order exec tries them.
    pub const ALL: [Flavour; 2] = [Flavour::TpBtf, Flavour::RawTp];

    pub fn prefix(self) -> &'static str {
        match self {
            Flavour::TpBtf => "tp_btf",
            Flavour::RawTp => "raw_tp",
        }
    }
}

/// What to load and how to filter, all fixed before load.
pub struct Config {
    pub argv_cap: u32,
    pub max_args: u32,
    pub ringbuf_size: u32,
    pub exits: bool,
    pub failed: bool,
    /// With `failed`: which tier of hooks sees failed execs.
    pub failed_hook: FailedHook,
    pub uids: Vec<u32>,
    pub euids: Vec<u32>,
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub cgroups: Vec<File>,
    /// Capacity of the pids, inflight, exited and exec_times tables (tests),
    /// else built in.
    pub table_size: Option<u32>,
    /// How the failed-exec programs walk argv: which twin of each loads.
    pub argv_reader: Reader,
}

pub struct Attached<'obj> {
    pub skel: ExecSkel<'obj>,
    /// The hooks in use, e.g. "tp_btf/sched_process_exec".
    pub hooks: Vec<String>,
    /// With --failed: the tier in use.
    pub tier: Option<Tier>,
    _links: Vec<Link>,
}

/// The tracepoints each feature needs.
fn tracepoints(cfg: &Config) -> Vec<&'static str> {
    // exit always: it forgets the exec times that parent_exec_id looks up.
    let mut tps = vec!["sched_process_exec", "sched_process_exit"];
    if cfg.exits {
        tps.push("sched_process_free");
    }
    if !cfg.pids.is_empty() {
        tps.push("sched_process_fork");
    }
    tps
}

/// Object storage for each (flavour, tier) exec may try.
pub const SLOTS: usize = Flavour::ALL.len() * Tier::ALL.len();

/// Tries each flavour in turn, and with --failed each tier of failed-exec
/// hooks the choice allows, each attempt in its own object storage.
pub fn load_and_attach<'obj>(
    objs: &'obj mut [MaybeUninit<OpenObject>; SLOTS],
    cfg: &Config,
) -> Result<Attached<'obj>, Error> {
    if !kernel::has_btf() {
        return Err(Error::Kernel(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): \
             ebpf-jsonl needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.5 or newer)"
                .into(),
        ));
    }
    let tiers: Vec<Option<Tier>> = if cfg.failed {
        cfg.failed_hook.tiers().iter().copied().map(Some).collect()
    } else {
        vec![None]
    };
    let forced = cfg.failed && cfg.failed_hook != FailedHook::Auto;
    let mut slots = objs.iter_mut();
    let mut flavour_errors = Vec::new();
    for flavour in Flavour::ALL {
        let mut last = None;
        for (i, tier) in tiers.iter().enumerate() {
            let slot = slots.next().expect("a slot per attempt");
            let err = match prepare(*tier).and_then(|p| try_flavour(slot, flavour, *tier, &p, cfg))
            {
                Ok(att) => {
                    announce(&att);
                    return Ok(att);
                }
                Err(e) => e,
            };
            let Some(t) = tier.filter(|t| *t != Tier::Raw) else {
                last = Some(err);
                break;
            };
            // fexit's or the tracepoints' own failure (fexit refused reads as
            // EPERM even to root): the next tier may do, a forced one is a
            // kernel feature missing.
            let msg = format!("--failed-hook {}: {}", t.name(), strip_privilege(err));
            if forced {
                last = Some(Error::Kernel(format!(
                    "{msg}; --failed-hook auto takes the cheapest tier that loads"
                )));
                break;
            }
            if let Some(next) = tiers.get(i + 1).copied().flatten() {
                diag::warn(&format!(
                    "exec: {} unavailable ({msg}); trying {}",
                    t.describe(),
                    next.describe()
                ));
            }
        }
        let Some(e) = last else { continue };
        if matches!(e, Error::Privilege(_)) {
            return Err(e);
        }
        // A forced fexit or tracepoint tier is retried with raw_tp quietly:
        // its error is the tier's, most likely, and says so once.
        let forced_tier = forced && tiers[0] != Some(Tier::Raw);
        if flavour == Flavour::TpBtf && !forced_tier {
            diag::warn(&format!(
                "exec: tp_btf hooks unavailable ({e}); trying raw_tp"
            ));
        }
        if forced_tier && flavour == Flavour::RawTp {
            return Err(e);
        }
        flavour_errors.push(format!("{}: {e}", flavour.prefix()));
    }
    Err(Error::Kernel(format!(
        "no exec hook works on this kernel: {} \
         (ebpf-jsonl needs BTF and BPF ring buffers, Linux 5.8 or newer)",
        flavour_errors.join("; ")
    )))
}

/// stderr's word on the failed-exec tier in use: its cost, what it misses.
fn announce(att: &Attached<'_>) {
    match att.tier {
        Some(Tier::Raw) => diag::info(
            "exec: --failed uses raw sys_enter/sys_exit: every syscall on the host runs a BPF \
             program (a few ns each)",
        ),
        Some(Tier::Tracepoint) if failed_hook::has_compat_execve() => diag::warn(
            "exec: --failed uses the syscall tracepoints, which do not see 32-bit processes' \
             execs; --failed-hook raw sees them",
        ),
        _ => {}
    }
}

/// Loads and attaches the programs of one flavour that `cfg` asks for,
/// exactly as exec does, then lets them go (for `check`): the hooks in use.
/// With `cfg.failed`, `tier` says which failed-exec hooks.
pub fn try_one(flavour: Flavour, tier: Option<Tier>, cfg: &Config) -> Result<Vec<String>, Error> {
    let mut obj = MaybeUninit::uninit();
    let tier = tier.filter(|_| cfg.failed);
    prepare(tier)
        .and_then(|p| try_flavour(&mut obj, flavour, tier, &p, cfg))
        .map(|att| att.hooks)
}

fn open<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    cfg: &Config,
) -> Result<OpenExecSkel<'obj>, Error> {
    let fail = |what: &str, e: libbpf_rs::Error| Error::Failure(format!("{what}: {e}"));
    let mut open = ExecSkelBuilder::default()
        .open(obj)
        .map_err(|e| kernel::bpf_error("opening the exec BPF object", &e))?;
    open.maps
        .events
        .set_max_entries(cfg.ringbuf_size)
        .map_err(|e| fail("sizing the ring buffer", e))?;
    let cpus = libbpf_rs::num_possible_cpus()
        .map_err(|e| Error::Failure(format!("counting possible CPUs: {e}")))?;
    open.maps
        .scratch
        .set_max_entries(cpus as u32)
        .map_err(|e| fail("sizing the scratch map", e))?;
    // Not needed without --exits: one entry instead of 65,536.
    let exited = if cfg.exits { cfg.table_size } else { Some(1) };
    if let Some(n) = exited {
        open.maps
            .exited
            .set_max_entries(n)
            .map_err(|e| fail("sizing the exit table", e))?;
    }
    if let Some(n) = cfg.table_size {
        open.maps
            .pids
            .set_max_entries(n)
            .map_err(|e| fail("sizing the pid table", e))?;
        open.maps
            .inflight
            .set_max_entries(n)
            .map_err(|e| fail("sizing the table of execs in progress", e))?;
        open.maps
            .exec_times
            .set_max_entries(n)
            .map_err(|e| fail("sizing the table of exec times", e))?;
    }
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| Error::Failure("the exec BPF object has no read-only data".into()))?;
    rodata.argv_cap = cfg.argv_cap;
    rodata.max_args = cfg.max_args;
    rodata.emit_exits = cfg.exits;
    rodata.filter_uid = !cfg.uids.is_empty();
    rodata.filter_euid = !cfg.euids.is_empty();
    rodata.filter_pid = !cfg.pids.is_empty();
    rodata.filter_comm = !cfg.comms.is_empty();
    rodata.n_cgroups = cfg.cgroups.len() as u32;
    Ok(open)
}

/// Whether a program of `section` is one `flavour` and `tier` need, given
/// the tracepoints `tps` the exec hooks need (fexit's: those given a target).
fn wanted(section: &str, flavour: Flavour, tier: Option<Tier>, tps: &[&str]) -> bool {
    let (prefix, tp) = section.split_once('/').unwrap_or((section, ""));
    let ours = prefix == flavour.prefix();
    match tier {
        Some(Tier::Raw) if ours && (tp == "sys_enter" || tp == "sys_exit") => true,
        Some(Tier::Tracepoint) if prefix == "tracepoint" => true,
        _ => ours && tps.contains(&tp),
    }
}

fn try_flavour<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    flavour: Flavour,
    tier: Option<Tier>,
    prepared: &Prepared,
    cfg: &Config,
) -> Result<Attached<'obj>, Error> {
    kernel::clear_libbpf_log();
    let mut open = open(obj, cfg)?;
    let tps = tracepoints(cfg);
    let fexit = match prepared {
        Prepared::Fexit(t) => t.as_slice(),
        _ => &[],
    };
    let names: Vec<String> = open
        .open_object_mut()
        .progs()
        .map(|p| p.name().to_string_lossy().into_owned())
        .collect();
    let has = |n: &str| names.iter().any(|m| m == n);
    for mut prog in open.open_object_mut().progs_mut() {
        let section = prog.section().to_string_lossy().into_owned();
        let name = prog.name().to_string_lossy().into_owned();
        // only one twin of each failed-exec program: the reader's
        if !cfg.argv_reader.takes(&name, has) {
            prog.set_autoload(false);
            continue;
        }
        let target = fexit
            .iter()
            .find(|(p, _)| *p == base_name(&name))
            .map(|(_, t)| *t);
        if let Some(t) = target {
            prog.set_attach_target(0, Some(t.to_string()))
                .map_err(|e| Error::Kernel(format!("setting fexit's target {t}: {e}")))?;
        }
        prog.set_autoload(target.is_some() || wanted(&section, flavour, tier, &tps));
    }
    let what = match tier {
        Some(t) => format!(
            "loading {} programs (--failed: {})",
            flavour.prefix(),
            t.name()
        ),
        None => format!("loading {} programs", flavour.prefix()),
    };
    let skel = open.load().map_err(|e| kernel::bpf_error(&what, &e))?;
    fill_filters(&skel, cfg)?;

    let mut progs: Vec<_> = skel.object().progs_mut().filter(|p| p.autoload()).collect();
    // A hook's name: its section, with fexit's target ("fexit/__x64_sys_execve").
    let hook = |p: &libbpf_rs::ProgramMut<'_>| {
        let section = p.section().to_string_lossy().into_owned();
        let name = p.name().to_string_lossy().into_owned();
        match fexit.iter().find(|(p, _)| *p == base_name(&name)) {
            Some((_, t)) => format!("{section}/{t}"),
            None => section,
        }
    };
    let hooks: Vec<String> = progs.iter().map(hook).collect();
    // Each hook that forgets map entries attaches before the ones that make
    // them (free before exit before exec and fork, sys_exit before
    // sys_enter), so no entry made while the others attach stays for good.
    const FORGET_FIRST: [&str; 5] = [
        "sched_process_free",
        "sched_process_exit",
        "sys_exit",
        "syscalls/sys_exit_execve",
        "syscalls/sys_exit_execveat",
    ];
    progs.sort_by_key(|p| {
        let section = p.section().to_string_lossy().into_owned();
        let tp = section.split_once('/').map_or("", |(_, tp)| tp).to_string();
        FORGET_FIRST
            .iter()
            .position(|f| *f == tp)
            .unwrap_or(FORGET_FIRST.len())
    });
    let mut links = Vec::new();
    for prog in progs {
        let name = hook(&prog);
        let link = match prepared {
            Prepared::Tracepoint(ids) if name.starts_with("tracepoint/") => {
                attach_tracepoint(&prog, &name, ids)
            }
            _ => prog
                .attach()
                .map_err(|e| kernel::bpf_error(&format!("attaching {name}"), &e)),
        }?;
        links.push(link);
    }
    Ok(Attached {
        skel,
        hooks,
        tier,
        _links: links,
    })
}

fn fill_filters(skel: &ExecSkel<'_>, cfg: &Config) -> Result<(), Error> {
    let fail = |what: &str, e: libbpf_rs::Error| Error::Failure(format!("{what}: {e}"));
    let one = [1u8];
    // The sets keyed by a u32: uids, euids, pids.
    for (map, keys, what) in [
        (&skel.maps.uids, &cfg.uids, "setting the uid filter"),
        (&skel.maps.euids, &cfg.euids, "setting the euid filter"),
        (&skel.maps.pids, &cfg.pids, "setting the pid filter"),
    ] {
        for key in keys {
            map.update(&key.to_ne_bytes(), &one, MapFlags::ANY)
                .map_err(|e| fail(what, e))?;
        }
    }
    for comm in &cfg.comms {
        let mut key = [0u8; super::skel::COMM_LEN];
        key[..comm.len()].copy_from_slice(comm.as_bytes());
        skel.maps
            .comms
            .update(&key, &one, MapFlags::ANY)
            .map_err(|e| fail("setting the comm filter", e))?;
    }
    for (i, cg) in cfg.cgroups.iter().enumerate() {
        skel.maps
            .cgroups
            .update(
                &(i as u32).to_ne_bytes(),
                &(cg.as_raw_fd() as u32).to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| fail("setting the cgroup filter", e))?;
    }
    Ok(())
}
