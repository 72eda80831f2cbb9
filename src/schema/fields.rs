//! The fields and value shapes several schemas share, described once.

use serde_json::{json, Value};

pub(super) fn timestamp() -> Value {
    json!({
        "type": "string",
        "description": "UTC wall-clock time of the event, RFC3339 with nanoseconds and Z",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$"
    })
}

pub(super) fn uint(bits: u32, description: &str) -> Value {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    json!({"type": "integer", "minimum": 0, "maximum": max, "description": description})
}

pub(super) fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

pub(super) fn nullable_string(description: &str) -> Value {
    json!({"type": ["string", "null"], "description": description})
}

pub(super) fn ip(description: &str) -> Value {
    json!({"type": "string", "description": description,
           "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})
}

/// Fields that mean the same in several record types, described once.
pub(super) fn pid() -> (&'static str, Value) {
    ("pid", uint(32, "thread-group id"))
}

pub(super) fn ppid() -> (&'static str, Value) {
    ("ppid", uint(32, "the real parent's thread-group id"))
}

/// uid, gid, euid, egid, auid, sessionid: on exec and exit records alike.
pub(super) fn identity() -> Vec<(&'static str, Value)> {
    let unset = |what: &str| {
        json!({"type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX - 1,
               "description": format!("{what}; null when unset (4294967295) or the kernel has no audit")})
    };
    vec![
        ("uid", uint(32, "real user id")),
        ("gid", uint(32, "real group id")),
        ("euid", uint(32, "effective user id (after the exec)")),
        ("egid", uint(32, "effective group id (after the exec)")),
        ("auid", unset("login uid (/proc/PID/loginuid)")),
        ("sessionid", unset("audit session id (/proc/PID/sessionid)")),
    ]
}

pub(super) fn exec_id(description: &str) -> Value {
    json!({"type": "string", "pattern": "^[0-9]+-[0-9]+$", "description": description})
}

/// The exact bytes of `field` when they are not valid UTF-8 (record::text).
pub(super) fn b64(field: &str) -> String {
    format!(
        "present only when {field}'s bytes are not valid UTF-8 (then {field} shows each \
         invalid sequence as U+FFFD): the exact bytes, standard base64 (RFC 4648, padded). \
         Bytes back: jq -r '.{field}_b64' | base64 -d (jq's @base64d makes a string again, \
         lossy)"
    )
}

pub(super) fn base64_string(description: &str) -> Value {
    json!({"type": "string", "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
           "description": description})
}

pub(super) fn comm_b64() -> (&'static str, Value) {
    ("comm_b64", base64_string(&b64("comm")))
}

pub(super) fn iface() -> (&'static str, Value) {
    ("iface", string("interface name"))
}

pub(super) fn direction() -> (&'static str, Value) {
    (
        "direction",
        json!({"enum": ["ingress", "egress"],
               "description": "ingress: what arrives (XDP); egress: what leaves (TC)"}),
    )
}
