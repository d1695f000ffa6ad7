//! The keymap: one table of (keys, action, description, where it applies, whether it is
//! dangerous).
//!
//! The key handler, the status-bar hints and the help view (`?`) all read the [`Keymap`] built
//! from [`BINDINGS`], so they cannot disagree. A binding that does not apply in this session
//! (the fault injector outside the demo, every dangerous action in read-only mode) is removed
//! from the keymap, and with it from the hints and the help, rather than refused when pressed
//! (the k9s way). Keys are remapped from the config (`[console.keys] migrate = "m"`); an unknown
//! action or key string is an error that names it.

use super::app::Screen;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
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
    /// Drill down into the selected host or VM.
    Open,
    /// Back to the previous view (or clear the filter).
    Back,
    Filter,
    CommandMode,
    Help,
    /// The alarms view.
    Alarms,
    SortNext,
    SortReverse,
    ToggleLog,
    /// Keys go to the log pane: targets, levels, scrolling.
    FocusLog,
    ToggleFaultInjector,
    Migrate,
    Start,
    Stop,
    Restart,
    Reinstall,
    ToggleArmVm,
    ToggleArmCluster,
    Maintenance,
    HostOff,
    AckAlarm,
    P2v,
    WhatIf,
}

/// When a binding is part of the keymap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requires {
    Always,
    /// Only when the session has a fault injector (the demo).
    Injector,
}

/// Which views a binding applies in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    /// Views with a filterable, sortable table (the overview, a host's VMs).
    Table,
    /// Views with rows to open (all but a VM's detail).
    Rows,
    /// Views where a VM is selected or shown.
    Vm,
    /// Views where a host is selected or shown.
    Host,
    /// The overview only (the hosts/VMs focus).
    Overview,
}

impl Scope {
    pub fn applies(self, screen: &Screen) -> bool {
        match self {
            Scope::Everywhere => true,
            Scope::Table => matches!(screen, Screen::Overview | Screen::Host(_)),
            Scope::Rows => !matches!(screen, Screen::Vm(_) | Screen::WhatIf(_)),
            Scope::Vm => !matches!(screen, Screen::WhatIf(_)),
            Scope::Host => !matches!(screen, Screen::Vm(_) | Screen::WhatIf(_)),
            Scope::Overview => matches!(screen, Screen::Overview),
        }
    }
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

    /// Parse a key as written in the config: `m`, `S`, `ctrl-b`, `enter`, `esc`, `tab`,
    /// `backtab`, `up`, `down`, `left`, `right`, `pgup`, `pgdown`, `home`, `end`, `space`,
    /// `backspace`, `delete`, `f1`..`f12`.
    pub fn parse(s: &str) -> Result<Key, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("ctrl-") {
            let mut chars = rest.chars();
            return match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphanumeric() => Ok(Key::ctrl(c)),
                _ => Err(format!("unknown key {s:?}")),
            };
        }
        let mut chars = s.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            if !c.is_control() && c != ' ' {
                return Ok(Key::ch(c));
            }
        }
        let code = match lower.as_str() {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            f if f.starts_with('f') => match f[1..].parse::<u8>() {
                Ok(n @ 1..=12) => KeyCode::F(n),
                _ => return Err(format!("unknown key {s:?}")),
            },
            _ => return Err(format!("unknown key {s:?}")),
        };
        Ok(Key::plain(code))
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
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::F(n) => write!(f, "F{n}"),
            code => write!(f, "{code:?}"),
        }
    }
}

/// One row of the keymap.
#[derive(Clone, Debug)]
pub struct Binding {
    /// The first key is the one shown in hints.
    pub keys: Vec<Key>,
    pub action: Action,
    /// The action's name in the config's `[console.keys]`.
    pub name: &'static str,
    /// Short, for the status bar and the help view.
    pub description: &'static str,
    /// Shown in the status bar; the others only in help.
    pub hint: bool,
    pub requires: Requires,
    pub scope: Scope,
    /// Changes the cluster: removed in read-only mode.
    pub dangerous: bool,
}

/// A row of the default keymap: its keys, action, config name and description, shown in the
/// status bar (`hint`) or only in help, where it applies (`only`, else everywhere), and whether
/// it changes the cluster (`dangerous`).
struct Row {
    keys: &'static [Key],
    action: Action,
    name: &'static str,
    description: &'static str,
    hint: bool,
    scope: Scope,
    dangerous: bool,
}

impl Row {
    const fn new(keys: &'static [Key], action: Action, name: &'static str, description: &'static str) -> Row {
        Row { keys, action, name, description, hint: false, scope: Scope::Everywhere, dangerous: false }
    }

    /// Shown in the status bar.
    const fn hint(self) -> Row {
        Row { hint: true, ..self }
    }

    /// Applies only where `scope` says.
    const fn only(self, scope: Scope) -> Row {
        Row { scope, ..self }
    }

    /// Changes the cluster: removed in read-only mode.
    const fn dangerous(self) -> Row {
        Row { dangerous: true, ..self }
    }
}

use Action as A;
use Scope as S;

/// The default keymap, in hint order.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row::new(&[Key::ch('q'), Key::ctrl('c')], A::Quit, "quit", "quit"),
    Row::new(&[Key::ch('?')], A::Help, "help", "help").hint(),
    Row::new(&[Key::plain(KeyCode::Enter)], A::Open, "open", "open").hint().only(S::Rows),
    Row::new(&[Key::plain(KeyCode::Esc)], A::Back, "back", "back"),
    Row::new(&[Key::plain(KeyCode::Tab), Key::plain(KeyCode::BackTab)], A::NextFocus, "focus", "hosts/VMs").only(S::Overview),
    Row::new(&[Key::ch('k'), Key::plain(KeyCode::Up)], A::Up, "up", "up"),
    Row::new(&[Key::ch('j'), Key::plain(KeyCode::Down)], A::Down, "down", "down"),
    Row::new(&[Key::plain(KeyCode::PageUp), Key::ctrl('b')], A::PageUp, "page_up", "page up"),
    Row::new(&[Key::plain(KeyCode::PageDown), Key::ctrl('f')], A::PageDown, "page_down", "page down"),
    Row::new(&[Key::ch('g'), Key::plain(KeyCode::Home)], A::Top, "top", "first row"),
    Row::new(&[Key::ch('G'), Key::plain(KeyCode::End)], A::Bottom, "bottom", "last row"),
    Row::new(&[Key::ch('/')], A::Filter, "filter", "filter").hint().only(S::Table),
    Row::new(&[Key::ch(':')], A::CommandMode, "command", "command").hint(),
    Row::new(&[Key::ch('o')], A::SortNext, "sort", "sort by next column").only(S::Table),
    Row::new(&[Key::ch('O')], A::SortReverse, "sort_reverse", "reverse the sort").only(S::Table),
    Row::new(&[Key::ch('m')], A::Migrate, "migrate", "migrate VM").hint().only(S::Vm).dangerous(),
    Row::new(&[Key::ch('s')], A::Start, "start", "start VM").only(S::Vm).dangerous(),
    Row::new(&[Key::ch('S')], A::Stop, "stop", "stop VM (typed)").only(S::Vm).dangerous(),
    Row::new(&[Key::ch('r')], A::Restart, "restart", "restart VM").hint().only(S::Vm).dangerous(),
    Row::new(&[Key::ch('R')], A::Reinstall, "reinstall", "reinstall VM (typed)").only(S::Vm).dangerous(),
    Row::new(&[Key::ch('d')], A::ToggleArmVm, "arm_vm", "disarm/arm HA for VM").only(S::Vm).dangerous(),
    Row::new(&[Key::ch('D')], A::ToggleArmCluster, "arm_cluster", "disarm/arm HA cluster-wide").dangerous(),
    Row::new(&[Key::ch('M')], A::Maintenance, "maintenance", "host maintenance on/off").only(S::Host).dangerous(),
    Row::new(&[Key::ch('F')], A::HostOff, "host_off", "host is really off (typed)").only(S::Host).dangerous(),
    Row::new(&[Key::ch('w')], A::WhatIf, "what_if", "what if this host fails (simulated)").only(S::Host),
    Row::new(&[Key::ch('a')], A::AckAlarm, "ack", "ack alarm").hint().dangerous(),
    Row::new(&[Key::ch('A')], A::Alarms, "alarms", "all alarms"),
    Row::new(&[Key::ch('p')], A::P2v, "p2v", "P2V wizard").only(S::Overview).dangerous(),
    Row::new(&[Key::ch('l')], A::ToggleLog, "log", "log pane"),
    Row::new(&[Key::ch('L')], A::FocusLog, "log_focus", "log: filter by target and level"),
];

/// The default bindings, built from [`ROWS`], plus the demo's fault injector.
pub fn default_bindings() -> Vec<Binding> {
    let mut out: Vec<Binding> = ROWS
        .iter()
        .map(|r| Binding {
            keys: r.keys.to_vec(),
            action: r.action,
            name: r.name,
            description: r.description,
            hint: r.hint,
            requires: Requires::Always,
            scope: r.scope,
            dangerous: r.dangerous,
        })
        .collect();
    // Right after help: in the demo, its hint must fit in 80 columns.
    out.insert(
        2,
        Binding {
            keys: vec![Key::ch('f')],
            action: Action::ToggleFaultInjector,
            name: "faults",
            description: "faults",
            hint: true,
            requires: Requires::Injector,
            scope: Scope::Everywhere,
            dangerous: false,
        },
    );
    out
}

/// What decides which bindings apply in a session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    pub has_injector: bool,
    /// Removes every dangerous binding.
    pub readonly: bool,
    /// `[console.keys]`: action name -> keys.
    pub remap: BTreeMap<String, Vec<String>>,
}

/// The bindings that apply in this session.
#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Keymap {
    /// The keymap for a session; `Err` names the unknown action or key of a remapping, or the
    /// key that a remapping binds twice.
    pub fn build(ctx: &Context) -> Result<Keymap, String> {
        let mut bindings = default_bindings();
        for (name, keys) in &ctx.remap {
            let Some(b) = bindings.iter_mut().find(|b| b.name == name.as_str()) else {
                let known: Vec<&str> = default_bindings().iter().map(|b| b.name).collect();
                return Err(format!("[console.keys]: unknown action {name:?} (actions: {})", known.join(", ")));
            };
            if keys.is_empty() {
                return Err(format!("[console.keys] {name}: no key given"));
            }
            b.keys = keys
                .iter()
                .map(|k| Key::parse(k).map_err(|e| format!("[console.keys] {name}: {e}")))
                .collect::<Result<_, _>>()?;
        }
        let all: Vec<(Key, &str)> = bindings.iter().flat_map(|b| b.keys.iter().map(|k| (*k, b.name))).collect();
        for (i, (k, a)) in all.iter().enumerate() {
            if let Some((_, b)) = all[i + 1..].iter().find(|(k2, _)| k2 == k) {
                return Err(format!("[console.keys]: key {k} is bound to both {a} and {b}"));
            }
        }
        bindings.retain(|b| {
            let present = match b.requires {
                Requires::Always => true,
                Requires::Injector => ctx.has_injector,
            };
            present && !(ctx.readonly && b.dangerous)
        });
        Ok(Keymap { bindings })
    }

    /// The default keymap for a context without remapping (which cannot fail).
    pub fn new(has_injector: bool, readonly: bool) -> Keymap {
        let ctx = Context { has_injector, readonly, remap: BTreeMap::new() };
        Keymap::build(&ctx).unwrap_or_else(|e| panic!("the default keymap is invalid: {e}"))
    }

    pub fn action_for(&self, ev: &KeyEvent, screen: &Screen) -> Option<Action> {
        self.for_screen(screen).find(|b| b.keys.iter().any(|k| k.matches(ev))).map(|b| b.action)
    }

    /// The bindings that apply in a view: the help view lists them.
    pub fn for_screen<'a>(&'a self, screen: &'a Screen) -> impl Iterator<Item = &'a Binding> + 'a {
        self.bindings.iter().filter(move |b| b.scope.applies(screen))
    }

    /// True when the action is in the keymap (read-only mode removes the dangerous ones).
    pub fn has(&self, action: Action) -> bool {
        self.bindings.iter().any(|b| b.action == action)
    }

    /// `(key, description)` for the status bar, in table order.
    pub fn hints<'a>(&'a self, screen: &'a Screen) -> impl Iterator<Item = (String, &'static str)> + 'a {
        self.for_screen(screen)
            .filter(|b| b.hint)
            .filter_map(|b| b.keys.first().map(|k| (k.to_string(), b.description)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    const O: Screen = Screen::Overview;

    #[test]
    fn keys_map_to_actions_and_shift_is_ignored_for_letters() {
        let km = Keymap::new(false, false);
        assert_eq!(km.action_for(&ev(KeyCode::Char('q'), KeyModifiers::NONE), &O), Some(Action::Quit));
        assert_eq!(km.action_for(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL), &O), Some(Action::Quit));
        assert_eq!(km.action_for(&ev(KeyCode::Char('C'), KeyModifiers::CONTROL), &O), Some(Action::Quit));
        assert_eq!(km.action_for(&ev(KeyCode::Char('c'), KeyModifiers::NONE), &O), None);
        assert_eq!(km.action_for(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT), &O), Some(Action::Bottom));
        assert_eq!(km.action_for(&ev(KeyCode::BackTab, KeyModifiers::SHIFT), &O), Some(Action::NextFocus));
        assert_eq!(km.action_for(&ev(KeyCode::Down, KeyModifiers::NONE), &O), Some(Action::Down));
        assert_eq!(km.action_for(&ev(KeyCode::Char('R'), KeyModifiers::SHIFT), &O), Some(Action::Reinstall));
    }

    #[test]
    fn the_injector_binding_and_its_hint_exist_only_with_an_injector() {
        let f = ev(KeyCode::Char('f'), KeyModifiers::NONE);
        let without = Keymap::new(false, false);
        let with = Keymap::new(true, false);
        assert_eq!(without.action_for(&f, &O), None);
        assert_eq!(with.action_for(&f, &O), Some(Action::ToggleFaultInjector));
        assert!(!without.hints(&O).any(|(k, _)| k == "f"));
        assert!(with.hints(&O).any(|(k, d)| k == "f" && d == "faults"));
    }

    #[test]
    fn readonly_removes_every_dangerous_binding_and_keeps_navigation() {
        let km = Keymap::new(true, true);
        for b in default_bindings() {
            assert_eq!(km.has(b.action), !b.dangerous, "{}", b.name);
        }
        let r = ev(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(km.action_for(&r, &O), None);
        assert!(!km.for_screen(&O).any(|b| b.description.contains("restart")));
    }

    #[test]
    fn host_keys_do_not_apply_in_a_vm_view() {
        let km = Keymap::new(false, false);
        let vm = Screen::Vm("web1".into());
        let m = ev(KeyCode::Char('M'), KeyModifiers::SHIFT);
        assert_eq!(km.action_for(&m, &O), Some(Action::Maintenance));
        assert_eq!(km.action_for(&m, &vm), None);
        assert_eq!(km.action_for(&ev(KeyCode::Char('m'), KeyModifiers::NONE), &vm), Some(Action::Migrate));
    }

    #[test]
    fn remapping_replaces_keys_and_errors_name_the_action_or_key() {
        let mut ctx = Context::default();
        ctx.remap.insert("migrate".into(), vec!["ctrl-g".into(), "F2".into()]);
        let km = Keymap::build(&ctx).unwrap();
        assert_eq!(km.action_for(&ev(KeyCode::Char('g'), KeyModifiers::CONTROL), &O), Some(Action::Migrate));
        assert_eq!(km.action_for(&ev(KeyCode::F(2), KeyModifiers::NONE), &O), Some(Action::Migrate));
        assert_eq!(km.action_for(&ev(KeyCode::Char('m'), KeyModifiers::NONE), &O), None);
        assert!(km.hints(&O).any(|(k, d)| k == "Ctrl-G" && d == "migrate VM"));

        let bad = |name: &str, key: &str| {
            let mut ctx = Context::default();
            ctx.remap.insert(name.into(), vec![key.into()]);
            Keymap::build(&ctx).unwrap_err()
        };
        assert!(bad("teleport", "t").contains("unknown action \"teleport\""));
        assert!(bad("migrate", "hyper-m").contains("migrate: unknown key \"hyper-m\""));
        assert!(bad("migrate", "r").contains("key r is bound to both"));
    }

    #[test]
    fn no_key_is_bound_twice_by_default() {
        let all: Vec<Key> = default_bindings().iter().flat_map(|b| b.keys.clone()).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(a), "{a} is bound twice");
        }
    }
}
