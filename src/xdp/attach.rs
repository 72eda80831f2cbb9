//! Loads the flow programs with their table sized and seeded (attaching them
//! is link.rs's and egress.rs's).

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::net::IpAddr;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};

use super::flavour::{self, Flavour};
pub use super::link::{attach, ifindex_exists, Mode, XdpLink};
use super::skel::types::{exclude_key, xdp_limit};
use super::skel::{XdpSkel, XdpSkelBuilder};
use crate::cli::Cidr;
use crate::error::Error;
use crate::kernel;

/// XDP_PROBES in bpf/xdp.h: a flow lives in one of this many slots from its hash.
pub const PROBES: u32 = xdp_limit::XDP_PROBES.0;

/// Slots for `max_flows` flows: four times as many (rounded up to a power of
/// two), so a flow's probe window does not fill up before the table does.
/// (With twice as many, 1 in ~65,000 flows found its window full.)
pub fn slots_for(max_flows: u32) -> u32 {
    (u64::from(max_flows) * 4)
        .next_power_of_two()
        .max(u64::from(PROBES)) as u32
}

pub struct Config<'a> {
    pub max_flows: u32,
    pub excludes: &'a [Cidr],
    /// None: the one this kernel takes ([`flavour::detect`]).
    pub flavour: Option<Flavour>,
    /// Which programs to load: XDP (ingress), TC (egress).
    pub ingress: bool,
    pub egress: bool,
}

/// The interface's index; a missing interface is an error that names it.
pub fn ifindex(name: &str) -> Result<u32, Error> {
    let missing = || {
        Error::Failure(format!(
            "no network interface named `{name}` here (see `ip link`)"
        ))
    };
    let c = CString::new(name).map_err(|_| missing())?;
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(missing()),
        n => Ok(n),
    }
}

fn random_seed() -> [u64; 6] {
    let mut seed = [0u64; 6];
    // SAFETY: writes at most size_of_val(&seed) bytes into `seed`.
    let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), size_of_val(&seed), 0) };
    if n != size_of_val(&seed) as isize {
        // Only the spread of flows over slots depends on it.
        let t = crate::clock::Timestamp::now().0 as u64;
        for (i, s) in seed.iter_mut().enumerate() {
            *s = t.rotate_left(i as u32 * 11) ^ 0x9E37_79B9_7F4A_7C15;
        }
    }
    seed[5] |= 1; // a multiplier: keep it odd
    seed
}

/// `--exclude` prefix as the LPM trie's key: IPv4 as v4-mapped IPv6
/// (::ffff:a.b.c.d), prefix + 96.
pub fn exclude_key(c: &Cidr) -> exclude_key {
    let (addr, prefixlen) = match c.addr {
        IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), u32::from(c.prefix) + 96),
        IpAddr::V6(a) => (a.octets(), u32::from(c.prefix)),
    };
    exclude_key { prefixlen, addr }
}

// SAFETY: exclude_key is plain old data generated from BTF (a u32, then bytes).
unsafe impl plain::Plain for exclude_key {}

/// Opens, configures and loads the program of the flavour this kernel takes
/// (or the configured one), not attached; its program is `flavour.prog(&skel.progs)`.
pub fn load<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    cfg: &Config,
) -> Result<(XdpSkel<'obj>, Flavour), Error> {
    if !kernel::has_btf() {
        return Err(Error::Kernel(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): \
             ebpf-jsonl needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"
                .into(),
        ));
    }
    kernel::clear_libbpf_log();
    let mut open = XdpSkelBuilder::default()
        .open(obj)
        .map_err(|e| kernel::bpf_error("opening the xdp BPF object", &e))?;
    let flavour = flavour::choose(cfg.flavour)?;
    flavour.load_only_it(&mut open, cfg.ingress, cfg.egress);
    let slots = slots_for(cfg.max_flows);
    open.maps
        .flows
        .set_max_entries(slots)
        .map_err(|e| Error::Failure(format!("sizing the flow table: {e}")))?;
    open.maps
        .claimed
        .set_max_entries(slots.div_ceil(64))
        .map_err(|e| Error::Failure(format!("sizing the flow table's claim bits: {e}")))?;
    open.maps
        .excludes
        .set_max_entries(cfg.excludes.len().max(1) as u32)
        .map_err(|e| Error::Failure(format!("sizing the exclude list: {e}")))?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| Error::Failure("the xdp BPF object has no read-only data".into()))?;
    rodata.slot_mask = slots - 1;
    rodata.max_flows = u64::from(cfg.max_flows);
    rodata.hash_seed = random_seed();
    rodata.have_excludes = !cfg.excludes.is_empty();
    let skel = open
        .load()
        .map_err(|e| kernel::bpf_error("loading the xdp program", &e))?;
    for c in cfg.excludes {
        skel.maps
            .excludes
            // SAFETY: exclude_key is Plain.
            .update(
                unsafe { plain::as_bytes(&exclude_key(c)) },
                &[1],
                MapFlags::ANY,
            )
            .map_err(|e| {
                Error::Failure(format!("adding --exclude {}/{}: {e}", c.addr, c.prefix))
            })?;
    }
    Ok((skel, flavour))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_size() {
        assert_eq!(slots_for(65536), 262144);
        assert_eq!(slots_for(1), 32);
        assert_eq!(slots_for(100), 512);
        assert_eq!(slots_for(1 << 20), 1 << 22);
    }

    #[test]
    fn exclude_keys_are_v4_mapped() {
        let k = exclude_key(&crate::cli::parse_cidr("10.1.0.0/16").unwrap());
        assert_eq!(k.prefixlen, 112);
        assert_eq!(
            k.addr,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 0]
        );
        let k = exclude_key(&crate::cli::parse_cidr("fd00::/8").unwrap());
        assert_eq!(k.prefixlen, 8);
        assert_eq!(k.addr[0], 0xfd);
    }

    #[test]
    fn missing_interface_is_named() {
        let e = ifindex("nosuchif0").unwrap_err();
        assert!(e.to_string().contains("`nosuchif0`"), "{e}");
        assert!(ifindex("bad\0name").is_err());
    }
}
