//! The recorded data is consistent the way real output is: exec ids and timestamps share
//! one boot time, exits pair with their execs, each interval's totals add up. (Each line
//! against its record type's JSON Schema is tests/check_schema.rs's.)

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::files::{example, file_name, read, with_ext};

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` → nanoseconds since the epoch.
fn wall_ns(ts: &str) -> i128 {
    assert_eq!(ts.len(), 30, "timestamp {ts}: 9 fractional digits and Z");
    let n = |a: usize, b: usize| ts[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
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

fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key}: {v}"))
}

fn records(name: &str) -> Vec<Value> {
    let names: Vec<String> = with_ext("jsonl")
        .iter()
        .map(|p| file_name(p).to_string())
        .collect();
    assert_eq!(names, ["counts.jsonl", "exec.jsonl"]);
    read(&example(&format!("data/{name}")))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}")))
        .collect()
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
                let fork = t - r["duration_ns"].as_u64().unwrap() as i128;
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
                    // Every count but `flows` (those in the table now) is cumulative.
                    for (k, n) in r.as_object().unwrap().iter().filter(|(k, _)| *k != "flows") {
                        assert!(n.as_u64() >= prev[k].as_u64(), "{k} is cumulative: {r}");
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
