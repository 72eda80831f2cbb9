//! Loads the exec programs and attaches them, choosing a hook this kernel
//! supports: tp_btf (BTF-typed tracepoint, 5.5+), then raw_tp (4.17+). Neither
//! needs kprobes or a mounted tracefs.

use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, OpenObject};

use super::skel::{ExecSkel, ExecSkelBuilder, OpenExecSkel};
use crate::error::Error;
use crate::kernel;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    TpBtf,
    RawTp,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::TpBtf => "tp_btf/sched_process_exec",
            Hook::RawTp => "raw_tp/sched_process_exec",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub argv_cap: u32,
    pub ringbuf_size: u32,
}

pub struct Attached<'obj> {
    pub skel: ExecSkel<'obj>,
    pub hook: Hook,
    _link: Link,
}

/// Tries each hook in turn, each in its own object storage.
pub fn load_and_attach<'obj>(
    objs: &'obj mut [MaybeUninit<OpenObject>; 2],
    cfg: Config,
) -> Result<Attached<'obj>, Error> {
    if !kernel::has_btf() {
        return Err(Error::Kernel(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): \
             ebpf-jsonl needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.5 or newer)"
                .into(),
        ));
    }
    let [a, b] = objs;
    let first = match try_hook(a, Hook::TpBtf, cfg) {
        Ok(att) => return Ok(att),
        Err(e) => e,
    };
    if matches!(first, Error::Privilege(_)) {
        return Err(first);
    }
    eprintln!(
        "ebpf-jsonl: exec: {} unavailable ({first}); falling back",
        Hook::TpBtf.name()
    );
    try_hook(b, Hook::RawTp, cfg).map_err(|second| match second {
        Error::Privilege(_) => second,
        _ => Error::Kernel(format!(
            "no exec hook works on this kernel: {}: {first}; {}: {second} \
             (ebpf-jsonl needs BPF ring buffers, Linux 5.8 or newer, and BTF)",
            Hook::TpBtf.name(),
            Hook::RawTp.name()
        )),
    })
}

fn open<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    cfg: Config,
) -> Result<OpenExecSkel<'obj>, Error> {
    let mut open = ExecSkelBuilder::default()
        .open(obj)
        .map_err(|e| kernel::bpf_error("opening the exec BPF object", &e))?;
    open.maps
        .events
        .set_max_entries(cfg.ringbuf_size)
        .map_err(|e| Error::Failure(format!("sizing the ring buffer: {e}")))?;
    let cpus = libbpf_rs::num_possible_cpus()
        .map_err(|e| Error::Failure(format!("counting possible CPUs: {e}")))?;
    open.maps
        .scratch
        .set_max_entries(cpus as u32)
        .map_err(|e| Error::Failure(format!("sizing the scratch map: {e}")))?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| Error::Failure("the exec BPF object has no read-only data".into()))?;
    rodata.argv_cap = cfg.argv_cap;
    Ok(open)
}

fn try_hook<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    hook: Hook,
    cfg: Config,
) -> Result<Attached<'obj>, Error> {
    kernel::clear_libbpf_log();
    let mut open = open(obj, cfg)?;
    open.progs.exec_btf.set_autoload(hook == Hook::TpBtf);
    open.progs.exec_raw.set_autoload(hook == Hook::RawTp);
    let skel = open
        .load()
        .map_err(|e| kernel::bpf_error(&format!("loading {}", hook.name()), &e))?;
    let link = match hook {
        Hook::TpBtf => skel.progs.exec_btf.attach(),
        Hook::RawTp => skel.progs.exec_raw.attach(),
    }
    .map_err(|e| kernel::bpf_error(&format!("attaching {}", hook.name()), &e))?;
    Ok(Attached {
        skel,
        hook,
        _link: link,
    })
}
