//! cgroup.rs: container ids, kernel names → paths, and the bounded cache.

use super::*;
use crate::exec::names::NAMES_F_CUT;

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
    let names: Vec<&[u8]> = inner_first.iter().map(|n| n.as_bytes()).collect();
    crate::exec::names::section(&names, flags)
}

const WHOLE: u8 = 0;

#[test]
fn paths_from_kernel_names() {
    let p = |names: &[&str], flags| text(Names::parse(&section(names, flags)).unwrap());
    assert_eq!(p(&[], WHOLE), "/");
    assert_eq!(p(&["c", "b", "a"], WHOLE), "/a/b/c");
    assert_eq!(p(&["leaf", "mid"], NAMES_F_CUT), "…/mid/leaf");
    assert!(Names::parse(&section(&["abc"], WHOLE)[..5]).is_none());

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
    let again = r.resolve(u64::MAX - 1, Some(&section(&[], NAMES_F_SENT)));
    assert_eq!(again.path, got.path);
    // A cut path keeps the innermost names, and still names the container.
    let got = r.resolve(u64::MAX - 2, Some(&section(&[&scope, "x"], NAMES_F_CUT)));
    assert_eq!(got.path.as_deref(), Some(format!("…/x/{scope}").as_str()));
    assert_eq!(got.container_id.as_deref(), Some(ID));
    let nothing = [section(&[], NAMES_F_CUT), section(&[], NAMES_F_SENT)];
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
    let sent = section(&[], NAMES_F_SENT);
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
