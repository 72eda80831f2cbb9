//! The skeleton build.rs generates from bpf/xdp.bpf.c: its program, maps and
//! the types and enums of bpf/xdp.h (`types`). In a file of its own so that
//! xdp's modules share it without importing their parent; the enums become
//! the plain integers the fields and indexes are here, once.

bpf_skel!(pub generated, "xdp.skel.rs");
pub use generated::*;

use types::{flow_flag, slot_state, xdp_cat, xdp_limit};

/// A flow lives in one of this many slots from its hash (XDP_PROBES).
pub const PROBES: u32 = xdp_limit::XDP_PROBES.0;

/// flow_slot.state values (enum slot_state), as the u64 the field is.
pub const SLOT_FREE: u64 = slot_state::SLOT_FREE.0 as u64;
pub const SLOT_CLAIMING: u64 = slot_state::SLOT_CLAIMING.0 as u64;
pub const SLOT_ACTIVE: u64 = slot_state::SLOT_ACTIVE.0 as u64;
pub const SLOT_RETIRED: u64 = slot_state::SLOT_RETIRED.0 as u64;

/// flow_key.flags: a flow of later fragments (enum flow_flag), as the u16 the field is.
pub const FLOW_FRAGMENT: u16 = flow_flag::FLOW_FRAGMENT.0 as u16;

/// Indexes of xdp_counters.c (enum xdp_cat).
pub const CAT_UNTRACKED: usize = xdp_cat::CAT_UNTRACKED.0 as usize;
pub const CAT_EXCLUDED: usize = xdp_cat::CAT_EXCLUDED.0 as usize;
pub const CAT_NON_IP: usize = xdp_cat::CAT_NON_IP.0 as usize;
pub const CAT_MALFORMED: usize = xdp_cat::CAT_MALFORMED.0 as usize;
pub const CAT_N: usize = xdp_cat::CAT_N.0 as usize;
const _: () = assert!(size_of::<types::xdp_counters>() == CAT_N * size_of::<types::xdp_counter>());
