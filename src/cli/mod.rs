//! Command-line definitions (also the source of `--help`): the top-level
//! [`Cli`] and one `Args` struct per subcommand, each in the file of its
//! subcommand ([`exec`], [`xdp`]); value parsers shared by several flags are in
//! [`values`], flags every subcommand takes in [`common`].

pub mod common;
pub mod exec;
pub mod values;
pub mod xdp;

use clap::{Args, Parser, Subcommand};

use crate::diag;

pub use common::Common;
pub use exec::{ArgvReader, ExecArgs};
pub use values::{parse_count, parse_duration, parse_iface, parse_size, MAX_DURATION};
pub use xdp::{parse_cidr, Cidr, XdpArgs, XdpFlavour, XdpMode};

#[derive(Debug, Parser)]
#[command(
    name = "ebpf-jsonl",
    version,
    about = "Puts eBPF programs into the kernel and prints what they see as newline-delimited JSON",
    after_help = "Examples:\n  sudo ebpf-jsonl exec | jq -c 'select(.comm == \"curl\")'\n  \
                  sudo ebpf-jsonl exec --duration 10s > execs.jsonl\n  \
                  sudo ebpf-jsonl xdp eth0 --exclude 10.0.0.0/8 > flows.jsonl\n\n\
                  stdout carries only JSON records; diagnostics go to stderr.\n\
                  Exit codes: 0 ok, 1 failure, 2 bad usage, 3 missing privileges, 4 kernel feature missing."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// The form of diagnostics on stderr: text lines, or one JSON object a line (`ebpf-jsonl schema log`)
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub log_format: diag::Format,
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Exec(_) => "exec",
            Command::Xdp(_) => "xdp",
            Command::Check(_) => "check",
            Command::Schema(_) => "schema",
            Command::Completions(_) => "completions",
            Command::Man => "man",
        }
    }
}

/// `--log-format` as the raw arguments give it, before (or without) a parse
/// that may fail: a usage error comes in the form asked for. The last one
/// wins, as in clap; `--` ends the options.
pub fn log_format_in(args: impl IntoIterator<Item = std::ffi::OsString>) -> diag::Format {
    let mut format = diag::Format::Text;
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let value = match a.to_str() {
            Some("--") => break,
            Some("--log-format") => args.next(),
            Some(a) => a.strip_prefix("--log-format=").map(Into::into),
            None => None,
        };
        match value.as_ref().and_then(|v| v.to_str()) {
            Some("json") => format = diag::Format::Json,
            Some("text") => format = diag::Format::Text,
            _ => {}
        }
    }
    format
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One JSON object per process execution, with the full argv
    #[command(after_help = "Examples:\n  \
        sudo ebpf-jsonl exec | jq -c 'select(.comm == \"curl\")'\n  \
        sudo ebpf-jsonl exec --exits --failed --output /var/log/ebpf-jsonl/exec.jsonl\n  \
        sudo ebpf-jsonl exec --cgroup /system.slice/nginx.service --match 'curl .*http'\n  \
        sudo ebpf-jsonl exec --pid $$ --exits   # this shell and what it starts")]
    Exec(ExecArgs),

    /// Per-flow packet and byte counts of what arrives (XDP) and leaves (TC) network interfaces
    #[command(after_help = "Examples:\n  \
        sudo ebpf-jsonl xdp eth0 > counts.jsonl\n  \
        sudo ebpf-jsonl xdp eth0 eth1 --direction both --interval 10s\n  \
        sudo ebpf-jsonl xdp eth0 --interval 10s --exclude 10.0.0.0/8 --exclude fd00::/8\n  \
        jq -s 'map(select(.type==\"flow\")) | group_by(.src_ip) | map({ip: .[0].src_ip, bytes: (map(.bytes)|add)})' counts.jsonl")]
    Xdp(XdpArgs),

    /// Says what this host allows: BTF, privileges, hooks, ring buffer, XDP; exit 0 if exec and xdp can run
    #[command(
        after_help = "Examples:\n  sudo ebpf-jsonl check | jq .\n  sudo ebpf-jsonl check --iface eth0 | jq '.xdp_attach'"
    )]
    Check(CheckArgs),

    /// Prints the JSON Schema (draft 2020-12) of every record type, or of one
    Schema(SchemaArgs),

    /// Prints a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Example:\n  ebpf-jsonl completions bash > /etc/bash_completion.d/ebpf-jsonl"
    )]
    Completions(CompletionsArgs),

    /// Prints the man page (roff)
    #[command(after_help = "Example:\n  ebpf-jsonl man > /usr/local/share/man/man1/ebpf-jsonl.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also try attaching XDP (native and generic, then detach) to this interface
    #[arg(long, value_name = "IFACE", value_parser = values::parse_iface)]
    pub iface: Option<String>,

    /// Print libbpf's own diagnostics on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// One record type: exec, exit, lost, flow or xdp_stats (default: all); or log, the stderr lines of --log-format json
    #[arg(value_name = "TYPE", value_parser = clap::builder::PossibleValuesParser::new(
        crate::schema::TYPES.into_iter().chain([crate::schema::LOG])))]
    pub kind: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Parses the command line: each value through its parser, then what no
/// single value shows (how often a repeatable flag was given). Every error
/// prints on one line: control characters in a value are escaped.
pub fn parse() -> Result<Cli, clap::Error> {
    let cli = Cli::try_parse().map_err(escape_values)?;
    if let Command::Exec(a) = &cli.command {
        a.check_counts()?;
    }
    Ok(cli)
}

/// clap quotes a bad value as it was given; a newline in it would break the
/// one-line error, so control characters are escaped (`\n`), as `{:?}` does.
fn escape_values(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    for kind in [
        ContextKind::InvalidValue,
        ContextKind::InvalidArg,
        ContextKind::InvalidSubcommand,
    ] {
        if let Some(ContextValue::String(v)) = e.get(kind) {
            if v.chars().any(char::is_control) {
                let escaped = crate::error::one_line(v).into_owned();
                e.insert(kind, ContextValue::String(escaped));
            }
        }
    }
    e
}

#[cfg(test)]
mod tests;
