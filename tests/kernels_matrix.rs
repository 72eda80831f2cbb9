//! `./dev.sh kernels` boots VMs (minutes, so not in CI); CI still checks that
//! its scripts parse and that bad usage is refused with exit 2 before it
//! touches apt, builds anything or boots a kernel.

use std::process::Command;

const MATRIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kernels/matrix.sh");
const GUEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kernels/guest-init.sh");

#[test]
fn kernel_matrix_scripts_parse() {
    for script in [MATRIX, GUEST] {
        let out = Command::new("bash").arg("-n").arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "bash -n {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn kernel_matrix_refuses_bad_usage_with_exit_2() {
    for (args, names) in [
        (&["no-such-suite"][..], "no-such-suite"),
        (&["--frobnicate"][..], "--frobnicate"),
        (&["bookworm", "--binary"][..], "--binary"),
        // the opt-in arm64 kernel is among the suites an error offers
        (&["armhf"][..], "or arm64"),
        (
            &["arm64", "--arm64-binary"][..],
            "--arm64-binary needs a path",
        ),
        // checks are taken by name (egress), so the suite after them is the one refused
        (
            &["egress", "xdp", "no-such-suite"][..],
            "unknown suite or check no-such-suite:",
        ),
    ] {
        let out = Command::new(MATRIX).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
}

/// The guest's egress check wants the hook `auto` must pick on its kernel:
/// clsact before TCX (6.6), tcx from it. Its `case` is run here for the
/// matrix's kernels (and the edges), `uname -r` faked.
#[test]
fn the_egress_check_wants_clsact_before_6_6_and_tcx_from_it() {
    let guest = std::fs::read_to_string(GUEST).unwrap();
    let start = guest
        .find("want_hook=tcx")
        .expect("the egress check's hook");
    let case = &guest[start..];
    let case = &case[..case.find("esac").expect("its case") + 4];
    for (release, want) in [
        ("5.10.0-32-amd64", "clsact"),
        ("6.1.0-50-amd64", "clsact"),
        ("6.5.13", "clsact"),
        ("6.6.0", "tcx"),
        ("6.12.117+deb13-amd64", "tcx"),
        ("7.2.13+deb14-amd64", "tcx"),
    ] {
        let script = format!("uname() {{ echo {release}; }}\n{case}\necho $want_hook");
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            got.trim(),
            want,
            "{release}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
