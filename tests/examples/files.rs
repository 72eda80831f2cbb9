//! Finding and reading examples/, running a validator, and the few values the other
//! tests compare across files (a unit's settings, an argv's flags).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

pub fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", rel(p)))
}

pub fn example(path: &str) -> PathBuf {
    repo().join("examples").join(path)
}

/// Every file under examples/, sorted.
pub fn example_files() -> Vec<PathBuf> {
    let (mut dirs, mut files) = (vec![repo().join("examples")], Vec::new());
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", rel(&dir))) {
            let p = entry.unwrap().path();
            let to = if p.is_dir() { &mut dirs } else { &mut files };
            to.push(p);
        }
    }
    files.sort();
    files
}

pub fn with_ext(ext: &str) -> Vec<PathBuf> {
    let mut files = example_files();
    files.retain(|p| p.extension().is_some_and(|e| e == ext));
    assert!(!files.is_empty(), "no examples/**/*.{ext}");
    files
}

pub fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

/// Runs a validator; a missing one is a failure, not a skip (CI installs them).
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): ./dev.sh deps installs it"))
}

/// A validator's verdict: it exits 0 and prints nothing.
pub fn assert_silent_success(what: &str, out: &Output) {
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each JSON pointer's value in `v` (TOML and YAML read as JSON values).
pub fn assert_at(what: &str, v: &serde_json::Value, expected: &[(&str, serde_json::Value)]) {
    for (pointer, want) in expected {
        assert_eq!(v.pointer(pointer), Some(want), "{what}: {pointer}");
    }
}

/// The value after `flag` in an argv.
pub fn after<'a>(argv: &[&'a str], flag: &str) -> Option<&'a str> {
    argv.iter()
        .position(|a| *a == flag)
        .and_then(|i| argv.get(i + 1).copied())
}

/// A `[Section]` of `Key<sep>Value` lines, as systemd units (`=`) and Fluent Bit's classic
/// format (a space) have them. The validators check their syntax (no Fluent Bit is
/// packaged for Debian 12 to check its own); this only reads the values.
pub struct Section {
    pub name: String,
    entries: Vec<(String, String)>,
}

impl Section {
    /// Every value of `key` (case-insensitive, as in Fluent Bit), in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        let same = |(k, _): &&(String, String)| k.eq_ignore_ascii_case(key);
        let values = self.entries.iter().filter(same);
        values.map(|(_, v)| v.as_str()).collect()
    }

    /// The last assignment wins, as in systemd.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.all(key).pop()
    }
}

/// A file's sections, their names upper-cased.
pub fn sections(p: &Path, sep: char) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in read(p).lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', ';', '@']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let (name, entries) = (name.to_ascii_uppercase(), Vec::new());
            out.push(Section { name, entries });
            continue;
        }
        let entry = line.split_once(sep).zip(out.last_mut());
        let ((key, value), section) = entry.unwrap_or_else(|| panic!("{}: {line}", rel(p)));
        section.entries.push((key.into(), value.trim().into()));
    }
    out
}

/// A systemd unit of examples/systemd/: one section of all its keys, named by its file
/// (`systemd-analyze verify` rejects a key in the wrong section).
pub type Unit = Section;

impl Unit {
    /// The words of every assignment of `key` (systemd adds capabilities and calls up).
    pub fn words(&self, key: &str) -> BTreeSet<&str> {
        let values = self.all(key).into_iter();
        values.flat_map(str::split_whitespace).collect()
    }

    pub fn argv(&self) -> Vec<&str> {
        self.get("ExecStart").unwrap().split_whitespace().collect()
    }

    pub fn output(&self) -> &str {
        let output = after(&self.argv(), "--output");
        output.unwrap_or_else(|| panic!("{}: ExecStart without --output", self.name))
    }
}

/// Every unit's `--output`.
pub fn outputs() -> BTreeSet<String> {
    units().iter().map(|u| u.output().to_string()).collect()
}

pub fn units() -> Vec<Unit> {
    let unit = |p: &PathBuf| {
        let sections = sections(p, '=').into_iter();
        let entries = sections.flat_map(|s| s.entries).collect();
        let name = file_name(p).to_string();
        Unit { name, entries }
    };
    with_ext("service").iter().map(unit).collect()
}
