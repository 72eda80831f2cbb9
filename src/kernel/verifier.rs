//! A verifier refusal read from libbpf's log: which program, the line of the
//! verifier's log that says why, and the kernel feature (and version) it needs.

/// What the verifier refused and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The program's name, from libbpf's "prog 'NAME': BPF program load failed".
    pub prog: String,
    /// The verifier log's line that says why (None if the kernel logged nothing).
    pub reason: Option<String>,
    /// The kernel feature and version it needs, if the reason is a known one.
    pub needs: Option<&'static str>,
}

/// Verifier messages (a substring) → what the program needs. Only entries
/// that kernel history pins down: 64-bit atomics (BPF_FETCH, cmpxchg, xchg)
/// arrived in 5.12, ring buffers and bpf_ktime_get_boot_ns in 5.8,
/// bpf_probe_read_{kernel,user}* in 5.5; the 1M-instruction limit is 5.2's.
const NEEDS: &[(&str, &str)] = &[
    (
        "BPF_STX uses reserved fields",
        "64-bit BPF atomics (cmpxchg, xchg, fetch-add): Linux 5.12 or newer",
    ),
    (
        "too large",
        "fewer verifier steps than the kernel's complexity limit (1M instructions since Linux 5.2): \
         a newer kernel, or for exec a lower --max-args / --max-argv-bytes",
    ),
    (
        "too complex",
        "fewer verifier steps than the kernel's complexity limit (1M instructions since Linux 5.2): \
         a newer kernel, or for exec a lower --max-args / --max-argv-bytes",
    ),
    ("func bpf_ringbuf_", "BPF ring buffers: Linux 5.8 or newer"),
    (
        "func bpf_ktime_get_boot_ns",
        "bpf_ktime_get_boot_ns: Linux 5.8 or newer",
    ),
    (
        "func bpf_probe_read_kernel",
        "bpf_probe_read_kernel: Linux 5.5 or newer",
    ),
    (
        "func bpf_probe_read_user",
        "bpf_probe_read_user: Linux 5.5 or newer",
    ),
    (
        "invalid func unknown#",
        "a BPF helper this kernel does not have: a newer kernel (ebpf-jsonl needs Linux 5.8 or newer)",
    ),
];

/// What the refusal `reason` needs, from [`NEEDS`].
pub fn needs(reason: &str) -> Option<&'static str> {
    NEEDS
        .iter()
        .find(|(pat, _)| reason.contains(pat))
        .map(|(_, need)| *need)
}

/// A line that only narrates the verifier's walk: instructions ("12: (85)
/// call ..."), register states, source lines, path jumps, statistics.
fn narration(line: &str) -> bool {
    let l = line.trim();
    let numbered = l
        .split_once(':')
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    // a register state: "R0=scalar()", "R1_w=ctx()"; "R2 invalid ..." is a reason
    let state = l.strip_prefix('R').is_some_and(|r| {
        let rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
        rest.len() < r.len() && (rest.starts_with('=') || rest.starts_with('_'))
    });
    l.is_empty()
        || numbered
        || state
        || l.starts_with("frame")
        || l.starts_with("caller:")
        || l.starts_with("callee:")
        || l.starts_with("returning from callee")
        || l.starts_with("to caller at")
        || l.starts_with("propagating")
        || l.starts_with(';')
        || l.starts_with("from ")
        || l.starts_with("processed ")
        || l.starts_with("verification time")
        || l.starts_with("stack depth")
        || l.starts_with("max_states_per_insn")
        || l.starts_with("last_idx")
        || l.starts_with("regs=")
        || l.starts_with("parent ")
        || l.starts_with("mark_precise")
        || l.starts_with("func#")
        || l.starts_with("-- END PROG LOAD LOG")
        || l.starts_with("libbpf: ")
}

/// The refusal in libbpf's log messages (`log`, oldest first), if a program
/// failed to load: the last such program, and the first line of its log that
/// is not narration (the kernel may follow it with a summary, e.g. "invalid
/// access to packet, off=0 size=1, R1(...)" then "R1 offset is outside of
/// the packet").
pub fn refusal<S: AsRef<str>>(log: &[S]) -> Option<Refusal> {
    let failed = log
        .iter()
        .rev()
        .map(AsRef::as_ref)
        .find(|m| m.contains("BPF program load failed"))?;
    let prog = failed
        .split_once("prog '")?
        .1
        .split_once('\'')?
        .0
        .to_string();
    let begin = format!("prog '{prog}': -- BEGIN PROG LOAD LOG --");
    let reason = log
        .iter()
        .rev()
        .map(AsRef::as_ref)
        .find(|m| m.contains(&begin))
        .and_then(|m| {
            m.lines()
                .skip_while(|l| !l.contains(&begin))
                .skip(1)
                .find(|l| !narration(l))
                .map(|l| l.trim().to_string())
        });
    let needs = reason.as_deref().and_then(needs);
    Some(Refusal {
        prog,
        reason,
        needs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libbpf's messages as Debian 11's 5.10 gave them loading xdp.bpf.c
    /// (tests/kernels, bullseye), trimmed as the log callback keeps them.
    const BULLSEYE_XDP: &[&str] = &[
        "libbpf: map 'xdp_bpf.bss': created successfully, fd=7",
        "libbpf: prog 'xdp_flows': BPF program load failed: -EINVAL",
        "libbpf: prog 'xdp_flows': -- BEGIN PROG LOAD LOG --\nBPF_STX uses reserved fields\n\
         processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 \
         mark_read 0\n-- END PROG LOAD LOG --",
        "libbpf: prog 'xdp_flows': failed to load: -EINVAL",
        "libbpf: failed to load object 'xdp_bpf'",
        "libbpf: failed to load BPF skeleton 'xdp_bpf': -EINVAL",
    ];

    #[test]
    fn bullseye_xdp_refusal_needs_5_12() {
        let r = refusal(BULLSEYE_XDP).unwrap();
        assert_eq!(r.prog, "xdp_flows");
        assert_eq!(r.reason.as_deref(), Some("BPF_STX uses reserved fields"));
        assert!(r.needs.unwrap().contains("Linux 5.12"), "{r:?}");
    }

    #[test]
    fn the_reason_is_the_line_after_the_walk() {
        let log = [
            "libbpf: prog 'exec_raw': BPF program load failed: Argument list too long",
            "libbpf: prog 'exec_raw': -- BEGIN PROG LOAD LOG --\nR1=ctx() R10=fp0\n\
             ; int BPF_PROG(exec_raw)\n0: (79) r6 = *(u64 *)(r1 +8)\nfrom 12 to 14: R0=0\n\
             caller:\n R6_w=ctx() R10=fp0\ncallee:\n frame1: R1=ctx() R10=fp0\n\
             BPF program is too large. Processed 1000001 insn\n\
             processed 1000001 insns (limit 1000000) max_states_per_insn 4 total_states 9\n\
             -- END PROG LOAD LOG --",
        ];
        let r = refusal(&log).unwrap();
        assert_eq!(r.prog, "exec_raw");
        assert_eq!(
            r.reason.as_deref(),
            Some("BPF program is too large. Processed 1000001 insn")
        );
        assert!(r.needs.unwrap().contains("complexity limit"));
    }

    #[test]
    fn unknown_helpers_and_plain_errors() {
        let log = [
            "libbpf: prog 'exec_btf': BPF program load failed: Invalid argument",
            "libbpf: prog 'exec_btf': -- BEGIN PROG LOAD LOG --\n5: (85) call bpf_ringbuf_output#130\n\
             unknown func bpf_ringbuf_output#130\nprocessed 6 insns\n-- END PROG LOAD LOG --",
        ];
        assert!(refusal(&log).unwrap().needs.unwrap().contains("5.8"));
        // A register error has no known feature, but is still the reason.
        let log = [
            "libbpf: prog 'p': BPF program load failed: Permission denied",
            "libbpf: prog 'p': -- BEGIN PROG LOAD LOG --\n3: (61) r0 = *(u32 *)(r2 +0)\n\
             R2 invalid mem access 'scalar'\nprocessed 4 insns\n-- END PROG LOAD LOG --",
        ];
        let r = refusal(&log).unwrap();
        assert_eq!(r.reason.as_deref(), Some("R2 invalid mem access 'scalar'"));
        assert_eq!(r.needs, None);
        // No program failed: no refusal; a failure without a log: no reason.
        assert_eq!(refusal(&["libbpf: failed to open"]), None);
        let r = refusal(&["libbpf: prog 'q': BPF program load failed: -EINVAL"]).unwrap();
        assert_eq!((r.prog.as_str(), r.reason), ("q", None));
    }
}
