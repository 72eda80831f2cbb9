//! examples/: every config parses and carries the settings that matter, the files agree
//! with each other (paths, unit names, parser names), every jq recipe gives the expected
//! result on the recorded data, and every recorded line is exactly a record of its type.
//! Needs `jq` on PATH (./dev.sh installs it); no root, no kernel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::{json, Value};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", rel(p)))
}

/// Every file under examples/, sorted.
fn example_files() -> Vec<PathBuf> {
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

fn with_ext(ext: &str) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = example_files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert!(!files.is_empty(), "no examples/**/*.{ext}");
    files
}

fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

#[test]
fn every_example_file_is_checked_and_documented() {
    let readme = read(&repo().join("examples/README.md"));
    let checked = "toml yaml conf service logrotate jq jsonl md";
    for p in example_files() {
        let r = rel(&p);
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "rs" {
            continue; // a cargo example: cargo builds and lints it
        }
        assert!(
            checked.split_whitespace().any(|c| c == ext),
            "{r}: no test checks this kind of file; add one to tests/examples.rs"
        );
        let inside = r.strip_prefix("examples/").unwrap();
        if inside != "README.md" {
            assert!(
                readme.contains(inside),
                "examples/README.md does not mention {inside}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Vector (TOML)

fn parse_toml(what: &str, text: &str) -> toml::Table {
    toml::from_str::<toml::Table>(text).unwrap_or_else(|e| panic!("{what}: not valid TOML: {e}"))
}

/// `a.b.c` inside a TOML table.
fn toml_at<'a>(t: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let mut parts = path.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

fn toml_str<'a>(t: &'a toml::Table, path: &str) -> Option<&'a str> {
    toml_at(t, path).and_then(|v| v.as_str())
}

fn toml_strs(t: &toml::Table, path: &str) -> Vec<String> {
    toml_at(t, path)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("an array of strings").to_string())
                .collect()
        })
        .unwrap_or_default()
}

const PARSE_TIME: &str = r#".timestamp = parse_timestamp!(.timestamp, "%+")"#;

/// Checks a Vector config and returns its sources' types.
fn check_vector(what: &str, cfg: &toml::Table) -> Vec<String> {
    assert!(toml_str(cfg, "data_dir").is_some(), "{what}: no data_dir");
    let section = |name: &str| -> BTreeMap<String, toml::Table> {
        cfg.get(name)
            .and_then(|v| v.as_table())
            .unwrap_or_else(|| panic!("{what}: no [{name}]"))
            .iter()
            .map(|(k, v)| {
                let t = v.as_table().unwrap_or_else(|| panic!("{what}: {name}.{k}"));
                (k.clone(), t.clone())
            })
            .collect()
    };
    let (sources, transforms, sinks) =
        (section("sources"), section("transforms"), section("sinks"));
    assert!(
        !sources.is_empty() && !sinks.is_empty(),
        "{what}: needs a source and a sink"
    );
    for (kind, comps) in [
        ("sources", &sources),
        ("transforms", &transforms),
        ("sinks", &sinks),
    ] {
        for (name, c) in comps {
            assert!(
                toml_str(c, "type").is_some(),
                "{what}: {kind}.{name} has no type"
            );
            if kind != "sources" {
                let inputs = toml_strs(c, "inputs");
                assert!(!inputs.is_empty(), "{what}: {kind}.{name} has no inputs");
                for i in &inputs {
                    assert!(
                        sources.contains_key(i) || (transforms.contains_key(i) && i != name),
                        "{what}: {kind}.{name} reads `{i}`, which is no source or transform"
                    );
                }
            }
        }
    }
    // Every source feeds a remap that makes `timestamp` the event time, and sinks only
    // read such remaps.
    let remap_of = |src: &str| -> (&String, &toml::Table) {
        transforms
            .iter()
            .find(|(_, t)| {
                toml_str(t, "type") == Some("remap")
                    && toml_strs(t, "inputs").iter().any(|i| i == src)
            })
            .unwrap_or_else(|| panic!("{what}: no remap reads source `{src}`"))
    };
    let mut types = Vec::new();
    for (name, s) in &sources {
        let (remap_name, remap) = remap_of(name);
        let vrl = toml_str(remap, "source").unwrap_or_default();
        let time_at = vrl
            .find(PARSE_TIME)
            .unwrap_or_else(|| panic!("{what}: transforms.{remap_name} lacks `{PARSE_TIME}`"));
        let ty = toml_str(s, "type").unwrap();
        match ty {
            "exec" => {
                assert_eq!(
                    toml_str(s, "mode"),
                    Some("streaming"),
                    "{what}: sources.{name}.mode"
                );
                let cmd = toml_strs(s, "command");
                let runs_it = cmd.len() >= 2
                    && cmd[0].ends_with("/ebpf-jsonl")
                    && ["exec", "xdp"].contains(&cmd[1].as_str());
                assert!(runs_it, "{what}: sources.{name}.command: {cmd:?}");
                assert_eq!(
                    toml_at(s, "include_stderr").and_then(|v| v.as_bool()),
                    Some(false),
                    "{what}: sources.{name}.include_stderr (diagnostics are no events)"
                );
                assert_eq!(
                    toml_str(s, "decoding.codec"),
                    Some("json"),
                    "{what}: sources.{name}"
                );
                assert_eq!(
                    toml_str(s, "framing.method"),
                    Some("newline_delimited"),
                    "{what}: sources.{name}"
                );
            }
            "file" => {
                let include = toml_strs(s, "include");
                assert!(!include.is_empty(), "{what}: sources.{name}.include");
                for f in &include {
                    assert!(
                        f.starts_with("/var/log/ebpf-jsonl/") && f.ends_with(".jsonl"),
                        "{what}: sources.{name} reads {f}"
                    );
                }
                let max = toml_at(s, "max_line_bytes").and_then(|v| v.as_integer());
                assert!(
                    max.is_some_and(|m| m >= 512 * 1024),
                    "{what}: sources.{name}.max_line_bytes: raise it for long argv"
                );
                let json_at = vrl.find("parse_json!(.message)").unwrap_or_else(|| {
                    panic!("{what}: transforms.{remap_name} must parse_json!(.message)")
                });
                assert!(
                    json_at < time_at,
                    "{what}: parse the JSON before its timestamp"
                );
            }
            other => panic!("{what}: sources.{name}: unexpected type {other}"),
        }
        types.push(ty.to_string());
    }
    for (name, sink) in &sinks {
        for i in toml_strs(sink, "inputs") {
            let t = &transforms.get(&i).unwrap_or_else(|| {
                panic!("{what}: sinks.{name} reads {i} directly: its timestamp would be a string")
            });
            assert_eq!(toml_str(t, "type"), Some("remap"), "{what}: sinks.{name}");
        }
    }
    types
}

#[test]
fn every_toml_file_parses() {
    for p in with_ext("toml") {
        parse_toml(&rel(&p), &read(&p));
    }
}

#[test]
fn vector_configs() {
    let mut kinds = BTreeSet::new();
    for p in with_ext("toml") {
        if p.parent().unwrap().ends_with("vector") {
            let cfg = parse_toml(&rel(&p), &read(&p));
            kinds.extend(check_vector(&rel(&p), &cfg));
        }
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["exec".to_string(), "file".to_string()]),
        "examples/vector/ should show an exec source and a file source"
    );
    let exec = parse_toml(
        "exec.toml",
        &read(&repo().join("examples/vector/exec.toml")),
    );
    assert_eq!(
        toml_strs(&exec, "sources.ebpf_exec.command"),
        ["/usr/local/bin/ebpf-jsonl", "exec", "--exits"]
    );
}

// ---------------------------------------------------------------------------------------
// Kubernetes (YAML)

fn yaml_docs(p: &Path) -> Vec<serde_yaml::Value> {
    let text = read(p);
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            serde_yaml::Value::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", rel(p)))
        })
        .collect();
    assert!(!docs.is_empty(), "{}: no documents", rel(p));
    docs
}

fn ystr(v: &serde_yaml::Value) -> &str {
    v.as_str().unwrap_or("")
}

fn yseq(v: &serde_yaml::Value) -> &[serde_yaml::Value] {
    v.as_sequence().map(|s| s.as_slice()).unwrap_or(&[])
}

fn ystrs(v: &serde_yaml::Value) -> Vec<&str> {
    yseq(v).iter().map(ystr).collect()
}

#[test]
fn every_yaml_file_parses_and_is_kubernetes() {
    for p in with_ext("yaml") {
        for (i, d) in yaml_docs(&p).iter().enumerate() {
            let at = format!("{} document {}", rel(&p), i + 1);
            assert!(d.is_mapping(), "{at}: not a mapping");
            for key in ["apiVersion", "kind"] {
                assert!(!ystr(&d[key]).is_empty(), "{at}: no {key}");
            }
            assert!(
                !ystr(&d["metadata"]["name"]).is_empty(),
                "{at}: no metadata.name"
            );
        }
    }
}

/// The value after `flag` in an argv.
fn after<'a>(argv: &[&'a str], flag: &str) -> Option<&'a str> {
    argv.iter()
        .position(|a| *a == flag)
        .and_then(|i| argv.get(i + 1).copied())
}

#[test]
fn kubernetes_daemonset() {
    let docs = yaml_docs(&repo().join("examples/kubernetes/daemonset.yaml"));
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| ystr(&d["kind"]) == kind && ystr(&d["metadata"]["name"]) == name)
            .unwrap_or_else(|| panic!("daemonset.yaml: no {kind} {name}"))
    };
    let ns = find("Namespace", "ebpf-jsonl");
    assert_eq!(
        ystr(&ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]),
        "privileged",
        "hostPID, hostPath and capabilities need the privileged Pod Security level"
    );
    for d in &docs {
        if ystr(&d["kind"]) != "Namespace" {
            assert_eq!(
                ystr(&d["metadata"]["namespace"]),
                "ebpf-jsonl",
                "{:?}",
                d["metadata"]
            );
        }
    }

    let mut outputs = Vec::new();
    for (name, caps, host_flag) in [
        (
            "ebpf-jsonl-exec",
            // cgroup paths need nothing more (the kernel's names).
            &["BPF", "PERFMON"][..],
            "hostPID",
        ),
        (
            "ebpf-jsonl-xdp",
            &["BPF", "PERFMON", "NET_ADMIN"][..],
            "hostNetwork",
        ),
    ] {
        let ds = find("DaemonSet", name);
        let labels = &ds["spec"]["template"]["metadata"]["labels"];
        let selector = ds["spec"]["selector"]["matchLabels"]
            .as_mapping()
            .expect("matchLabels");
        for (k, v) in selector {
            assert_eq!(
                &labels[k], v,
                "{name}: selector label {k:?} not on the pod template"
            );
        }
        let pod = &ds["spec"]["template"]["spec"];
        assert_eq!(pod[host_flag].as_bool(), Some(true), "{name}: {host_flag}");
        let volumes: HashMap<&str, &serde_yaml::Value> = yseq(&pod["volumes"])
            .iter()
            .map(|v| (ystr(&v["name"]), v))
            .collect();
        for c in yseq(&pod["containers"]) {
            for m in yseq(&c["volumeMounts"]) {
                assert!(
                    volumes.contains_key(ystr(&m["name"])),
                    "{name}: mount {:?} names no volume",
                    m["name"]
                );
            }
        }
        let c = yseq(&pod["containers"])
            .iter()
            .find(|c| ystr(&c["name"]) == "ebpf-jsonl")
            .unwrap_or_else(|| panic!("{name}: no container ebpf-jsonl"));
        let sc = &c["securityContext"];
        assert_ne!(sc["privileged"].as_bool(), Some(true), "{name}: privileged");
        assert_eq!(
            ystrs(&sc["capabilities"]["drop"]),
            ["ALL"],
            "{name}: drop ALL"
        );
        let added = ystrs(&sc["capabilities"]["add"]);
        assert_eq!(added, caps, "{name}: capabilities.add");
        let argv = ystrs(&c["command"]);
        assert_eq!(
            argv.first().copied(),
            Some("/usr/local/bin/ebpf-jsonl"),
            "{name}"
        );
        assert_eq!(
            argv.get(1).copied(),
            name.strip_prefix("ebpf-jsonl-"),
            "{name}"
        );
        if name == "ebpf-jsonl-exec" {
            assert!(
                argv.contains(&"--exits"),
                "{name}: exits too, for the pairs"
            );
        }
        let out = after(&argv, "--output").unwrap_or_else(|| panic!("{name}: no --output"));
        assert!(
            out.starts_with("/var/log/ebpf-jsonl/"),
            "{name}: --output {out}"
        );
        let mounts: HashMap<&str, &serde_yaml::Value> = yseq(&c["volumeMounts"])
            .iter()
            .map(|m| (ystr(&m["mountPath"]), m))
            .collect();
        let out_mount = mounts
            .get("/var/log/ebpf-jsonl")
            .expect("the output directory mounted");
        let out_vol = volumes[ystr(&out_mount["name"])];
        assert_eq!(
            ystr(&out_vol["hostPath"]["path"]),
            "/var/log/ebpf-jsonl",
            "{name}"
        );
        let mut host_ro = vec!["/sys/kernel/btf"];
        if name == "ebpf-jsonl-exec" {
            host_ro.push("/sys/fs/cgroup");
        }
        for path in host_ro {
            let m = mounts
                .get(path)
                .unwrap_or_else(|| panic!("{name}: {path} not mounted"));
            assert_eq!(
                m["readOnly"].as_bool(),
                Some(true),
                "{name}: {path} read-only"
            );
            let v = volumes[ystr(&m["name"])];
            assert_eq!(
                ystr(&v["hostPath"]["path"]),
                path,
                "{name}: {path} from the host"
            );
        }
        outputs.push(out.to_string());
    }
    assert_eq!(
        outputs,
        [
            "/var/log/ebpf-jsonl/exec.jsonl",
            "/var/log/ebpf-jsonl/counts.jsonl"
        ]
    );

    // The Vector container reads both outputs through the ConfigMap's config.
    let pod = &find("DaemonSet", "ebpf-jsonl-exec")["spec"]["template"]["spec"];
    let vector = yseq(&pod["containers"])
        .iter()
        .find(|c| ystr(&c["name"]) == "vector")
        .expect("a vector container");
    let config_path = after(&ystrs(&vector["args"]), "--config").expect("vector --config");
    let mut config = None;
    for m in yseq(&vector["volumeMounts"]) {
        let vol = yseq(&pod["volumes"])
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        let mount_path = ystr(&m["mountPath"]);
        if mount_path == "/var/log/ebpf-jsonl" {
            assert_eq!(
                m["readOnly"].as_bool(),
                Some(true),
                "vector: output read-only"
            );
        }
        if let Some(key) = config_path.strip_prefix(&format!("{mount_path}/")) {
            let cm = find("ConfigMap", ystr(&vol["configMap"]["name"]));
            config = Some(ystr(&cm["data"][key]).to_string());
        }
    }
    let config = config.expect("vector's --config comes from a mounted ConfigMap");
    let cfg = parse_toml("daemonset.yaml ConfigMap vector.toml", &config);
    assert_eq!(check_vector("daemonset.yaml vector.toml", &cfg), ["file"]);
    let include = toml_strs(&cfg, "sources.ebpf_files.include");
    for out in &outputs {
        assert!(
            include.contains(out),
            "vector does not read {out}: {include:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Fluent Bit (classic .conf)

#[derive(Debug)]
struct Section {
    name: String,
    entries: Vec<(String, String)>,
}

impl Section {
    /// Keys are case-insensitive in Fluent Bit.
    fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Fluent Bit's classic format: `[SECTION]` at column 0, then `Key Value` lines all
/// indented alike (the first key line sets the indentation), `#` comments, `@INCLUDE`
/// and `@SET` directives.
fn parse_fluent_bit(p: &Path) -> Vec<Section> {
    const KNOWN: &str = "\
        SERVICE INPUT FILTER OUTPUT PARSER MULTILINE_PARSER PLUGINS UPSTREAM NODE
        STREAM_TASK CUSTOM";
    let text = read(p);
    let mut indent: Option<String> = None;
    let mut sections: Vec<Section> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", rel(p), i + 1);
        assert!(!line.contains('\t'), "{at}: a tab (indent with spaces)");
        assert_eq!(line.trim_end(), line, "{at}: trailing whitespace");
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('@') {
            assert!(
                line.starts_with("@INCLUDE ") || line.starts_with("@SET "),
                "{at}: unknown directive"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .unwrap_or_else(|| panic!("{at}: bad section header"));
            assert!(
                KNOWN
                    .split_whitespace()
                    .any(|k| k.eq_ignore_ascii_case(name)),
                "{at}: unknown section [{name}]"
            );
            if let Some(prev) = sections.last() {
                assert!(
                    !prev.entries.is_empty(),
                    "{at}: [{}] before it has no keys",
                    prev.name
                );
            }
            sections.push(Section {
                name: name.to_ascii_uppercase(),
                entries: Vec::new(),
            });
            continue;
        }
        let body = line.trim_start();
        let lead = &line[..line.len() - body.len()];
        assert!(!lead.is_empty(), "{at}: a key line must be indented");
        let indent = indent.get_or_insert_with(|| lead.to_string());
        assert_eq!(lead, indent, "{at}: indented unlike the first key line");
        if body.starts_with('#') {
            continue;
        }
        let (key, value) = body
            .split_once(' ')
            .unwrap_or_else(|| panic!("{at}: `Key Value` expected"));
        assert!(
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
            "{at}: bad key `{key}`"
        );
        let value = value.trim();
        assert!(!value.is_empty(), "{at}: `{key}` has no value");
        let section = sections
            .last_mut()
            .unwrap_or_else(|| panic!("{at}: key outside a section"));
        section.entries.push((key.to_string(), value.to_string()));
    }
    let last = sections
        .last()
        .unwrap_or_else(|| panic!("{}: no sections", rel(p)));
    assert!(
        !last.entries.is_empty(),
        "{}: [{}] has no keys",
        rel(p),
        last.name
    );
    sections
}

/// Fluent Bit's Match: `*` matches any run of characters.
fn tag_matches(pattern: &str, tag: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == tag,
        Some((head, rest)) => {
            tag.starts_with(head)
                && (0..=tag.len() - head.len()).any(|i| tag_matches(rest, &tag[head.len() + i..]))
        }
    }
}

const FLUENT_BIT_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%L%z";

#[test]
fn fluent_bit_configs() {
    let mut parsers: HashMap<String, Vec<Section>> = HashMap::new();
    let confs = with_ext("conf");
    for p in &confs {
        parsers.insert(file_name(p).to_string(), parse_fluent_bit(p));
    }
    for p in &confs {
        let conf = &parsers[file_name(p)];
        let what = rel(p);
        let parser_names: Vec<String> = conf
            .iter()
            .filter(|s| s.name == "SERVICE")
            .filter_map(|s| s.get("Parsers_File"))
            .flat_map(|f| {
                let file = p.parent().unwrap().join(f);
                assert!(file.exists(), "{what}: Parsers_File {f} not next to it");
                parse_fluent_bit(&file)
            })
            .filter(|s| s.name == "PARSER")
            .map(|s| s.get("Name").unwrap().to_string())
            .collect();
        let matches: Vec<&str> = conf
            .iter()
            .filter(|s| s.name == "OUTPUT" || s.name == "FILTER")
            .map(|s| {
                s.get("Match")
                    .unwrap_or_else(|| panic!("{what}: [{}] without Match", s.name))
            })
            .collect();
        for s in conf {
            match s.name.as_str() {
                "INPUT" | "OUTPUT" | "FILTER" => {
                    assert!(s.get("Name").is_some(), "{what}: [{}] without Name", s.name)
                }
                "PARSER" => {
                    assert!(
                        s.get("Name").is_some() && s.get("Format").is_some(),
                        "{what}: {s:?}"
                    )
                }
                _ => {}
            }
            if s.name == "INPUT" {
                let tag = s
                    .get("Tag")
                    .unwrap_or_else(|| panic!("{what}: input without Tag"));
                assert!(
                    matches.iter().any(|m| tag_matches(m, tag)),
                    "{what}: no output matches tag {tag}"
                );
                if let Some(parser) = s.get("Parser") {
                    assert!(
                        parser_names.iter().any(|n| n == parser),
                        "{what}: parser {parser} is not defined in its Parsers_File"
                    );
                }
            }
        }
    }

    // The parser that takes the event time from `timestamp`, exactly as the notes say.
    let parser = parsers["parsers.conf"]
        .iter()
        .find(|s| s.name == "PARSER" && s.get("Name") == Some("ebpf_jsonl"))
        .expect("parsers.conf: [PARSER] ebpf_jsonl");
    assert_eq!(parser.get("Format"), Some("json"));
    assert_eq!(parser.get("Time_Key"), Some("timestamp"));
    assert_eq!(parser.get("Time_Format"), Some(FLUENT_BIT_TIME_FORMAT));
    assert!(parser
        .get("Time_Keep")
        .is_some_and(|v| v.eq_ignore_ascii_case("on")));

    let tail_paths: Vec<&str> = parsers["tail.conf"]
        .iter()
        .filter(|s| s.name == "INPUT")
        .map(|s| {
            assert_eq!(s.get("Name"), Some("tail"));
            assert_eq!(
                s.get("Parser"),
                Some("ebpf_jsonl"),
                "tail.conf: every input parsed"
            );
            s.get("Path").unwrap()
        })
        .collect();
    for unit in units() {
        let out = unit.output();
        assert!(
            tail_paths.contains(&out.as_str()),
            "tail.conf does not read {out}"
        );
    }

    // stdin: no parser (with one, more than one waiting line yields nothing).
    let stdin: Vec<&Section> = parsers["stdin.conf"]
        .iter()
        .filter(|s| s.name == "INPUT")
        .collect();
    assert_eq!(stdin.len(), 1);
    assert_eq!(stdin[0].get("Name"), Some("stdin"));
    assert_eq!(
        stdin[0].get("Parser"),
        None,
        "stdin.conf: no parser on the stdin input"
    );
}

// ---------------------------------------------------------------------------------------
// systemd units and logrotate

/// Directives a unit here may use, per section: a typo is an error, as in
/// `systemd-analyze verify` (which is not installed everywhere this test runs).
const UNIT_KEYS: &str = "\
    Description Documentation After Before Wants Requires BindsTo PartOf Conflicts
    ConditionPathExists AssertPathExists StartLimitIntervalSec StartLimitBurst
";
const SERVICE_KEYS: &str = "\
    Type ExecStart ExecStartPre ExecReload ExecStop KillSignal KillMode TimeoutStopSec
    TimeoutStartSec Restart RestartSec RestartPreventExitStatus SuccessExitStatus User Group
    DynamicUser SupplementaryGroups CapabilityBoundingSet AmbientCapabilities
    NoNewPrivileges LimitMEMLOCK LimitNOFILE StandardOutput StandardError LogsDirectory
    LogsDirectoryMode StateDirectory RuntimeDirectory UMask ProtectSystem ReadWritePaths
    ReadOnlyPaths InaccessiblePaths ProtectHome PrivateTmp PrivateDevices PrivateMounts
    PrivateNetwork PrivateUsers ProtectKernelTunables ProtectKernelModules ProtectKernelLogs
    ProtectControlGroups ProtectClock ProtectHostname ProtectProc ProcSubset
    RestrictAddressFamilies IPAddressDeny IPAddressAllow RestrictNamespaces RestrictRealtime
    RestrictSUIDSGID LockPersonality MemoryDenyWriteExecute RemoveIPC
    SystemCallArchitectures SystemCallFilter SystemCallErrorNumber DevicePolicy DeviceAllow
    MemoryMax CPUQuota Nice Environment
";
const INSTALL_KEYS: &str = "\
    WantedBy RequiredBy Alias Also
";

struct Unit {
    file: String,
    sections: BTreeMap<String, Vec<(String, String)>>,
}

impl Unit {
    fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.sections
            .get(section)
            .map(|e| {
                e.iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last assignment wins, as in systemd.
    fn get(&self, key: &str) -> Option<&str> {
        self.all("Service", key).last().copied()
    }

    fn words(&self, key: &str) -> BTreeSet<&str> {
        self.all("Service", key)
            .iter()
            .flat_map(|v| v.split_whitespace())
            .collect()
    }

    fn argv(&self) -> Vec<&str> {
        self.get("ExecStart").unwrap().split_whitespace().collect()
    }

    fn output(&self) -> String {
        after(&self.argv(), "--output")
            .unwrap_or_else(|| panic!("{}: ExecStart without --output", self.file))
            .to_string()
    }
}

fn parse_unit(p: &Path) -> Unit {
    let text = read(p);
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", rel(p), i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        assert!(!line.ends_with('\\'), "{at}: no continuation lines, please");
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            assert!(
                ["Unit", "Service", "Install"].contains(&name),
                "{at}: unexpected section [{name}]"
            );
            assert!(!sections.contains_key(name), "{at}: [{name}] twice");
            sections.insert(name.to_string(), Vec::new());
            current = Some(name.to_string());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{at}: `Key=Value` expected"));
        let section = current
            .as_deref()
            .unwrap_or_else(|| panic!("{at}: key before a section"));
        let known = match section {
            "Unit" => UNIT_KEYS,
            "Service" => SERVICE_KEYS,
            _ => INSTALL_KEYS,
        };
        assert!(
            known.split_whitespace().any(|k| k == key),
            "{at}: unknown key {key} in [{section}]"
        );
        assert!(!value.trim().is_empty(), "{at}: {key} has no value");
        sections
            .get_mut(section)
            .unwrap()
            .push((key.to_string(), value.trim().to_string()));
    }
    for s in ["Unit", "Service", "Install"] {
        assert!(sections.contains_key(s), "{}: no [{s}]", rel(p));
    }
    Unit {
        file: rel(p),
        sections,
    }
}

fn units() -> Vec<Unit> {
    with_ext("service").iter().map(|p| parse_unit(p)).collect()
}

fn is_yes(v: Option<&str>) -> bool {
    matches!(v, Some("yes" | "true" | "on" | "1"))
}

#[test]
fn systemd_units() {
    let units = units();
    let names: Vec<&str> = units
        .iter()
        .map(|u| u.file.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["ebpf-jsonl-exec.service", "ebpf-jsonl-xdp.service"]);
    for u in &units {
        let f = &u.file;
        let argv = u.argv();
        assert_eq!(argv[0], "/usr/local/bin/ebpf-jsonl", "{f}");
        // exec's cgroup paths need nothing more (the kernel's names), so no
        // CAP_DAC_READ_SEARCH: that would be more than it needs.
        let (needed, sub) = if argv[1] == "exec" {
            (&["CAP_BPF", "CAP_PERFMON"][..], "exec")
        } else {
            (&["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"][..], "xdp")
        };
        assert_eq!(argv[1], sub, "{f}");
        assert!(
            f.ends_with(&format!("ebpf-jsonl-{sub}.service")),
            "{f} runs {sub}"
        );

        // Only the capabilities it needs (CAP_SYS_RESOURCE allowed), granted as ambient too.
        let bounding = u.words("CapabilityBoundingSet");
        assert_eq!(
            bounding,
            u.words("AmbientCapabilities"),
            "{f}: bounding vs ambient"
        );
        for c in needed {
            assert!(bounding.contains(c), "{f}: lacks {c}");
        }
        for c in &bounding {
            assert!(
                needed.contains(c) || *c == "CAP_SYS_RESOURCE",
                "{f}: {c} is more than it needs"
            );
        }
        for key in ["NoNewPrivileges", "PrivateTmp", "ProtectHome"] {
            assert!(is_yes(u.get(key)), "{f}: {key}=yes");
        }
        assert_eq!(u.get("ProtectSystem"), Some("strict"), "{f}");
        assert_eq!(u.get("Restart"), Some("on-failure"), "{f}");
        assert_eq!(u.get("ExecReload"), Some("/bin/kill -HUP $MAINPID"), "{f}");
        assert_eq!(u.all("Install", "WantedBy"), ["multi-user.target"], "{f}");

        // The output file is in the log directory, the only writable path.
        let out = u.output();
        let dir = out.rsplit_once('/').unwrap().0;
        assert_eq!(dir, "/var/log/ebpf-jsonl", "{f}");
        assert_eq!(u.get("LogsDirectory"), Some("ebpf-jsonl"), "{f}");
        assert_eq!(u.get("ReadWritePaths"), Some(dir), "{f}");
        // ebpf-jsonl creates it 0640: the umask must leave the group's read bit.
        let umask = u
            .get("UMask")
            .map(|m| u32::from_str_radix(m, 8).unwrap())
            .unwrap_or(0o022);
        assert_eq!(umask & 0o040, 0, "{f}: UMask takes away group read");

        // Protections that would break loading BPF or resolving cgroups.
        assert!(
            !is_yes(u.get("PrivateUsers")),
            "{f}: PrivateUsers: capabilities in a userns"
        );
        // cgroup paths come from the kernel's names, whatever the service's
        // cgroup namespace: any ProtectControlGroups will do, and is set.
        assert!(
            is_yes(u.get("ProtectControlGroups"))
                || matches!(u.get("ProtectControlGroups"), Some("private" | "strict")),
            "{f}: ProtectControlGroups"
        );
        assert_ne!(
            u.get("ProcSubset"),
            Some("pid"),
            "{f}: ProcSubset=pid hides /proc/mounts"
        );
        if sub == "xdp" {
            assert!(
                !is_yes(u.get("PrivateNetwork")),
                "{f}: xdp needs the host's interfaces"
            );
        }
        let filter = u.words("SystemCallFilter");
        if !filter.is_empty() {
            for call in ["bpf", "perf_event_open"] {
                assert!(filter.contains(call), "{f}: SystemCallFilter lacks {call}");
            }
            // open_by_handle_at is of use only with CAP_DAC_READ_SEARCH.
            assert_eq!(
                filter.contains("open_by_handle_at"),
                bounding.contains("CAP_DAC_READ_SEARCH"),
                "{f}: SystemCallFilter names open_by_handle_at iff CAP_DAC_READ_SEARCH is held"
            );
        }
    }
    assert_eq!(
        units[0].get("ExecStart"),
        Some("/usr/local/bin/ebpf-jsonl exec --exits --output /var/log/ebpf-jsonl/exec.jsonl")
    );
}

struct Rotation {
    paths: Vec<String>,
    directives: Vec<String>,
    postrotate: Vec<String>,
}

const LOGROTATE_KEYS: &str = "\
    hourly daily weekly monthly yearly rotate size minsize maxsize maxage missingok
    nomissingok notifempty ifempty create nocreate compress nocompress delaycompress
    nodelaycompress compresscmd compressext compressoptions dateext nodateext dateformat
    sharedscripts nosharedscripts su olddir copytruncate nocopytruncate copy nocopy
";

fn parse_logrotate(p: &Path) -> Vec<Rotation> {
    let text = read(p);
    let mut blocks = Vec::new();
    let mut current: Option<Rotation> = None;
    let mut in_script = false;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", rel(p), i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if in_script {
            if line == "endscript" {
                in_script = false;
            } else {
                current.as_mut().unwrap().postrotate.push(line.to_string());
            }
            continue;
        }
        if let Some(paths) = line.strip_suffix('{') {
            assert!(current.is_none(), "{at}: a block inside a block");
            let paths: Vec<String> = paths.split_whitespace().map(String::from).collect();
            assert!(!paths.is_empty(), "{at}: a block needs a path");
            current = Some(Rotation {
                paths,
                directives: Vec::new(),
                postrotate: Vec::new(),
            });
            continue;
        }
        if line == "}" {
            blocks.push(
                current
                    .take()
                    .unwrap_or_else(|| panic!("{at}: `}}` outside a block")),
            );
            continue;
        }
        let block = current
            .as_mut()
            .unwrap_or_else(|| panic!("{at}: directive outside a block"));
        let word = line.split_whitespace().next().unwrap();
        if word == "postrotate" {
            assert_eq!(line, "postrotate", "{at}");
            in_script = true;
            continue;
        }
        assert!(
            LOGROTATE_KEYS.split_whitespace().any(|k| k == word),
            "{at}: unknown directive {word}"
        );
        block.directives.push(line.to_string());
    }
    assert!(
        current.is_none() && !in_script,
        "{}: unclosed block or script",
        rel(p)
    );
    assert!(!blocks.is_empty(), "{}: no blocks", rel(p));
    blocks
}

#[test]
fn logrotate_reopens_by_sighup() {
    let units = units();
    let mut rotated = BTreeSet::new();
    for p in with_ext("logrotate") {
        for b in parse_logrotate(&p) {
            let what = format!("{} {:?}", rel(&p), b.paths);
            assert!(
                !b.directives
                    .iter()
                    .any(|d| d == "copytruncate" || d.starts_with("create")),
                "{what}: ebpf-jsonl reopens its file on SIGHUP: no copytruncate, no create"
            );
            assert_eq!(b.postrotate.len(), 1, "{what}: one postrotate command");
            let cmd = &b.postrotate[0];
            let unit_name = cmd
                .strip_prefix("systemctl kill -s HUP ")
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| {
                    panic!("{what}: postrotate should be systemctl kill -s HUP UNIT")
                });
            let unit = units
                .iter()
                .find(|u| u.file.ends_with(&format!("/{unit_name}")))
                .unwrap_or_else(|| panic!("{what}: no examples/systemd/{unit_name}"));
            assert_eq!(
                b.paths,
                [unit.output()],
                "{what}: {unit_name} writes another file"
            );
            rotated.extend(b.paths);
        }
    }
    let outputs: BTreeSet<String> = units.iter().map(|u| u.output()).collect();
    assert_eq!(rotated, outputs, "every unit's output is rotated");
}

// ---------------------------------------------------------------------------------------
// jq recipes on the recorded data

/// Runs a recipe exactly as its `# run:` line says, from the repository's root.
fn run_recipe(p: &Path) -> Vec<Value> {
    let name = file_name(p);
    let text = read(p);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# run:"))
        .unwrap_or_else(|| panic!("{name}: no `# run: jq ...` comment line"));
    let argv: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(argv[0], "jq", "{name}: the run line must start with jq");
    assert!(
        argv.contains(&format!("examples/jq/{name}").as_str()),
        "{name}: runs another file"
    );
    let out = Command::new("jq")
        .args(&argv[1..])
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run jq ({e}): install it (./dev.sh deps does)"));
    assert!(
        out.status.success(),
        "{name}: jq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {l}: {e}")))
        .collect()
}

/// What each recipe prints, line for line (compared as JSON values).
fn expected_output(recipe: &str) -> &'static str {
    match recipe {
        "top-talkers.jq" => {
            r#"
{"src_ip":"198.51.100.23","packets":2780,"bytes":3980591}
{"src_ip":"203.0.113.50","packets":1598,"bytes":2357344}
{"src_ip":"10.0.0.2","packets":36,"bytes":5112}
{"src_ip":"10.0.0.9","packets":10,"bytes":1420}
{"src_ip":"2001:db8::17","packets":10,"bytes":888}
{"src_ip":"10.0.0.53","packets":3,"bytes":426}
{"src_ip":"192.0.2.7","packets":3,"bytes":294}
{"src_ip":"fe80::5054:ff:fe12:3456","packets":1,"bytes":86}
"#
        }
        "execs-per-container.jq" => {
            r#"
{"container":"host","execs":5}
{"container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","execs":4}
{"container":"9e3b7f21c4d85a60b1e2f3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8","execs":3}
"#
        }
        // In the order the processes ended. The python3 worker is still running and the
        // php-fpm worker's exec was never seen, so neither is paired.
        "exec-exit-pairs.jq" => {
            r#"
{"exec_id":"30218-4964791447326","container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","comm":"curl","args":["curl","-fsS","http://localhost:8080/healthz"],"exit_code":0,"signal":null,"duration_ns":24118337}
{"exec_id":"30215-4964789979168","container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","comm":"sh","args":["/bin/sh","-c","curl -fsS http://localhost:8080/healthz || exit 1"],"exit_code":0,"signal":null,"duration_ns":27340882}
{"exec_id":"30240-4965468380027","container":"host","comm":"ls","args":["ls","-la","--color=auto","/etc/ssl/private"],"exit_code":2,"signal":null,"duration_ns":2918664}
{"exec_id":"30232-4965297859029","container":"9e3b7f21c4d85a60b1e2f3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8","comm":"git-remote-http","args":["git-remote-https","origin","https://git.example.com/acme/reports.git"],"exit_code":128,"signal":null,"duration_ns":391004873}
{"exec_id":"30231-4965290659083","container":"9e3b7f21c4d85a60b1e2f3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8","comm":"git","args":["git","clone","--depth","1","https://git.example.com/acme/reports.git","/tmp/job-8812"],"exit_code":128,"signal":null,"duration_ns":402877561}
{"exec_id":"30246-4965792954023","container":"host","comm":"printf","args":["printf","%s|","a b","","café"],"exit_code":0,"signal":null,"duration_ns":1377450}
{"exec_id":"30220-4964822151451","container":"host","comm":"tar","args":["tar","-czf","/var/backups/etc-2026-11-25.tar.gz","/etc"],"exit_code":0,"signal":null,"duration_ns":1289554310}
{"exec_id":"30212-4964713291384","container":"host","comm":"backup.sh","args":["/bin/sh","/usr/local/bin/backup.sh","--quiet"],"exit_code":0,"signal":null,"duration_ns":1405911042}
{"exec_id":"30211-4964711869120","container":"host","comm":"sh","args":["/bin/sh","-c","/usr/local/bin/backup.sh --quiet"],"exit_code":0,"signal":null,"duration_ns":1408227115}
{"exec_id":"30254-4966791430054","container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","comm":"curl","args":["curl","-fsS","http://localhost:8080/healthz"],"exit_code":137,"signal":"SIGKILL","duration_ns":3000118551}
{"exec_id":"30251-4966789965452","container":"4c0f1d2e9b7a3c5d8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc","comm":"sh","args":["/bin/sh","-c","curl -fsS http://localhost:8080/healthz || exit 1"],"exit_code":1,"signal":null,"duration_ns":3004227906}
"#
        }
        other => panic!("examples/jq/{other}: add its expected output to tests/examples.rs"),
    }
}

#[test]
fn jq_recipes_on_recorded_data() {
    let recipes = with_ext("jq");
    assert_eq!(recipes.len(), 3, "{recipes:?}");
    for p in recipes {
        let name = file_name(&p);
        let expected: Vec<Value> = expected_output(name)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(run_recipe(&p), expected, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// The recorded data: exact records

const EXEC: &str = "\
    type timestamp pid tid ppid uid gid comm filename args args_truncated args_size ret
    error exec_id
    cgroup_id cgroup container_id mntns pidns
";
const EXIT: &str = "\
    type timestamp pid ppid uid comm exit_code signal core_dumped duration_ns exec_id
";
const LOST: &str = "\
    type timestamp count reason
";
const XDP_STATS: &str = "\
    type timestamp iface packets bytes flows untracked_packets untracked_bytes
    excluded_packets excluded_bytes non_ip_packets non_ip_bytes malformed_packets
    malformed_bytes
";

fn flow_fields(proto: &str) -> Vec<&'static str> {
    let mut f = vec!["type", "timestamp", "iface", "proto", "src_ip"];
    match proto {
        "tcp" | "udp" => f.extend(["src_port", "dst_ip", "dst_port"]),
        "icmp" | "icmpv6" => f.extend(["dst_ip", "icmp_type", "icmp_code"]),
        _ => f.push("dst_ip"),
    }
    f.extend(["packets", "bytes"]);
    f
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` → nanoseconds since the epoch.
fn wall_ns(ts: &str) -> i128 {
    let b = ts.as_bytes();
    let shape_ok = b.len() == 30
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            29 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(
        shape_ok,
        "timestamp {ts}: not RFC 3339 UTC with 9 fractional digits and Z"
    );
    let n = |a: usize, b: usize| ts[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    assert!((1..=12).contains(&m) && (1..=31).contains(&d), "{ts}");
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    secs as i128 * 1_000_000_000 + n(20, 29) as i128
}

/// `"PID-NS"` → (pid, boot-time ns).
fn exec_id(v: &Value) -> (u64, i128) {
    let s = v.as_str().expect("exec_id is a string");
    let (pid, ns) = s.split_once('-').unwrap_or_else(|| panic!("exec_id {s}"));
    (pid.parse().unwrap(), ns.parse().unwrap())
}

fn uint(v: &Value, key: &str, max: u64) -> u64 {
    let n = v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an unsigned integer: {v}"));
    assert!(n <= max, "{key} = {n} is out of range");
    n
}

fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string: {v}"))
}

fn signal_number(name: &str) -> Option<u64> {
    let n = match name {
        "SIGHUP" => 1,
        "SIGINT" => 2,
        "SIGQUIT" => 3,
        "SIGABRT" => 6,
        "SIGKILL" => 9,
        "SIGSEGV" => 11,
        "SIGPIPE" => 13,
        "SIGTERM" => 15,
        _ => return None,
    };
    Some(n)
}

/// Checks one line against its record type's contract, field order included.
fn check_record(line: &str) -> Value {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let ty = v["type"]
        .as_str()
        .unwrap_or_else(|| panic!("no type: {line}"));
    let fields: Vec<&str> = match ty {
        "exec" => EXEC.split_whitespace().collect(),
        "exit" => EXIT.split_whitespace().collect(),
        "lost" => LOST.split_whitespace().collect(),
        "xdp_stats" => XDP_STATS.split_whitespace().collect(),
        "flow" => flow_fields(string(&v, "proto")),
        other => panic!("unknown record type {other}: {line}"),
    };
    let have: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = fields.iter().copied().collect();
    assert_eq!(have, want, "fields of a {ty} record: {line}");
    // Compact, in the contract's order: what serde_json prints for the tool.
    let rebuilt: Vec<String> = fields
        .iter()
        .map(|k| format!("{}:{}", json!(k), serde_json::to_string(&v[*k]).unwrap()))
        .collect();
    assert_eq!(
        format!("{{{}}}", rebuilt.join(",")),
        line,
        "field order or spacing"
    );
    wall_ns(string(&v, "timestamp"));

    let u32max = u32::MAX as u64;
    match ty {
        "exec" => {
            for k in ["pid", "tid", "ppid", "uid", "gid", "mntns", "pidns"] {
                uint(&v, k, u32max);
            }
            uint(&v, "cgroup_id", u64::MAX);
            assert!(
                string(&v, "comm").len() <= 15,
                "comm is at most 15 bytes: {line}"
            );
            string(&v, "filename");
            let args = v["args"].as_array().expect("args is an array");
            assert!(args.iter().all(Value::is_string), "{line}");
            assert!(v["args_truncated"].is_boolean(), "{line}");
            let ret = v["ret"].as_i64().expect("ret");
            assert_eq!(
                ret == 0,
                v["error"].is_null(),
                "ret and error agree: {line}"
            );
            assert!(ret <= 0, "{line}");
            assert_eq!(exec_id(&v["exec_id"]).0, uint(&v, "pid", u32max), "{line}");
            match (&v["cgroup"], &v["container_id"]) {
                (Value::String(cg), Value::String(id)) => {
                    assert!(
                        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{line}"
                    );
                    assert!(
                        cg.contains(id.as_str()),
                        "the cgroup path names the container: {line}"
                    );
                }
                (Value::String(cg), Value::Null) => assert!(cg.starts_with('/'), "{line}"),
                (Value::Null, Value::Null) => {}
                _ => panic!("cgroup/container_id: {line}"),
            }
        }
        "exit" => {
            for k in ["pid", "ppid", "uid"] {
                uint(&v, k, u32max);
            }
            assert!(string(&v, "comm").len() <= 15, "{line}");
            let code = uint(&v, "exit_code", 255);
            uint(&v, "duration_ns", u64::MAX);
            assert!(v["core_dumped"].is_boolean(), "{line}");
            match &v["signal"] {
                Value::Null => assert_eq!(v["core_dumped"], false, "{line}"),
                Value::String(s) => {
                    assert!(s.starts_with("SIG"), "{line}");
                    if let Some(n) = signal_number(s) {
                        assert_eq!(code, 128 + n, "a killed process exits 128 + signal: {line}");
                    }
                }
                _ => panic!("signal: {line}"),
            }
            assert_eq!(exec_id(&v["exec_id"]).0, uint(&v, "pid", u32max), "{line}");
        }
        "lost" => {
            assert!(uint(&v, "count", u64::MAX) > 0, "{line}");
            assert!(
                ["ringbuf_full", "consumer_slow"].contains(&string(&v, "reason")),
                "{line}"
            );
        }
        "flow" => {
            let proto = string(&v, "proto");
            let src: IpAddr = string(&v, "src_ip").parse().expect("src_ip");
            let dst: IpAddr = string(&v, "dst_ip").parse().expect("dst_ip");
            assert_eq!(src.is_ipv4(), dst.is_ipv4(), "{line}");
            match proto {
                "tcp" | "udp" => {
                    uint(&v, "src_port", 65535);
                    uint(&v, "dst_port", 65535);
                }
                "icmp" | "icmpv6" => {
                    assert_eq!(
                        proto == "icmp",
                        src.is_ipv4(),
                        "icmp is v4, icmpv6 is v6: {line}"
                    );
                    uint(&v, "icmp_type", 255);
                    uint(&v, "icmp_code", 255);
                }
                n => {
                    let n: u8 = n.parse().unwrap_or_else(|_| panic!("proto {n}: {line}"));
                    assert!(![6, 17].contains(&n), "tcp and udp go by name: {line}");
                }
            }
            assert!(
                uint(&v, "packets", u64::MAX) > 0,
                "a flow record is for a flow that moved"
            );
            uint(&v, "bytes", u64::MAX);
        }
        _ => {
            for k in XDP_STATS.split_whitespace().skip(3) {
                uint(&v, k, u64::MAX);
            }
        }
    }
    string(&v, "type");
    v
}

fn records(name: &str) -> Vec<Value> {
    read(&repo().join("examples/data").join(name))
        .lines()
        .map(check_record)
        .collect()
}

#[test]
fn recorded_data_has_exact_records() {
    let names: Vec<String> = with_ext("jsonl")
        .iter()
        .map(|p| file_name(p).to_string())
        .collect();
    assert_eq!(names, ["counts.jsonl", "exec.jsonl"]);
    for n in &names {
        records(n);
    }
}

#[test]
fn recorded_execs_are_consistent() {
    let recs = records("exec.jsonl");
    let mut last = i128::MIN;
    let mut boot: Option<i128> = None;
    let mut execs: HashMap<String, &Value> = HashMap::new();
    let (mut paired, mut unpaired, mut lost) = (0, 0, 0);
    let mut containers = BTreeSet::new();
    for r in &recs {
        let t = wall_ns(string(r, "timestamp"));
        assert!(t >= last, "records in time order: {r}");
        last = t;
        match string(r, "type") {
            "exec" => {
                // Every exec's timestamp is its boot-time ns plus one boot time.
                let (_, ns) = exec_id(&r["exec_id"]);
                let b = *boot.get_or_insert(t - ns);
                assert!(
                    (t - ns - b).abs() < 10_000_000,
                    "timestamp and exec_id disagree: {r}"
                );
                let id = string(r, "exec_id").to_string();
                assert!(execs.insert(id, r).is_none(), "exec_id repeats: {r}");
                containers.insert(r["container_id"].as_str().unwrap_or("host").to_string());
            }
            "exit" => {
                let fork = t - uint(r, "duration_ns", u64::MAX) as i128;
                match execs.get(string(r, "exec_id")) {
                    Some(e) => {
                        assert!(
                            fork <= wall_ns(string(e, "timestamp")),
                            "forked after its exec: {r}"
                        );
                        for k in ["pid", "ppid", "uid", "comm"] {
                            assert_eq!(r[k], e[k], "{k} differs from the exec's: {r}");
                        }
                        paired += 1;
                    }
                    None => {
                        // Not seen exec'ing: the exec_id is the pid and its fork time.
                        let b = boot.expect("an exec first, to know the boot time");
                        let (_, ns) = exec_id(&r["exec_id"]);
                        assert!(
                            (b + ns - fork).abs() < 10_000_000,
                            "exec_id is not the fork time: {r}"
                        );
                        unpaired += 1;
                    }
                }
            }
            "lost" => lost += 1,
            other => panic!("exec.jsonl holds a {other} record"),
        }
    }
    assert!(
        paired >= 5 && unpaired >= 1 && lost >= 1,
        "{paired} {unpaired} {lost}"
    );
    assert_eq!(
        containers.len(),
        3,
        "two containers and the host: {containers:?}"
    );
}

#[test]
fn recorded_counts_add_up() {
    let recs = records("counts.jsonl");
    assert_eq!(
        string(recs.last().unwrap(), "type"),
        "xdp_stats",
        "ends with an interval's totals"
    );
    let mut interval: Vec<&Value> = Vec::new();
    let (mut packets, mut bytes, mut intervals) = (0u64, 0u64, 0);
    let mut last_stats: Option<&Value> = None;
    for r in &recs {
        match string(r, "type") {
            "flow" => interval.push(r),
            "xdp_stats" => {
                intervals += 1;
                let t = string(r, "timestamp");
                assert!(!interval.is_empty(), "an interval without flows: {r}");
                for f in &interval {
                    assert_eq!(
                        string(f, "timestamp"),
                        t,
                        "a flow's timestamp is its interval's end"
                    );
                    assert_eq!(f["iface"], r["iface"]);
                    packets += f["packets"].as_u64().unwrap();
                    bytes += f["bytes"].as_u64().unwrap();
                }
                assert!(r["flows"].as_u64().unwrap() >= interval.len() as u64, "{r}");
                // Every packet is in exactly one flow or one category.
                let cats = ["untracked", "excluded", "non_ip", "malformed"];
                let sum = |unit: &str| -> u64 {
                    cats.iter()
                        .map(|c| r[format!("{c}_{unit}")].as_u64().unwrap())
                        .sum()
                };
                assert_eq!(
                    r["packets"].as_u64().unwrap(),
                    packets + sum("packets"),
                    "{r}"
                );
                assert_eq!(r["bytes"].as_u64().unwrap(), bytes + sum("bytes"), "{r}");
                if let Some(prev) = last_stats {
                    assert!(wall_ns(t) > wall_ns(string(prev, "timestamp")), "{r}");
                    for k in XDP_STATS.split_whitespace().skip(3) {
                        if k != "flows" {
                            assert!(r[k].as_u64() >= prev[k].as_u64(), "{k} is cumulative: {r}");
                        }
                    }
                }
                last_stats = Some(r);
                interval.clear();
            }
            other => panic!("counts.jsonl holds a {other} record"),
        }
    }
    assert!(intervals >= 3, "{intervals} intervals");
}
