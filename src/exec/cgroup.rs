//! cgroup v2 ids → paths (relative to the cgroup2 root, as in
//! /proc/PID/cgroup) and container ids: built from the names the kernel
//! put in the event, and cached.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::names::{Names, NAMES_F_SENT};

/// Where the cgroup v2 hierarchy is mounted (e.g. /sys/fs/cgroup, or
/// /sys/fs/cgroup/unified on hybrid systems).
pub fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(unescape(f[1])))
    })
}

/// /proc/mounts escapes spaces and the like as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The container id a cgroup path names, for the layouts of docker
/// (`/docker/ID`, `docker-ID.scope`), containerd/CRI (`cri-containerd-ID.scope`,
/// `/kubepods/.../ID`), CRI-O (`crio-ID.scope`) and podman (`libpod-ID.scope`):
/// the innermost component that is, or wraps, a 64-hex-digit id.
pub fn container_id(path: &str) -> Option<&str> {
    path.rsplit('/').find_map(|c| {
        if c.contains("conmon") {
            return None;
        }
        let c = c.strip_suffix(".scope").unwrap_or(c);
        let id = c.rsplit(['-', ':']).next().unwrap_or(c);
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    })
}

#[derive(Clone)]
pub struct Resolved {
    pub path: Option<Arc<str>>,
    pub container_id: Option<Arc<str>>,
}

/// cgroup ids → paths. The path comes from the kernel's own names carried by
/// the events, so it needs no privilege and no cgroup that still exists.
/// Only a path cut in the kernel (deeper than 32 levels or longer than 4 KiB
/// of names) is looked up with open_by_handle_at(2) on the cgroup2 mount (a
/// cgroup's id is its kernfs file handle), which needs CAP_DAC_READ_SEARCH
/// and a live cgroup.
///
/// The kernel sends a cgroup's names once per epoch, so the cache must keep
/// them while events that omit them may still be in flight: it has two
/// generations, each bounded in bytes. When the current one is full it
/// becomes the old one (the previous old one is dropped) and the epoch moves
/// on, which the caller hands to the kernel: from then on, each cgroup's
/// names are sent again, once, and land in the new generation. cgroup v2 ids
/// are never reused and v2 cgroups cannot be renamed, so entries stay right.
pub struct Resolver {
    root: Option<(PathBuf, OwnedFd)>,
    cache: HashMap<u64, Resolved>,
    old: HashMap<u64, Resolved>,
    /// What each generation holds, as counted by [`cost`].
    bytes: usize,
    old_bytes: usize,
    /// For both generations together.
    budget: usize,
    epoch: u32,
}

/// Cache bound: a few MiB, whatever the path lengths (at least 16K entries
/// of short paths; about 1,000 of 4 KiB ones).
const CACHE_BYTES: usize = 4 << 20;
const FILEID_KERNFS: i32 = 0xfe;

/// Bytes an entry costs: its strings, their Arc headers, key, value and
/// table slot (an estimate on the high side).
fn cost(r: &Resolved) -> usize {
    const FIXED: usize = 96;
    FIXED + r.path.as_ref().map_or(0, |p| p.len()) + r.container_id.as_ref().map_or(0, |c| c.len())
}

#[repr(C)]
struct Handle {
    bytes: u32,
    kind: i32,
    id: u64,
}

impl Resolver {
    pub fn new() -> Self {
        Self::with_budget(CACHE_BYTES)
    }

    fn with_budget(budget: usize) -> Self {
        let root = cgroup2_root().and_then(|p| {
            let f = File::open(&p).ok()?;
            Some((p, OwnedFd::from(f)))
        });
        Resolver {
            root,
            cache: HashMap::new(),
            old: HashMap::new(),
            bytes: 0,
            old_bytes: 0,
            budget,
            epoch: 0,
        }
    }

    /// The epoch the kernel is to send names for (`cgroup_epoch`).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// `section`: the event's cgroup section, if it has one.
    pub fn resolve(&mut self, id: u64, section: Option<&[u8]>) -> Resolved {
        let names = section.and_then(Names::parse);
        let whole = names.filter(|n| !n.cut() && !n.has(NAMES_F_SENT));
        if let Some(r) = self.cache.get(&id) {
            return r.clone();
        }
        if let Some(r) = self.old.get(&id) {
            let r = r.clone();
            // The kernel has marked these names sent in the current epoch.
            if whole.is_some() {
                self.insert(id, r.clone());
            }
            return r;
        }
        let (path, keep) = match whole {
            Some(n) => (Some(text(n)), true),
            None => match self.lookup(id) {
                Some(p) => (Some(p), true),
                None => (names.filter(|n| n.depth > 0).map(text), false),
            },
        };
        let r = Resolved {
            container_id: path.as_deref().and_then(container_id).map(Arc::from),
            path: path.map(Arc::from),
        };
        // A cut path is not kept: a lookup may do better next time (and the
        // kernel sends cut names every time).
        if keep {
            self.insert(id, r.clone());
        }
        r
    }

    fn insert(&mut self, id: u64, r: Resolved) {
        let c = cost(&r);
        if self.bytes + c > self.budget / 2 {
            self.old = std::mem::take(&mut self.cache);
            self.old_bytes = self.bytes;
            self.bytes = 0;
            self.epoch = self.epoch.wrapping_add(1);
        }
        self.cache.insert(id, r);
        self.bytes += c;
    }

    fn lookup(&self, id: u64) -> Option<String> {
        let (root, fd) = self.root.as_ref()?;
        let mut h = Handle {
            bytes: 8,
            kind: FILEID_KERNFS,
            id,
        };
        // SAFETY: `h` is a valid file_handle with 8 bytes of handle data.
        let dir = unsafe {
            libc::open_by_handle_at(
                fd.as_raw_fd(),
                (&mut h as *mut Handle).cast(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if dir < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor we own.
        let dir = unsafe { OwnedFd::from_raw_fd(dir) };
        let full = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok()?;
        relative(root, &full)
    }
}

/// A cgroup's names as its path, each invalid byte sequence as U+FFFD.
fn text(n: Names) -> String {
    String::from_utf8(n.path())
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn relative(root: &Path, full: &Path) -> Option<String> {
    let rest = full.strip_prefix(root).ok()?;
    Some(format!("/{}", rest.to_string_lossy()))
}

/// Opens a `--cgroup` argument: a directory inside the cgroup2 mount, or a
/// path relative to its root (`/system.slice/foo.service`).
pub fn open_cgroup(arg: &str) -> Result<File, String> {
    let root = cgroup2_root().ok_or("no cgroup v2 hierarchy is mounted")?;
    let candidates = [PathBuf::from(arg), root.join(arg.trim_start_matches('/'))];
    for p in candidates {
        if p.starts_with(&root) && p.is_dir() {
            return File::open(&p).map_err(|e| format!("cannot open {}: {e}", p.display()));
        }
    }
    Err(format!(
        "`{arg}` is not a cgroup v2 directory (the hierarchy is mounted at {})",
        root.display()
    ))
}

#[cfg(test)]
mod tests;
