//! JSON Schema (draft 2020-12) of every record type: `ebpf-jsonl schema
//! [TYPE]`, and of `--log-format json`'s stderr lines (`schema log`). The test
//! suite validates every record and log line it sees against these, so schema
//! and output cannot drift.

use serde_json::{json, Map, Value};

mod fields;

use fields::*;

pub const TYPES: [&str; 5] = ["exec", "exit", "lost", "flow", "xdp_stats"];

/// `schema log`: the stderr lines of `--log-format json`, not a record type.
pub const LOG: &str = "log";

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// One record type: `type` and `timestamp` (every record has both), all
/// `required` fields, plus `optional` ones, nothing else.
fn object(
    kind: &str,
    description: &str,
    required: Vec<(&str, Value)>,
    optional: Vec<(&str, Value)>,
) -> Value {
    let mut props = Map::new();
    props.insert("type".into(), json!({"const": kind}));
    let mut names = vec![Value::from("type")];
    for (k, v) in std::iter::once(("timestamp", timestamp())).chain(required) {
        names.push(Value::from(k));
        props.insert(k.into(), v);
    }
    for (k, v) in optional {
        props.insert(k.into(), v);
    }
    json!({
        "$schema": DRAFT,
        "$id": format!("https://ebpf-jsonl.invalid/schema/{kind}.json"),
        "title": format!("ebpf-jsonl {kind} record"),
        "description": description,
        "type": "object",
        "properties": props,
        "required": names,
        "additionalProperties": false
    })
}

pub fn of(kind: &str) -> Option<Value> {
    Some(match kind {
        "exec" => object(
            "exec",
            "One execve/execveat: successful (ret 0) or, with --failed, failed (ret < 0).",
            [
                pid(),
                ("tid", uint(32, "the thread that called exec")),
                ppid(),
            ]
            .into_iter()
            .chain(identity())
            .chain([
                (
                    "secureexec",
                    json!({"type": "boolean",
                           "description": "the kernel's AT_SECURE: setuid, setgid or file \
                                           capabilities raised privileges; false for a failed exec"}),
                ),
                (
                    "tty",
                    nullable_string("controlling terminal as under /dev (pts/3, tty1), or null"),
                ),
                (
                    "comm",
                    string("the new program's name (the caller's for a failed exec)"),
                ),
                (
                    "parent_comm",
                    string("the parent's name (its thread-group leader's)"),
                ),
                (
                    "filename",
                    string("the path exactly as passed to execve/execveat"),
                ),
                (
                    "args",
                    json!({"type": "array", "items": {"type": "string"},
                                "description": "argv, element for element"}),
                ),
                (
                    "args_truncated",
                    json!({"type": "boolean",
                           "description": "argv was cut; the last element may be a prefix"}),
                ),
                (
                    "args_size",
                    json!({"type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX,
                           "description": "bytes of the whole argv, each element's NUL \
                                           included; null if a failed exec's could not be measured"}),
                ),
                (
                    "cwd",
                    nullable_string(
                        "absolute working directory at the exec, resolved in the kernel \
                         relative to the process's own root (as its getcwd() has it): \
                         \" (deleted)\" appended for a removed directory, \"(unreachable)\" \
                         prepended for one outside its root; deeper than 32 levels or longer \
                         than 4 KiB of names, its innermost components behind …/ \
                         (\"…/a/b\"); null if not even one name could be read",
                    ),
                ),
                (
                    "exe",
                    nullable_string(
                        "absolute path of the file the kernel executed (symlinks, \
                         execveat(fd) and /proc/self/exe resolved; a script's interpreter), \
                         in the same form as cwd; a memfd as \"/memfd:NAME (deleted)\"; \
                         null for a failed exec",
                    ),
                ),
                (
                    "fileless",
                    json!({"type": "boolean",
                           "description": "the file executed has no link in any filesystem \
                                           (a memfd, an O_TMPFILE file, a file deleted before \
                                           the exec); false for a failed exec"}),
                ),
                (
                    "ret",
                    json!({"type": "integer", "maximum": 0,
                               "description": "0, or the negative errno of a failed exec"}),
                ),
                (
                    "error",
                    json!({"type": ["string", "null"], "pattern": "^E[A-Z0-9]+$",
                                 "description": "errno name of a failed exec, else null"}),
                ),
                ("exec_id", exec_id("pairs the exec with its exit")),
                (
                    "parent_exec_id",
                    exec_id("the exec_id of the parent's current image (or of its fork)"),
                ),
                ("cgroup_id", uint(64, "cgroup v2 id")),
                (
                    "cgroup",
                    nullable_string(
                        "cgroup v2 path relative to the hierarchy root; \
                         a path cut to its innermost levels starts with …",
                    ),
                ),
                (
                    "container_id",
                    json!({"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"}),
                ),
                ("mntns", uint(32, "mount namespace inode")),
                ("pidns", uint(32, "pid namespace inode")),
            ])
            .collect(),
            vec![
                comm_b64(),
                ("parent_comm_b64", base64_string(&b64("parent_comm"))),
                ("filename_b64", base64_string(&b64("filename"))),
                ("cwd_b64", base64_string(&b64("cwd"))),
                ("exe_b64", base64_string(&b64("exe"))),
                (
                    "args_b64",
                    json!({"type": "array", "items": base64_string("one argv element's bytes"),
                           "description": "present only when some argv element is not valid \
                                           UTF-8: every element's exact bytes in standard base64 \
                                           (RFC 4648, padded), valid ones too, so index i is \
                                           args[i]'s. Bytes of element i: \
                                           jq -r '.args_b64[i]' | base64 -d"}),
                ),
            ],
        ),
        "exit" => object(
            "exit",
            "A process (thread group) ended (exec --exits).",
            [pid(), ppid()]
            .into_iter()
            .chain(identity())
            .chain([
                ("comm", string("program name")),
                (
                    "exit_code",
                    uint(8, "status the parent's wait() sees; 128+signal if killed"),
                ),
                (
                    "signal",
                    json!({"type": ["string", "null"], "pattern": "^SIG[A-Z0-9+]+$"}),
                ),
                ("core_dumped", json!({"type": "boolean"})),
                ("duration_ns", uint(64, "time since the process was forked")),
                ("exec_id", exec_id("pairs the exit with its exec")),
            ])
            .collect(),
            vec![comm_b64()],
        ),
        "lost" => object(
            "lost",
            "Events the tool could not deliver.",
            vec![
                ("count", json!({"type": "integer", "minimum": 1})),
                ("reason", json!({"enum": crate::record::LostReason::ALL})),
            ],
            vec![],
        ),
        "flow" => object(
            "flow",
            "Packets and bytes of one flow within one interval (xdp).",
            vec![
                iface(),
                direction(),
                (
                    "proto",
                    json!({"type": "string",
                                 "pattern": "^(tcp|udp|icmp|icmpv6|[0-9]{1,3})$"}),
                ),
                ("src_ip", ip("source address")),
                ("dst_ip", ip("destination address")),
                ("packets", uint(64, "packets in the interval")),
                (
                    "bytes",
                    uint(64, "bytes in the interval, L2 header included"),
                ),
            ],
            vec![
                ("src_port", uint(16, "TCP/UDP only")),
                ("dst_port", uint(16, "TCP/UDP only")),
                ("icmp_type", uint(8, "ICMP/ICMPv6 only")),
                ("icmp_code", uint(8, "ICMP/ICMPv6 only")),
                (
                    "fragment",
                    json!({"const": true,
                           "description": "later fragments (offset > 0) of IP datagrams: \
                                           no transport header, so no ports or ICMP type"}),
                ),
            ],
        ),
        "xdp_stats" => {
            let mut fields = vec![
                iface(),
                direction(),
                (
                    "interval_ns",
                    uint(
                        64,
                        "the length of the interval this record ends, as measured: \
                         --interval give or take scheduling; more when a pass ran late",
                    ),
                ),
                ("packets", uint(64, "every packet seen since start")),
                ("bytes", uint(64, "every byte seen since start")),
                ("flows", uint(64, "flows tracked now")),
            ];
            for k in [
                "untracked_packets",
                "untracked_bytes",
                "excluded_packets",
                "excluded_bytes",
                "non_ip_packets",
                "non_ip_bytes",
                "malformed_packets",
                "malformed_bytes",
            ] {
                fields.push((k, uint(64, "cumulative since start")));
            }
            object(
                "xdp_stats",
                "Totals of one interface and direction after each interval (xdp).",
                fields,
                vec![],
            )
        }
        LOG => log_line(),
        _ => return None,
    })
}

/// A stderr line with `--log-format json` (not a record: never on stdout).
fn log_line() -> Value {
    let levels = ["error", "warn", "info"];
    json!({
        "$schema": DRAFT,
        "title": "ebpf-jsonl log line",
        "description": "One line on stderr with --log-format json: a diagnostic, not a record",
        "type": "object",
        "properties": {
            "timestamp": timestamp(),
            "level": {"enum": levels, "description": "error: it ends the run (or is a usage error or a panic); warn: something went not as asked, the run goes on; info: what the run does (hooks attached, modes chosen)"},
            "message": string("the text line without `ebpf-jsonl: ` (and `error: `)"),
            "subcommand": string("the subcommand running; absent for a usage error")
        },
        "required": ["timestamp", "level", "message"],
        "additionalProperties": false
    })
}

/// Every record type, as one schema that dispatches on `type`.
pub fn all() -> Value {
    let defs: Map<String, Value> = TYPES
        .iter()
        .map(|t| (t.to_string(), of(t).expect("known type")))
        .collect();
    json!({
        "$schema": DRAFT,
        "$id": "https://ebpf-jsonl.invalid/schema/record.json",
        "title": "ebpf-jsonl record",
        "description": "One line of ebpf-jsonl's output",
        "oneOf": TYPES.iter().map(|t| json!({"$ref": format!("#/$defs/{t}")})).collect::<Vec<_>>(),
        "$defs": defs
    })
}

#[cfg(test)]
mod tests;
