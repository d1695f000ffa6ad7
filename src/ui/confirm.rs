//! The console's confirmation dialog for destructive operations.
//!
//! Which commands need what is declared once, beside `Command` (`core::consent`): those that
//! need a person's "yes" become a [`Confirm`] popup; focus starts on Cancel; the most destructive (stop, reinstall, "host is really off")
//! need the VM or host name typed before OK does anything. The popup holds its own copy of the
//! command, so a snapshot arriving under the dialog never changes what is being confirmed. The
//! confirmation travels with the command ([`Confirmation`]) so the journal says who confirmed
//! what, and how.

pub use crate::core::Confirmation;
use crate::core::{Command, Consent};
use crossterm::event::{KeyCode, KeyEvent};

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
        let phrase = match cmd.consent() {
            Consent::NotNeeded => return None,
            Consent::Confirm => None,
            Consent::TypeName(name) => Some(name),
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
