//! The clsact fallback: only what this run made is ever removed.

use super::*;

#[test]
fn an_ingress_qdisc_is_a_clear_error_and_left_alone() {
    let (p, before) = set_up(&[
        "qdisc add dev IF ingress",
        "filter add dev IF ingress pref 3 ALL_OK",
    ]);
    let prog = observer();
    let Err(e) = attach(&p, &prog, EgressHook::Clsact) else {
        panic!("attached on an ingress qdisc");
    };
    let msg = e.to_string();
    assert_eq!(e.exit_code(), 1, "{msg}");
    assert!(
        msg.starts_with(&format!("{} has an `ingress` qdisc", p.if_a))
            && msg.contains(&format!("`tc qdisc del dev {} ingress`", p.if_a)),
        "{msg}"
    );
    assert_eq!(snapshot(&p), before);
}

#[test]
fn clsact_creates_the_qdisc_and_our_filter_and_detach_removes_both() {
    let (p, before, link) = attached(EgressHook::Clsact);
    assert!(!before.contains("clsact"), "{before}");
    assert_eq!(link.kind(), "clsact");
    assert_eq!(link.describe(), "a clsact filter (pref 1, handle 0x1)");
    assert!(show(&p, "qdisc", &[]).contains("qdisc clsact ffff: parent ffff:fff1"));
    let egress = show(&p, "filter", &["egress"]);
    assert!(
        egress.contains("pref 1 bpf chain 0 handle 0x1") && egress.contains(" direct-action "),
        "{egress}"
    );
    assert_eq!(show(&p, "filter", &["ingress"]), "");
    let note = link.note().unwrap();
    let cmds = format!(
        "`tc filter del dev {0} egress pref 1 handle 0x1 bpf` and `tc qdisc del dev {0} clsact`",
        p.if_a
    );
    assert!(
        note.starts_with("egress: note: clsact was chosen")
            && note.contains("a SIGKILL leaves it (and the clsact qdisc this run created)")
            && note.ends_with(&cmds),
        "{note}"
    );
    assert!(still(&p, &link));
    detach(&p, link);
    assert_eq!(snapshot(&p), before);
}

#[test]
fn the_notes_commands_remove_what_a_sigkill_leaves() {
    let (p, before, link) = attached(EgressHook::Clsact);
    let note = link.note().unwrap();
    // As if killed: nothing of ours runs on the way out.
    std::mem::forget(link);
    assert_ne!(snapshot(&p), before);
    for cmd in note.split('`').skip(1).step_by(2) {
        tc(&p, cmd.strip_prefix("tc ").unwrap());
    }
    assert_eq!(snapshot(&p), before);
}

#[test]
fn someone_elses_clsact_qdisc_and_filters_are_left_exactly_as_they_were() {
    let (p, before) = set_up(&[
        "qdisc add dev IF clsact",
        "filter add dev IF egress pref 7 ALL_OK",
        "filter add dev IF egress pref 1 bpf bytecode 1,6_0_0_0",
        "filter add dev IF ingress pref 2 ALL_OK",
    ]);
    let prog = observer();
    let link = attach(&p, &prog, EgressHook::Clsact).unwrap();
    // The lowest pref free: before their match-all u32 at 7, which ends
    // classification (TC_ACT_OK) and would hide every packet from a filter
    // after it.
    assert_eq!(link.describe(), "a clsact filter (pref 2, handle 0x1)");
    let note = link.note().unwrap();
    // Not our qdisc; and their filter at pref 1 runs first, as said.
    assert!(
        !note.contains("qdisc")
            && note.ends_with(
                "pref 2 handle 0x1 bpf`; it runs after the filters already at pref 1 (one \
                 that ends classification hides packets from it)"
            ),
        "{note}"
    );
    let during = show(&p, "filter", &["egress"]);
    assert!(
        during.contains("pref 7 u32") && during.contains("pref 2 bpf"),
        "{during}"
    );
    detach(&p, link);
    assert_eq!(snapshot(&p), before);
}

#[test]
fn a_filter_someone_adds_to_our_qdisc_keeps_it() {
    for dir in ["egress", "ingress"] {
        let Fresh { p, prog, .. } = fresh();
        let link = attach(&p, &prog, EgressHook::Clsact).unwrap();
        tc(&p, &format!("filter add dev IF {dir} pref 9 ALL_OK"));
        let theirs = show(&p, "filter", &[dir]);
        detach(&p, link);
        assert!(show(&p, "qdisc", &[]).contains("qdisc clsact"), "{dir}");
        let after = show(&p, "filter", &[dir]);
        assert!(!after.contains(" bpf "), "ours is gone: {after}");
        if dir == "ingress" {
            assert_eq!(after, theirs);
        } else {
            assert!(after.contains("pref 9 u32"), "{after}");
        }
    }
}

#[test]
fn clsact_still_attached_turns_false_when_someone_deletes_our_filter() {
    for replaced in [false, true] {
        let (p, before, link) = attached(EgressHook::Clsact);
        assert!(still(&p, &link));
        tc(&p, "filter del dev IF egress pref 1 handle 0x1 bpf");
        assert!(!still(&p, &link));
        if !replaced {
            detach(&p, link);
            // The qdisc this run created, empty again, went too.
            assert_eq!(snapshot(&p), before);
            continue;
        }
        // Someone's filter at our pref and handle is not ours either, and
        // stays, with the qdisc it is on.
        tc(
            &p,
            "filter add dev IF egress pref 1 handle 1 bpf bytecode 1,6_0_0_0",
        );
        assert!(!still(&p, &link));
        let during = snapshot(&p);
        detach(&p, link);
        assert_eq!(snapshot(&p), during);
    }
}

#[test]
fn clsact_is_checked_and_removed_in_the_namespace_it_was_attached_in() {
    let (p, before, link) = attached(EgressHook::Clsact);
    // From this thread's namespace (the host's), where the interface index
    // means nothing or another interface.
    assert!(link.still_attached().unwrap());
    link.detach();
    assert_eq!(snapshot(&p), before);
}

#[test]
fn a_missing_qdisc_or_classifier_names_its_module() {
    use crate::xdp::egress::clsact::missing;
    assert_eq!(
        missing(libc::ENOENT, "sch_ingress"),
        " (the kernel has no sch_ingress, CONFIG_NET_SCH_INGRESS: load it with `modprobe \
         sch_ingress`)"
    );
    assert!(missing(libc::ENOENT, "cls_bpf").contains("CONFIG_NET_CLS_BPF"));
    assert_eq!(missing(libc::EINVAL, "cls_bpf"), "");
}
