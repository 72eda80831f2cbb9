//! cgroup v2 ids → paths (relative to the cgroup2 root, as in
//! /proc/PID/cgroup) and container ids: built from the names the kernel
//! put in the event, and cached.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

// struct exec_cgroup in bpf/exec.h.
const SECTION_HDR: usize = 4;
const CGROUP_F_CUT: u8 = 1;
const CGROUP_F_SENT: u8 = 2;

/// The cgroup section of an exec event: the kernel's names of the task's
/// cgroup and its ancestors, innermost first, each NUL-terminated.
#[derive(Clone, Copy, Debug)]
pub struct Names<'a> {
    names: &'a [u8],
    depth: u8,
    /// The outermost levels are missing.
    cut: bool,
    /// No names: an earlier event of this epoch carried them.
    sent: bool,
}

impl<'a> Names<'a> {
    /// None if `b` is shorter than the section says.
    pub fn parse(b: &'a [u8]) -> Option<Self> {
        let hdr = b.get(..SECTION_HDR)?;
        let len = usize::from(u16::from_le_bytes([hdr[0], hdr[1]]));
        Some(Names {
            names: b.get(SECTION_HDR..SECTION_HDR + len)?,
            depth: hdr[2],
            cut: hdr[3] & CGROUP_F_CUT != 0,
            sent: hdr[3] & CGROUP_F_SENT != 0,
        })
    }

    /// `/outer/…/inner` relative to the hierarchy root (`/` for the root
    /// cgroup); a path whose outermost levels were cut starts with `…`.
    pub fn path(&self) -> String {
        let mut out = String::with_capacity(self.names.len() + 4);
        if self.cut {
            out.push('…');
        }
        let names = self.names.strip_suffix(&[0]).unwrap_or(self.names);
        if !names.is_empty() {
            for n in names.rsplit(|&c| c == 0) {
                out.push('/');
                out.push_str(&String::from_utf8_lossy(n));
            }
        } else if !self.cut {
            out.push('/');
        }
        out
    }
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
        let whole = names.filter(|n| !n.cut && !n.sent);
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
            Some(n) => (Some(n.path()), true),
            None => match self.lookup(id) {
                Some(p) => (Some(p), true),
                None => (names.filter(|n| n.depth > 0).map(|n| n.path()), false),
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
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn container_ids_of_common_layouts() {
        for p in [
            format!("/docker/{ID}"),
            format!("/system.slice/docker-{ID}.scope"),
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-{ID}.scope"),
            format!("/kubepods/burstable/pod1234-5678/{ID}"),
            format!("/machine.slice/libpod-{ID}.scope/container"),
            format!("/kubepods.slice/crio-{ID}.scope"),
        ] {
            assert_eq!(container_id(&p), Some(ID), "{p}");
        }
        assert_eq!(
            container_id("/user.slice/user-0.slice/session-1.scope"),
            None
        );
        assert_eq!(
            container_id(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
        assert_eq!(container_id("/"), None);
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape(r"/sys/fs/cgroup\040x"), "/sys/fs/cgroup x");
    }

    #[test]
    fn resolves_this_process_cgroup() {
        use std::os::unix::fs::MetadataExt;
        let root = cgroup2_root().expect("cgroup2 mounted");
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap()
            .to_string();
        let id = std::fs::metadata(root.join(own.trim_start_matches('/')))
            .unwrap()
            .ino();
        // No names from the kernel: the open_by_handle_at lookup.
        let r = Resolver::new().resolve(id, None);
        assert_eq!(r.path.as_deref(), Some(own.as_str()));
    }

    /// A cgroup section as the kernel writes it.
    fn section(inner_first: &[&str], flags: u8) -> Vec<u8> {
        let names: Vec<u8> = inner_first
            .iter()
            .flat_map(|n| n.bytes().chain([0]))
            .collect();
        let len = (names.len() as u16).to_le_bytes();
        let mut v = vec![len[0], len[1], inner_first.len() as u8, flags];
        v.extend(names);
        v
    }

    const WHOLE: u8 = 0;

    #[test]
    fn paths_from_kernel_names() {
        let p = |names: &[&str], flags| Names::parse(&section(names, flags)).unwrap().path();
        assert_eq!(p(&[], WHOLE), "/");
        assert_eq!(p(&["c", "b", "a"], WHOLE), "/a/b/c");
        assert_eq!(p(&["leaf", "mid"], CGROUP_F_CUT), "…/mid/leaf");
        assert!(Names::parse(&section(&["abc"], WHOLE)[..5]).is_none());
        assert!(Names::parse(&[1]).is_none());

        // Ids that exist nowhere: only the names can resolve them.
        let mut r = Resolver::new();
        let scope = format!("docker-{ID}.scope");
        let got = r.resolve(
            u64::MAX - 1,
            Some(&section(&[&scope, "system.slice"], WHOLE)),
        );
        assert_eq!(
            got.path.as_deref(),
            Some(format!("/system.slice/{scope}").as_str())
        );
        assert_eq!(got.container_id.as_deref(), Some(ID));
        // Later events of that cgroup omit the names.
        let again = r.resolve(u64::MAX - 1, Some(&section(&[], CGROUP_F_SENT)));
        assert_eq!(again.path, got.path);
        // A cut path keeps the innermost names, and still names the container.
        let got = r.resolve(u64::MAX - 2, Some(&section(&[&scope, "x"], CGROUP_F_CUT)));
        assert_eq!(got.path.as_deref(), Some(format!("…/x/{scope}").as_str()));
        assert_eq!(got.container_id.as_deref(), Some(ID));
        let nothing = [section(&[], CGROUP_F_CUT), section(&[], CGROUP_F_SENT)];
        for s in nothing {
            assert!(r.resolve(u64::MAX - 3, Some(&s)).path.is_none());
        }
        assert!(r.resolve(u64::MAX - 4, None).path.is_none());
    }

    #[test]
    fn cache_is_bounded_in_bytes() {
        // 17,000 cgroups with 3.8 KB paths: 65 MB of paths through a 1 MiB cache.
        let budget = 1 << 20;
        let mut r = Resolver::with_budget(budget);
        let name = "n".repeat(240);
        let names: Vec<&str> = vec![&name; 16];
        let mut most = 0;
        for id in 1..=17_000u64 {
            let mut s = section(&names, WHOLE);
            s.extend_from_slice(b"trailing bytes are ignored");
            let got = r.resolve(id, Some(&s));
            assert_eq!(got.path.as_deref().map(str::len), Some(16 * 241));
            assert!(r.bytes + r.old_bytes <= budget, "{} bytes held", r.bytes);
            if id % 97 == 0 {
                let held: usize = r
                    .cache
                    .values()
                    .chain(r.old.values())
                    .map(|v| v.path.as_ref().unwrap().len())
                    .sum();
                assert!(held < r.bytes + r.old_bytes, "the count covers the paths");
            }
            most = most.max(r.cache.len() + r.old.len());
        }
        assert!(most > 100, "the cache is used: {most} entries");
        // Short paths: many more entries in the same bytes.
        let mut r = Resolver::with_budget(budget);
        let mut most = 0;
        for id in 1..=20_000u64 {
            r.resolve(id, Some(&section(&["a.scope", "b.slice"], WHOLE)));
            assert!(r.bytes + r.old_bytes <= budget);
            most = most.max(r.cache.len() + r.old.len());
        }
        assert!(most > 5_000, "{most} entries");
    }

    #[test]
    fn names_outlive_one_turn_of_the_epoch() {
        let mut r = Resolver::with_budget(4_000);
        let path = |id: u64| format!("/job-{id}.scope");
        let sent = section(&[], CGROUP_F_SENT);
        let mut id = 0;
        // Fill the first generation; each cgroup's names come once.
        while r.epoch() == 0 {
            id += 1;
            r.resolve(id, Some(&section(&[&path(id)[1..]], WHOLE)));
        }
        // The epoch moved on while events of epoch 0 that omit the names
        // may still be queued: all of them still resolve.
        for i in 1..id {
            assert_eq!(
                r.resolve(i, Some(&sent)).path.as_deref(),
                Some(path(i).as_str())
            );
        }
        // The kernel sends names again for the new epoch; once the epoch
        // moves on again, the names of epoch 0 only are forgotten.
        r.resolve(1, Some(&section(&["job-1.scope"], WHOLE)));
        while r.epoch() == 1 {
            id += 1;
            r.resolve(id, Some(&section(&[&path(id)[1..]], WHOLE)));
        }
        assert_eq!(
            r.resolve(1, Some(&sent)).path.as_deref(),
            Some("/job-1.scope")
        );
        assert!(r.resolve(2, Some(&sent)).path.is_none());
    }
}
