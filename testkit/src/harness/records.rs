//! Records the tool prints, as tests check them: schema validation, markers
//! that pick out a test's own children, argv helpers, `lost` counts.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use serde_json::Value;

use crate::harness::command::BIN;

/// Checks a record against `ebpf-jsonl schema` (JSON Schema 2020-12), so the
/// schema and the output cannot drift: every record a test sees goes here.
pub fn validate(v: &Value) {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let out = Command::new(BIN)
            .arg("schema")
            .output()
            .expect("ebpf-jsonl schema");
        assert!(out.status.success(), "ebpf-jsonl schema failed");
        let schema: Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
        jsonschema::draft202012::new(&schema).expect("a valid draft 2020-12 schema")
    });
    if let Err(e) = validator.validate(v) {
        panic!("record does not match the schema: {e}\n{v}");
    }
}

/// A marker unique to this test process and call.
pub fn marker(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "ebpfjsonl-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn has_arg(v: &Value, marker: &str) -> bool {
    v["type"] == "exec"
        && v["args"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == marker))
}

pub fn args_of(v: &Value) -> Vec<String> {
    v["args"]
        .as_array()
        .expect("args is an array")
        .iter()
        .map(|a| a.as_str().expect("each arg is a string").to_string())
        .collect()
}

/// The `count`s of the `lost` records with this reason (each must count something).
pub fn lost(records: &[Value], reason: &str) -> u64 {
    records
        .iter()
        .filter(|v| v["type"] == "lost" && v["reason"] == reason)
        .map(|v| {
            let n = v["count"].as_u64().expect("count");
            assert!(n > 0, "a lost record reports something");
            n
        })
        .sum()
}
