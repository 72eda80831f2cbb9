//! The "names, innermost first" sections that trail an exec event (struct
//! exec_names in bpf/exec.h): the cgroup's kernfs names, the cwd's and the
//! exe's dentry names. One parser and one way to print them as a path.

use super::skel::types::{exec_names, names_flag};

/// Bytes of a section's header, struct exec_names in bpf/exec.h.
const SECTION_HDR: usize = size_of::<exec_names>();

// exec_names.flags bits (enum names_flag in bpf/exec.h), as the u8 the field is.
pub const NAMES_F_CUT: u8 = names_flag::NAMES_F_CUT.0 as u8;
pub const NAMES_F_SENT: u8 = names_flag::NAMES_F_SENT.0 as u8;
pub const NAMES_F_DELETED: u8 = names_flag::NAMES_F_DELETED.0 as u8;
pub const NAMES_F_UNREACHABLE: u8 = names_flag::NAMES_F_UNREACHABLE.0 as u8;
pub const NAMES_F_NOLINK: u8 = names_flag::NAMES_F_NOLINK.0 as u8;

/// What a path cut to its innermost levels starts with: never `/`, so it
/// cannot pass for an absolute path.
pub const CUT_MARK: &str = "…";
/// The kernel's suffix for an unlinked path (d_path, readlink /proc/PID/cwd).
const DELETED: &[u8] = b" (deleted)";
/// getcwd()'s prefix for a path outside the task's root.
const UNREACHABLE: &[u8] = b"(unreachable)";

// SAFETY: exec_names is plain old data generated from BTF (four bytes).
unsafe impl plain::Plain for exec_names {}

/// One section: the names, innermost first, each NUL-terminated.
#[derive(Clone, Copy, Debug)]
pub struct Names<'a> {
    names: &'a [u8],
    pub depth: u8,
    flags: u8,
}

impl<'a> Names<'a> {
    /// The section at the start of `b`; None if `b` is shorter than it says.
    pub fn parse(b: &'a [u8]) -> Option<Self> {
        let mut h = exec_names::default();
        plain::copy_from_bytes(&mut h, b).ok()?;
        let len = usize::from(h.len_lo) | usize::from(h.len_hi) << 8;
        Some(Names {
            names: b.get(SECTION_HDR..SECTION_HDR + len)?,
            depth: h.depth,
            flags: h.flags,
        })
    }

    /// Bytes the section takes, header included: where the next one starts.
    pub fn size(&self) -> usize {
        SECTION_HDR + self.names.len()
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The outermost levels are missing.
    pub fn cut(&self) -> bool {
        self.has(NAMES_F_CUT)
    }

    /// `/outer/…/inner` (`/` with no names), as raw bytes: a path whose
    /// outermost levels were cut starts with `…` (`…/mid/inner`); a path the
    /// walk found outside the task's root with `(unreachable)`, as getcwd()
    /// has it; an unlinked one ends in ` (deleted)`, as d_path() has it.
    pub fn path(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.names.len() + 24);
        if self.cut() {
            out.extend_from_slice(CUT_MARK.as_bytes());
        } else if self.has(NAMES_F_UNREACHABLE) {
            out.extend_from_slice(UNREACHABLE);
        }
        let names = self.names.strip_suffix(&[0]).unwrap_or(self.names);
        if !names.is_empty() {
            for n in names.rsplit(|&c| c == 0) {
                out.push(b'/');
                out.extend_from_slice(n);
            }
        } else if !self.cut() {
            out.push(b'/');
        }
        if self.has(NAMES_F_DELETED) {
            out.extend_from_slice(DELETED);
        }
        out
    }

    /// [`path`](Self::path), or None when not even one name could be read.
    pub fn known_path(&self) -> Option<Vec<u8>> {
        (!self.cut() || self.depth > 0).then(|| self.path())
    }
}

/// The sections of an event's trailer, one after the other; ends at the
/// first that does not parse.
pub fn sections(mut b: &[u8]) -> impl Iterator<Item = Names<'_>> {
    std::iter::from_fn(move || {
        let n = Names::parse(b)?;
        b = &b[n.size()..];
        Some(n)
    })
}

/// A section as the kernel writes it (for tests).
#[cfg(test)]
pub(crate) fn section(inner_first: &[&[u8]], flags: u8) -> Vec<u8> {
    let names: Vec<u8> = inner_first
        .iter()
        .flat_map(|n| n.iter().copied().chain([0]))
        .collect();
    let len = (names.len() as u16).to_le_bytes();
    let mut v = vec![len[0], len[1], inner_first.len() as u8, flags];
    v.extend(names);
    v
}

#[cfg(test)]
mod tests;
