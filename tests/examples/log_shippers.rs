//! Vector, Fluent Bit and the Kubernetes DaemonSet read what the units write, parse it
//! as JSON and take the event time from `timestamp`; the DaemonSet grants what the units
//! grant. (No Vector or Fluent Bit is packaged for Debian 12 to validate them with.)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::files::{after, assert_at, example, outputs, read, rel};
use super::files::{sections, units, with_ext, Unit};

fn strs(v: &Value) -> Vec<&str> {
    let items = v.as_array().into_iter().flatten();
    items.filter_map(Value::as_str).collect()
}

/// Checks a Vector config: each source goes straight into a remap that parses
/// `timestamp` (a file source's JSON first); a `route` reads only remaps; sinks read
/// only remaps or routes' outputs (a source's `timestamp` would be a string). An `exec`
/// source runs a unit's command with `--log-format json` instead of `--output`, keeps
/// stderr, and a route sends its `stream = "stderr"` events (our diagnostics) apart.
/// Returns its sources' types.
fn check_vector(what: &str, text: &str) -> Vec<String> {
    let cfg: Value = toml::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    let [sources, transforms, sinks] = ["sources", "transforms", "sinks"]
        .map(|part| cfg[part].as_object().cloned().unwrap_or_default());
    let parse_time = r#".timestamp = parse_timestamp!(.timestamp, "%+")"#;
    // The sources remaps read; each route output, with its condition.
    let mut remapped = BTreeSet::new();
    let mut routed = BTreeMap::new();
    for (name, t) in &transforms {
        if t["type"] == "route" {
            let routes = t["route"].as_object().cloned().unwrap_or_default();
            assert!(!routes.is_empty(), "{what}: transforms.{name}: no route");
            for i in strs(&t["inputs"]) {
                let read = transforms.get(i).is_some_and(|t| t["type"] == "remap");
                assert!(read, "{what}: {name} reads {i}: not a remap");
            }
            for (out, cond) in routes {
                routed.insert(format!("{name}.{out}"), cond.as_str().unwrap().to_string());
            }
            // Unless turned off, events no route matches go to `_unmatched`; read by no one,
            // Vector warns at every start (seen with Vector 0.58).
            let unmatched = format!("{name}._unmatched");
            let all_inputs = transforms.values().chain(sinks.values());
            let read = all_inputs
                .flat_map(|c| strs(&c["inputs"]))
                .any(|i| *i == unmatched);
            assert!(
                read || t["reroute_unmatched"] == json!(false),
                "{what}: transforms.{name}: {unmatched} has no consumer: reroute_unmatched = false"
            );
            continue;
        }
        assert_eq!(t["type"], "remap", "{what}: transforms.{name}");
        let vrl = t["source"].as_str().unwrap_or_default();
        let time_at = vrl.find(parse_time).expect(parse_time);
        for i in strs(&t["inputs"]) {
            let s = sources.get(i);
            let s = s.unwrap_or_else(|| panic!("{what}: {name} reads {i}: no source"));
            let json_at = vrl.find("parse_json!(.message)");
            let parsed = s["type"] != "file" || json_at.is_some_and(|j| j < time_at);
            assert!(parsed, "{what}: {name}: parse the JSON first");
            remapped.insert(i.to_string());
        }
    }
    assert!(!sinks.is_empty(), "{what}: no sink");
    for i in sinks.values().flat_map(|sink| strs(&sink["inputs"])) {
        let remap = transforms.get(i).is_some_and(|t| t["type"] == "remap");
        assert!(remap || routed.contains_key(i), "{what}: a sink reads {i}");
    }
    let types = sources.iter().map(|(name, s)| {
        let at = format!("{what}: sources.{name}");
        assert!(remapped.contains(name), "{at}: no remap reads it");
        match s["type"].as_str().unwrap_or_default() {
            "exec" => {
                let settings = [
                    ("/mode", json!("streaming")),
                    // Diagnostics are events, JSON as the records are.
                    ("/include_stderr", json!(true)),
                    ("/decoding/codec", json!("json")),
                    ("/framing/method", json!("newline_delimited")),
                ];
                assert_at(&at, s, &settings);
                let argv = strs(&s["command"]);
                let json_log = argv.windows(2).any(|w| w == ["--log-format", "json"]);
                assert!(
                    json_log,
                    "{at}: stderr lines are text without --log-format json"
                );
                let stderr = r#".stream == "stderr""#;
                let apart = routed.values().any(|c| c == stderr);
                assert!(apart, "{at}: no route takes {stderr}");
                assert!(argv[0].starts_with('/') && argv[0].ends_with("/ebpf-jsonl"));
                // A unit's command (less its binary's path), but writing to stdout.
                let args = argv[1..].join(" ").replace(" --log-format json", "");
                let same = |u: &Unit| {
                    let unit_args = u.argv()[1..].join(" ");
                    unit_args == format!("{args} --output {}", u.output())
                };
                assert!(units().iter().any(same), "{at}: no unit runs {args}");
            }
            "file" => {
                let include = strs(&s["include"]).iter().map(|&i| i.into()).collect();
                assert_eq!(outputs(), include, "{at} reads what the units write");
                let max = s["max_line_bytes"].as_u64().unwrap_or_default();
                assert!(max >= 512 * 1024, "{at}: max_line_bytes < 512K");
            }
            other => panic!("{at}: a {other} source"),
        }
        s["type"].as_str().unwrap().to_string()
    });
    types.collect()
}

#[test]
fn vector_configs_read_the_records_and_their_time() {
    let mut types = BTreeSet::new();
    for p in with_ext("toml") {
        types.extend(check_vector(&rel(&p), &read(&p)));
    }
    assert_eq!(types, BTreeSet::from(["exec".into(), "file".into()]));
}

#[test]
fn fluent_bit_configs_tail_the_outputs_with_their_parser() {
    let parsers = sections(&example("fluent-bit/parsers.conf"), ' ');
    let parser = parsers.iter().find(|s| s.name == "PARSER");
    let parser = parser.expect("a [PARSER]");
    for (key, value) in [
        ("Name", "ebpf_jsonl"),
        ("Format", "json"),
        ("Time_Key", "timestamp"),
        ("Time_Format", "%Y-%m-%dT%H:%M:%S.%L%z"),
        ("Time_Keep", "On"),
    ] {
        assert_eq!(parser.get(key), Some(value), "parsers.conf: {key}");
    }
    // stdin: no parser (with one, more than one waiting line yields nothing).
    let confs = [
        ("tail.conf", Some("ebpf_jsonl"), outputs()),
        ("stdin.conf", None, BTreeSet::new()),
    ];
    for (conf, parser, written) in confs {
        let sections = sections(&example(&format!("fluent-bit/{conf}")), ' ');
        let named = |n: &'static str| sections.iter().filter(move |s| s.name == n);
        // Where tests/examples/setup.rs checks the header installs parsers.conf.
        let parsers_file = named("SERVICE").next().and_then(|s| s.get("Parsers_File"));
        assert_eq!(
            parsers_file.is_some(),
            parser.is_some(),
            "{conf}: Parsers_File"
        );
        let matches = named("OUTPUT").map(|s| s.get("Match").expect("Match"));
        let matches: Vec<&str> = matches.collect();
        let mut paths = BTreeSet::new();
        for input in named("INPUT") {
            let tag = input.get("Tag").unwrap_or_else(|| panic!("{conf}: no Tag"));
            let glob = |m: &&str| {
                m.strip_suffix('*')
                    .map_or(tag == *m, |p| tag.starts_with(p))
            };
            let matched = matches.iter().any(glob);
            assert!(matched, "{conf}: no output matches {tag}");
            assert_eq!(input.get("Parser"), parser, "{conf}: {tag}'s parser");
            assert_eq!(input.get("Name"), conf.strip_suffix(".conf"), "{conf}");
            paths.extend(input.get("Path").map(String::from));
        }
        assert_eq!(paths, written, "{conf} reads what the units write");
    }
}

/// The item of a list whose `key` is `value`.
fn named<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    let mut items = list.as_array().into_iter().flatten();
    let found = items.find(|i| i[key] == value);
    found.unwrap_or_else(|| panic!("no {key} {value} in {list}"))
}

#[test]
fn kubernetes_daemonsets_match_the_units() {
    let text = read(&example("kubernetes/daemonset.yaml"));
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let find = |kind: &str, name: &str| {
        let is = |d: &&Value| d["kind"] == kind && d["metadata"]["name"] == name;
        docs.iter()
            .find(is)
            .unwrap_or_else(|| panic!("daemonset.yaml: no {kind} {name}"))
    };
    // hostPID, hostPath and capabilities need the privileged Pod Security level.
    let level = "/metadata/labels/pod-security.kubernetes.io~1enforce";
    let ns = find("Namespace", "ebpf-jsonl");
    assert_at("Namespace", ns, &[(level, json!("privileged"))]);
    let in_ns = [("/metadata/namespace", json!("ebpf-jsonl"))];
    for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
        assert_at("daemonset.yaml", d, &in_ns);
    }
    for u in units() {
        let name = u.name.trim_end_matches(".service");
        let exec = name.ends_with("exec");
        let ds = find("DaemonSet", name);
        let template_labels = &ds["spec"]["template"]["metadata"]["labels"];
        for (k, v) in ds["spec"]["selector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(&template_labels[k], v, "{name}: selector label {k:?}");
        }
        let pod = &ds["spec"]["template"]["spec"];
        let host_flag = if exec { "/hostPID" } else { "/hostNetwork" };
        assert_at(name, pod, &[(host_flag, json!(true))]);
        let c = named(&pod["containers"], "name", "ebpf-jsonl");
        let sc = &c["securityContext"];
        assert_ne!(sc["privileged"], true, "{name}: privileged");
        assert_at(name, sc, &[("/capabilities/drop", json!(["ALL"]))]);
        // The unit's capabilities (but CAP_SYS_RESOURCE, for old kernels' memlock).
        let mut caps = u.words("CapabilityBoundingSet");
        caps.remove("CAP_SYS_RESOURCE");
        let unit_caps: BTreeSet<&str> = caps.iter().map(|c| &c[4..]).collect();
        let added: BTreeSet<&str> = strs(&sc["capabilities"]["add"]).into_iter().collect();
        assert_eq!(added, unit_caps, "{name}: capabilities.add");
        // The unit's command, `$(VAR)` taken from the container's env.
        let env = |a: &str| {
            let var = a.strip_prefix("$(")?.strip_suffix(')')?;
            named(&c["env"], "name", var)["value"].as_str()
        };
        let command = strs(&c["command"]).into_iter();
        let argv: Vec<&str> = command.map(|a| env(a).unwrap_or(a)).collect();
        assert_eq!(argv, u.argv(), "{name}: the unit's command");
        let dir = u.output().rsplit_once('/').unwrap().0;
        let host_ro = ["/sys/kernel/btf", "/sys/fs/cgroup"].into_iter();
        let mounts = host_ro.take(if exec { 2 } else { 1 }).map(|p| (p, true));
        for (path, read_only) in mounts.chain([(dir, false)]) {
            let m = named(&c["volumeMounts"], "mountPath", path);
            assert_eq!(m["readOnly"] == true, read_only, "{name}: {path} read-only");
            let v = named(&pod["volumes"], "name", m["name"].as_str().unwrap());
            assert_at(name, v, &[("/hostPath/path", json!(path))]);
        }
    }

    // The Vector container reads both outputs, read-only, through the ConfigMap's config.
    let pod = &find("DaemonSet", "ebpf-jsonl-exec")["spec"]["template"]["spec"];
    let vector = named(&pod["containers"], "name", "vector");
    let config_path = after(&strs(&vector["args"]), "--config").expect("vector --config");
    let (dir, key) = config_path.rsplit_once('/').unwrap();
    let m = named(&vector["volumeMounts"], "mountPath", dir);
    let vol = named(&pod["volumes"], "name", m["name"].as_str().unwrap());
    let cm = find("ConfigMap", vol["configMap"]["name"].as_str().unwrap());
    let config = cm["data"][key].as_str().expect("vector's config");
    assert_eq!(check_vector("daemonset.yaml vector.toml", config), ["file"]);
    // Its data_dir is a node directory the kubelet creates if missing.
    let data_dir = toml::from_str::<Value>(config).unwrap()["data_dir"].clone();
    let data = named(
        &vector["volumeMounts"],
        "mountPath",
        data_dir.as_str().unwrap(),
    );
    let vol = named(&pod["volumes"], "name", data["name"].as_str().unwrap());
    assert_at(
        "vector data_dir",
        vol,
        &[("/hostPath/type", json!("DirectoryOrCreate"))],
    );
    let logs = named(&vector["volumeMounts"], "mountPath", "/var/log/ebpf-jsonl");
    assert_at("vector", logs, &[("/readOnly", json!(true))]);
}
