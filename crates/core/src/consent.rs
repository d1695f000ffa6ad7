//! Which operator commands need a person's consent, and how it was given: declared once, here,
//! beside `Command`. Every front end obeys it: the console's dialog (`ui::confirm`), `3rc ctl`
//! and `3rc reinstall` (a prompt on a terminal, else `--yes`), and the control socket, which
//! refuses a command that arrives without the consent it needs.

use super::action::Command;
use serde::{Deserialize, Serialize};

/// What a person must do before a command is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consent {
    /// Nothing: the command changes nothing that cannot be undone at once (start, arm,
    /// acknowledge, a migration, maintenance off, protect).
    NotNeeded,
    /// Say yes to what it does (restart, maintenance on, disarm, unprotect).
    Confirm,
    /// Type this name: the most destructive ones (stop, reinstall, "this host is really off").
    TypeName(String),
}

/// How a person gave their consent. Journaled with the command, appended to its origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Confirmation {
    /// None was needed.
    NotNeeded,
    /// OK in the console's confirmation dialog.
    Dialog,
    /// The name typed, in the console's dialog or at `3rc ctl`'s prompt.
    Typed(String),
    /// "yes" answered at `3rc ctl`'s prompt on a terminal.
    Answered,
    /// `--yes` on the command line (scripts): the person running it consented in advance.
    Flag,
}

impl Command {
    /// The consent this command needs.
    pub fn consent(&self) -> Consent {
        match self {
            Command::Stop { vm } | Command::Reinstall { vm } => Consent::TypeName(vm.clone()),
            Command::ConfirmHostOff { host } => Consent::TypeName(host.clone()),
            Command::Restart { .. }
            | Command::Maintenance { on: true, .. }
            | Command::Disarm { .. }
            | Command::Unprotect { .. } => Consent::Confirm,
            Command::Migrate { .. }
            | Command::Start { .. }
            | Command::Arm { .. }
            | Command::Maintenance { on: false, .. }
            | Command::AckAlarm { .. }
            | Command::Protect { .. } => Consent::NotNeeded,
        }
    }

    /// What the command does, in words, for whoever is asked to consent.
    pub fn consequence(&self) -> &'static str {
        match self {
            Command::Stop { .. } => "Shuts the VM down (destroyed after the grace period); HA will not restart it.",
            Command::Reinstall { .. } => "Destroys the VM's disk and recreates it from its golden image.",
            Command::ConfirmHostOff { .. } => {
                "Declares the host fenced: its VMs will be started elsewhere. If it is NOT off, they run twice."
            }
            Command::Restart { .. } => "Destroys the running VM and starts it again on its host.",
            Command::Maintenance { on: true, .. } => "Drains the host: its VMs are live-migrated away.",
            Command::Disarm { vm: None } => "No automatic recovery anywhere until HA is armed again.",
            Command::Disarm { vm: Some(_) } => "No automatic recovery of this VM until it is armed again.",
            Command::Unprotect { .. } => {
                "Takes the VM out of HA for good (it keeps running): nothing watches it any more."
            }
            _ => "",
        }
    }
}

impl Confirmation {
    /// Whether this confirmation gives what `need` asks: a dialog or a "yes" is not a typed
    /// name; `--yes` stands for any.
    pub fn satisfies(&self, need: &Consent) -> bool {
        match (need, self) {
            (Consent::NotNeeded, _) => true,
            (_, Confirmation::Flag) => true,
            (Consent::Confirm, Confirmation::Dialog | Confirmation::Answered | Confirmation::Typed(_)) => true,
            (Consent::TypeName(name), Confirmation::Typed(typed)) => name == typed,
            _ => false,
        }
    }

    /// Appended to the origin: `console:alice (confirmed by typing web1)`.
    pub fn describe(&self) -> Option<String> {
        match self {
            Confirmation::NotNeeded => None,
            Confirmation::Dialog => Some("confirmed in a dialog".into()),
            Confirmation::Typed(name) => Some(format!("confirmed by typing {name}")),
            Confirmation::Answered => Some("confirmed at a prompt".into()),
            Confirmation::Flag => Some("confirmed by --yes".into()),
        }
    }
}

/// Why a command cannot be sent without more consent, for the person who sent it.
pub fn refusal(cmd: &Command) -> Option<String> {
    match cmd.consent() {
        Consent::NotNeeded => None,
        Consent::Confirm => Some(format!(
            "`{cmd}` needs a confirmation: {} Answer the prompt on a terminal, or add --yes",
            cmd.consequence()
        )),
        Consent::TypeName(name) => Some(format!(
            "`{cmd}` needs {name}'s name typed: {} Type it at the prompt on a terminal, or add --yes",
            cmd.consequence()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_commands() -> Vec<Command> {
        let vm = || "web1".to_string();
        let host = || "hv2".to_string();
        vec![
            Command::Migrate { vm: vm(), to: host() },
            Command::Start { vm: vm() },
            Command::Stop { vm: vm() },
            Command::Restart { vm: vm() },
            Command::Reinstall { vm: vm() },
            Command::Arm { vm: None },
            Command::Disarm { vm: None },
            Command::Disarm { vm: Some(vm()) },
            Command::Maintenance { host: host(), on: true },
            Command::Maintenance { host: host(), on: false },
            Command::ConfirmHostOff { host: host() },
            Command::AckAlarm { id: 3 },
            Command::Unprotect { vm: vm() },
        ]
    }

    #[test]
    fn the_table_of_consent() {
        let got: Vec<(String, Consent)> = all_commands().iter().map(|c| (c.to_string(), c.consent())).collect();
        let typed = |n: &str| Consent::TypeName(n.into());
        assert_eq!(
            got,
            vec![
                ("migrate web1 to hv2".into(), Consent::NotNeeded),
                ("start web1".into(), Consent::NotNeeded),
                ("stop web1".into(), typed("web1")),
                ("restart web1".into(), Consent::Confirm),
                ("reinstall web1".into(), typed("web1")),
                ("arm cluster".into(), Consent::NotNeeded),
                ("disarm cluster".into(), Consent::Confirm),
                ("disarm web1".into(), Consent::Confirm),
                ("maintenance on hv2".into(), Consent::Confirm),
                ("maintenance off hv2".into(), Consent::NotNeeded),
                ("confirm hv2 is off".into(), typed("hv2")),
                ("acknowledge alarm 3".into(), Consent::NotNeeded),
                ("unprotect web1".into(), Consent::Confirm),
            ]
        );
        for c in all_commands() {
            assert_eq!(c.consent() == Consent::NotNeeded, c.consequence().is_empty() && refusal(&c).is_none(), "{c}");
        }
    }

    #[test]
    fn a_typed_name_must_be_the_name_and_a_yes_is_not_a_name() {
        let stop = Command::Stop { vm: "web1".into() }.consent();
        assert!(Confirmation::Typed("web1".into()).satisfies(&stop));
        assert!(!Confirmation::Typed("web2".into()).satisfies(&stop));
        assert!(!Confirmation::Dialog.satisfies(&stop));
        assert!(!Confirmation::Answered.satisfies(&stop));
        assert!(!Confirmation::NotNeeded.satisfies(&stop));
        assert!(Confirmation::Flag.satisfies(&stop), "--yes is consent given in advance");
        let restart = Command::Restart { vm: "web1".into() }.consent();
        assert!(Confirmation::Answered.satisfies(&restart) && Confirmation::Dialog.satisfies(&restart));
        assert!(!Confirmation::NotNeeded.satisfies(&restart));
        assert!(Confirmation::NotNeeded.satisfies(&Consent::NotNeeded));
        assert_eq!(Confirmation::Flag.describe().unwrap(), "confirmed by --yes");
        let why = refusal(&Command::ConfirmHostOff { host: "hv2".into() }).unwrap();
        assert!(why.starts_with("`confirm hv2 is off` needs hv2's name typed: Declares the host fenced"), "{why}");
    }
}
