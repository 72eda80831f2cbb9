//! exec's records: an exec (successful or failed) and a process's exit,
//! with the kernel-byte types they print (a task's name, an argv).

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::exec::skel::COMM_LEN;
use crate::record::text::{nul_terminated, text_field, text_list_field, LossyList};

/// One execve/execveat: successful (`ret` 0), or failed (with --failed).
#[derive(Debug, Serialize)]
pub struct ExecRecord {
    pub timestamp: Timestamp,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(flatten)]
    pub ident: Identity,
    /// The kernel's AT_SECURE: setuid, setgid or file capabilities raised
    /// privileges (false for a failed exec: nothing was executed).
    pub secureexec: bool,
    /// The controlling terminal as its /dev path names it ("pts/3", "tty1").
    pub tty: Option<Box<str>>,
    /// `comm` (and `comm_b64` when not UTF-8).
    #[serde(flatten, serialize_with = "comm_fields")]
    pub comm: Comm,
    /// The parent's name (its thread-group leader's), and `parent_comm_b64`.
    #[serde(flatten, serialize_with = "parent_comm_fields")]
    pub parent_comm: Comm,
    /// `filename` and `args`, in one allocation (printed as those two fields).
    #[serde(flatten)]
    pub text: ExecText,
    pub args_truncated: bool,
    /// Bytes of the whole argv (each element's NUL included), when known.
    pub args_size: Option<u32>,
    /// `cwd`, `exe` and `fileless` (printed as those three fields).
    #[serde(flatten)]
    pub paths: ExecPaths,
    pub ret: i32,
    pub error: Option<&'static str>,
    pub exec_id: ExecId,
    /// The exec_id of the parent's current image (or of its fork).
    pub parent_exec_id: ExecId,
    pub cgroup_id: u64,
    pub cgroup: Option<Arc<str>>,
    pub container_id: Option<Arc<str>>,
    pub mntns: u32,
    pub pidns: u32,
}

/// An exec's filename followed by its argv (each element NUL-terminated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecText {
    buf: Box<[u8]>,
    filename_len: usize,
}

impl ExecText {
    /// `argv` as the kernel lays it out: elements each ending in NUL.
    pub fn new(filename: &[u8], argv: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(filename.len() + argv.len());
        buf.extend_from_slice(filename);
        buf.extend_from_slice(argv);
        Self::from_parts(buf, filename.len())
    }

    /// `buf` holds the filename's `filename_len` bytes, then argv.
    pub fn from_parts(buf: Vec<u8>, filename_len: usize) -> Self {
        ExecText {
            buf: buf.into_boxed_slice(),
            filename_len,
        }
    }

    pub fn filename(&self) -> &[u8] {
        &self.buf[..self.filename_len]
    }

    pub fn args(&self) -> Argv<'_> {
        Argv(&self.buf[self.filename_len..])
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Printed as two fields: `filename` (a string) and `args` (an array), each
/// followed by its `_b64` sibling when its bytes are not valid UTF-8.
impl Serialize for ExecText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("ExecText", 4)?;
        text_field(&mut m, "filename", "filename_b64", self.filename())?;
        text_list_field(&mut m, "args", "args_b64", self.args().0)?;
        m.end()
    }
}

/// A record's `comm` field: `comm`, and `comm_b64` when its bytes are not
/// valid UTF-8 (a process picks its name, so it can pick invalid bytes).
fn comm_fields<S: Serializer>(c: &Comm, s: S) -> Result<S::Ok, S::Error> {
    comm_named(c, s, "comm", "comm_b64")
}

fn parent_comm_fields<S: Serializer>(c: &Comm, s: S) -> Result<S::Ok, S::Error> {
    comm_named(c, s, "parent_comm", "parent_comm_b64")
}

fn comm_named<S: Serializer>(
    c: &Comm,
    s: S,
    key: &'static str,
    key_b64: &'static str,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_struct("Comm", 2)?;
    text_field(&mut m, key, key_b64, c.bytes())?;
    m.end()
}

/// Where an exec ran and what it ran, resolved in the kernel at the event:
/// kernel bytes, as absolute paths in the task's own view (`/` is its root).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecPaths {
    /// The working directory; None if not even one name could be read.
    pub cwd: Option<Box<[u8]>>,
    /// The file executed; None for a failed exec (nothing was).
    pub exe: Option<Box<[u8]>>,
    /// The file executed has no link in any filesystem (a memfd, an
    /// O_TMPFILE file, a file deleted before its exec).
    pub fileless: bool,
}

impl ExecPaths {
    /// Heap bytes held (for the writer queue's budget).
    pub fn heap_bytes(&self) -> usize {
        self.cwd.as_ref().map_or(0, |p| p.len()) + self.exe.as_ref().map_or(0, |p| p.len())
    }
}

/// Printed as three fields: `cwd` and `exe` (strings or null), `fileless`.
impl Serialize for ExecPaths {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("ExecPaths", 3)?;
        path_field(&mut m, "cwd", "cwd_b64", self.cwd.as_deref())?;
        path_field(&mut m, "exe", "exe_b64", self.exe.as_deref())?;
        m.serialize_field("fileless", &self.fileless)?;
        m.end()
    }
}

/// One path field: kernel bytes as a JSON string (and its `_b64` sibling
/// when they are not valid UTF-8, like every string), or null.
fn path_field<M: SerializeStruct>(
    m: &mut M,
    name: &'static str,
    name_b64: &'static str,
    path: Option<&[u8]>,
) -> Result<(), M::Error> {
    match path {
        Some(p) => text_field(m, name, name_b64, p),
        None => m.serialize_field(name, &None::<&str>),
    }
}

/// The end of a whole process (thread group).
#[derive(Debug, Serialize)]
pub struct ExitRecord {
    pub timestamp: Timestamp,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(flatten)]
    pub ident: Identity,
    /// `comm` (and `comm_b64` when not UTF-8).
    #[serde(flatten, serialize_with = "comm_fields")]
    pub comm: Comm,
    pub exit_code: u8,
    pub signal: Option<&'static str>,
    pub core_dumped: bool,
    pub duration_ns: u64,
    pub exec_id: ExecId,
}

/// Who a process is beyond its real ids, on exec and exit records alike:
/// its effective ids and its login identity (audit's loginuid and session,
/// None when unset or when the kernel has no audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub euid: u32,
    pub egid: u32,
    pub auid: Option<u32>,
    pub sessionid: Option<u32>,
}

/// Pairs a process's exec with its exit: the pid and the boot-time ns of the
/// exec (or of the fork, for a process not seen exec'ing), unique across uptime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecId {
    pub pid: u32,
    pub boot_ns: u64,
}

impl Serialize for ExecId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}-{}", self.pid, self.boot_ns))
    }
}

/// A task's name (up to TASK_COMM_LEN bytes, NUL-padded). Alone it prints as
/// a JSON string, each invalid sequence as U+FFFD; records print it through
/// [`text_field`], which adds the exact bytes when that lost any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Comm(pub [u8; COMM_LEN]);

impl Comm {
    pub fn bytes(&self) -> &[u8] {
        let n = self.0.iter().position(|&c| c == 0).unwrap_or(COMM_LEN);
        &self.0[..n]
    }
}

impl Serialize for Comm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(self.bytes()))
    }
}

/// argv as the kernel laid it out: every element NUL-terminated. Printed as a
/// JSON array of strings, element for element, empty strings kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argv<'a>(pub &'a [u8]);

impl<'a> Argv<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> {
        nul_terminated(self.0)
    }
}

/// Alone, lossy strings; records print argv through [`text_list_field`].
impl Serialize for Argv<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LossyList(self.0).serialize(s)
    }
}
