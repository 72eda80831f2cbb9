//! Who ran what: effective ids and AT_SECURE (a setuid-root program run by
//! nobody), the login identity (auid, sessionid), the controlling terminal,
//! the parent (parent_comm, parent_exec_id), --euid, and the identity on exit
//! records.

use ebpf_jsonl_testkit as common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{has_arg, lost, marker, run, Tracer};
use serde_json::Value;

const NOBODY: u32 = 65534;

/// Copies of `id` in a fresh directory on a filesystem that honours setuid:
/// `suid` setuid root (mode 4755), `plain` not (0755).
struct Ids {
    dir: PathBuf,
    suid: PathBuf,
    plain: PathBuf,
}

fn nosuid(dir: &Path) -> bool {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: statvfs fills the zeroed struct it is given.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::statvfs(c.as_ptr(), &mut st) },
        0,
        "statvfs {dir:?}"
    );
    st.f_flag & libc::ST_NOSUID != 0
}

impl Ids {
    fn new() -> Ids {
        let base = [
            std::env::temp_dir(),
            PathBuf::from("/var/tmp"),
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
        ]
        .into_iter()
        .find(|d| d.is_dir() && !nosuid(d))
        .expect("a temporary directory on a filesystem mounted without nosuid");
        let dir = base.join(marker("ident"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (suid, plain) = (dir.join("id-suid"), dir.join("id-plain"));
        for (p, mode) in [(&suid, 0o4755), (&plain, 0o755)] {
            std::fs::copy("/usr/bin/id", p).unwrap();
            std::os::unix::fs::chown(p, Some(0), Some(0)).unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        Ids { dir, suid, plain }
    }
}

impl Drop for Ids {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `prog MARKER` as nobody (uid and gid 65534, no supplementary groups).
fn as_nobody(prog: &Path, m: &str) -> Command {
    let mut c = Command::new(prog);
    c.arg(m).uid(NOBODY).gid(NOBODY);
    c
}

/// A record's uid, gid, euid and egid (u32::MAX for a missing one).
fn ids_of(v: &Value) -> [u32; 4] {
    ["uid", "gid", "euid", "egid"].map(|k| v[k].as_u64().map_or(u32::MAX, |n| n as u32))
}

/// Runs `execs` and then `sentinel`, whose marker `m` passes the filter;
/// every record seen once the sentinel's arrived.
fn filtered(t: &mut Tracer, execs: Vec<Command>, (m, mut sentinel): (&str, Command)) -> Vec<Value> {
    for mut c in execs {
        run(&mut c);
    }
    run(&mut sentinel);
    t.exec_with(m);
    std::thread::sleep(Duration::from_millis(200));
    t.seen.clone()
}

#[test]
fn setuid_exec_shows_euid_0_and_secureexec() {
    let ids = Ids::new();
    let mut t = Tracer::start(&["exec"]);
    let (s, p) = (marker("suid"), marker("plain"));
    run(&mut as_nobody(&ids.suid, &s));
    run(&mut as_nobody(&ids.plain, &p));
    let v = t.exec_with(&s);
    assert_eq!(ids_of(&v), [NOBODY, NOBODY, 0, NOBODY], "{v}");
    assert_eq!(v["secureexec"], true, "{v}");
    let v = t.exec_with(&p);
    assert_eq!(
        (&v["uid"], &v["euid"]),
        (&Value::from(NOBODY), &Value::from(NOBODY)),
        "{v}"
    );
    assert_eq!(v["secureexec"], false, "{v}");
}

#[test]
fn euid_filter_admits_the_setuid_exec_only() {
    let ids = Ids::new();
    let mut t = Tracer::start(&["exec", "--euid", "0"]);
    let (yes, no) = (marker("euid-yes"), marker("euid-no"));
    let seen = filtered(
        &mut t,
        vec![as_nobody(&ids.plain, &no)],
        (&yes, as_nobody(&ids.suid, &yes)),
    );
    assert!(seen.iter().all(|v| v["euid"] == 0), "only euid 0");
    assert!(!seen.iter().any(|v| has_arg(v, &no)), "{seen:?}");
}

#[test]
fn uid_and_euid_filters_must_both_match() {
    let ids = Ids::new();
    let mut t = Tracer::start(&["exec", "--uid", "65534", "--euid", "0"]);
    let (yes, root, plain) = (marker("both"), marker("root"), marker("nobody"));
    let mut as_root = Command::new(&ids.plain);
    as_root.arg(&root);
    let seen = filtered(
        &mut t,
        vec![as_root, as_nobody(&ids.plain, &plain)],
        (&yes, as_nobody(&ids.suid, &yes)),
    );
    assert!(seen.iter().all(|v| v["uid"] == NOBODY && v["euid"] == 0));
    assert!(!seen.iter().any(|v| has_arg(v, &root) || has_arg(v, &plain)));
}

/// `sh -c SCRIPT MARKER FILE`: the script sees the marker as $0, a scratch
/// file as $1; returns the file's contents after the run.
fn sh_with_file(script: &str, m: &str) -> String {
    let file = std::env::temp_dir().join(marker("out"));
    let mut c = Command::new("/bin/sh");
    c.args(["-c", script, m]).arg(&file);
    run(&mut c);
    let out = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    out.trim().to_string()
}

/// The exec of /bin/true with marker `m` (not the shell that passed it on).
fn true_with(t: &mut Tracer, m: &str) -> Value {
    t.wait_for(m, |v| has_arg(v, m) && v["filename"] == "/bin/true")
}

const SET_LOGINUID: &str =
    r#"echo 1234 >/proc/self/loginuid && cat /proc/self/sessionid >"$1" && exec /bin/true "$0""#;

#[test]
fn loginuid_set_before_the_exec_is_the_auid() {
    let mut t = Tracer::start(&["exec"]);
    let (m, unset) = (marker("auid"), marker("no-auid"));
    let session = sh_with_file(SET_LOGINUID, &m);
    run(Command::new("/bin/true").arg(&unset));
    let v = true_with(&mut t, &m);
    assert_eq!(v["auid"], 1234, "{v}");
    assert!(v["sessionid"].is_u64(), "{v}");
    assert_eq!(v["sessionid"].to_string(), session, "{v}");
    // Ours is unset (4294967295), and so our children's.
    let ours = std::fs::read_to_string("/proc/self/loginuid").unwrap();
    assert_eq!(ours, "4294967295", "this test needs an unset loginuid");
    let v = t.exec_with(&unset);
    assert_eq!(
        (&v["auid"], &v["sessionid"]),
        (&Value::Null, &Value::Null),
        "{v}"
    );
}

#[test]
fn tty_under_a_pty_and_none_without_a_terminal() {
    let mut t = Tracer::start(&["exec"]);
    let (pty, none) = (marker("pty"), marker("no-tty"));
    let inner = r#"tty >"$1"; exec /bin/true "$0""#;
    let script = r#"exec script -qec "sh -c '$2' '$0' '$1'" /dev/null"#;
    let file = std::env::temp_dir().join(marker("tty"));
    run(Command::new("/bin/sh")
        .args(["-c", script, &pty])
        .arg(&file)
        .arg(inner));
    let printed = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    let v = true_with(&mut t, &pty);
    let dev = printed.trim().strip_prefix("/dev/").unwrap_or_else(|| {
        panic!("the child's tty printed {printed:?}; record {v}");
    });
    assert!(dev.starts_with("pts/"), "{dev}");
    assert_eq!(v["tty"], dev, "{v}");

    // A new session has no controlling terminal, whatever the test runs under.
    let mut c = Command::new("/bin/true");
    c.arg(&none);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    run(&mut c);
    let v = t.exec_with(&none);
    assert_eq!(v["tty"], Value::Null, "{v}");
}

#[test]
fn parent_exec_id_names_the_shells_exec() {
    let mut t = Tracer::start(&["exec"]);
    let m = marker("shell");
    let child = format!("{m}-child");
    run(Command::new("/bin/sh").args(["-c", r#"/bin/true "$0"-child; exit 0"#, &m]));
    let shell = t.exec_with(&m);
    let v = t.exec_with(&child);
    assert_eq!(v["ppid"], shell["pid"], "{v}");
    assert_eq!(v["parent_exec_id"], shell["exec_id"], "{v}\n{shell}");
    assert_eq!(v["parent_comm"], shell["comm"], "{v}");
    assert_eq!(v["parent_comm"], "sh", "{v}");

    // The shell's parent (this test) exec'd before the tool: its fork time,
    // which /proc/self/stat gives in clock ticks.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let start_ticks: u64 = fields[19].parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let pid = std::process::id();
    let id = shell["parent_exec_id"].as_str().unwrap();
    let (p, ns) = id.split_once('-').unwrap();
    assert_eq!(p, pid.to_string(), "{shell}");
    let ns: u64 = ns.parse().unwrap();
    assert!(
        (ns / (1_000_000_000 / hz)).abs_diff(start_ticks) <= 1,
        "{id}: our start is tick {start_ticks}"
    );
}

#[test]
fn exit_records_carry_the_identity() {
    let ids = Ids::new();
    let mut t = Tracer::start(&["exec", "--exits"]);
    let (m, s) = (marker("exit-auid"), marker("exit-suid"));
    let session = sh_with_file(SET_LOGINUID, &m);
    run(&mut as_nobody(&ids.suid, &s));
    for (mark, uid, euid, auid) in [(&m, 0, 0, Value::from(1234)), (&s, NOBODY, 0, Value::Null)] {
        let pid = t.exec_with(mark)["pid"].clone();
        let x = t.wait_for(&format!("exit of {pid}"), |v| {
            v["type"] == "exit" && v["pid"] == pid
        });
        assert_eq!(ids_of(&x), [uid, uid, euid, uid], "{x}");
        assert_eq!(x["auid"], auid, "{x}");
        if auid.is_null() {
            assert_eq!(x["sessionid"], Value::Null, "{x}");
        } else {
            assert_eq!(x["sessionid"].to_string(), session, "{x}");
        }
    }
}

#[test]
fn exec_times_not_kept_for_a_full_table_are_counted() {
    // Room for 1 exec'd live process: two live at once, one is counted.
    let mut t = Tracer::start(&["exec", "--table-size", "1"]);
    let mut sleeper = Command::new("/bin/sleep").arg("30").spawn().unwrap();
    // Its record means its exec took the slot (or was counted): /proc's exe
    // changes earlier, before the exec hook runs.
    let pid = sleeper.id();
    t.wait_for(&format!("the exec of {pid}"), |v| {
        v["type"] == "exec" && v["pid"] == pid
    });
    run(&mut Command::new("/bin/true"));
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    let f = t.stop();
    assert_eq!(f.status.code(), Some(0), "{}", f.stderr);
    assert!(lost(&f.records, "exec_times_full") >= 1, "{:?}", f.records);
}

#[test]
fn exec_times_are_forgotten_when_processes_exit() {
    // Without --exits: 600 processes in turn through a 300-entry table. Kept
    // for good, at least 300 of them would not fit; forgotten at their exit,
    // only what else runs on the host at once can crowd it.
    let t = Tracer::start(&["exec", "--table-size", "300"]);
    for _ in 0..600 {
        run(&mut Command::new("/bin/true"));
    }
    let f = t.stop();
    assert_eq!(f.status.code(), Some(0), "{}", f.stderr);
    let full = lost(&f.records, "exec_times_full");
    assert!(
        full < 300,
        "{full} exec times not kept: entries outlive their processes"
    );
}
