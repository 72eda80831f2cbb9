//! Each example file through the real validator for its format.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::files::{assert_silent_success, file_name, rel, run, with_ext};

/// Each unit's highest allowed `systemd-analyze security` exposure, in tenths (what
/// `--threshold=` takes): what the units achieve today, 1.8 and 2.0 of 10.
const EXPOSURE_CEILING: [(&str, u32); 2] = [
    ("ebpf-jsonl-exec.service", 18),
    ("ebpf-jsonl-xdp.service", 20),
];

/// `systemd-analyze verify` in a root that holds the host's units and the commands the
/// units run (ebpf-jsonl as a stub, as it would be installed), so every diagnostic it
/// prints is about our units.
#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let r = &Path::new(env!("CARGO_TARGET_TMPDIR")).join("examples-systemd-root");
    let _ = fs::remove_dir_all(r);
    let place = |path: &str| {
        let to = r.join(path);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        to
    };
    let host_units = place("usr/lib/systemd/system");
    let to = host_units.to_str().unwrap();
    let cp = run("cp", &["-a", "/usr/lib/systemd/system", to]);
    assert!(cp.status.success(), "{cp:?}");
    fs::copy("/bin/kill", place("bin/kill")).unwrap();
    let stub = place("usr/bin/ebpf-jsonl");
    fs::write(&stub, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();

    let mut args = vec!["verify".to_string(), format!("--root={}", r.display())];
    for p in with_ext("service") {
        let name = file_name(&p);
        fs::copy(&p, place(&format!("etc/systemd/system/{name}"))).unwrap();
        args.push(name.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_silent_success("systemd-analyze verify", &run("systemd-analyze", &args));
}

#[test]
fn systemd_units_exposure_stays_low() {
    for p in with_ext("service") {
        let (path, name) = (rel(&p), file_name(&p));
        let ceiling = EXPOSURE_CEILING.iter().find(|(unit, _)| *unit == name);
        let (_, ceiling) = ceiling.unwrap_or_else(|| panic!("{name}: no exposure ceiling"));
        let threshold = format!("--threshold={ceiling}");
        let args = ["security", "--offline=yes", &threshold, &path];
        let out = run("systemd-analyze", &args);
        let report = String::from_utf8_lossy(&out.stdout);
        let within = out.status.success();
        assert!(within, "{path}: exposure above {ceiling}/100:\n{report}");
    }
}

/// `logrotate -d` reads the config (and no state: /dev/null) and rotates nothing; it reports a bad directive as
/// an `error:` line but exits 0 for it.
#[test]
fn logrotate_config_passes_logrotate_debug() {
    for p in with_ext("logrotate") {
        let path = rel(&p);
        let out = run("logrotate", &["-d", "-s", "/dev/null", &path]);
        let log = String::from_utf8_lossy(&out.stderr);
        let ok = out.status.success() && !log.lines().any(|l| l.starts_with("error:"));
        assert!(ok, "logrotate -d {path}: {}\n{log}", out.status);
        let rotates = log.contains("rotating pattern");
        assert!(rotates, "{path}: nothing to rotate: {log}");
    }
}

/// The pinned `kubernetes-validate` that ./dev.sh installs in its venv, with the
/// Kubernetes schemas bundled (no network).
fn kubernetes_validate() -> String {
    let home = || PathBuf::from(std::env::var("HOME").unwrap()).join(".cache");
    let cache = std::env::var("XDG_CACHE_HOME").map_or_else(|_| home(), PathBuf::from);
    let bin = cache.join("ebpf-jsonl/venv/bin/kubernetes-validate");
    bin.to_str().unwrap().to_string()
}

#[test]
fn yaml_passes_yamllint_and_kubernetes_validate() {
    let config = "{extends: default, rules: {line-length: {max: 100}}}";
    for p in with_ext("yaml") {
        let path = rel(&p);
        let out = run("yamllint", &["--strict", "-d", config, &path]);
        assert_silent_success(&format!("yamllint {path}"), &out);
        let out = run(&kubernetes_validate(), &["--strict", "--quiet", &path]);
        assert_silent_success(&format!("kubernetes-validate --strict {path}"), &out);
    }
}
