//! ebpf-jsonl's test and benchmark tooling, one home for what the tests
//! (tests/*.rs, the library's unit tests) and the benches (benches/*) share:
//! - the tool harness at the root (from [`harness`]): run the built binary
//!   (as root, nobody or without capabilities), read and validate its
//!   records, markers; the tool with stdout wired to outputs that misbehave;
//! - [`exec_helper`]: the C helper the exec tests run, built by build.rs;
//! - [`net`]: network namespaces and veth pairs (always removed), senders,
//!   captures and a flood that run inside them;
//! - [`flow_records`]: `ebpf-jsonl xdp`'s records as the veth tests check them;
//! - [`frames`]: the one builder of raw Ethernet frames;
//! - [`baseline`]: the benches' baseline XDP programs (an empty one and the
//!   seed tutorial's design), built here and never into the product;
//! - [`procfs`], [`stats`]: /proc readings and medians;
//! - [`bpf_stats`]: BPF programs' run time (kernel.bpf_stats_enabled).
//!
//! This crate never depends on ebpf-jsonl (as its dev-dependency that would
//! build the library twice); benches use both.

pub mod baseline;
pub mod bpf_stats;
pub mod exec_helper;
pub mod flow_records;
pub mod frames;
pub mod harness;
pub mod net;
pub mod procfs;
pub mod stats;

pub use harness::*;
pub use procfs::peak_rss_kib;
