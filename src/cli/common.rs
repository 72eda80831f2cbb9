//! Flags every subcommand takes.

use std::time::Duration;

use clap::Args;

use super::values::parse_duration;

#[derive(Debug, Args)]
pub struct Common {
    /// Stop after this long (e.g. 500ms, 10s, 2m, 1h; at most 8760h), draining what is buffered
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Append records to this file instead of stdout (created 0640; SIGHUP or SIGUSR1 reopens it)
    #[arg(long, value_name = "PATH")]
    pub output: Option<std::path::PathBuf>,

    /// Print libbpf's own diagnostics on stderr
    #[arg(short, long)]
    pub verbose: bool,
}
