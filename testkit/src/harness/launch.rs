//! Starting the tool for a test, whatever its stdout is wired to: its stderr
//! collected line by line, a wait until it says it is attached, a bounded
//! wait for its exit. What [`crate::Tracer`] and [`crate::Wired`] share.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The stderr of a started tool, read to a string as it comes.
pub(crate) struct Stderr {
    text: Arc<Mutex<String>>,
    /// The reader: done once the tool (and so its stderr) has ended.
    reader: Option<thread::JoinHandle<()>>,
    attached: Receiver<()>,
}

/// Spawns `cmd` with stdin closed, stdout `stdout` and stderr collected.
pub(crate) fn launch(mut cmd: Command, stdout: Stdio) -> (Child, Stderr) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ebpf-jsonl");
    let text = Arc::new(Mutex::new(String::new()));
    let (ready_tx, attached) = channel();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let lines = text.clone();
    let reader = thread::spawn(move || {
        let mut line = String::new();
        while err.read_line(&mut line).unwrap_or(0) > 0 {
            // Stored before readiness is signalled: whatever a test reads
            // once its start returns is already in the text.
            let is_attached = line.contains(": attached ");
            lines.lock().unwrap().push_str(&line);
            if is_attached {
                let _ = ready_tx.send(());
            }
            line.clear();
        }
    });
    let stderr = Stderr {
        text,
        reader: Some(reader),
        attached,
    };
    (child, stderr)
}

impl Stderr {
    pub(crate) fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Waits (30 s at most) until the tool says it is attached; fails the
    /// test, naming `what`, if it exits before or never does (then killed).
    pub(crate) fn wait_attached(&mut self, child: &mut Child, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.attached.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => return,
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(st)) = child.try_wait() {
                        self.join();
                        panic!(
                            "{what} exited ({st}) before attaching; stderr:\n{}",
                            self.text()
                        );
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    self.join();
                    panic!("{what} did not attach; stderr:\n{}", self.text());
                }
            }
        }
    }

    /// Once the tool has exited: waits until its stderr is read to the end.
    pub(crate) fn join(&mut self) {
        if let Some(h) = self.reader.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !h.is_finished() {
                // Still open: something else holds the pipe; report what we have.
                if Instant::now() > deadline {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let _ = h.join();
        }
    }
}

/// The child's exit status once it exits, or `None` if it still runs `limit` later.
pub(crate) fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to the child.
pub(crate) fn signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}
