//! The tool harness: runs the built binary, reads its JSON records, and
//! hands tests the ones their own children produced (picked out by a unique
//! marker argument: the machine runs many processes of its own).

pub mod command;
pub mod records;
pub mod tracer;

pub use command::*;
pub use records::*;
pub use tracer::*;
