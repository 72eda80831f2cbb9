//! ebpf-jsonl as a library: eBPF programs in the kernel, newline-delimited
//! JSON on stdout. `src/main.rs` is a thin binary over it: it parses the
//! command line, calls one subcommand and maps its error to an exit code.
//!
//! The pipeline, in the order a record travels:
//! - [`cli`]: flags and their validation, one `Args` struct per subcommand.
//! - [`kernel`]: what the running kernel offers (BTF, hooks, capabilities), libbpf's log.
//! - [`exec`], [`xdp`]: one module per subcommand — load the BPF skeleton, attach, and
//!   turn kernel events or map snapshots into [`record::Record`]s (the reader thread).
//! - [`record`], [`clock`]: the records and their timestamps, as serde types; each
//!   record knows its weight in the queue.
//! - [`pipeline`]: the reader → writer channel (batches, a byte budget, loss counts),
//!   signals and the shared stop deadline.
//! - [`output`]: the writer thread — its buffer, its sinks (stdout, `--output` files),
//!   never blocking, and how the output ended.
//! - [`schema`], [`check`]: the `schema` and `check` subcommands.
//! - [`diag`]: every line on stderr, as text or (`--log-format json`) JSON.
//! - [`error`]: errors and the exit codes they map to.
//!
//! Dependencies point one way: `exec`/`xdp` → `pipeline` → `record` →
//! `clock`, and `output` → `pipeline`, `record`. The rule is that no file
//! uses (or names by path) anything of a file that uses it, children and
//! their `mod.rs` included: what both need lives in a file of its own.

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
pub mod diag;
pub mod error;
pub mod exec;
pub mod kernel;
pub mod output;
pub mod pipeline;
pub mod record;
pub mod schema;
pub mod xdp;
