//! The running tool, as a test drives it: started (optionally in a network
//! namespace, stalled, or with minimal capabilities), waited on until it says
//! it is attached, its records read and validated as they come.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::command::{tool_command, tool_command_as, Privileges};
use crate::harness::launch::{exit_within, launch, signal, Stderr};
use crate::harness::records::{has_arg, validate};

/// The running tool.
pub struct Tracer {
    pub child: Child,
    /// Each stdout line, parsed (or why it is not JSON), in order.
    records: Receiver<Result<Value, String>>,
    pub seen: Vec<Value>,
    stderr: Stderr,
    gate: Option<Sender<()>>,
}

pub struct Finished {
    pub status: ExitStatus,
    pub records: Vec<Value>,
    pub stderr: String,
}

impl Tracer {
    /// Starts `ebpf-jsonl ARGS` and waits until it says it is attached.
    pub fn start(args: &[&str]) -> Tracer {
        Self::spawn(None, args, true)
    }

    /// Like `start`, inside network namespace `ns` (`ip netns exec`).
    pub fn start_in(ns: &str, args: &[&str]) -> Tracer {
        Self::spawn(Some(ns), args, true)
    }

    /// Like `start`, but nobody reads stdout until [`Tracer::resume`].
    pub fn start_stalled(args: &[&str]) -> Tracer {
        Self::spawn(None, args, false)
    }

    /// Like `start`, as nobody holding only CAP_BPF and CAP_PERFMON (the
    /// minimum README states), through setpriv's ambient capabilities.
    pub fn start_minimal_caps(args: &[&str]) -> Tracer {
        Self::spawn_command(tool_command_as(None, Privileges::MinimalCaps), args, true)
    }

    fn spawn(ns: Option<&str>, args: &[&str], reading: bool) -> Tracer {
        Self::spawn_command(tool_command(ns), args, reading)
    }

    fn spawn_command(mut cmd: Command, args: &[&str], reading: bool) -> Tracer {
        cmd.args(args);
        let (mut child, stderr) = launch(cmd, Stdio::piped());
        let (tx, records) = channel();
        let (gate_tx, gate_rx) = channel::<()>();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            if !reading {
                let _ = gate_rx.recv();
            }
            for line in BufReader::with_capacity(1 << 20, out).lines() {
                let Ok(line) = line else { break };
                // A line that is not JSON goes to the test as an error, so it
                // fails naming the line (a panic here would only end the thread).
                let v = serde_json::from_str::<Value>(&line)
                    .map_err(|e| format!("stdout line is not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut t = Tracer {
            child,
            records,
            seen: Vec::new(),
            stderr,
            gate: (!reading).then_some(gate_tx),
        };
        t.stderr
            .wait_attached(&mut t.child, &format!("ebpf-jsonl {args:?}"));
        t
    }

    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// The next stdout record, validated against the schema (an error on
    /// timeout or at the end of output). A line that is not JSON fails the test here.
    fn next_record(&self, timeout: Duration) -> Result<Value, RecvTimeoutError> {
        let v = self.records.recv_timeout(timeout)?;
        let v = v.unwrap_or_else(|e| panic!("{e}"));
        validate(&v);
        Ok(v)
    }

    pub fn resume(&mut self) {
        self.gate.take();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the first record matching `pred` (also searching what was seen).
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_record(left) {
                Ok(v) => {
                    let hit = pred(&v);
                    self.seen.push(v);
                    if hit {
                        return self.seen.last().unwrap().clone();
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "no record for {what} after {} records; stderr:\n{}",
                    self.seen.len(),
                    self.stderr()
                ),
            }
        }
    }

    /// The exec record whose argv holds `marker`.
    pub fn exec_with(&mut self, marker: &str) -> Value {
        self.wait_for(marker, |v| has_arg(v, marker))
    }

    pub fn signal(&self, sig: i32) {
        signal(&self.child, sig);
    }

    /// SIGINT, then everything printed until exit.
    pub fn stop(self) -> Finished {
        self.signal(libc::SIGINT);
        self.wait()
    }

    /// [`Tracer::stop`], and the tool must have exited successfully.
    pub fn stop_ok(self) -> Finished {
        let out = self.stop();
        assert!(out.status.success(), "{}", out.stderr);
        out
    }

    /// Waits for exit (at most 30 s) and collects everything printed.
    pub fn wait(mut self) -> Finished {
        self.gate.take();
        let Some(status) = exit_within(&mut self.child, Duration::from_secs(30)) else {
            let _ = self.child.kill();
            panic!("ebpf-jsonl did not exit; stderr:\n{}", self.stderr());
        };
        // The tool has exited, so stdout ends: read it to the end (the
        // reader disconnects at EOF) rather than until a pause.
        let mut records = std::mem::take(&mut self.seen);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_record(left) {
                Ok(v) => records.push(v),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "stdout of ebpf-jsonl did not end after it exited; stderr:\n{}",
                    self.stderr()
                ),
            }
        }
        self.stderr.join();
        Finished {
            status,
            records,
            stderr: self.stderr(),
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
