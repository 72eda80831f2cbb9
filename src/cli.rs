//! Command-line definitions (also the source of `--help`).

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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

    /// Per-flow packet and byte counts of what arrives on a network interface (XDP)
    #[command(after_help = "Examples:\n  \
        sudo ebpf-jsonl xdp eth0 > counts.jsonl\n  \
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

/// Flags every subcommand takes.
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

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also try attaching XDP (native and generic, then detach) to this interface
    #[arg(long, value_name = "IFACE", value_parser = parse_iface)]
    pub iface: Option<String>,

    /// Print libbpf's own diagnostics on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// One record type: exec, exit, lost, flow or xdp_stats (default: all)
    #[arg(value_name = "TYPE", value_parser = clap::builder::PossibleValuesParser::new(crate::schema::TYPES))]
    pub kind: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub common: Common,

    /// Keep at most this many argv elements per exec (then args_truncated is true)
    #[arg(long, value_name = "N", default_value_t = 128,
          value_parser = |s: &str| parse_count(s, 1, 65536))]
    pub max_args: u32,

    /// Capture at most this many bytes of argv per exec (up to 64K)
    #[arg(long, value_name = "BYTES", default_value = "4K",
          value_parser = |s: &str| parse_size(s, 1, 64 * 1024))]
    pub max_argv_bytes: u32,

    /// Kernel ring buffer size (a power of two, 4K to 256M)
    #[arg(long, value_name = "BYTES", default_value = "1M",
          value_parser = parse_ringbuf_size)]
    pub ringbuf_size: u32,

    /// Also print one `exit` record per process (thread group) that ends
    #[arg(long)]
    pub exits: bool,

    /// Also print execve/execveat calls that failed (ret < 0, with `error`)
    #[arg(long)]
    pub failed: bool,

    /// Only processes of this real uid (repeatable, up to 64; filtered in the kernel)
    #[arg(long, value_name = "UID", value_parser = parse_uid)]
    pub uid: Vec<u32>,

    /// Only this process and its descendants started after the tool (repeatable; in the kernel)
    #[arg(long, value_name = "PID", value_parser = parse_pid)]
    pub pid: Vec<u32>,

    /// Only processes in this cgroup v2 directory or below it (repeatable, up to 8; in the kernel)
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,

    /// Only programs with this name, as in `comm` (repeatable, up to 64; in the kernel)
    #[arg(long, value_name = "NAME", value_parser = parse_comm)]
    pub comm: Vec<String>,

    /// Only execs whose argv, joined by spaces, matches this regular expression (in userspace)
    #[arg(long = "match", value_name = "REGEX", value_parser = parse_regex)]
    pub matches: Option<regex::Regex>,

    /// For tests: the capacity of the kernel's process tables (processes
    /// followed for --pid, execs in progress for --failed, ended processes
    /// for --exits), so their full paths can be exercised
    #[arg(long, value_name = "N", hide = true,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub table_size: Option<u32>,
}

/// Parses the command line: each value through its parser, then what no
/// single value shows (how often a repeatable flag was given). Every error
/// prints on one line: control characters in a value are escaped.
pub fn parse() -> Result<Cli, clap::Error> {
    let cli = Cli::try_parse().map_err(escape_values)?;
    if let Command::Exec(a) = &cli.command {
        let distinct = |v: Vec<String>| {
            v.into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        let uids = distinct(a.uid.iter().map(u32::to_string).collect());
        let comms = distinct(a.comm.clone());
        for (flag, n, max, what) in [
            (
                "--uid <UID>",
                uids,
                MAX_UIDS,
                "distinct uids (the kernel filter's size)",
            ),
            (
                "--comm <NAME>",
                comms,
                MAX_COMMS,
                "distinct names (the kernel filter's size)",
            ),
            ("--cgroup <PATH>", a.cgroup.len(), MAX_CGROUPS, "cgroups"),
        ] {
            if n > max {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::TooManyValues,
                    format!(
                        "too many values for '{flag}': {n} given, at most {max} {what}\n\n\
                         For more information, try '--help'.\n"
                    ),
                ));
            }
        }
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

/// How many distinct `--uid` and `--comm` values the kernel filters hold
/// (max_entries of the uids and comms maps in bpf/exec.bpf.c).
pub const MAX_UIDS: usize = 64;
pub const MAX_COMMS: usize = 64;
/// MAX_CGROUP_FILTERS in bpf/exec.h.
pub const MAX_CGROUPS: usize = 8;

/// A decimal number and nothing else (no sign, no spaces): `None` if it is
/// not one, `Some(None)` if it is one too large for a u64.
fn decimal(s: &str) -> Option<Option<u64>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().ok())
}

/// A count within `[min, max]`.
pub fn parse_count(s: &str, min: u32, max: u32) -> Result<u32, String> {
    let n = decimal(s).ok_or_else(|| format!("not a number; use {min} to {max}"))?;
    match n {
        Some(n) if (u64::from(min)..=u64::from(max)).contains(&n) => Ok(n as u32),
        _ => Err(format!("out of range: use {min} to {max}")),
    }
}

/// A real uid: 0 to 4294967294 ((uid_t)-1 means "no uid" to the kernel).
fn parse_uid(s: &str) -> Result<u32, String> {
    const MAX: u64 = u32::MAX as u64 - 1;
    match decimal(s) {
        None => Err(format!("not a user id; use a number from 0 to {MAX}")),
        Some(Some(n)) if n <= MAX => Ok(n as u32),
        Some(_) => Err(format!("out of range: user ids are 0 to {MAX}")),
    }
}

fn parse_pid(s: &str) -> Result<u32, String> {
    let pid = match decimal(s) {
        None => return Err("not a process id; use a number like 1234".into()),
        Some(Some(n)) if (1..=i32::MAX as u64).contains(&n) => n as u32,
        Some(_) => return Err(format!("out of range: process ids are 1 to {}", i32::MAX)),
    };
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(format!("no process with pid {pid} is running"));
    }
    Ok(pid)
}

fn parse_comm(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 15 {
        return Err(format!(
            "{} bytes long: the kernel keeps 1 to 15 bytes of a program name",
            s.len()
        ));
    }
    Ok(s.to_string())
}

fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s)
        .map_err(|e| format!("not a valid regular expression: {}", regex_error(s, &e)))
}

/// regex's own message spans several lines (the pattern, a caret line, the
/// cause): this says the cause and where, on one line.
fn regex_error(s: &str, e: &regex::Error) -> String {
    let at = |span: &regex_syntax::ast::Span| {
        let text = s.get(span.start.offset..span.end.offset).unwrap_or("");
        if text.is_empty() {
            format!("at byte {}", span.start.offset)
        } else {
            format!(
                "at byte {} (`{}`)",
                span.start.offset,
                crate::error::one_line(text)
            )
        }
    };
    match regex_syntax::Parser::new().parse(s) {
        Err(regex_syntax::Error::Parse(p)) => format!("{}, {}", p.kind(), at(p.span())),
        Err(regex_syntax::Error::Translate(t)) => format!("{}, {}", t.kind(), at(t.span())),
        // Anything else (e.g. the compiled program is too big): regex's text, joined.
        _ => e
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(": "),
    }
}

/// An interface name as the kernel accepts one (dev_valid_name): 1 to 15
/// bytes (IFNAMSIZ - 1), not `.` or `..`, no `/`, `:` or whitespace; and no
/// control characters, so it prints on one line.
pub fn parse_iface(s: &str) -> Result<String, String> {
    const HOW: &str = "see `ip link` for this host's interfaces";
    if s.is_empty() {
        return Err(format!("an interface name cannot be empty; {HOW}"));
    }
    if s.len() > 15 {
        return Err(format!(
            "{} bytes long: interface names are at most 15 bytes; {HOW}",
            s.len()
        ));
    }
    if s == "." || s == ".." {
        return Err(format!("not an interface name; {HOW}"));
    }
    if let Some(c) = s
        .chars()
        .find(|&c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "an interface name cannot contain {c:?} ('/', ':', whitespace and control characters are not allowed); {HOW}"
        ));
    }
    Ok(s.to_string())
}

#[derive(Debug, Args)]
pub struct XdpArgs {
    /// The network interface whose incoming packets are counted
    #[arg(value_name = "IFACE", value_parser = parse_iface)]
    pub iface: String,

    #[command(flatten)]
    pub common: Common,

    /// Print the flows that moved, then the totals, this often (e.g. 500ms, 1s, 2m)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Flow table capacity (256 bytes of kernel memory per flow); packets of
    /// flows that don't fit are counted as untracked
    #[arg(long, value_name = "N", default_value_t = 65536,
          value_parser = |s: &str| parse_count(s, 1, 1_048_576))]
    pub max_flows: u32,

    /// Remove a flow from the table once it has been idle this long
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Don't make flows of packets from this source prefix, count them as excluded
    /// (repeatable; IPv4 or IPv6, e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub exclude: Vec<Cidr>,

    /// native (driver) XDP, generic (kernel) XDP, or auto: native, else generic
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    pub mode: XdpMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpMode {
    Auto,
    Native,
    Generic,
}

/// An address prefix for `--exclude`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

/// `10.0.0.0/8`, `fd00::/8`; a bare address is a single host.
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: std::net::IpAddr = a
        .parse()
        .map_err(|_| "not an address prefix; use e.g. 10.0.0.0/8 or fd00::/8".to_string())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p.map(str::parse::<u8>) {
        None => max,
        Some(Ok(n)) if n <= max => n,
        Some(_) => {
            return Err(format!(
                "bad prefix length: use 0 to {max} for {}",
                if addr.is_ipv4() { "IPv4" } else { "IPv6" }
            ))
        }
    };
    Ok(Cidr { addr, prefix })
}

/// The longest duration any flag takes: one year. Longer ones would
/// overflow the clock arithmetic (a deadline is now + duration); to run
/// without end, leave `--duration` out.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// `500ms`, `10s`, `2m`, `1h`; a bare number is seconds. Positive, at most
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n = decimal(num).ok_or("not a duration; use e.g. 500ms, 10s, 2m or 1h")?;
    let ms_per: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("unknown unit {unit:?}; use ms, s, m or h")),
    };
    let max_ms = MAX_DURATION.as_millis() as u64;
    let ms = n
        .and_then(|n| n.checked_mul(ms_per))
        .filter(|&ms| ms <= max_ms)
        .ok_or_else(|| format!("too long: at most {}h (365 days)", max_ms / 3_600_000))?;
    if ms == 0 {
        return Err("zero; give a positive duration".into());
    }
    Ok(Duration::from_millis(ms))
}

/// `4096` → "4096", `65536` → "64K", `1 << 20` → "1M".
fn size_name(v: u64) -> String {
    match v {
        v if v >= 1 << 20 && v % (1 << 20) == 0 => format!("{}M", v >> 20),
        v if v >= 1 << 10 && v % (1 << 10) == 0 => format!("{}K", v >> 10),
        v => v.to_string(),
    }
}

/// `4096`, `4K`, `1M` (binary units), within `[min, max]` (at most 4G - 1).
pub fn parse_size(s: &str, min: u64, max: u64) -> Result<u32, String> {
    debug_assert!(max <= u64::from(u32::MAX));
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n = decimal(num).ok_or("not a size; use e.g. 4096, 32K or 4M")?;
    let mult: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        _ => return Err(format!("unknown unit {unit:?}; use K or M")),
    };
    match n.and_then(|n| n.checked_mul(mult)) {
        Some(v) if (min..=max).contains(&v) => Ok(v as u32),
        _ => Err(format!(
            "out of range: use {} to {} bytes",
            size_name(min),
            size_name(max)
        )),
    }
}

fn parse_ringbuf_size(s: &str) -> Result<u32, String> {
    let v = parse_size(s, 4096, 256 << 20)?;
    if !v.is_power_of_two() {
        return Err("not a power of two; use e.g. 1M, 4M or 16M".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("+1s").is_err());
        assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
        for long in [
            "8761h",
            "31536001",
            "9223372036854775807",
            "18446744073709551615h",
            "18446744073709552s",
            "99999999999999999999999ms",
        ] {
            assert!(
                parse_duration(long).unwrap_err().contains("too long"),
                "{long}"
            );
        }
    }

    #[test]
    fn counts_and_ids() {
        assert_eq!(parse_count("128", 1, 65536), Ok(128));
        assert!(parse_count("0", 1, 65536)
            .unwrap_err()
            .contains("1 to 65536"));
        assert!(parse_count("99999999999999999999", 1, 9)
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_count("+5", 1, 9)
            .unwrap_err()
            .contains("not a number"));
        assert_eq!(parse_uid("0"), Ok(0));
        assert_eq!(parse_uid("4294967294"), Ok(u32::MAX - 1));
        assert!(parse_uid("4294967295")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_pid("99999999999")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_pid("0").unwrap_err().contains("out of range"));
        assert_eq!(
            parse_pid(&std::process::id().to_string()),
            Ok(std::process::id())
        );
    }

    #[test]
    fn interface_names() {
        assert_eq!(parse_iface("eth0").as_deref(), Ok("eth0"));
        assert_eq!(
            parse_iface("a23456789012345").as_deref(),
            Ok("a23456789012345")
        );
        assert!(parse_iface("a234567890123456")
            .unwrap_err()
            .contains("at most 15"));
        for bad in ["", ".", "..", "a/b", "a:1", "a b", "eth\n0", "\u{1b}[31m"] {
            let e = parse_iface(bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn regex_errors_are_one_line() {
        for bad in ["(", "a{2,1}", "\\p{Nope}", "x\n(", "[z-a]"] {
            let e = parse_regex(bad).unwrap_err();
            assert_eq!(e.lines().count(), 1, "{e}");
            assert!(e.contains("not a valid regular expression"), "{e}");
        }
        assert!(parse_regex("(")
            .unwrap_err()
            .contains("unclosed group, at byte 0"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096", 1, 1 << 20), Ok(4096));
        assert_eq!(parse_size("32K", 1, 1 << 20), Ok(32768));
        assert_eq!(parse_size("1M", 1, 1 << 20), Ok(1 << 20));
        assert!(parse_size("2M", 1, 1 << 20)
            .unwrap_err()
            .contains("out of range: use 1 to 1M bytes"));
        assert!(parse_size("99999999999999999999K", 1, 1 << 20)
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_size("18014398509481984K", 1, 1 << 20)
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_ringbuf_size("12K")
            .unwrap_err()
            .contains("power of two"));
    }

    #[test]
    fn cidrs() {
        let c = |s| parse_cidr(s).map(|c| (c.addr.to_string(), c.prefix));
        assert_eq!(c("10.0.0.0/8"), Ok(("10.0.0.0".into(), 8)));
        assert_eq!(c("192.0.2.7"), Ok(("192.0.2.7".into(), 32)));
        assert_eq!(c("fd00::/8"), Ok(("fd00::".into(), 8)));
        assert_eq!(c("::1"), Ok(("::1".into(), 128)));
        assert!(c("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(c("fd00::/129").unwrap_err().contains("0 to 128"));
        assert!(c("10.0.0/8").unwrap_err().contains("not an address prefix"));
        assert!(c("10.0.0.0/").is_err());
        assert!(c("eth0").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
