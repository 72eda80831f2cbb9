//! Reader thread → bounded channel → writer thread. The reader never blocks on
//! the writer: what does not fit is dropped, counted, and reported in-band as
//! a `lost` record as soon as there is room again.
//!
//! - [`channel`](mod@channel): the channel itself, batches and the byte budget.
//! - [`losses`]: counts per loss reason, for what was dropped or not written.
//! - [`stop`]: the run's stop request and its shared deadline.
//! - [`signals`]: the signal handlers that ask for the stop.

pub mod channel;
pub mod losses;
pub mod signals;
pub mod stop;

pub use channel::{channel, channel_with_budget, RecordReceiver, RecordSender};
pub use losses::{count_unprinted, describe, slot, Counts};
pub use signals::{install_signal_handlers, set_handler};
pub use stop::{
    past_stop_deadline, request_shutdown, shutting_down, stop_deadline, SHUTDOWN, STOP_GRACE,
};
