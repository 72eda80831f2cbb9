//! Which of the object's two XDP programs a kernel gets (bpf/xdp.bpf.c):
//! `atomic` claims a new flow's slot with 64-bit cmpxchg, xchg and
//! fetch-add (BPF_ATOMIC with BPF_FETCH, Linux 5.12+); `compat` with one
//! bpf_spin_lock (5.1+) for kernels before that (Debian 11's 5.10). The same
//! records and guarantees either way; only a new flow's claim differs.

use std::os::fd::{FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::ProgramMut;

pub use crate::cli::XdpFlavour as Flavour;

use super::skel::{OpenXdpSkel, XdpProgs};
use crate::error::Error;

impl Flavour {
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Atomic => "atomic",
            Flavour::Compat => "compat",
        }
    }

    /// Its XDP (ingress) program in a skeleton loaded for it (`&skel.progs`).
    pub fn prog<'a, 'obj>(self, progs: &'a XdpProgs<'obj>) -> &'a ProgramMut<'obj> {
        match self {
            Flavour::Atomic => &progs.xdp_flows,
            Flavour::Compat => &progs.xdp_flows_compat,
        }
    }

    /// Its TC (egress) program in a skeleton loaded for it (`&skel.progs`).
    pub fn tc_prog<'a, 'obj>(self, progs: &'a XdpProgs<'obj>) -> &'a ProgramMut<'obj> {
        match self {
            Flavour::Atomic => &progs.tc_flows,
            Flavour::Compat => &progs.tc_flows_compat,
        }
    }

    /// Loads only its programs, and of them the directions wanted: the
    /// kernel never sees instructions it might refuse, nor verifies what is
    /// not used.
    pub fn load_only_it(self, open: &mut OpenXdpSkel, ingress: bool, egress: bool) {
        let (atomic, compat) = (self == Flavour::Atomic, self == Flavour::Compat);
        let p = &mut open.progs;
        p.xdp_flows.set_autoload(atomic && ingress);
        p.xdp_flows_compat.set_autoload(compat && ingress);
        p.tc_flows.set_autoload(atomic && egress);
        p.tc_flows_compat.set_autoload(compat && egress);
    }

    /// The note said on stderr (`xdp`, and whatever else loads the program).
    pub fn note(self) -> String {
        match self {
            Flavour::Atomic => "flow table claims with 64-bit atomics (atomic flavour)".into(),
            Flavour::Compat => "this kernel has no 64-bit atomic fetch/cmpxchg (5.12+): \
                 flow table claims under a spin lock (compat flavour)"
                .into(),
        }
    }
}

/// The flavour to load: the one forced (tests), else this kernel's. On arm64
/// only `atomic`: `compat` publishes a claimed slot with a plain store, which
/// only x86's store order keeps behind the slot's key (and 5.10's BPF has no
/// barrier to make arm64 keep it).
pub fn choose(forced: Option<Flavour>) -> Result<Flavour, Error> {
    let flavour = forced.unwrap_or_else(detect);
    if cfg!(target_arch = "aarch64") && flavour == Flavour::Compat {
        return Err(Error::Kernel(
            "xdp on arm64 needs Linux 5.12 or newer (64-bit BPF atomics, which publish a new \
             flow's slot after its key); this kernel has none: upgrade the kernel"
                .into(),
        ));
    }
    Ok(flavour)
}

/// The flavour this kernel takes: atomic unless a one-instruction probe
/// (an atomic fetch-add on the stack) is refused with EINVAL, as kernels
/// before 5.12 refuse it ("BPF_STX uses reserved fields"). Any other
/// refusal (privileges, say) is left to the real load to report.
pub fn detect() -> Flavour {
    match probe_atomic_fetch() {
        Err(libc::EINVAL) => Flavour::Compat,
        _ => Flavour::Atomic,
    }
}

/// One BPF instruction: code, dst | src << 4, off, imm.
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    code as u64
        | ((dst | src << 4) as u64) << 8
        | (off as u16 as u64) << 16
        | (imm as u32 as u64) << 32
}

fn probe_atomic_fetch() -> Result<(), i32> {
    const MOV64_K: u8 = (libbpf_sys::BPF_ALU64 | libbpf_sys::BPF_MOV | libbpf_sys::BPF_K) as u8;
    const STX_DW: u8 = (libbpf_sys::BPF_STX | libbpf_sys::BPF_MEM | libbpf_sys::BPF_DW) as u8;
    const ATOMIC_DW: u8 = (libbpf_sys::BPF_STX | libbpf_sys::BPF_ATOMIC | libbpf_sys::BPF_DW) as u8;
    const EXIT: u8 = (libbpf_sys::BPF_JMP | libbpf_sys::BPF_EXIT) as u8;
    const FETCH_ADD: i32 = (libbpf_sys::BPF_ADD | libbpf_sys::BPF_FETCH) as i32;
    let insns: [u64; 6] = [
        insn(MOV64_K, 1, 0, 0, 0),                           // r1 = 0
        insn(STX_DW, 10, 1, -8, 0),                          // *(u64 *)(r10 - 8) = r1
        insn(MOV64_K, 1, 0, 0, 1),                           // r1 = 1
        insn(ATOMIC_DW, 10, 1, -8, FETCH_ADD),               // r1 = atomic_fetch_add(r10 - 8, r1)
        insn(MOV64_K, 0, 0, 0, libbpf_sys::XDP_PASS as i32), // r0 = XDP_PASS
        insn(EXIT, 0, 0, 0, 0),
    ];
    const _: () = assert!(size_of::<libbpf_sys::bpf_insn>() == size_of::<u64>());
    // SAFETY: six valid instructions (bpf_insn is 8 bytes, little-endian
    // fields as `insn` packs them) and a NUL-terminated license; no opts.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(
            libbpf_sys::BPF_PROG_TYPE_XDP,
            std::ptr::null(),
            c"GPL".as_ptr(),
            insns.as_ptr().cast(),
            insns.len() as _,
            std::ptr::null_mut(),
        )
    };
    if fd < 0 {
        return Err(-fd);
    }
    // SAFETY: a fresh fd that nothing else owns; closed here.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}
