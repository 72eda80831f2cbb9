//! ebpf-jsonl as a library: eBPF programs in the kernel, newline-delimited
//! JSON on stdout. `src/main.rs` is a thin binary over it.
//!
//! The pipeline, in the order a record travels:
//! - [`cli`]: flags and their validation, one `Args` struct per subcommand.
//! - [`kernel`]: what the running kernel offers (BTF, hooks, capabilities), libbpf's log.
//! - [`exec`], [`xdp`]: one module per subcommand — load the BPF skeleton, attach, and
//!   turn kernel events or map snapshots into [`record::Record`]s.
//! - [`pipeline`]: the reader → writer channel, signals and the shared stop deadline.
//! - [`record`], [`clock`]: the records and their timestamps, as serde types.
//! - [`output`]: the writer thread's sinks (stdout, `--output` files), never blocking.
//! - [`schema`], [`check`]: the `schema` and `check` subcommands.
//! - [`error`]: errors and the exit codes they map to.

/// `bpf_skel!(vis name, "x.skel.rs")`: the libbpf-rs skeleton build.rs
/// generated from bpf/x.bpf.c, as a module (generated code, so lints are off).
macro_rules! bpf_skel {
    ($vis:vis $name:ident, $file:literal) => {
        #[allow(
            clippy::all,
            non_camel_case_types,
            non_snake_case,
            dead_code,
            unused_imports
        )]
        $vis mod $name {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    };
}

pub mod check;
pub mod cli;
pub mod clock;
pub mod error;
pub mod exec;
pub mod kernel;
pub mod output;
pub mod pipeline;
pub mod record;
pub mod schema;
pub mod xdp;
