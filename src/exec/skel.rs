//! The skeleton build.rs generates from bpf/exec.bpf.c: its programs, maps
//! and the types and enums of bpf/exec.h (`types`). In a file of its own so
//! that exec's modules share it without importing their parent. Each module
//! turns the enums it reads into the plain integers its fields are.

bpf_skel!(pub generated, "exec.skel.rs");
pub use generated::*;

use types::{drop_slot, exec_hdr, exec_limit};

/// Slots of the per-CPU `drops` map (enum drop_slot): DROP_SLOTS of them.
pub const DROP_SLOTS: usize = drop_slot::DROP_SLOTS.0 as usize;

/// The most `--cgroup` filters the kernel side has room for.
pub const MAX_CGROUP_FILTERS: usize = exec_limit::MAX_CGROUP_FILTERS.0 as usize;
/// The most distinct `--uid` and `--comm` values the kernel filters hold.
pub const MAX_UID_FILTERS: usize = exec_limit::MAX_UID_FILTERS.0 as usize;
pub const MAX_COMM_FILTERS: usize = exec_limit::MAX_COMM_FILTERS.0 as usize;
/// The ceiling of captured argv bytes (`--max-argv-bytes`).
pub const ARGV_MAX_LEN: u32 = exec_limit::ARGV_MAX_LEN.0;

/// Bytes of a comm (TASK_COMM_LEN), read from exec_hdr's layout.
pub const COMM_LEN: usize = array_len(|h: &exec_hdr| &h.comm);

/// N of a `[T; N]` field, given the field's accessor.
const fn array_len<S, T, const N: usize>(_field: fn(&S) -> &[T; N]) -> usize {
    N
}
