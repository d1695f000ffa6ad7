//! The keymap: one table of (keys, action, description).
//!
//! The key handler and the status-bar hints both read [`BINDINGS`], so remapping keys or adding a
//! help view later changes one place. A binding that does not apply in this session (the fault
//! injector outside the demo) is removed from the keymap, and with it from the hints, rather than
//! refused when pressed (the k9s way).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;

/// What a key asks the console to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    /// Move the focus to the next table (hosts, VMs).
    NextFocus,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    ToggleLog,
    ToggleFaultInjector,
}

/// When a binding is part of the keymap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requires {
    Always,
    /// Only when the session has a fault injector (the demo).
    Injector,
}

/// One key with its modifiers. Shift is ignored for characters: `G` is its own key already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Key {
        Key { code, mods: KeyModifiers::NONE }
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key { code: KeyCode::Char(c), mods: KeyModifiers::CONTROL }
    }

    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let mut mods = ev.modifiers;
        if matches!(ev.code, KeyCode::Char(_) | KeyCode::BackTab) {
            mods.remove(KeyModifiers::SHIFT);
        }
        let code = match ev.code {
            // Terminals disagree on the case of Ctrl-letter.
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
            code => code,
        };
        self.code == code && self.mods == mods
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        match self.code {
            KeyCode::Char(c) if self.mods.contains(KeyModifiers::CONTROL) => {
                write!(f, "{}", c.to_ascii_uppercase())
            }
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            code => write!(f, "{code:?}"),
        }
    }
}

/// One row of the keymap.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    /// The first key is the one shown in hints.
    pub keys: &'static [Key],
    pub action: Action,
    /// Short, for the status bar and (later) the help view.
    pub description: &'static str,
    /// Shown in the status bar; the others only in help.
    pub hint: bool,
    pub requires: Requires,
}

const fn bind(keys: &'static [Key], action: Action, description: &'static str, hint: bool) -> Binding {
    Binding { keys, action, description, hint, requires: Requires::Always }
}

/// The keymap of the first console version, in hint order.
pub const BINDINGS: &[Binding] = &[
    bind(&[Key::ch('q'), Key::ctrl('c')], Action::Quit, "quit", true),
    bind(&[Key::plain(KeyCode::Tab), Key::plain(KeyCode::BackTab)], Action::NextFocus, "focus", true),
    bind(&[Key::ch('k'), Key::plain(KeyCode::Up)], Action::Up, "up", true),
    bind(&[Key::ch('j'), Key::plain(KeyCode::Down)], Action::Down, "down", true),
    bind(&[Key::plain(KeyCode::PageUp), Key::ctrl('b')], Action::PageUp, "page up", false),
    bind(&[Key::plain(KeyCode::PageDown), Key::ctrl('f')], Action::PageDown, "page down", false),
    bind(&[Key::ch('g'), Key::plain(KeyCode::Home)], Action::Top, "first row", false),
    bind(&[Key::ch('G'), Key::plain(KeyCode::End)], Action::Bottom, "last row", false),
    bind(&[Key::ch('l')], Action::ToggleLog, "log", true),
    Binding {
        keys: &[Key::ch('f')],
        action: Action::ToggleFaultInjector,
        description: "faults",
        hint: true,
        requires: Requires::Injector,
    },
];

/// What decides which bindings apply in a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    pub has_injector: bool,
}

/// The bindings that apply in this session.
#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Keymap {
    pub fn new(ctx: Context) -> Keymap {
        let applies = |b: &&Binding| match b.requires {
            Requires::Always => true,
            Requires::Injector => ctx.has_injector,
        };
        Keymap { bindings: BINDINGS.iter().filter(applies).copied().collect() }
    }

    pub fn action_for(&self, ev: &KeyEvent) -> Option<Action> {
        self.bindings.iter().find(|b| b.keys.iter().any(|k| k.matches(ev))).map(|b| b.action)
    }

    /// `(key, description)` for the status bar, in table order.
    pub fn hints(&self) -> impl Iterator<Item = (String, &'static str)> + '_ {
        self.bindings.iter().filter(|b| b.hint).filter_map(|b| b.keys.first().map(|k| (k.to_string(), b.description)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn keys_map_to_actions_and_shift_is_ignored_for_letters() {
        let km = Keymap::new(Context::default());
        assert_eq!(km.action_for(&ev(KeyCode::Char('q'), KeyModifiers::NONE)), Some(Action::Quit));
        assert_eq!(km.action_for(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(km.action_for(&ev(KeyCode::Char('C'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(km.action_for(&ev(KeyCode::Char('c'), KeyModifiers::NONE)), None);
        assert_eq!(km.action_for(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Action::Bottom));
        assert_eq!(km.action_for(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Action::NextFocus));
        assert_eq!(km.action_for(&ev(KeyCode::Down, KeyModifiers::NONE)), Some(Action::Down));
    }

    #[test]
    fn the_injector_binding_and_its_hint_exist_only_with_an_injector() {
        let f = ev(KeyCode::Char('f'), KeyModifiers::NONE);
        let without = Keymap::new(Context { has_injector: false });
        let with = Keymap::new(Context { has_injector: true });
        assert_eq!(without.action_for(&f), None);
        assert_eq!(with.action_for(&f), Some(Action::ToggleFaultInjector));
        assert!(!without.hints().any(|(k, _)| k == "f"));
        assert!(with.hints().any(|(k, d)| k == "f" && d == "faults"));
    }

    #[test]
    fn no_key_is_bound_twice() {
        let all: Vec<Key> = BINDINGS.iter().flat_map(|b| b.keys.iter().copied()).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(a), "{a} is bound twice");
        }
    }
}
