//! The benches' baseline programs (bpf/bench_xdp.bpf.c): `xdp_empty`
//! (XDP_PASS), `tc_empty` (a SCHED_CLS program returning TC_ACT_UNSPEC, for
//! the egress program) and `xdp_seed` (the seed tutorial's LRU-hash counter), as a
//! libbpf-rs skeleton (generated code, so lints are off); and in [`refused`],
//! bpf/refused.bpf.c's `refused_xdp`, which every verifier refuses (for tests
//! of how a refusal is reported).

#[allow(
    clippy::all,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unused_imports,
    missing_docs
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/bench_xdp.skel.rs"));

    pub mod refused {
        include!(concat!(env!("OUT_DIR"), "/refused.skel.rs"));
    }
}

pub use skel::*;
