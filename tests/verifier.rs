//! A real verifier refusal on this kernel (testkit's refused_xdp reads the
//! packet unchecked), reported the way exec and xdp report theirs: one line
//! naming the program and the verifier's reason, exit 4.

use std::mem::MaybeUninit;

use ebpf_jsonl::kernel;
use ebpf_jsonl_testkit as common;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};

#[test]
fn a_refused_program_is_named_with_the_verifiers_reason() {
    kernel::capture_libbpf_log(false);
    kernel::clear_libbpf_log();
    let mut obj = MaybeUninit::uninit();
    let open = common::baseline::refused::RefusedSkelBuilder::default()
        .open(&mut obj)
        .expect("opens");
    let e = open.load().err().expect("the verifier refuses refused_xdp");
    let r = kernel::last_refusal().expect("libbpf logged the refusal");
    assert_eq!(r.prog, "refused_xdp");
    let reason = r.reason.expect("the verifier said why");
    assert!(reason.contains("invalid access to packet"), "{reason}");
    let err = kernel::bpf_error("loading the test program", &e);
    let msg = err.to_string();
    assert_eq!(err.exit_code(), 4, "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(
        msg.starts_with(
            "loading the test program: the kernel's verifier refused program 'refused_xdp': \
             invalid access to packet"
        ),
        "{msg}"
    );
    // No known feature fixes it: the line says how to get the verifier's log.
    assert!(msg.contains("--verbose"), "{msg}");
}
