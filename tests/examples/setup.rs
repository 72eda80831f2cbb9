//! What a shipper config needs on a fresh host before it starts is made by a command in
//! the config's own header (its leading comment lines): every state directory it names
//! (Vector's `data_dir`, Fluent Bit's `DB` files' directories and a `file` output's
//! `Path`) by `install -d ... DIR` or `mkdir -p DIR`, and every `Parsers_File` (an
//! absolute path: a relative one is looked up in the working directory first) by
//! `install ... examples/FILE PATH` from a file of examples/ that defines the parsers the
//! config's inputs use. A run of Fluent Bit 5.1.1 and Vector 0.58 found each of them
//! missing (examples/README.md, "Tested against").

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::files::{example, file_name, read, rel, repo, sections, with_ext, Section};

/// The commands of a file's header: its comment lines before the first other line, each
/// split into words (a trailing `# ...` comment cut off).
fn header_commands(text: &str) -> Vec<Vec<String>> {
    let header = text
        .lines()
        .map(str::trim)
        .map_while(|l| l.strip_prefix('#'));
    let command = |l: &str| {
        let l = l.split(" # ").next().unwrap_or_default();
        l.split_whitespace().map(String::from).collect::<Vec<_>>()
    };
    header.map(command).filter(|w| !w.is_empty()).collect()
}

/// Whether a header command makes `dir`: `install -d ... DIR` or `mkdir -p DIR`.
fn creates_dir(commands: &[Vec<String>], dir: &str) -> bool {
    commands.iter().any(|w| {
        let last = w.last().is_some_and(|l| l == dir);
        let install = w[0] == "install" && w.iter().any(|a| a == "-d");
        let mkdir = w[0] == "mkdir" && w.iter().any(|a| a == "-p");
        last && (install || mkdir)
    })
}

/// The source file of a header command `install [OPTIONS] SOURCE DEST`, if any.
fn installed_from<'a>(commands: &'a [Vec<String>], dest: &str) -> Option<&'a str> {
    commands.iter().find_map(|w| {
        let file = w[0] == "install" && !w.iter().any(|a| a == "-d") && w.len() >= 3;
        let to_dest = w.last().is_some_and(|l| l == dest);
        (file && to_dest).then(|| w[w.len() - 2].as_str())
    })
}

#[track_caller]
fn assert_created(what: &str, commands: &[Vec<String>], dir: &str) {
    assert!(dir.starts_with('/'), "{what}: {dir} is not absolute");
    let hint = format!("`install -d -m 0750 {dir}` or `mkdir -p {dir}`");
    let made = creates_dir(commands, dir);
    assert!(
        made,
        "{what}: nothing in its header makes {dir}: add {hint}"
    );
}

#[test]
fn every_vector_data_dir_is_made_by_a_header_command() {
    for p in with_ext("toml") {
        let (what, text) = (rel(&p), read(&p));
        let cfg: Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        // Vector's default when unset is /var/lib/vector: it must exist all the same.
        let dir = cfg["data_dir"].as_str().unwrap_or("/var/lib/vector");
        assert_created(&what, &header_commands(&text), dir);
    }
}

/// Each Fluent Bit file: its name, its header's commands, its sections.
fn fluent_bit_confs() -> Vec<(String, Vec<Vec<String>>, Vec<Section>)> {
    let conf = |p: PathBuf| (rel(&p), header_commands(&read(&p)), sections(&p, ' '));
    with_ext("conf").into_iter().map(conf).collect()
}

#[test]
fn every_fluent_bit_state_directory_is_made_by_a_header_command() {
    let mut checked = 0;
    for (what, commands, conf) in fluent_bit_confs() {
        for s in conf {
            let db = s.all("DB").into_iter().filter_map(|db| {
                let dir = Path::new(db).parent()?;
                Some(dir.to_str().unwrap().to_string())
            });
            let is_file_output = s.name == "OUTPUT" && s.get("Name") == Some("file");
            let path = s.get("Path").filter(|_| is_file_output).map(String::from);
            for dir in db.chain(path) {
                assert_created(&what, &commands, &dir);
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "tail.conf's two DBs");
}

#[test]
fn every_parsers_file_is_absolute_and_installed_by_a_header_command() {
    let mut checked = 0;
    for (what, commands, conf) in fluent_bit_confs() {
        let used = conf
            .iter()
            .filter(|s| s.name == "INPUT" || s.name == "FILTER");
        let used: Vec<&str> = used.filter_map(|s| s.get("Parser")).collect();
        let service = conf.iter().filter(|s| s.name == "SERVICE");
        let parsers_files: Vec<&str> = service.flat_map(|s| s.all("Parsers_File")).collect();
        assert_eq!(
            parsers_files.is_empty(),
            used.is_empty(),
            "{what}: Parsers_File"
        );
        for dest in parsers_files {
            assert!(
                dest.starts_with('/'),
                "{what}: Parsers_File {dest} is relative"
            );
            let source = installed_from(&commands, dest);
            let source = source.unwrap_or_else(|| {
                panic!("{what}: nothing in its header installs {dest} (install -D -m 0644 ...)")
            });
            let from = repo().join(source);
            assert!(
                source.starts_with("examples/") && from.is_file(),
                "{what}: installs {dest} from {source}, not a file of examples/"
            );
            let defined = sections(&from, ' ');
            let defined = defined.iter().filter(|s| s.name == "PARSER");
            let names: Vec<&str> = defined.filter_map(|s| s.get("Name")).collect();
            for parser in &used {
                let name = file_name(&from);
                assert!(
                    names.contains(parser),
                    "{what}: {name} has no parser {parser}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "tail.conf's Parsers_File");
    // The parser file says where it goes, the same way.
    let text = read(&example("fluent-bit/parsers.conf"));
    let dest = "/etc/fluent-bit/ebpf-jsonl-parsers.conf";
    let commands = header_commands(&text);
    let from = installed_from(&commands, dest);
    assert_eq!(from, Some("examples/fluent-bit/parsers.conf"));
}

#[test]
fn header_commands_are_read_as_written() {
    let text = "# What it is.\n#   install -d -m 0750 /var/lib/x   # state\n#   mkdir -p /a\n\n\
                # not the header: install -d /b\n[SERVICE]\n";
    let c = header_commands(text);
    assert!(creates_dir(&c, "/var/lib/x") && creates_dir(&c, "/a"));
    assert!(!creates_dir(&c, "/b") && !creates_dir(&c, "/var/lib"));
    let c = header_commands("# install -D -m 0644 examples/p.conf /etc/p.conf\n");
    assert_eq!(installed_from(&c, "/etc/p.conf"), Some("examples/p.conf"));
    assert!(!creates_dir(&c, "/etc/p.conf"));
}
