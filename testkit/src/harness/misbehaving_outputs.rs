//! Outputs that misbehave, for the tests of how a run ends on them: a FIFO
//! nobody reads, a filesystem that fills up; and what such a run must leave.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};

/// A FIFO in `dir` with a reader that never reads: (the reader, the writer end for
/// the tool). The directory goes when the test ends.
pub struct Fifo {
    dir: PathBuf,
    reader: std::fs::File,
}

impl Fifo {
    pub fn new(dir: PathBuf) -> (Fifo, std::fs::File) {
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        (Fifo { dir, reader }, writer)
    }

    /// Bytes waiting in the pipe.
    pub fn queued(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD into an int.
        unsafe { libc::ioctl(self.reader.as_raw_fd(), libc::FIONREAD, &mut n) };
        n as usize
    }

    /// Everything in the pipe (the writer must have exited).
    pub fn take(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return all,
                Err(e) => panic!("reading the FIFO: {e}"),
            }
        }
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A 64 KiB tmpfs mounted on `dir`, unmounted (and removed) when the test ends.
pub struct SmallFs(pub PathBuf);

impl SmallFs {
    pub fn new(dir: PathBuf) -> SmallFs {
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        SmallFs(dir)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A run ended by a full disk (or /dev/full): exit 1 with one error line naming `path`.
pub fn assert_ended_by_enospc(st: ExitStatus, err: &str, path: &str) {
    assert_eq!(st.code(), Some(1), "stderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one line: {err}");
    assert!(
        errors[0].contains(path) && errors[0].contains("No space left"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// What a run wrote to a file that filled up: whole JSON lines, none torn.
pub fn assert_whole_json_lines(path: &std::path::Path) {
    let text = std::fs::read(path).unwrap();
    assert!(!text.is_empty());
    assert_eq!(text.last(), Some(&b'\n'), "no torn last line");
    for l in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(l).expect("every line whole JSON");
    }
}
