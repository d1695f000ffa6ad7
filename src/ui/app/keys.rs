//! Where a key goes: the open popup (confirmation, migration target, help), then the input line
//! (`/` filter, `:` command), then the focused log pane, then the keymap of the current view.

use super::{App, InputKind, Popup};
use crate::core::Command;
use crate::ui::command::{self, Parsed};
use crate::ui::confirm::{Confirmation, Step};
use crate::ui::flash::{Flash, FlashLevel};
use crate::ui::picker::Pick;
use crate::ui::UiRequest;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use std::time::Instant;
use tui_logger::TuiWidgetEvent;

/// The P2V wizard's keys: characters type, Tab/Shift-Tab move between fields, arrows move in
/// lists and choices, Space toggles, Enter goes on, Esc goes back, Ctrl-C leaves (or cancels
/// the run).
fn wizard_key(key: &KeyEvent) -> Option<crate::p2v::wizard::Key> {
    use crate::p2v::wizard::Key as W;
    use crossterm::event::KeyModifiers;
    Some(match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => W::Cancel,
        KeyCode::Char(' ') => W::Space,
        KeyCode::Char(c) => W::Char(c),
        KeyCode::Backspace => W::Backspace,
        KeyCode::Tab => W::Tab,
        KeyCode::BackTab => W::BackTab,
        KeyCode::Up => W::Up,
        KeyCode::Down => W::Down,
        KeyCode::Enter => W::Enter,
        KeyCode::Esc => W::Esc,
        _ => return None,
    })
}

impl App {
    /// One key press. Returns what to send to the supervisor, if anything.
    pub fn handle_key(&mut self, key: KeyEvent, now: Instant) -> Option<UiRequest> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if self.p2v.open.is_some() {
            return wizard_key(&key).and_then(|k| self.p2v_key(k));
        }
        if let Some(popup) = &mut self.popup {
            return match popup {
                Popup::Confirm(c) => match c.key(&key) {
                    Step::Stay => None,
                    Step::Cancel => {
                        self.close_popup();
                        self.flash = Some(Flash::new(FlashLevel::Info, "cancelled", now));
                        None
                    }
                    Step::Confirmed(command, confirmed) => {
                        self.close_popup();
                        Some(UiRequest::Command { command, confirmed })
                    }
                },
                Popup::Migrate(p) => match p.key(&key) {
                    Pick::Stay => None,
                    Pick::Cancel => {
                        self.close_popup();
                        None
                    }
                    Pick::Refused(why) => {
                        self.flash = Some(Flash::new(FlashLevel::Warning, why, now));
                        None
                    }
                    Pick::Picked { vm, to } => {
                        self.close_popup();
                        let command = Command::Migrate { vm, to };
                        Some(UiRequest::Command { command, confirmed: Confirmation::NotNeeded })
                    }
                },
                Popup::Help { scroll } => {
                    match key.code {
                        KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                        KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                        KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter => self.close_popup(),
                        _ => {}
                    }
                    None
                }
            };
        }
        if self.input.is_some() {
            return self.input_key(key, now);
        }
        if self.log.focus {
            self.log_key(key);
            return None;
        }
        let action = self.keymap.action_for(&key, self.screen())?;
        self.apply(action, now)
    }

    /// A key while the log pane has the focus: arrows pick a target and its level (tui-logger's
    /// selector), `t` hides or shows the targets, PgUp/PgDn scroll, Esc, `L` or Tab leave.
    fn log_key(&mut self, key: KeyEvent) {
        use TuiWidgetEvent as E;
        let ev = match key.code {
            KeyCode::Esc | KeyCode::Tab | KeyCode::Char('L') => {
                self.log.focus = false;
                E::EscapeKey
            }
            KeyCode::Up | KeyCode::Char('k') => E::UpKey,
            KeyCode::Down | KeyCode::Char('j') => E::DownKey,
            KeyCode::Left | KeyCode::Char('h') => E::LeftKey,
            KeyCode::Right | KeyCode::Char('l') => E::RightKey,
            KeyCode::Char('+') => E::PlusKey,
            KeyCode::Char('-') => E::MinusKey,
            KeyCode::Char('t') => E::HideKey,
            KeyCode::Char(' ') => E::SpaceKey,
            KeyCode::PageUp => E::PrevPageKey,
            KeyCode::PageDown => E::NextPageKey,
            KeyCode::Char('q') => {
                self.quit = true;
                return;
            }
            _ => return,
        };
        self.log.keys.push(ev);
    }

    /// The keys for the log pane since the last call.
    pub fn take_log_keys(&mut self) -> Vec<TuiWidgetEvent> {
        std::mem::take(&mut self.log.keys)
    }

    pub fn log_focus(&self) -> bool {
        self.log.focus
    }

    fn input_key(&mut self, key: KeyEvent, now: Instant) -> Option<UiRequest> {
        let input = self.input.as_mut()?;
        match key.code {
            KeyCode::Esc => {
                if input.kind == InputKind::Filter {
                    self.tables.filter.clear();
                    self.sync_selections();
                }
                self.input = None;
            }
            KeyCode::Enter => {
                let input = self.input.take()?;
                if input.kind == InputKind::Command {
                    return self.run_command(&input.text, now);
                }
            }
            KeyCode::Backspace => {
                input.text.pop();
                if input.kind == InputKind::Filter {
                    self.tables.filter = input.text.clone();
                    self.sync_selections();
                }
            }
            KeyCode::Char(c) => {
                input.text.push(c);
                if input.kind == InputKind::Filter {
                    self.tables.filter = input.text.clone();
                    self.sync_selections();
                }
            }
            _ => {}
        }
        None
    }

    fn run_command(&mut self, text: &str, now: Instant) -> Option<UiRequest> {
        match command::parse(text, &self.view) {
            Ok(Parsed::Quit) => self.quit = true,
            Ok(Parsed::Open(screen)) => return self.open(screen),
            Ok(Parsed::Command(cmd)) => return self.request(cmd, now),
            Ok(Parsed::WhatIf(question)) => return self.open(super::Screen::WhatIf(question)),
            Ok(Parsed::Nothing) => {}
            Err(e) => self.flash = Some(Flash::new(FlashLevel::Error, format!(":{text}: {e}"), now)),
        }
        None
    }
}
