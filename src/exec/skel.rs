//! The skeleton build.rs generates from bpf/exec.bpf.c: its programs, maps
//! and the types and enums of bpf/exec.h (`types`). In a file of its own so
//! that exec's modules share it without importing their parent; the enums
//! become the plain integers the event fields are here, once.

bpf_skel!(pub generated, "exec.skel.rs");
pub use generated::*;

use types::{cgroup_flag, drop_slot, exec_flag, exec_hdr, exec_limit};

/// exec_hdr.flags bits (enum exec_flag), as the u16 the field is.
pub const EXEC_F_FDPATH: u16 = exec_flag::EXEC_F_FDPATH.0 as u16;
pub const EXEC_F_ARGV_CUT: u16 = exec_flag::EXEC_F_ARGV_CUT.0 as u16;
pub const EXEC_F_SIZE_UNKNOWN: u16 = exec_flag::EXEC_F_SIZE_UNKNOWN.0 as u16;

/// exec_cgroup.flags bits (enum cgroup_flag), as the u8 the field is.
pub const CGROUP_F_CUT: u8 = cgroup_flag::CGROUP_F_CUT.0 as u8;
pub const CGROUP_F_SENT: u8 = cgroup_flag::CGROUP_F_SENT.0 as u8;

/// Slots of the per-CPU `drops` map (enum drop_slot): DROP_SLOTS of them.
pub const DROP_SLOTS: usize = drop_slot::DROP_SLOTS.0 as usize;

/// The most `--cgroup` filters the kernel side has room for.
pub const MAX_CGROUP_FILTERS: usize = exec_limit::MAX_CGROUP_FILTERS.0 as usize;

/// Bytes of a comm (TASK_COMM_LEN), read from exec_hdr's layout.
pub const COMM_LEN: usize = array_len(|h: &exec_hdr| &h.comm);

/// N of a `[T; N]` field, given the field's accessor.
const fn array_len<S, T, const N: usize>(_field: fn(&S) -> &[T; N]) -> usize {
    N
}
