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
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", rel(dir))) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("examples"), &mut files);
    files.sort();
    files
}

pub fn with_ext(ext: &str) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = example_files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
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

/// A systemd unit's `Key=Value` lines by section (`systemd-analyze verify` checks the
/// syntax and the keys; this only reads the values).
pub struct Unit {
    pub name: String,
    entries: Vec<(String, String, String)>,
}

impl Unit {
    pub fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    /// The last assignment wins, as in systemd.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.all("Service", key).last().copied()
    }

    pub fn words(&self, key: &str) -> BTreeSet<&str> {
        self.all("Service", key)
            .iter()
            .flat_map(|v| v.split_whitespace())
            .collect()
    }

    pub fn argv(&self) -> Vec<&str> {
        self.get("ExecStart").unwrap().split_whitespace().collect()
    }

    pub fn output(&self) -> String {
        after(&self.argv(), "--output")
            .unwrap_or_else(|| panic!("{}: ExecStart without --output", self.name))
            .to_string()
    }
}

pub fn units() -> Vec<Unit> {
    with_ext("service")
        .iter()
        .map(|p| {
            let mut section = String::new();
            let mut entries = Vec::new();
            for line in read(p).lines().map(str::trim) {
                if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                    section = s.to_string();
                } else if let Some((k, v)) = line.split_once('=').filter(|_| !line.starts_with('#'))
                {
                    entries.push((section.clone(), k.to_string(), v.trim().to_string()));
                }
            }
            Unit {
                name: file_name(p).to_string(),
                entries,
            }
        })
        .collect()
}

/// Fluent Bit's classic format as `[SECTION]`s of `Key Value` lines, all indented alike
/// (keys are case-insensitive there). No Fluent Bit is packaged for Debian 12, so this
/// is the one format read here beyond its values.
pub struct Section {
    pub name: String,
    entries: Vec<(String, String)>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

pub fn fluent_bit_sections(p: &Path) -> Vec<Section> {
    const KNOWN: &str = "SERVICE INPUT FILTER OUTPUT PARSER MULTILINE_PARSER PLUGINS";
    let mut sections: Vec<Section> = Vec::new();
    let mut indent = None;
    for (i, line) in read(p).lines().enumerate() {
        let body = line.trim();
        if body.is_empty() || body.starts_with('#') || body.starts_with('@') {
            continue;
        }
        let at = format!("{}:{}", rel(p), i + 1);
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let known = KNOWN
                .split_whitespace()
                .any(|k| k.eq_ignore_ascii_case(name));
            assert!(known, "{at}: unknown section [{name}]");
            sections.push(Section {
                name: name.to_ascii_uppercase(),
                entries: Vec::new(),
            });
            continue;
        }
        let lead = &line[..line.len() - line.trim_start().len()];
        assert!(!lead.is_empty(), "{at}: a key line must be indented");
        assert_eq!(
            *indent.get_or_insert(lead),
            lead,
            "{at}: indented unlike the first"
        );
        let (key, value) = body
            .split_once(' ')
            .unwrap_or_else(|| panic!("{at}: `Key Value` expected"));
        let section = sections
            .last_mut()
            .unwrap_or_else(|| panic!("{at}: key outside a section"));
        section
            .entries
            .push((key.to_string(), value.trim().to_string()));
    }
    sections
}
