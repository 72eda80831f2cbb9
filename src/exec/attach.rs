//! Loads the exec programs and attaches them, choosing a flavour of hook this
//! kernel supports: tp_btf (BTF-typed tracepoints, 5.5+), then raw_tp (4.17+).
//! Neither needs kprobes, fentry or a mounted tracefs.

use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};

use super::skel::{ExecSkel, ExecSkelBuilder, OpenExecSkel};
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
    pub uids: Vec<u32>,
    pub euids: Vec<u32>,
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub cgroups: Vec<File>,
    /// Capacity of the pids, inflight, exited and exec_times tables (tests),
    /// else built in.
    pub table_size: Option<u32>,
}

pub struct Attached<'obj> {
    pub skel: ExecSkel<'obj>,
    /// The hooks in use, e.g. "tp_btf/sched_process_exec".
    pub hooks: Vec<String>,
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
    if cfg.failed {
        tps.extend(["sys_enter", "sys_exit"]);
    }
    tps
}

/// Tries each flavour in turn, each in its own object storage.
pub fn load_and_attach<'obj>(
    objs: &'obj mut [MaybeUninit<OpenObject>; 2],
    cfg: &Config,
) -> Result<Attached<'obj>, Error> {
    if !kernel::has_btf() {
        return Err(Error::Kernel(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): \
             ebpf-jsonl needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.5 or newer)"
                .into(),
        ));
    }
    let [a, b] = objs;
    let first = match try_flavour(a, Flavour::TpBtf, cfg) {
        Ok(att) => return Ok(att),
        Err(e) => e,
    };
    if matches!(first, Error::Privilege(_)) {
        return Err(first);
    }
    eprintln!("ebpf-jsonl: exec: tp_btf hooks unavailable ({first}); trying raw_tp");
    try_flavour(b, Flavour::RawTp, cfg).map_err(|second| match second {
        Error::Privilege(_) => second,
        _ => Error::Kernel(format!(
            "no exec hook works on this kernel: tp_btf: {first}; raw_tp: {second} \
             (ebpf-jsonl needs BTF and BPF ring buffers, Linux 5.8 or newer)"
        )),
    })
}

/// Loads and attaches the programs of one flavour that `cfg` asks for,
/// exactly as exec does, then lets them go (for `check`): the hooks in use.
pub fn try_one(flavour: Flavour, cfg: &Config) -> Result<Vec<String>, Error> {
    let mut obj = MaybeUninit::uninit();
    try_flavour(&mut obj, flavour, cfg).map(|att| att.hooks)
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

fn try_flavour<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    flavour: Flavour,
    cfg: &Config,
) -> Result<Attached<'obj>, Error> {
    kernel::clear_libbpf_log();
    let mut open = open(obj, cfg)?;
    let tps = tracepoints(cfg);
    for mut prog in open.open_object_mut().progs_mut() {
        let section = prog.section().to_string_lossy().into_owned();
        let wanted = section
            .split_once('/')
            .is_some_and(|(p, tp)| p == flavour.prefix() && tps.contains(&tp));
        prog.set_autoload(wanted);
    }
    let skel = open
        .load()
        .map_err(|e| kernel::bpf_error(&format!("loading {} programs", flavour.prefix()), &e))?;
    fill_filters(&skel, cfg)?;

    let mut progs: Vec<_> = skel.object().progs_mut().filter(|p| p.autoload()).collect();
    let hooks: Vec<String> = progs
        .iter()
        .map(|p| p.section().to_string_lossy().into_owned())
        .collect();
    // Each hook that forgets map entries attaches before the ones that make
    // them (free before exit before exec and fork, sys_exit before
    // sys_enter), so no entry made while the others attach stays for good.
    const FORGET_FIRST: [&str; 3] = ["sched_process_free", "sched_process_exit", "sys_exit"];
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
        let section = prog.section().to_string_lossy().into_owned();
        let link = prog
            .attach()
            .map_err(|e| kernel::bpf_error(&format!("attaching {section}"), &e))?;
        links.push(link);
    }
    Ok(Attached {
        skel,
        hooks,
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
