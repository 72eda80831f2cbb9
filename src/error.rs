//! One error type for the whole tool: each kind has a documented exit code,
//! and `main` prints it once, on one line.

use std::borrow::Cow;
use std::fmt;

/// `s` with control characters escaped as `{:?}` would (`\n`, `\t`,
/// `\u{1b}`), the rest as it is: what a message quotes (an interface name,
/// a path) cannot break its line.
pub fn one_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Exit codes (documented in README.md).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const PRIVILEGE: i32 = 3;
    pub const KERNEL: i32 = 4;
}

#[derive(Debug)]
pub enum Error {
    /// Bad flag or value (exit 2).
    Usage(String),
    /// Missing root / capabilities (exit 3).
    Privilege(String),
    /// The kernel lacks a feature we need (exit 4).
    Kernel(String),
    /// Anything else (exit 1).
    Failure(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Privilege(_) => exit::PRIVILEGE,
            Error::Kernel(_) => exit::KERNEL,
            Error::Failure(_) => exit::FAILURE,
        }
    }
}

/// One line, whatever the message quotes (see [`one_line`]).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Privilege(m) | Error::Kernel(m) | Error::Failure(m) => {
                f.write_str(&one_line(m))
            }
        }
    }
}
