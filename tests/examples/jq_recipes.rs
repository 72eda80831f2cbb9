//! Every jq recipe, run as its `# run:` line says, prints exactly what is expected on the
//! recorded data: tests/data/jq/<recipe>.jsonl. (exec-exit-pairs: in the order the
//! processes ended; the python3 worker is still running and the php-fpm worker's exec
//! was never seen, so neither is paired.)

use std::path::Path;

use serde_json::Value;

use super::files::{file_name, read, repo, run, with_ext};

/// One JSON value a line.
fn json_lines(what: &str, text: &str) -> Vec<Value> {
    let value = |l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {l}: {e}"));
    text.lines().map(value).collect()
}

/// Runs a recipe exactly as its `# run:` line says, from the repository's root.
fn run_recipe(p: &Path) -> Vec<Value> {
    let name = file_name(p);
    let text = read(p);
    let line = text.lines().find_map(|l| l.strip_prefix("# run:"));
    let argv: Vec<&str> = line
        .expect("a `# run: jq ...` line")
        .split_whitespace()
        .collect();
    assert_eq!(argv[0], "jq", "{name}: the run line must start with jq");
    let this = format!("examples/jq/{name}");
    assert!(argv.contains(&this.as_str()), "{name}: runs another file");
    let out = run("jq", &argv[1..]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: jq failed: {stderr}");
    json_lines(name, &String::from_utf8(out.stdout).unwrap())
}

#[test]
fn jq_recipes_on_recorded_data() {
    let recipes = with_ext("jq");
    assert_eq!(recipes.len(), 3, "{recipes:?}");
    for p in recipes {
        // What it prints, line for line (compared as JSON values).
        let name = file_name(&p).replace(".jq", ".jsonl");
        let golden = repo().join("tests/data/jq").join(&name);
        assert_eq!(run_recipe(&p), json_lines(&name, &read(&golden)), "{name}");
    }
}
