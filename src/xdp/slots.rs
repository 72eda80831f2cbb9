//! The flow table and its claim bitmap as shared memory: the slot layout
//! (struct flow_slot in bpf/xdp.h), its tag word, and the mappings.
//!
//! Ordering (it matters on arm64, where loads and stores to different words
//! are reordered; x86 keeps them in order): the program writes a claimed
//! slot's key and counts, then publishes its tag with a release (or a fully
//! ordered xchg), so our Acquire load of the tag comes before every read of
//! the key and counts. We free a slot by zeroing it, key included, then
//! storing FREE with Release: an all-zero key (IP version 0) matches no
//! packet, so a program whose key load ran ahead of its state load cannot
//! take a dead flow's key for the new claim's.

use std::mem::offset_of;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use super::skel::types::{flow_dir, flow_key, flow_slot, slot_state, slot_tag};
use crate::error::Error;

// The tag's state (enum slot_state in bpf/xdp.h).
pub const SLOT_FREE: u64 = slot_state::SLOT_FREE.0 as u64;
pub const SLOT_CLAIMING: u64 = slot_state::SLOT_CLAIMING.0 as u64;
pub const SLOT_ACTIVE: u64 = slot_state::SLOT_ACTIVE.0 as u64;
pub const SLOT_RETIRED: u64 = slot_state::SLOT_RETIRED.0 as u64;
const STATE_MASK: u64 = slot_tag::TAG_STATE_MASK.0 as u64;
const DIR_SHIFT: u32 = slot_tag::TAG_DIR_SHIFT.0;
const IFINDEX_SHIFT: u32 = slot_tag::TAG_IFINDEX_SHIFT.0;

/// A packet's direction (enum flow_dir in bpf/xdp.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// As the program writes it (tag, counters_key.dir).
    pub fn code(self) -> u32 {
        match self {
            Direction::Ingress => flow_dir::DIR_INGRESS.0,
            Direction::Egress => flow_dir::DIR_EGRESS.0,
        }
    }

    pub fn from_code(c: u64) -> Direction {
        if c == u64::from(flow_dir::DIR_EGRESS.0) {
            Direction::Egress
        } else {
            Direction::Ingress
        }
    }
}

/// The interface and direction a slot or counter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    pub ifindex: u32,
    pub dir: Direction,
}

/// A slot's tag word (enum slot_tag in bpf/xdp.h): state, direction, owner
/// CPU, interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag(pub u64);

impl Tag {
    pub fn state(self) -> u64 {
        self.0 & STATE_MASK
    }

    /// The same slot, in another state.
    pub fn with_state(self, state: u64) -> Tag {
        Tag(self.0 & !STATE_MASK | state)
    }

    pub fn pair(self) -> Pair {
        Pair {
            ifindex: (self.0 >> IFINDEX_SHIFT) as u32,
            dir: Direction::from_code(self.0 >> DIR_SHIFT & 0xff),
        }
    }
}

/// `struct flow_slot` as shared memory: every field is written by the kernel
/// while we read, so all are atomics.
#[repr(C)]
pub struct Slot {
    pub state: AtomicU64,
    pub key: [AtomicU64; 5],
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

const _: () = {
    assert!(size_of::<Slot>() == size_of::<flow_slot>());
    assert!(offset_of!(Slot, key) == offset_of!(flow_slot, key));
    assert!(offset_of!(Slot, packets) == offset_of!(flow_slot, packets));
    assert!(offset_of!(Slot, bytes) == offset_of!(flow_slot, bytes));
    assert!(size_of::<flow_key>() == 40);
};

impl Slot {
    /// Only after an Acquire load of `state` saw ACTIVE or RETIRED (module doc).
    pub fn key(&self) -> [u64; 5] {
        self.key.each_ref().map(|w| w.load(Ordering::Relaxed))
    }

    pub fn tag(&self) -> Tag {
        Tag(self.state.load(Ordering::Acquire))
    }

    pub fn counts(&self) -> (u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// A BPF_F_MMAPABLE array mapped into our memory, as 64-bit words.
pub struct Mapping {
    ptr: *mut libc::c_void,
    bytes: usize,
}

impl Mapping {
    /// Maps `bytes` bytes of the BPF_F_MMAPABLE array behind `fd`.
    pub fn new(fd: BorrowedFd<'_>, bytes: usize, what: &str) -> Result<Mapping, Error> {
        // SAFETY: maps a BPF array of exactly this size; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::Failure(format!(
                "mapping the {what}: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(Mapping { ptr, bytes })
    }

    /// The flow table's slots.
    pub fn slots(&self) -> &[Slot] {
        // SAFETY: page-aligned shared memory, alive while self is; Slot is
        // all atomics, so concurrent kernel writes are fine.
        unsafe {
            std::slice::from_raw_parts(self.ptr as *const Slot, self.bytes / size_of::<Slot>())
        }
    }

    /// The claim bitmap's words.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: as above; AtomicU64 has u64's layout.
        unsafe { std::slice::from_raw_parts(self.ptr as *const AtomicU64, self.bytes / 8) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.ptr, self.bytes) };
    }
}
