//! cgroup v2 ids → paths (relative to the cgroup2 root, as in
//! /proc/PID/cgroup) and container ids, resolved in userspace and cached.

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

/// Resolves ids with open_by_handle_at(2) on the cgroup2 mount (a cgroup's id
/// is its kernfs file handle), so a lookup is one syscall, not a tree walk.
pub struct Resolver {
    root: Option<(PathBuf, OwnedFd)>,
    cache: HashMap<u64, Resolved>,
}

const CACHE_MAX: usize = 16 * 1024;
const FILEID_KERNFS: i32 = 0xfe;

#[repr(C)]
struct Handle {
    bytes: u32,
    kind: i32,
    id: u64,
}

impl Resolver {
    pub fn new() -> Self {
        let root = cgroup2_root().and_then(|p| {
            let f = File::open(&p).ok()?;
            Some((p, OwnedFd::from(f)))
        });
        Resolver {
            root,
            cache: HashMap::new(),
        }
    }

    pub fn resolve(&mut self, id: u64) -> Resolved {
        if let Some(r) = self.cache.get(&id) {
            return r.clone();
        }
        let path = self.lookup(id);
        let r = Resolved {
            container_id: path.as_deref().and_then(container_id).map(Arc::from),
            path: path.map(Arc::from),
        };
        // Misses are not cached: the cgroup may appear later.
        if r.path.is_some() {
            if self.cache.len() >= CACHE_MAX {
                self.cache.clear();
            }
            self.cache.insert(id, r.clone());
        }
        r
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
        let r = Resolver::new().resolve(id);
        assert_eq!(r.path.as_deref(), Some(own.as_str()));
    }
}
