//! `shellcheck` (./dev.sh installs it) finds nothing in the project's shell scripts:
//! dev.sh, .ci/run and tests/kernels/*.sh.

use std::fs;
use std::path::Path;
use std::process::Command;

#[test]
fn shell_scripts_pass_shellcheck() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scripts = vec!["dev.sh".to_string(), ".ci/run".to_string()];
    for entry in fs::read_dir(repo.join("tests/kernels")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".sh") {
            scripts.push(format!("tests/kernels/{name}"));
        }
    }
    assert!(scripts.len() >= 4, "{scripts:?}");
    let out = Command::new("shellcheck")
        .args(&scripts)
        .current_dir(repo)
        .output()
        .unwrap_or_else(|e| panic!("cannot run shellcheck ({e}): ./dev.sh deps installs it"));
    assert!(
        out.status.success(),
        "shellcheck {scripts:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}
