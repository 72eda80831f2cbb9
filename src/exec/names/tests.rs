//! names.rs: sections → paths (cut, deleted, unreachable, empty, root).

use super::*;

fn path(names: &[&str], flags: u8) -> Option<String> {
    let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
    let s = section(&names, flags);
    let n = Names::parse(&s).unwrap();
    assert_eq!(n.size(), s.len());
    n.known_path()
        .map(|p| String::from_utf8(p).expect("valid UTF-8 in, valid UTF-8 out"))
}

#[test]
fn whole_paths() {
    assert_eq!(path(&[], 0).as_deref(), Some("/"), "the root");
    assert_eq!(path(&["c", "b", "a"], 0).as_deref(), Some("/a/b/c"));
    assert_eq!(path(&["a b", "ü"], 0).as_deref(), Some("/ü/a b"));
}

#[test]
fn cut_paths_keep_their_innermost_levels_behind_a_mark() {
    assert_eq!(
        path(&["leaf", "mid"], NAMES_F_CUT).as_deref(),
        Some("…/mid/leaf")
    );
    // Not one name read: nothing known.
    assert_eq!(path(&[], NAMES_F_CUT), None);
    assert_eq!(path(&[], NAMES_F_CUT | NAMES_F_DELETED), None);
    // Cut wins over unreachable: the walk never reached a top.
    assert_eq!(
        path(&["x"], NAMES_F_CUT | NAMES_F_DELETED).as_deref(),
        Some("…/x (deleted)")
    );
}

#[test]
fn deleted_and_unreachable_as_the_kernel_shows_them() {
    assert_eq!(
        path(&["d", "tmp"], NAMES_F_DELETED).as_deref(),
        Some("/tmp/d (deleted)")
    );
    // a memfd: its one name, as readlink /proc/PID/exe shows it
    assert_eq!(
        path(&["memfd:x"], NAMES_F_DELETED | NAMES_F_NOLINK).as_deref(),
        Some("/memfd:x (deleted)")
    );
    assert_eq!(
        path(&["b", "a"], NAMES_F_UNREACHABLE).as_deref(),
        Some("(unreachable)/a/b")
    );
}

#[test]
fn invalid_bytes_are_kept_as_bytes() {
    let s = section(&[b"\xffx"], 0);
    assert_eq!(Names::parse(&s).unwrap().path(), b"/\xffx");
}

#[test]
fn sections_follow_each_other() {
    let mut b = section(&[b"cg"], 0);
    b.extend(section(&[], NAMES_F_SENT));
    b.extend(section(&[b"cwd"], 0));
    b.extend(&section(&[b"exe"], NAMES_F_NOLINK)[..5]);
    let got: Vec<_> = sections(&b).map(|n| n.path()).collect();
    assert_eq!(got, [&b"/cg"[..], b"/", b"/cwd"], "a short one ends them");
    assert!(Names::parse(&[1]).is_none());
    assert_eq!(sections(&[]).count(), 0);
}
