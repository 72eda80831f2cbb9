//! Every line the tool writes on stderr goes through here: errors, notes,
//! libbpf's log (with --verbose), the end-of-run loss summaries, usage errors
//! and panics. `--log-format` picks their form: `text`, `ebpf-jsonl: MSG` (an
//! error `ebpf-jsonl: error: MSG`), or `json`, one object a line
//! (`ebpf-jsonl schema log`) that a log shipper takes as an event:
//! `{"timestamp", "level", "message", "subcommand"}`.
//!
//! Writes never block for long: a stderr that takes nothing within a second
//! is skipped (it may be the very pipe that stalled).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::clock::Timestamp;

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `ebpf-jsonl: MSG` lines
    Text,
    /// One JSON object a line: timestamp, level, message, subcommand
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// What ends the run (or a usage error, or a panic).
    Error,
    /// Something went not as asked, or is left behind; the run goes on.
    Warn,
    /// What the run does: hooks attached, modes chosen, their costs.
    Info,
}

static JSON: AtomicBool = AtomicBool::new(false);
static SUBCOMMAND: OnceLock<&'static str> = OnceLock::new();

pub fn set_format(f: Format) {
    JSON.store(f == Format::Json, Ordering::Relaxed);
}

fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// The subcommand running, for json lines' `subcommand` (set once).
pub fn set_subcommand(name: &'static str) {
    let _ = SUBCOMMAND.set(name);
}

pub fn error(msg: &str) {
    say(Level::Error, msg);
}

pub fn warn(msg: &str) {
    say(Level::Warn, msg);
}

pub fn info(msg: &str) {
    say(Level::Info, msg);
}

/// One message of ours: `ebpf-jsonl: [error: ]MSG` or its json line.
pub fn say(level: Level, msg: &str) {
    write_stderr(&line(level, msg, true, json()));
}

/// A line that is not ours (libbpf's log): as it is in text, the message of
/// a json line.
pub fn forward(level: Level, msg: &str) {
    write_stderr(&line(level, msg, false, json()));
}

/// A usage error (bad flag or value): clap's own text, or one json line.
pub fn usage_error(e: &clap::Error) {
    if json() {
        say(Level::Error, &one_line_usage(&e.render().to_string()));
    } else {
        let _ = e.print();
    }
}

/// In json mode a panic is one error line (no backtrace); text mode keeps
/// Rust's own report.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !json() {
            return default(info);
        }
        let thread = std::thread::current();
        let at = info.location().map(ToString::to_string);
        say(
            Level::Error,
            &panic_text(thread.name(), at.as_deref(), info.payload()),
        );
    }));
}

#[derive(Serialize)]
struct JsonLine<'a> {
    timestamp: Timestamp,
    level: Level,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subcommand: Option<&'static str>,
}

fn line(level: Level, msg: &str, ours: bool, json: bool) -> String {
    if json {
        let l = JsonLine {
            timestamp: Timestamp::now(),
            level,
            message: msg,
            subcommand: SUBCOMMAND.get().copied(),
        };
        let mut text = serde_json::to_string(&l).expect("a log line serialises");
        text.push('\n');
        return text;
    }
    let prefix = match (ours, level) {
        (false, _) => "",
        (true, Level::Error) => "ebpf-jsonl: error: ",
        (true, _) => "ebpf-jsonl: ",
    };
    format!("{prefix}{msg}\n")
}

/// clap's report (`error: ...`, a tip, the usage, a hint) on one line.
fn one_line_usage(rendered: &str) -> String {
    let lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let lines: Vec<&str> = lines.collect();
    let mut text = lines.join("; ");
    if let Some(rest) = text.strip_prefix("error: ") {
        text = rest.to_string();
    }
    text
}

fn panic_text(thread: Option<&str>, at: Option<&str>, payload: &(dyn Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let thread = thread.unwrap_or("<unnamed>");
    let at = at.map(|a| format!(" at {a}")).unwrap_or_default();
    format!("thread '{thread}' panicked{at}: {what}")
}

/// Writes `text` to fd 2, waiting at most a second for it to take it all.
fn write_stderr(text: &str) {
    let limit = Instant::now() + Duration::from_secs(1);
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let left = limit.saturating_duration_since(Instant::now());
        let mut p = libc::pollfd {
            fd: 2,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd; then a write of a valid buffer to fd 2.
        let n = unsafe {
            if libc::poll(&mut p, 1, left.as_millis() as i32) != 1 || p.revents & libc::POLLOUT == 0
            {
                return;
            }
            libc::write(2, rest.as_ptr().cast(), rest.len())
        };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

#[cfg(test)]
mod tests;
