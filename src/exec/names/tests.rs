//! names.rs: sections → paths (cut, empty, root).

use super::*;

fn path(names: &[&str], flags: u8) -> Option<String> {
    let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
    let s = section(&names, flags);
    let n = Names::parse(&s).unwrap();
    (!n.cut() || n.depth > 0)
        .then(|| String::from_utf8(n.path()).expect("valid UTF-8 in, valid UTF-8 out"))
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
}

#[test]
fn invalid_bytes_are_kept_as_bytes() {
    let s = section(&[b"\xffx"], 0);
    assert_eq!(Names::parse(&s).unwrap().path(), b"/\xffx");
}
