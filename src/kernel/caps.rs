//! Privileges: which capabilities this process holds and which each
//! subcommand needs, named as the kernel checks them.

use crate::error::Error;

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set (CapEff in /proc/self/status): what the
/// kernel checks, whatever the uid.
fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Whether this kernel knows CAP_BPF and CAP_PERFMON (Linux 5.8+); before
/// that, loading BPF takes CAP_SYS_ADMIN.
fn kernel_has_cap_bpf() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .is_none_or(|last| last >= CAP_BPF)
}

/// Whether this process is in the initial user namespace (the nsfs inode
/// of the initial one is fixed: PROC_USER_INIT_INO). Capabilities held in
/// any other (a rootless container, `unshare -U`) do not let it load BPF.
fn in_initial_user_ns() -> bool {
    use std::os::unix::fs::MetadataExt;
    const PROC_USER_INIT_INO: u64 = 0xEFFF_FFFD;
    std::fs::metadata("/proc/self/ns/user").map_or(true, |m| m.ino() == PROC_USER_INIT_INO)
}

/// The privileges that matter for loading BPF.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub euid: u32,
    pub bpf: bool,
    pub perfmon: bool,
    pub net_admin: bool,
    pub sys_admin: bool,
    /// Needed for nothing: `exec` takes cgroup paths from the kernel's names
    /// and only looks up a path cut there (deeper than 32 levels, longer
    /// than 4 KiB) with open_by_handle_at(2), which this lets succeed.
    pub dac_read_search: bool,
    /// The kernel has CAP_BPF and CAP_PERFMON (5.8+).
    pub split: bool,
    /// In the initial user namespace, where the capabilities count for BPF.
    pub init_userns: bool,
}

/// What a subcommand asks of the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Tracing programs (`exec`).
    Tracing,
    /// An XDP program attached to an interface (`xdp`).
    Xdp,
}

impl Caps {
    /// The capabilities missing for `need`, as the kernel checks them:
    /// loading takes CAP_BPF, and our programs CAP_PERFMON (tracing programs
    /// always; the XDP program's verification too); attaching XDP takes
    /// CAP_NET_ADMIN. CAP_SYS_ADMIN stands in for those three (before 5.8 it
    /// is the only way). Empty when nothing is missing.
    pub fn missing(&self, need: Need) -> Vec<&'static str> {
        if !self.init_userns {
            // Held in a user namespace, they count for nothing here.
            let none = Caps {
                init_userns: true,
                bpf: false,
                perfmon: false,
                net_admin: false,
                sys_admin: false,
                ..*self
            };
            return none.missing(need);
        }
        let mut m = Vec::new();
        if self.sys_admin {
            return m;
        }
        if !self.split {
            m.push("CAP_SYS_ADMIN");
            return m;
        }
        if !self.bpf {
            m.push("CAP_BPF");
        }
        if !self.perfmon {
            m.push("CAP_PERFMON");
        }
        if need == Need::Xdp && !self.net_admin {
            m.push("CAP_NET_ADMIN");
        }
        m
    }

    /// The reason ("missing CAP_PERFMON") and the fix for `need`, or None
    /// if nothing is missing.
    pub fn shortfall(&self, need: Need) -> Option<(String, String)> {
        let missing = self.missing(need);
        if missing.is_empty() {
            return None;
        }
        let missing = and_list(&missing);
        if !self.init_userns {
            return Some((
                format!(
                    "missing {missing} in the initial user namespace (those held in this \
                     process's own user namespace do not count for BPF)"
                ),
                format!(
                    "run it in the host's user namespace (not in a rootless container or \
                     under unshare -U), as root or with {missing}"
                ),
            ));
        }
        let why = if self.split {
            ""
        } else {
            " (this kernel predates CAP_BPF and CAP_PERFMON, Linux 5.8)"
        };
        Some((
            format!("missing {missing}"),
            format!("run as root (sudo), or grant {missing}{why}"),
        ))
    }
}

/// "A", "A and B", "A, B and C".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

pub fn caps() -> Caps {
    let eff = effective_caps();
    let has = |c: u32| eff & (1 << c) != 0;
    Caps {
        // SAFETY: geteuid cannot fail.
        euid: unsafe { libc::geteuid() },
        bpf: has(CAP_BPF),
        perfmon: has(CAP_PERFMON),
        net_admin: has(CAP_NET_ADMIN),
        sys_admin: has(CAP_SYS_ADMIN),
        dac_read_search: has(CAP_DAC_READ_SEARCH),
        split: kernel_has_cap_bpf(),
        init_userns: in_initial_user_ns(),
    }
}

/// Fails with one line naming the capabilities that are missing from the
/// effective set, before libbpf tries anything.
pub fn check_privileges(need_net_admin: bool) -> Result<(), Error> {
    let need = if need_net_admin {
        Need::Xdp
    } else {
        Need::Tracing
    };
    let caps = caps();
    if let Some((reason, fix)) = caps.shortfall(need) {
        return Err(Error::Privilege(format!(
            "not privileged enough: {reason}; {fix}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Caps = Caps {
        euid: 0,
        bpf: true,
        perfmon: true,
        net_admin: true,
        sys_admin: true,
        dac_read_search: true,
        split: true,
        init_userns: true,
    };

    /// A root process in the initial user namespace of a 5.8+ kernel that
    /// holds only the capabilities `held` names.
    fn holding(held: &[&str]) -> Caps {
        let has = |cap| held.contains(&cap);
        Caps {
            bpf: has("CAP_BPF"),
            perfmon: has("CAP_PERFMON"),
            net_admin: has("CAP_NET_ADMIN"),
            sys_admin: has("CAP_SYS_ADMIN"),
            dac_read_search: has("CAP_DAC_READ_SEARCH"),
            ..ALL
        }
    }

    /// What `c` lacks for `exec` (tracing) and for `xdp`.
    fn missing(c: Caps) -> [Vec<&'static str>; 2] {
        [c.missing(Need::Tracing), c.missing(Need::Xdp)]
    }

    #[test]
    fn missing_capabilities_are_named_as_the_kernel_checks_them() {
        const NOTHING: Vec<&str> = Vec::new();
        assert_eq!(missing(ALL), [NOTHING, NOTHING]);
        // CAP_SYS_ADMIN stands in for CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN.
        let admin = holding(&["CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH"]);
        assert_eq!(missing(admin), [NOTHING, NOTHING]);
        let none = holding(&["CAP_DAC_READ_SEARCH"]);
        assert_eq!(
            missing(none),
            [
                vec!["CAP_BPF", "CAP_PERFMON"],
                vec!["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"]
            ]
        );
        let (reason, fix) = none.shortfall(Need::Xdp).unwrap();
        assert_eq!(reason, "missing CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN");
        assert!(
            fix.contains("grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"),
            "{fix}"
        );
        // CAP_DAC_READ_SEARCH is needed for nothing: cgroup paths come from
        // the kernel's names; it only makes paths cut there come out whole.
        let minimal = holding(&["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(missing(minimal), [NOTHING, vec!["CAP_NET_ADMIN"]]);
        assert_eq!(minimal.shortfall(Need::Tracing), None);
        // Before 5.8 there is no CAP_BPF or CAP_PERFMON to grant.
        let old = Caps {
            split: false,
            ..none
        };
        assert_eq!(old.missing(Need::Tracing), ["CAP_SYS_ADMIN"]);
        let (_, fix) = old.shortfall(Need::Tracing).unwrap();
        assert!(
            fix.contains("grant CAP_SYS_ADMIN (this kernel predates"),
            "{fix}"
        );
        // Every capability, but in a user namespace: none counts.
        let userns = Caps {
            init_userns: false,
            ..ALL
        };
        assert_eq!(userns.missing(Need::Tracing), ["CAP_BPF", "CAP_PERFMON"]);
        let (reason, _) = userns.shortfall(Need::Xdp).unwrap();
        assert!(
            reason.contains("CAP_NET_ADMIN in the initial user namespace"),
            "{reason}"
        );
    }
}
