//! For the tests of how a run ends when its output misbehaves: the tool with
//! stdout wired to whatever a test gives it (a FIFO nobody reads, a socket,
//! /dev/full, a file on a filesystem that fills up).

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::harness::launch::{exit_within, launch, signal, Stderr};

/// The tool with stdout wired to whatever a test gives it, stderr
/// collected, started once it says it is attached.
pub struct Wired {
    pub child: Child,
    stderr: Stderr,
}

impl Wired {
    pub fn start(cmd: Command, stdout: Stdio) -> Wired {
        let what = format!("{cmd:?}");
        let (child, stderr) = launch(cmd, stdout);
        let mut w = Wired { child, stderr };
        w.stderr.wait_attached(&mut w.child, &what);
        w
    }

    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    pub fn signal(&self, sig: i32) {
        signal(&self.child, sig);
    }

    /// Waits for exit, failing the test (after killing the tool) past
    /// `limit`: the status, and how long the wait took.
    pub fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let t = Instant::now();
        let Some(st) = exit_within(&mut self.child, limit) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.stderr.join();
            panic!(
                "ebpf-jsonl still running {limit:?} later; stderr:\n{}",
                self.stderr()
            );
        };
        let took = t.elapsed();
        // The last lines, before a test reads them.
        self.stderr.join();
        (st, took)
    }
}

impl Drop for Wired {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
