//! What `check` says of a program: whether it loads and attaches, and why not.

use serde::Serialize;

use crate::error::Error;
use crate::kernel;

#[derive(Debug, Default, Serialize)]
pub struct Probe {
    pub loads: bool,
    pub attaches: bool,
    pub error: Option<String>,
}

/// A real program (exec's in one flavour, or xdp's) loaded and attached.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Program {
    pub loads: bool,
    pub attaches: bool,
    /// The hooks attached (exec), e.g. "tp_btf/sched_process_exec".
    pub hooks: Vec<String>,
    pub error: Option<String>,
    /// What a refused program needs (feature and kernel version), if known.
    pub needs: Option<&'static str>,
    /// xdp: the program flavour this kernel takes ("atomic", or "compat"
    /// before 5.12), the one `xdp` would load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flavour: Option<&'static str>,
}

impl Program {
    pub fn failed(e: &Error) -> Self {
        let refusal = kernel::last_refusal();
        let msg = e.to_string();
        Program {
            // exec's attach errors are "attaching SECTION: ..."
            loads: refusal.is_none() && msg.starts_with("attaching "),
            attaches: false,
            hooks: Vec::new(),
            needs: refusal.and_then(|r| r.needs),
            error: Some(msg),
            flavour: None,
        }
    }

    pub fn hook(&self) -> Probe {
        Probe {
            loads: self.loads,
            attaches: self.attaches,
            error: self.error.clone(),
        }
    }
}
