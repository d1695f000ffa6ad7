//! The one confirmation path for destructive operations.
//!
//! Every command goes through [`needs`]: those that need a person's "yes" become a [`Confirm`]
//! popup; focus starts on Cancel; the most destructive (stop, reinstall, "host is really off")
//! need the VM or host name typed before OK does anything. The popup holds its own copy of the
//! command, so a snapshot arriving under the dialog never changes what is being confirmed. The
//! confirmation travels with the command ([`Confirmation`]) so the journal says who confirmed
//! what, and how.

use crate::core::Command;
use crossterm::event::{KeyCode, KeyEvent};

/// How a command was confirmed: journaled with it through the command's origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The command needs no confirmation (start, arm, acknowledge, a picked migration target).
    NotNeeded,
    /// OK in a confirmation dialog.
    Dialog,
    /// The name typed in the dialog.
    Typed(String),
}

impl Confirmation {
    /// Appended to the origin: `console:alice (confirmed by typing web1)`.
    pub fn describe(&self) -> Option<String> {
        match self {
            Confirmation::NotNeeded => None,
            Confirmation::Dialog => Some("confirmed in a dialog".into()),
            Confirmation::Typed(name) => Some(format!("confirmed by typing {name}")),
        }
    }
}

/// What a command needs before it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    Nothing,
    Dialog,
    /// The name to type.
    Typed(String),
}

pub fn needs(cmd: &Command) -> Need {
    match cmd {
        Command::Stop { vm } | Command::Reinstall { vm } => Need::Typed(vm.clone()),
        Command::ConfirmHostOff { host } => Need::Typed(host.clone()),
        Command::Restart { .. }
        | Command::Maintenance { on: true, .. }
        | Command::Disarm { .. }
        | Command::Unprotect { .. } => Need::Dialog,
        Command::Migrate { .. }
        | Command::Start { .. }
        | Command::Arm { .. }
        | Command::Maintenance { on: false, .. }
        | Command::AckAlarm { .. }
        | Command::Protect { .. } => Need::Nothing,
    }
}

/// What a command does, in words, for the dialog.
pub fn consequence(cmd: &Command) -> &'static str {
    match cmd {
        Command::Stop { .. } => "Shuts the VM down (destroyed after the grace period); HA will not restart it.",
        Command::Reinstall { .. } => "Destroys the VM's disk and recreates it from its golden image.",
        Command::ConfirmHostOff { .. } => {
            "Declares the host fenced: its VMs will be started elsewhere. If it is NOT off, they run twice."
        }
        Command::Restart { .. } => "Destroys the running VM and starts it again on its host.",
        Command::Maintenance { .. } => "Drains the host: its VMs are live-migrated away.",
        Command::Disarm { vm: None } => "No automatic recovery anywhere until HA is armed again.",
        Command::Disarm { vm: Some(_) } => "No automatic recovery of this VM until it is armed again.",
        Command::Unprotect { .. } => "Takes the VM out of HA for good (it keeps running): nothing watches it any more.",
        _ => "",
    }
}

/// Which button has the focus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Button {
    Cancel,
    Ok,
}

/// What a key did to the dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Stay,
    Cancel,
    Confirmed(Command, Confirmation),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirm {
    pub command: Command,
    /// The name to type, for the most destructive commands.
    pub phrase: Option<String>,
    pub typed: String,
    pub focus: Button,
}

impl Confirm {
    /// The dialog for `cmd`, or `None` when it needs no confirmation.
    pub fn new(cmd: Command) -> Option<Confirm> {
        let phrase = match needs(&cmd) {
            Need::Nothing => return None,
            Need::Dialog => None,
            Need::Typed(name) => Some(name),
        };
        Some(Confirm { command: cmd, phrase, typed: String::new(), focus: Button::Cancel })
    }

    /// OK would confirm: the phrase, if any, is typed exactly.
    pub fn ready(&self) -> bool {
        self.phrase.as_ref().is_none_or(|p| *p == self.typed)
    }

    pub fn key(&mut self, key: &KeyEvent) -> Step {
        match key.code {
            KeyCode::Esc => return Step::Cancel,
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Left | KeyCode::Right => {
                self.focus = match self.focus {
                    Button::Cancel => Button::Ok,
                    Button::Ok => Button::Cancel,
                }
            }
            KeyCode::Enter => match self.focus {
                Button::Cancel => return Step::Cancel,
                Button::Ok if self.ready() => {
                    let how = match &self.phrase {
                        Some(p) => Confirmation::Typed(p.clone()),
                        None => Confirmation::Dialog,
                    };
                    return Step::Confirmed(self.command.clone(), how);
                }
                Button::Ok => {}
            },
            KeyCode::Backspace if self.phrase.is_some() => {
                self.typed.pop();
            }
            KeyCode::Char(c) if self.phrase.is_some() && self.typed.chars().count() < 64 => self.typed.push(c),
            _ => {}
        }
        Step::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture::keys;

    fn run(c: &mut Confirm, seq: &str) -> Step {
        let mut last = Step::Stay;
        for k in keys(seq) {
            last = c.key(&k);
            if last != Step::Stay {
                break;
            }
        }
        last
    }

    #[test]
    fn focus_starts_on_cancel_so_enter_alone_cancels() {
        let mut c = Confirm::new(Command::Restart { vm: "web1".into() }).unwrap();
        assert_eq!(c.focus, Button::Cancel);
        assert_eq!(run(&mut c, "<enter>"), Step::Cancel);
        let mut c = Confirm::new(Command::Restart { vm: "web1".into() }).unwrap();
        assert_eq!(
            run(&mut c, "<tab><enter>"),
            Step::Confirmed(Command::Restart { vm: "web1".into() }, Confirmation::Dialog)
        );
    }

    #[test]
    fn typed_dialogs_need_the_exact_name_before_ok_works() {
        let cmd = Command::Reinstall { vm: "web1".into() };
        let mut c = Confirm::new(cmd.clone()).unwrap();
        assert_eq!(run(&mut c, "web<tab><enter>"), Step::Stay, "a partial name does nothing");
        assert_eq!(run(&mut c, "<tab>x"), Step::Stay);
        assert_eq!(c.typed, "webx");
        assert_eq!(run(&mut c, "<backspace>1<tab><enter>"), Step::Confirmed(cmd, Confirmation::Typed("web1".into())));
        let mut off = Confirm::new(Command::ConfirmHostOff { host: "hv2".into() }).unwrap();
        assert_eq!(off.phrase.as_deref(), Some("hv2"));
        assert_eq!(run(&mut off, "hv2<esc>"), Step::Cancel);
    }

    #[test]
    fn commands_that_change_nothing_irreversibly_need_no_dialog() {
        assert!(Confirm::new(Command::Start { vm: "a".into() }).is_none());
        assert!(Confirm::new(Command::AckAlarm { id: 1 }).is_none());
        assert!(Confirm::new(Command::Maintenance { host: "h".into(), on: false }).is_none());
        assert!(Confirm::new(Command::Maintenance { host: "h".into(), on: true }).is_some());
        assert!(Confirm::new(Command::Disarm { vm: None }).is_some());
        assert_eq!(Confirmation::Typed("web1".into()).describe().unwrap(), "confirmed by typing web1");
    }
}
