//! The categories of packets not counted in a flow (enum xdp_cat in bpf/xdp.h).

use super::skel::types::{xdp_cat, xdp_counter, xdp_counters};

// Indexes of xdp_counters.c (enum xdp_cat in bpf/xdp.h).
pub const CAT_UNTRACKED: usize = xdp_cat::CAT_UNTRACKED.0 as usize;
pub const CAT_EXCLUDED: usize = xdp_cat::CAT_EXCLUDED.0 as usize;
pub const CAT_NON_IP: usize = xdp_cat::CAT_NON_IP.0 as usize;
pub const CAT_MALFORMED: usize = xdp_cat::CAT_MALFORMED.0 as usize;
pub const CAT_N: usize = xdp_cat::CAT_N.0 as usize;
const _: () = assert!(size_of::<xdp_counters>() == CAT_N * size_of::<xdp_counter>());
/// Index of the total in [`Counts`]: every packet the program saw, which is
/// every packet counted in a flow or a category. (A packet counted in its flow
/// touches nothing else in the kernel: that is the hot path.)
pub const CAT_TOTAL: usize = CAT_N;
