//! The tool harness: runs the built binary, reads its JSON records, and
//! hands tests the ones their own children produced (picked out by a unique
//! marker argument: the machine runs many processes of its own); the tool
//! with stdout wired to outputs that misbehave.

pub mod command;
mod launch;
pub mod misbehaving_outputs;
pub mod records;
pub mod tracer;
pub mod wired;

pub use command::*;
pub use misbehaving_outputs::*;
pub use records::*;
pub use tracer::*;
pub use wired::*;
