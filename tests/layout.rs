//! The tree's shape, checked: the library's files import each other without
//! cycles (so each file can be read on top of the ones it uses), and no source
//! file grows past what a reader takes in at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Lines a source file may have (issue 10: "each file under ~400 lines").
const MAX_LINES: usize = 400;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                files_under(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// The source text without comments, string and char literals (their
/// braces and `crate::` words are not code).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |n| n + 2);
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            i += body
                + rest[body..]
                    .find(&close)
                    .map_or(rest.len(), |n| n + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' || (b[i] == b'b' && rest.starts_with("b\"")) {
            i += if b[i] == b'b' { 2 } else { 1 };
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && is_char_literal(rest) {
            let end = rest[1..].find('\'').map_or(1, |n| n + 2);
            i += end;
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn raw_string_start(s: &str) -> Option<usize> {
    let t = s.strip_prefix("br").or_else(|| s.strip_prefix('r'))?;
    let hashes = t.len() - t.trim_start_matches('#').len();
    t[hashes..]
        .starts_with('"')
        .then_some(hashes + s.len() - t.len() - 1)
}

/// `'a'`, `'\n'`, `'\u{1F600}'` — not a lifetime `'a`.
fn is_char_literal(s: &str) -> bool {
    let t = &s[1..];
    if let Some(esc) = t.strip_prefix('\\') {
        return esc.find('\'').is_some_and(|n| n <= 10);
    }
    let mut cs = t.chars();
    cs.next().is_some() && cs.next() == Some('\'')
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = format!("{prefix}{}", &tree[..open]);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(&inner[start..i], &head, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_use(&inner[start..], &head, out);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap().trim();
        out.push(format!("{prefix}{path}"));
    }
}

struct Module {
    file: PathBuf,
    /// `crate::a::b` path of the file's own module, as segments.
    path: Vec<String>,
}

fn module_of(src: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).ok()?;
    let mut segs: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = segs.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if segs.is_empty() && (stem == "main" || stem == "lib") {
        return (stem == "lib").then(Vec::new);
    }
    if stem != "mod" {
        segs.push(stem.to_string());
    }
    Some(segs)
}

/// Every module path (as segments) each library file names.
fn references(code: &str, own: &[String]) -> Vec<Vec<String>> {
    let words: Vec<(usize, &str)> = tokens(code);
    let mut children = BTreeSet::new();
    for w in words.windows(2) {
        if w[0].1 == "mod" && is_word(w[1].1) {
            children.insert(w[1].1.to_string());
        }
    }
    // Inline `mod x {` blocks shift what `super::`/`self::` mean inside them.
    let mut scopes: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    let mut refs = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (_, w) = words[i];
        match w {
            "{" => {
                depth += 1;
                if let Some(m) = pending_mod.take() {
                    scopes.push((depth, m));
                }
            }
            "}" => {
                if scopes.last().is_some_and(|(d, _)| *d == depth) {
                    scopes.pop();
                }
                depth = depth.saturating_sub(1);
            }
            ";" => pending_mod = None,
            "mod" if i + 1 < words.len() => pending_mod = Some(words[i + 1].1.to_string()),
            _ => {}
        }
        let here: Vec<String> = own
            .iter()
            .cloned()
            .chain(scopes.iter().map(|(_, m)| m.clone()))
            .collect();
        let mut paths = Vec::new();
        if w == "use" {
            let start = words[i].0 + 3;
            let end = code[start..].find(';').map_or(code.len(), |n| start + n);
            let tree = code[start..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            expand_use(
                &tree.replace(" :: ", "::").replace(":: ", "::"),
                "",
                &mut paths,
            );
            // The statement's own words are read; go on after its `;`.
            while i + 1 < words.len() && words[i + 1].0 < end {
                i += 1;
            }
        } else if i + 1 < words.len() && words[i + 1].1 == "::" {
            let mut p = w.to_string();
            let mut j = i + 1;
            while j + 1 < words.len() && words[j].1 == "::" && is_word(words[j + 1].1) {
                p.push_str("::");
                p.push_str(words[j + 1].1);
                j += 2;
            }
            paths.push(p);
            i = j - 1;
        }
        for p in paths {
            let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
            let Some(first) = segs.first() else { continue };
            let mut base: Vec<String> = match *first {
                "crate" => Vec::new(),
                "self" => here.clone(),
                "super" => here.clone(),
                c if children.contains(c) && scopes.is_empty() => here.clone(),
                _ => continue,
            };
            let mut rest = &segs[if *first == "crate" || *first == "self" {
                1
            } else {
                0
            }..];
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().map(|s| s.to_string()));
            refs.push(base);
        }
        i += 1;
    }
    refs
}

fn is_word(s: &str) -> bool {
    s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Words, `::`, braces and semicolons, each with its byte offset.
fn tokens(code: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push((s, &code[s..i]));
            continue;
        }
        if code[i..].starts_with("::") {
            out.push((i, "::"));
            i += 2;
            continue;
        }
        if matches!(c, b'{' | b'}' | b';') {
            out.push((i, &code[i..i + 1]));
        }
        i += 1;
    }
    out
}

#[test]
fn library_files_import_each_other_without_cycles() {
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    files_under(&src, &mut files);
    let modules: Vec<Module> = files
        .iter()
        .filter_map(|f| {
            module_of(&src, f).map(|path| Module {
                file: f.clone(),
                path,
            })
        })
        .collect();
    assert!(modules.len() > 10, "found the library's files under src/");
    let owner = |path: &[String]| -> Option<usize> {
        (0..=path.len())
            .rev()
            .find_map(|n| modules.iter().position(|m| m.path == path[..n]))
    };
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (a, m) in modules.iter().enumerate() {
        let code = code_only(&fs::read_to_string(&m.file).unwrap());
        for r in references(&code, &m.path) {
            if let Some(b) = owner(&r) {
                if b != a {
                    edges.entry(a).or_default().insert(b);
                }
            }
        }
    }
    // Depth-first search for a back edge; report the whole cycle.
    fn visit(
        n: usize,
        edges: &BTreeMap<usize, BTreeSet<usize>>,
        state: &mut Vec<u8>,
        stack: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        state[n] = 1;
        stack.push(n);
        for &m in edges.get(&n).into_iter().flatten() {
            if state[m] == 1 {
                let from = stack.iter().position(|&s| s == m).unwrap();
                cycles.push(stack[from..].to_vec());
            } else if state[m] == 0 {
                visit(m, edges, state, stack, cycles);
            }
        }
        stack.pop();
        state[n] = 2;
    }
    let mut state = vec![0u8; modules.len()];
    let mut cycles = Vec::new();
    for n in 0..modules.len() {
        if state[n] == 0 {
            visit(n, &edges, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    let name = |i: usize| {
        modules[i]
            .file
            .strip_prefix(ROOT)
            .unwrap()
            .display()
            .to_string()
    };
    let described: Vec<String> = cycles
        .iter()
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|&i| name(i)).collect();
            names.push(name(c[0]));
            names.join(" -> ")
        })
        .collect();
    assert!(
        described.is_empty(),
        "import cycles between library files (move what both sides need into a file of its own):\n{}",
        described.join("\n")
    );
}

#[test]
fn no_source_file_is_longer_than_a_reader_takes_in() {
    let mut files = Vec::new();
    for dir in ["src", "bpf", "tests", "benches", "testkit", "examples"] {
        files_under(&Path::new(ROOT).join(dir), &mut files);
    }
    files_under(Path::new(ROOT).join(".ci").as_path(), &mut files);
    files.push(Path::new(ROOT).join("build.rs"));
    files.push(Path::new(ROOT).join("dev.sh"));
    let code = ["rs", "c", "h", "sh", "jq"];
    let long: Vec<String> = files
        .iter()
        .filter(|f| {
            f.extension()
                .is_some_and(|e| code.contains(&e.to_string_lossy().as_ref()))
                && f.file_name().is_some_and(|n| n != "vmlinux.h")
        })
        .filter_map(|f| {
            let n = fs::read_to_string(f).ok()?.lines().count();
            (n > MAX_LINES)
                .then(|| format!("{}: {n} lines", f.strip_prefix(ROOT).unwrap().display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "source files over {MAX_LINES} lines (split them by concern):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_cycle_finder_sees_the_paths_it_must() {
    let code = code_only(
        "use crate::{a::B, c::{d, e as f}};\nuse super::g;\nmod child;\n\
         fn x() { child::run(); crate::h::i(); let s = \"crate::fake\"; }\n\
         // crate::comment\nmod tests { use super::j; }\n",
    );
    let refs = references(&code, &["m".to_string(), "n".to_string()]);
    let got: BTreeSet<String> = refs.iter().map(|r| r.join("::")).collect();
    let want: BTreeSet<String> = [
        "a::B",
        "c::d",
        "c::e",
        "m::g",
        "m::n::child::run",
        "h::i",
        "m::n::j",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(got, want);
}
