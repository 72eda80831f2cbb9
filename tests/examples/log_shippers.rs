//! Vector, Fluent Bit and the Kubernetes DaemonSet read what the units write, parse it
//! as JSON and take the event time from `timestamp`; the DaemonSet grants what the units
//! grant. (No Vector or Fluent Bit is packaged for Debian 12 to validate them with.)

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::files::{after, assert_at, example, read, rel, sections, units, with_ext};

fn unit_outputs() -> BTreeSet<String> {
    units().iter().map(|u| u.output()).collect()
}

fn strs(v: &Value) -> Vec<&str> {
    let items = v.as_array().into_iter().flatten();
    items.filter_map(Value::as_str).collect()
}

/// Checks a Vector config (every input exists, every source goes through a remap that
/// parses `timestamp`, sinks read only remaps) and returns its sources' types.
fn check_vector(what: &str, text: &str) -> Vec<String> {
    let cfg: Value = toml::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    let [sources, transforms, sinks] = ["sources", "transforms", "sinks"]
        .map(|part| cfg[part].as_object().cloned().unwrap_or_default());
    assert!(
        !sources.is_empty() && !sinks.is_empty(),
        "{what}: a source, a sink"
    );
    let remap_of = |i: &str| transforms.get(i).filter(|t| t["type"] == "remap");
    for (name, c) in transforms.iter().chain(&sinks) {
        for i in strs(&c["inputs"]) {
            // A sink reads a remap: a source's `timestamp` would be a string.
            let known = match sinks.contains_key(name) {
                true => remap_of(i).is_some(),
                false => sources.contains_key(i) || (transforms.contains_key(i) && i != name),
            };
            assert!(known, "{what}: {name} reads `{i}`: no such source or remap");
        }
    }
    let parse_time = r#".timestamp = parse_timestamp!(.timestamp, "%+")"#;
    let types = sources.iter().map(|(name, s)| {
        let reads = |t: &&Value| strs(&t["inputs"]).contains(&name.as_str());
        let remap = transforms
            .values()
            .filter(|t| t["type"] == "remap")
            .find(reads);
        let vrl = remap.unwrap_or_else(|| panic!("{what}: no remap reads {name}"))["source"]
            .as_str()
            .unwrap_or_default();
        let time_at = vrl.find(parse_time).expect(parse_time);
        let at = format!("{what}: sources.{name}");
        match s["type"].as_str().unwrap_or_default() {
            "exec" => {
                let settings = [
                    ("/mode", json!("streaming")),
                    ("/include_stderr", json!(false)), // diagnostics are no events
                    ("/decoding/codec", json!("json")),
                    ("/framing/method", json!("newline_delimited")),
                ];
                assert_at(&at, s, &settings);
                let cmd = strs(&s["command"]);
                let runs_us = cmd[0].ends_with("/ebpf-jsonl") && ["exec", "xdp"].contains(&cmd[1]);
                assert!(runs_us, "{at}: {cmd:?}");
            }
            "file" => {
                let include: BTreeSet<String> =
                    strs(&s["include"]).iter().map(|&i| i.into()).collect();
                assert_eq!(include, unit_outputs(), "{at} reads what the units write");
                let max = s["max_line_bytes"].as_u64().unwrap_or_default();
                assert!(
                    max >= 512 * 1024,
                    "{at}: raise max_line_bytes for long argv"
                );
                let json_at = vrl
                    .find("parse_json!(.message)")
                    .expect("parse_json!(.message)");
                assert!(
                    json_at < time_at,
                    "{what}: parse the JSON before its timestamp"
                );
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
    let cfg: Value = toml::from_str(&read(&example("vector/exec.toml"))).unwrap();
    let cmd = json!(["/usr/local/bin/ebpf-jsonl", "exec", "--exits"]);
    assert_at(
        "vector/exec.toml",
        &cfg,
        &[("/sources/ebpf_exec/command", cmd)],
    );
}

#[test]
fn fluent_bit_configs_tail_the_outputs_with_their_parser() {
    let parsers = sections(&example("fluent-bit/parsers.conf"), ' ');
    let parser = parsers
        .iter()
        .find(|s| s.name == "PARSER")
        .expect("a [PARSER]");
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
    for (conf, parser) in [("tail.conf", Some("ebpf_jsonl")), ("stdin.conf", None)] {
        let sections = sections(&example(&format!("fluent-bit/{conf}")), ' ');
        let named = |n: &'static str| sections.iter().filter(move |s| s.name == n);
        let parsers_file = named("SERVICE").next().and_then(|s| s.get("Parsers_File"));
        assert_eq!(parsers_file, parser.map(|_| "parsers.conf"), "{conf}");
        let matches: Vec<&str> = named("OUTPUT")
            .map(|s| s.get("Match").expect("Match"))
            .collect();
        let mut paths = BTreeSet::new();
        for input in named("INPUT") {
            let tag = input.get("Tag").unwrap_or_else(|| panic!("{conf}: no Tag"));
            let matched = matches.iter().any(|m| match m.strip_suffix('*') {
                Some(prefix) => tag.starts_with(prefix),
                None => tag == *m,
            });
            assert!(matched, "{conf}: no output matches tag {tag}");
            assert_eq!(input.get("Parser"), parser, "{conf}: {tag}'s parser");
            assert_eq!(input.get("Name"), conf.strip_suffix(".conf"), "{conf}");
            paths.extend(input.get("Path").map(String::from));
        }
        if conf == "tail.conf" {
            assert_eq!(
                paths,
                unit_outputs(),
                "tail.conf reads what the units write"
            );
        }
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
        let d = docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name);
        d.unwrap_or_else(|| panic!("daemonset.yaml: no {kind} {name}"))
    };
    // hostPID, hostPath and capabilities need the privileged Pod Security level.
    let level = (
        "/metadata/labels/pod-security.kubernetes.io~1enforce",
        json!("privileged"),
    );
    assert_at("Namespace", find("Namespace", "ebpf-jsonl"), &[level]);
    for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
        assert_at(
            "daemonset.yaml",
            d,
            &[("/metadata/namespace", json!("ebpf-jsonl"))],
        );
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
        let caps = u.words("CapabilityBoundingSet").into_iter();
        let unit_caps: BTreeSet<&str> = caps
            .filter(|c| *c != "CAP_SYS_RESOURCE")
            .map(|c| c.trim_start_matches("CAP_"))
            .collect();
        let added: BTreeSet<&str> = strs(&sc["capabilities"]["add"]).into_iter().collect();
        assert_eq!(added, unit_caps, "{name}: capabilities.add");
        // The unit's command, writing to the same file (exec: exits too, for the pairs).
        let (argv, out) = (strs(&c["command"]), u.output());
        assert_eq!(argv[..2], u.argv()[..2], "{name}: the unit's command");
        assert_eq!(
            after(&argv, "--output"),
            Some(out.as_str()),
            "{name}: --output"
        );
        assert!(!exec || argv.contains(&"--exits"), "{name}: --exits");
        let host_ro = ["/sys/kernel/btf", "/sys/fs/cgroup"];
        let dir = out.rsplit_once('/').unwrap().0;
        let mounts = host_ro[..if exec { 2 } else { 1 }]
            .iter()
            .map(|p| (*p, true));
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
    let config = cm["data"][key]
        .as_str()
        .expect("the ConfigMap holds vector's config");
    assert_eq!(check_vector("daemonset.yaml vector.toml", config), ["file"]);
    let logs = named(&vector["volumeMounts"], "mountPath", "/var/log/ebpf-jsonl");
    assert_at("vector", logs, &[("/readOnly", json!(true))]);
}
