//! `check`'s xdp part: its programs loaded as `xdp` loads them, and with
//! `--iface`, attached there (ingress native and generic, and egress) and
//! detached at once.

use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use serde_json::json;

use super::program::{Probe, Program};
use crate::cli::XdpMode;
use crate::xdp::egress::{EgressHook, EgressLink};

/// Loads the xdp programs (with an exclude list, their largest shape) through
/// xdp's own loading path; with `iface`, attaches the XDP one there in native
/// and in generic mode, and the TC one at its egress, each detached at once.
pub(super) fn xdp_program(iface: Option<&str>) -> (Program, Option<serde_json::Value>) {
    let mut obj = MaybeUninit::uninit();
    let excludes = [crate::cli::Cidr {
        addr: std::net::Ipv4Addr::new(192, 0, 2, 0).into(),
        prefix: 24,
    }];
    let cfg = crate::xdp::attach::Config {
        max_flows: 65536,
        excludes: &excludes,
        flavour: None,
        ingress: true,
        egress: true,
    };
    let (skel, flavour) = match crate::xdp::attach::load(&mut obj, &cfg) {
        Ok(s) => s,
        Err(e) => {
            let p = Program::failed(&e);
            let modes = iface.map(|i| {
                let no = || p.hook();
                json!({"iface": i, "native": no(), "generic": no(), "egress": no()})
            });
            return (p, modes);
        }
    };
    let prog = flavour.prog(&skel.progs);
    let attach = |iface: &str, mode: XdpMode| {
        let r = crate::xdp::attach::ifindex(iface)
            .and_then(|ifindex| crate::xdp::attach::attach(prog, iface, ifindex, mode));
        match r {
            Ok(link) => {
                link.detach();
                Probe {
                    loads: true,
                    attaches: true,
                    error: None,
                }
            }
            Err(e) => Probe {
                loads: true,
                attaches: false,
                error: Some(e.to_string()),
            },
        }
    };
    let egress = |iface: &str| {
        let tc = flavour.tc_prog(&skel.progs).as_fd();
        let r = crate::xdp::attach::ifindex(iface)
            .and_then(|ifindex| EgressLink::attach(tc, iface, ifindex, EgressHook::Auto));
        match r {
            Ok(link) => {
                let hook = link.kind();
                link.detach();
                json!({"loads": true, "attaches": true, "error": null, "hook": hook})
            }
            Err(e) => {
                json!({"loads": true, "attaches": false, "error": e.to_string(), "hook": null})
            }
        }
    };
    let modes = iface.map(|i| {
        json!({
            "iface": i,
            "native": attach(i, XdpMode::Native),
            "generic": attach(i, XdpMode::Generic),
            "egress": egress(i),
        })
    });
    let p = Program {
        loads: true,
        // attached where --iface asks, as before
        attaches: modes
            .as_ref()
            .is_none_or(|v| v["native"]["attaches"] == true || v["generic"]["attaches"] == true),
        flavour: Some(flavour.name()),
        ..Default::default()
    };
    (p, modes)
}
