//! What the core asks the supervisor to do, what operators ask the core, and what came back.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies one action from decision to outcome.
pub type ActionId = u64;

/// Who decided an action: a policy of the core, or a person. Journaled with every action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decider {
    /// The rule that fired, e.g. "ladder step 1 (restart 1 of 2)".
    Policy(String),
    /// Who asked, e.g. "console:alice" or "cli:root".
    Operator(String),
}

impl fmt::Display for Decider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decider::Policy(p) => write!(f, "policy: {p}"),
            Decider::Operator(o) => write!(f, "operator {o}"),
        }
    }
}

/// A side effect the supervisor must carry out; its outcome comes back through
/// `Engine::outcome`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionKind {
    /// Start a domain that is defined on `host`.
    Start { vm: String, host: String },
    /// Destroy the domain on `host` if it is active, then start it there again.
    Restart { vm: String, host: String },
    /// Start the VM on `to` from its inventory XML. `from` is a live source to stop and
    /// undefine first (ladder step 2); `None` when the source is fenced or unknown.
    Relocate { vm: String, from: Option<String>, to: String },
    /// Live-migrate. Where the driver cannot, the outcome is `Outcome::Unsupported` and the
    /// engine decides a cold relocation instead (`outcomes.rs`).
    Migrate { vm: String, from: String, to: String },
    /// Stop the VM (graceful shutdown, then destroy).
    Stop { vm: String, host: String },
    /// Destroy a stale copy; `undefine` also removes its definition from that host.
    Destroy { vm: String, host: String, undefine: bool },
    /// Power the host off through its fence agent.
    Fence { host: String },
    /// Restart the host's management daemon with its soft-fence command (the host and its
    /// VMs keep running).
    SoftFence { host: String },
    /// Recreate the VM from its golden image and start it on `host`.
    Reinstall { vm: String, host: String },
    /// Resume a VM paused by I/O errors on `host`: done only if it still runs a moment later
    /// (its storage answers again).
    Resume { vm: String, host: String },
}

impl ActionKind {
    /// True for actions that destroy state: they need a policy or an operator, and are journaled.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            ActionKind::Restart { .. }
                | ActionKind::Relocate { from: Some(_), .. }
                | ActionKind::Stop { .. }
                | ActionKind::Destroy { .. }
                | ActionKind::Fence { .. }
                | ActionKind::Reinstall { .. }
        )
    }

    /// The host a move sends the VM to.
    pub fn destination(&self) -> Option<&str> {
        match self {
            ActionKind::Relocate { to, .. } | ActionKind::Migrate { to, .. } => Some(to),
            _ => None,
        }
    }

    /// The VM this action is about, if any.
    pub fn vm(&self) -> Option<&str> {
        match self {
            ActionKind::Start { vm, .. }
            | ActionKind::Restart { vm, .. }
            | ActionKind::Relocate { vm, .. }
            | ActionKind::Migrate { vm, .. }
            | ActionKind::Stop { vm, .. }
            | ActionKind::Destroy { vm, .. }
            | ActionKind::Reinstall { vm, .. }
            | ActionKind::Resume { vm, .. } => Some(vm),
            ActionKind::Fence { .. } | ActionKind::SoftFence { .. } => None,
        }
    }

    /// What the action is about, for the event log: its VM, else its host.
    pub fn subject(&self) -> super::event::Subject {
        use super::event::Subject;
        match (self, self.vm()) {
            (_, Some(vm)) => Subject::Vm(vm.into()),
            (ActionKind::Fence { host } | ActionKind::SoftFence { host }, None) => Subject::Host(host.clone()),
            _ => Subject::Cluster,
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionKind::Start { vm, host } => write!(f, "start {vm} on {host}"),
            ActionKind::Restart { vm, host } => write!(f, "restart {vm} on {host}"),
            ActionKind::Relocate { vm, from: Some(from), to } => {
                write!(f, "relocate {vm} from {from} to {to}")
            }
            ActionKind::Relocate { vm, from: None, to } => write!(f, "recover {vm} on {to}"),
            ActionKind::Migrate { vm, from, to } => write!(f, "migrate {vm} from {from} to {to}"),
            ActionKind::Stop { vm, host } => write!(f, "stop {vm} on {host}"),
            ActionKind::Destroy { vm, host, undefine: true } => {
                write!(f, "destroy and undefine stale {vm} on {host}")
            }
            ActionKind::Destroy { vm, host, undefine: false } => {
                write!(f, "destroy stale {vm} on {host}")
            }
            ActionKind::Fence { host } => write!(f, "fence {host}"),
            ActionKind::SoftFence { host } => write!(f, "soft-fence {host} (restart its management daemon)"),
            ActionKind::Reinstall { vm, host } => write!(f, "reinstall {vm} on {host}"),
            ActionKind::Resume { vm, host } => write!(f, "resume {vm} on {host}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub id: ActionId,
    pub kind: ActionKind,
    pub decided_by: Decider,
}

/// How an action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    Failed(String),
    /// Everything was done but the final start of the VM, which failed (a reinstall: its new
    /// disk and definition are in place); the ladder retries it like any failed start.
    StartFailed(String),
    /// The host cannot do this kind of action (its driver lacks it: the test driver cannot
    /// migrate live); nothing was changed. The engine decides what to do instead.
    Unsupported(String),
}

/// A request from an operator (console, CLI).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Migrate {
        vm: String,
        to: String,
    },
    Start {
        vm: String,
    },
    Stop {
        vm: String,
    },
    Restart {
        vm: String,
    },
    Reinstall {
        vm: String,
    },
    /// Arm HA for one VM, or for the whole cluster when `vm` is `None`.
    Arm {
        vm: Option<String>,
    },
    /// Disarm HA for one VM, or for the whole cluster when `vm` is `None`.
    Disarm {
        vm: Option<String>,
    },
    Maintenance {
        host: String,
        on: bool,
    },
    /// A person confirms the host is powered off (manual fence).
    ConfirmHostOff {
        host: String,
    },
    AckAlarm {
        id: u64,
    },
    /// Put a VM under HA with this spec (as Proxmox's `ha-manager add`): `3rc ctl protect`,
    /// or the last step of a P2V. The caller resolves the spec against the config's defaults.
    Protect {
        spec: Box<super::model::VmSpec>,
    },
    /// Take a VM put under HA at run time out of it (as Proxmox's `ha-manager remove`): it is
    /// no longer watched or acted on; the VM itself is left as it is.
    Unprotect {
        vm: String,
    },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Migrate { vm, to } => write!(f, "migrate {vm} to {to}"),
            Command::Start { vm } => write!(f, "start {vm}"),
            Command::Stop { vm } => write!(f, "stop {vm}"),
            Command::Restart { vm } => write!(f, "restart {vm}"),
            Command::Reinstall { vm } => write!(f, "reinstall {vm}"),
            Command::Arm { vm: Some(vm) } => write!(f, "arm {vm}"),
            Command::Arm { vm: None } => write!(f, "arm cluster"),
            Command::Disarm { vm: Some(vm) } => write!(f, "disarm {vm}"),
            Command::Disarm { vm: None } => write!(f, "disarm cluster"),
            Command::Maintenance { host, on: true } => write!(f, "maintenance on {host}"),
            Command::Maintenance { host, on: false } => write!(f, "maintenance off {host}"),
            Command::ConfirmHostOff { host } => write!(f, "confirm {host} is off"),
            Command::AckAlarm { id } => write!(f, "acknowledge alarm {id}"),
            Command::Protect { spec } => {
                let p = &spec.policy;
                write!(
                    f,
                    "protect {} (priority {}, max_restart {}, max_relocate {}, reinstall {}",
                    spec.name, spec.priority, p.max_restart, p.max_relocate, p.reinstall
                )?;
                if let Some(g) = &spec.anti_affinity {
                    write!(f, ", anti-affinity {g}")?;
                }
                if let Some(h) = &spec.preferred_host {
                    write!(f, ", preferred host {h}")?;
                }
                f.write_str(")")
            }
            Command::Unprotect { vm } => write!(f, "unprotect {vm}"),
        }
    }
}

impl Command {
    /// Parse the words people type (`3rc ctl`, the console's `:` mode): `migrate web1 hv3`,
    /// `start web1`, `stop web1`, `restart web1`, `reinstall web1`, `arm [web1]`,
    /// `disarm [web1]`, `maintenance hv1 on|off`, `confirm-off hv2` (or `host-off hv2`), `ack 7`,
    /// `unprotect web1`.
    pub fn parse(words: &[&str]) -> Result<Command, String> {
        let usage = "commands: migrate VM HOST | start VM | stop VM | restart VM | reinstall VM | arm [VM] | disarm [VM] | maintenance HOST on|off | confirm-off HOST | ack ALARM | unprotect VM";
        let one = |what: &str| -> Result<String, String> {
            match words {
                [_, x] => Ok(x.to_string()),
                _ => Err(format!("{} takes one {what}", words[0])),
            }
        };
        let Some(verb) = words.first() else { return Err(usage.to_string()) };
        Ok(match *verb {
            "migrate" => match words {
                [_, vm, to] => Command::Migrate { vm: vm.to_string(), to: to.to_string() },
                _ => return Err("migrate takes a VM and a host: migrate web1 hv3".into()),
            },
            "start" => Command::Start { vm: one("VM")? },
            "stop" => Command::Stop { vm: one("VM")? },
            "restart" => Command::Restart { vm: one("VM")? },
            "reinstall" => Command::Reinstall { vm: one("VM")? },
            "unprotect" => Command::Unprotect { vm: one("VM")? },
            "arm" | "disarm" => {
                let vm = match words {
                    [_] => None,
                    [_, vm] => Some(vm.to_string()),
                    _ => return Err(format!("{verb} takes at most one VM (none: the whole cluster)")),
                };
                if *verb == "arm" {
                    Command::Arm { vm }
                } else {
                    Command::Disarm { vm }
                }
            }
            "maintenance" => match words {
                [_, host, "on"] => Command::Maintenance { host: host.to_string(), on: true },
                [_, host, "off"] => Command::Maintenance { host: host.to_string(), on: false },
                _ => return Err("maintenance takes a host and on or off: maintenance hv1 on".into()),
            },
            "confirm-off" | "host-off" => Command::ConfirmHostOff { host: one("host")? },
            "ack" => {
                let id = one("alarm number")?;
                Command::AckAlarm {
                    id: id.trim_start_matches('#').parse().map_err(|_| format!("not an alarm number: {id}"))?,
                }
            }
            "protect" => return Err(
                "protect needs the cluster's policy defaults: use `3rc ctl --config FILE protect VM [KEY=VALUE...]`"
                    .into(),
            ),
            other => return Err(format!("unknown command {other:?}; {usage}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, String> {
        Command::parse(&s.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(p("migrate web1 hv3"), Ok(Command::Migrate { vm: "web1".into(), to: "hv3".into() }));
        assert_eq!(p("disarm"), Ok(Command::Disarm { vm: None }));
        assert_eq!(p("unprotect p2v1"), Ok(Command::Unprotect { vm: "p2v1".into() }));
        assert!(p("unprotect").unwrap_err().contains("unprotect takes one VM"));
        assert_eq!(p("arm db1"), Ok(Command::Arm { vm: Some("db1".into()) }));
        assert_eq!(p("maintenance hv1 off"), Ok(Command::Maintenance { host: "hv1".into(), on: false }));
        assert_eq!(p("ack #7"), Ok(Command::AckAlarm { id: 7 }));
        assert_eq!(p("confirm-off hv2"), Ok(Command::ConfirmHostOff { host: "hv2".into() }));
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        assert_eq!(p("migrate web1"), Err("migrate takes a VM and a host: migrate web1 hv3".into()));
        assert_eq!(p("stop"), Err("stop takes one VM".into()));
        assert_eq!(
            p("maintenance hv1 maybe"),
            Err("maintenance takes a host and on or off: maintenance hv1 on".into())
        );
        assert!(p("ack x").unwrap_err().contains("not an alarm number"));
        assert!(p("explode web1").unwrap_err().starts_with("unknown command \"explode\""));
        assert!(p("").unwrap_err().starts_with("commands:"));
    }

    #[test]
    fn every_command_parses_back_from_its_display() {
        for c in [
            Command::Migrate { vm: "a".into(), to: "b".into() },
            Command::Start { vm: "a".into() },
            Command::Stop { vm: "a".into() },
            Command::Restart { vm: "a".into() },
            Command::Reinstall { vm: "a".into() },
        ] {
            let text = c.to_string().replace(" to ", " ");
            assert_eq!(p(&text), Ok(c));
        }
    }
}
