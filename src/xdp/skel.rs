//! The skeleton build.rs generates from bpf/xdp.bpf.c: its program, maps and
//! the types and enums of bpf/xdp.h (`types`). In a file of its own so that
//! xdp's modules share it without importing their parent. Each module turns
//! the enums it reads into the plain integers its fields and indexes are.

bpf_skel!(pub generated, "xdp.skel.rs");
pub use generated::*;
