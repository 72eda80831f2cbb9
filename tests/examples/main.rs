//! examples/: real validators check each file (`systemd-analyze verify` and `security`,
//! `logrotate -d`, `yamllint`, `kubernetes-validate`); the tests here check what only we
//! can: the files agree with each other (paths, unit names, parser names, capabilities)
//! and every jq recipe gives the expected result on the recorded data. (tests/check_schema.rs
//! validates every recorded line against our JSON Schema.)
//! Needs the validators and `jq` (./dev.sh installs them); no kernel.

mod files;
mod jq_recipes;
mod log_shippers;
mod pipelines;
mod services;
mod setup;
mod validators;

use files::{example_files, read, rel, repo};

#[test]
fn every_example_file_is_checked_and_documented() {
    let readme = read(&repo().join("examples/README.md"));
    // *.rs would be a cargo example: cargo builds and lints it.
    let checked = "toml yaml conf service logrotate jq jsonl md rs";
    for p in example_files() {
        let r = rel(&p);
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let known = checked.split(' ').any(|c| c == ext);
        assert!(known, "{r}: add a check of *.{ext} to tests/examples/");
        let inside = r.strip_prefix("examples/").unwrap();
        let documented = inside == "README.md" || readme.contains(inside);
        assert!(documented, "examples/README.md: no {inside}");
    }
}
