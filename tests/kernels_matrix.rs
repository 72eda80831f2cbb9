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
    ] {
        let out = Command::new(MATRIX).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
}
