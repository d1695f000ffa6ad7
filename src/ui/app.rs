//! The console's state and its update: keys and snapshots in, requests out.
//!
//! Pure: no terminal, no channels, no clock (time is an argument). Everything a user can do
//! with the keyboard is testable here by feeding keys and checking the state and the requests.
//!
//! Keys go, in order, to the open popup (confirmation, migration target, help), then to the
//! input line (`/` filter, `:` command), then to the focused log pane, then to the keymap of the
//! current view (`keys.rs`).

use super::confirm::{Confirm, Confirmation};
use super::flash::{Flash, FlashLevel};
use super::keymap::{Action, Keymap};
use super::picker::Picker;
use super::rows::{self, Sort, HOST_SORT, VM_SORT};
use super::selection::Selection;
use super::{UiFeedback, UiRequest};
use crate::core::{ClusterView, Command, HostState, Subject, VmState};
use std::sync::Arc;
use std::time::Instant;

/// Which table the movement keys act on in the overview.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Hosts,
    Vms,
}

/// A view of the drill-down; the stack of them is the breadcrumb.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Host(String),
    Vm(String),
    /// Every alarm, acknowledged or not.
    Alarms,
    /// The answer to a what-if question ("host hv2 down"), simulated on a copy of the cluster.
    WhatIf(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Popup {
    Confirm(Confirm),
    Migrate(Picker),
    Help { scroll: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Command,
}

/// The input line at the bottom: `/filter` or `:command`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub kind: InputKind,
    pub text: String,
}

#[derive(Debug)]
pub struct App {
    title: String,
    view: Arc<ClusterView>,
    stack: Vec<Screen>,
    /// Each screen's own state: the overview's tables, a host's VMs, the alarms, the VM and
    /// what-if details.
    overview: Overview,
    /// The VMs table of a host's detail view.
    host_vms: Selection,
    /// The alarms view, by alarm id.
    alarms: Selection,
    detail: Detail,
    /// The filter and sorts every table obeys.
    tables: Tables,
    log: LogPane,
    /// The demo fault injector's state; `None` outside the demo.
    injector: Option<bool>,
    keymap: Keymap,
    readonly: bool,
    flash: Option<Flash>,
    popup: Option<Popup>,
    input: Option<Input>,
    /// The newest snapshot that arrived under a confirmation dialog.
    paused: Option<Arc<ClusterView>>,
    bell: Bell,
    quit: bool,
    p2v: P2vScreen,
    /// A console attached to a supervisor elsewhere that lost it: why, while it reconnects.
    link_lost: Option<String>,
}

impl App {
    pub fn new(title: impl Into<String>, view: Arc<ClusterView>, injector: Option<bool>) -> App {
        let last_alarm = view.alarms.iter().map(|a| a.id).max().unwrap_or(0);
        let mut app = App {
            title: title.into(),
            view,
            stack: vec![Screen::Overview],
            overview: Overview { focus: Focus::Vms, hosts: Selection::default(), vms: Selection::default() },
            host_vms: Selection::default(),
            alarms: Selection::default(),
            detail: Detail::default(),
            tables: Tables::default(),
            log: LogPane { show: true, focus: false, keys: Vec::new() },
            injector,
            keymap: Keymap::new(injector.is_some(), false),
            readonly: false,
            flash: None,
            popup: None,
            input: None,
            paused: None,
            bell: Bell { last: last_alarm, ring: false },
            quit: false,
            p2v: P2vScreen::default(),
            link_lost: None,
        };
        app.sync_selections();
        app
    }

    /// The P2V wizard as it opens (made from the cluster's config); without one the `p` key
    /// says P2V is not available.
    pub fn set_p2v(&mut self, wizard: crate::p2v::wizard::Wizard) {
        self.p2v.fresh = Some(wizard);
    }

    /// The P2V wizard, if open.
    pub fn p2v(&self) -> Option<&crate::p2v::wizard::Wizard> {
        self.p2v.open.as_deref()
    }

    /// A key for the open P2V wizard; its effect goes to the app shell, `Close` closes it.
    fn p2v_key(&mut self, key: crate::p2v::wizard::Key) -> Option<UiRequest> {
        use crate::p2v::wizard::Effect;
        match self.p2v.open.as_mut()?.key(key)? {
            Effect::Close => {
                self.p2v.open = None;
                None
            }
            effect => Some(UiRequest::P2v(effect)),
        }
    }

    /// Use a remapped or read-only keymap.
    pub fn set_keymap(&mut self, keymap: Keymap, readonly: bool) {
        self.keymap = keymap;
        self.readonly = readonly;
    }

    /// A new snapshot: the selections stay on the same names. Under a confirmation dialog the
    /// live refresh pauses (the snapshot waits until the dialog closes), so nothing moves while
    /// a person decides; the migration picker keeps refreshing its capacities, never its VM or
    /// highlighted host.
    pub fn set_view(&mut self, view: Arc<ClusterView>) {
        let newest = view.alarms.iter().filter(|a| !a.acked).map(|a| a.id).max().unwrap_or(0);
        if newest > self.bell.last {
            self.bell.ring = true;
        }
        self.bell.last = self.bell.last.max(view.alarms.iter().map(|a| a.id).max().unwrap_or(0));
        if matches!(self.popup, Some(Popup::Confirm(_))) {
            self.paused = Some(view);
            return;
        }
        self.view = view;
        if let Some(Popup::Migrate(p)) = &mut self.popup {
            p.refresh(&self.view);
        }
        self.sync_selections();
    }

    /// True once after a snapshot brought a new unacknowledged alarm.
    pub fn take_bell(&mut self) -> bool {
        std::mem::take(&mut self.bell.ring)
    }

    pub fn set_injector(&mut self, on: bool) {
        if self.injector.is_some() {
            self.injector = Some(on);
        }
    }

    pub fn set_flash(&mut self, flash: Flash) {
        self.flash = Some(flash);
    }

    /// An answer from the app shell: a command's verdict or a domain XML.
    pub fn feedback(&mut self, fb: UiFeedback, now: Instant) {
        match fb {
            UiFeedback::Verdict { command, refused: None, warning: None } => {
                self.flash = Some(Flash::new(FlashLevel::Info, format!("{command}: accepted"), now))
            }
            UiFeedback::Verdict { command, refused: None, warning: Some(w) } => {
                self.flash = Some(Flash::new(FlashLevel::Warning, format!("{command}: accepted, {w}"), now))
            }
            UiFeedback::Verdict { command, refused: Some(why), .. } => {
                self.flash = Some(Flash::new(FlashLevel::Error, format!("{command}: refused: {why}"), now))
            }
            UiFeedback::Notice { origin, command, warning } => {
                let (level, text) = match warning {
                    None => (FlashLevel::Info, format!("{command} by {origin}")),
                    Some(w) => (FlashLevel::Warning, format!("{command} by {origin}, {w}")),
                };
                self.flash = Some(Flash::new(level, text, now))
            }
            UiFeedback::Link(lost) => self.link_lost = lost,
            UiFeedback::P2v(fb) => {
                use super::P2vFeedback as F;
                let Some(w) = self.p2v.open.as_mut() else { return };
                match fb {
                    F::Connected(r) => w.connected(r),
                    F::Target(r) => w.target_read(r),
                    F::Note(line) => w.note(line),
                    F::Progress(line) => w.progress(line),
                    F::Finished(r) => w.finished(r),
                }
            }
            UiFeedback::DomainXml { vm, xml } => {
                if self.detail.xml.as_ref().is_some_and(|(v, _)| *v == vm) {
                    let text = xml.unwrap_or_else(|| "(not in the inventory yet)".to_string());
                    self.detail.xml = Some((vm, Some(text)));
                }
            }
            UiFeedback::WhatIf { question, answer } => {
                if self.detail.what_if.as_ref().is_some_and(|(q, _)| *q == question) {
                    self.detail.what_if = Some((question, Some(answer)));
                }
            }
        }
    }

    /// Close the popup; a snapshot that waited under it is shown now.
    fn close_popup(&mut self) {
        self.popup = None;
        if let Some(view) = self.paused.take() {
            self.set_view(view);
        }
    }

    /// The one path of every operator command: refused in read-only mode, sent at once when it
    /// needs no confirmation, otherwise opens the confirmation dialog.
    pub fn request(&mut self, cmd: Command, now: Instant) -> Option<UiRequest> {
        if self.readonly {
            self.flash = Some(Flash::new(FlashLevel::Error, format!("read-only console: cannot {cmd}"), now));
            return None;
        }
        match Confirm::new(cmd.clone()) {
            Some(dialog) => {
                self.popup = Some(Popup::Confirm(dialog));
                None
            }
            None => Some(UiRequest::Command { command: cmd, confirmed: Confirmation::NotNeeded }),
        }
    }

    pub fn apply(&mut self, action: Action, now: Instant) -> Option<UiRequest> {
        use Action as A;
        match action {
            A::Quit => self.quit = true,
            A::NextFocus | A::Up | A::Down | A::PageUp | A::PageDown | A::Top | A::Bottom => self.navigate(action),
            A::Open => return self.open_selected(),
            A::Back => self.back(),
            A::Filter | A::CommandMode | A::Help | A::SortNext | A::SortReverse => self.table_action(action),
            A::ToggleLog | A::FocusLog => self.log_pane(action),
            A::ToggleFaultInjector => return self.toggle_injector(now),
            A::Alarms => return self.open(Screen::Alarms),
            A::WhatIf => {
                let host = self.need_host(now)?;
                return self.open(Screen::WhatIf(format!("host {host} down")));
            }
            A::P2v => self.open_p2v(now),
            A::Migrate
            | A::Start
            | A::Stop
            | A::Restart
            | A::Reinstall
            | A::ToggleArmVm
            | A::ToggleArmCluster
            | A::Maintenance
            | A::HostOff
            | A::AckAlarm => return self.cluster_action(action, now),
        }
        None
    }

    /// Movement keys: the focused table's selection, or the detail's scroll.
    fn navigate(&mut self, action: Action) {
        match action {
            Action::NextFocus => {
                self.overview.focus = match self.overview.focus {
                    Focus::Hosts => Focus::Vms,
                    Focus::Vms => Focus::Hosts,
                }
            }
            Action::Up => self.move_focused(|s, n| s.move_by(n, -1), -1),
            Action::Down => self.move_focused(|s, n| s.move_by(n, 1), 1),
            Action::PageUp => self.move_focused(|s, n| s.move_page(n, false), -10),
            Action::PageDown => self.move_focused(|s, n| s.move_page(n, true), 10),
            Action::Top => self.move_focused(|s, n| s.select_index(n, 0), i32::MIN),
            Action::Bottom => self.move_focused(|s, n| s.select_index(n, n.len().saturating_sub(1)), i32::MAX),
            _ => {}
        }
    }

    /// Enter: the selected host, VM or alarm's subject, one level down.
    fn open_selected(&mut self) -> Option<UiRequest> {
        let screen = match self.screen() {
            Screen::Overview => match self.overview.focus {
                Focus::Hosts => Screen::Host(self.overview.hosts.name()?.to_string()),
                Focus::Vms => Screen::Vm(self.overview.vms.name()?.to_string()),
            },
            Screen::Host(_) => Screen::Vm(self.host_vms.name()?.to_string()),
            Screen::Vm(_) | Screen::WhatIf(_) => return None,
            Screen::Alarms => match &self.selected_alarm()?.subject {
                Subject::Host(h) => Screen::Host(h.clone()),
                Subject::Vm(v) => Screen::Vm(v.clone()),
                Subject::Cluster => return None,
            },
        };
        self.open(screen)
    }

    /// Esc: in a table, clears the filter first (a VM's detail has none); else one level up.
    fn back(&mut self) {
        if !self.tables.filter.is_empty() && !matches!(self.screen(), Screen::Vm(_) | Screen::WhatIf(_)) {
            self.tables.filter.clear();
            self.sync_selections();
        } else if self.stack.len() > 1 {
            self.stack.pop();
            self.detail.scroll = DetailScroll::default();
            self.sync_selections();
        }
    }

    /// The filter and command lines, help, and the tables' sort.
    fn table_action(&mut self, action: Action) {
        match action {
            Action::Filter => self.input = Some(Input { kind: InputKind::Filter, text: self.tables.filter.clone() }),
            Action::CommandMode => self.input = Some(Input { kind: InputKind::Command, text: String::new() }),
            Action::Help => self.popup = Some(Popup::Help { scroll: 0 }),
            Action::SortNext | Action::SortReverse => {
                let hosts = self.overview.focus == Focus::Hosts && *self.screen() == Screen::Overview;
                let (sort, columns) = if hosts {
                    (&mut self.tables.host_sort, HOST_SORT.len())
                } else {
                    (&mut self.tables.vm_sort, VM_SORT.len())
                };
                if action == Action::SortNext {
                    sort.next(columns);
                } else {
                    sort.reverse = !sort.reverse;
                }
                self.sync_selections();
            }
            _ => {}
        }
    }

    fn log_pane(&mut self, action: Action) {
        if action == Action::ToggleLog {
            self.log.show = !self.log.show;
            self.log.focus &= self.log.show;
        } else {
            self.log.show = true;
            self.log.focus = true;
        }
    }

    fn toggle_injector(&mut self, now: Instant) -> Option<UiRequest> {
        let on = self.injector?;
        let what = if on { "off" } else { "on" };
        self.flash = Some(Flash::new(FlashLevel::Info, format!("fault injector: turning {what}"), now));
        Some(UiRequest::ToggleFaultInjector)
    }

    fn open_p2v(&mut self, now: Instant) {
        match &self.p2v.fresh {
            Some(wizard) => self.p2v.open = Some(Box::new(wizard.clone())),
            None => {
                let text = "P2V wizard: needs the cluster's config (3rc run --config FILE)";
                self.flash = Some(Flash::new(FlashLevel::Info, text, now));
            }
        }
    }

    /// The keys that change the cluster: each becomes a command (through its confirmation, if
    /// it needs one), or the migration picker.
    fn cluster_action(&mut self, action: Action, now: Instant) -> Option<UiRequest> {
        let cmd = match action {
            Action::Migrate => {
                let vm = self.need_vm(now)?;
                self.popup = Some(Popup::Migrate(Picker::new(&self.view, &vm)));
                return None;
            }
            Action::Start => return self.vm_command(now, |vm| Command::Start { vm }),
            Action::Stop => return self.vm_command(now, |vm| Command::Stop { vm }),
            Action::Restart => return self.vm_command(now, |vm| Command::Restart { vm }),
            Action::Reinstall => return self.vm_command(now, |vm| Command::Reinstall { vm }),
            Action::ToggleArmVm => {
                let vm = self.need_vm(now)?;
                let unmanaged = self.view.vm(&vm).is_some_and(|v| v.state == VmState::Unmanaged);
                if unmanaged {
                    Command::Arm { vm: Some(vm) }
                } else {
                    Command::Disarm { vm: Some(vm) }
                }
            }
            Action::ToggleArmCluster => {
                if self.view.armed {
                    Command::Disarm { vm: None }
                } else {
                    Command::Arm { vm: None }
                }
            }
            Action::Maintenance => {
                let host = self.need_host(now)?;
                let on = self.view.host(&host).is_none_or(|h| h.state != HostState::Maintenance);
                Command::Maintenance { host, on }
            }
            Action::HostOff => Command::ConfirmHostOff { host: self.need_host(now)? },
            Action::AckAlarm => {
                if *self.screen() == Screen::Alarms && self.selected_alarm().is_some_and(|a| a.acked) {
                    self.flash = Some(Flash::new(FlashLevel::Info, "already acknowledged", now));
                    return None;
                }
                let Some(id) = self.alarm_to_ack() else {
                    self.flash = Some(Flash::new(FlashLevel::Info, "no alarm to acknowledge", now));
                    return None;
                };
                Command::AckAlarm { id }
            }
            _ => return None,
        };
        self.request(cmd, now)
    }

    fn open(&mut self, screen: Screen) -> Option<UiRequest> {
        if self.stack.last() == Some(&screen) {
            return None;
        }
        self.detail.scroll = DetailScroll::default();
        self.stack.push(screen.clone());
        self.sync_selections();
        match screen {
            Screen::Vm(vm) => {
                self.detail.xml = Some((vm.clone(), None));
                Some(UiRequest::DomainXml { vm })
            }
            Screen::WhatIf(question) => {
                self.detail.what_if = Some((question.clone(), None));
                Some(UiRequest::WhatIf { question })
            }
            _ => None,
        }
    }

    fn vm_command(&mut self, now: Instant, f: impl FnOnce(String) -> Command) -> Option<UiRequest> {
        let vm = self.need_vm(now)?;
        self.request(f(vm), now)
    }

    /// The VM the operation keys act on, or a warning flash.
    fn need_vm(&mut self, now: Instant) -> Option<String> {
        let vm = self.target_vm().map(str::to_string);
        if vm.is_none() {
            self.flash = Some(Flash::new(FlashLevel::Warning, "no VM selected", now));
        }
        vm
    }

    fn need_host(&mut self, now: Instant) -> Option<String> {
        let host = self.target_host().map(str::to_string);
        if host.is_none() {
            self.flash = Some(Flash::new(FlashLevel::Warning, "no host selected", now));
        }
        host
    }

    /// The first unacknowledged alarm about what is shown, else the first one.
    fn alarm_to_ack(&self) -> Option<u64> {
        if *self.screen() == Screen::Alarms {
            return self.selected_alarm().filter(|a| !a.acked).map(|a| a.id);
        }
        let subject = match self.screen() {
            Screen::Overview | Screen::Alarms | Screen::WhatIf(_) => None,
            Screen::Host(h) => Some(Subject::Host(h.clone())),
            Screen::Vm(v) => Some(Subject::Vm(v.clone())),
        };
        let unacked = || self.view.alarms.iter().filter(|a| !a.acked);
        unacked().find(|a| Some(&a.subject) == subject.as_ref()).or_else(|| unacked().next()).map(|a| a.id)
    }

    /// The slow tick: expire the flash. True when something visible changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        if self.flash.as_ref().is_some_and(|f| f.expired(now)) {
            self.flash = None;
            return true;
        }
        false
    }

    /// Some VM is in the middle of an operation: its elapsed time on screen moves.
    pub fn has_in_flight(&self) -> bool {
        self.view.vms.iter().any(|v| super::views::in_flight(v.state))
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn view(&self) -> &ClusterView {
        &self.view
    }

    /// The snapshot itself, for views that must hold it while they update the selections.
    pub fn snapshot(&self) -> Arc<ClusterView> {
        Arc::clone(&self.view)
    }

    pub fn screen(&self) -> &Screen {
        self.stack.last().unwrap_or(&Screen::Overview)
    }

    /// The drill-down path, for the breadcrumb.
    pub fn stack(&self) -> &[Screen] {
        &self.stack
    }

    pub fn focus(&self) -> Focus {
        self.overview.focus
    }

    pub fn show_log(&self) -> bool {
        self.log.show
    }

    /// Why an attached console has lost its supervisor, while it reconnects.
    pub fn link_lost(&self) -> Option<&str> {
        self.link_lost.as_deref()
    }

    pub fn injector(&self) -> Option<bool> {
        self.injector
    }

    pub fn readonly(&self) -> bool {
        self.readonly
    }

    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    pub fn flash(&self) -> Option<&Flash> {
        self.flash.as_ref()
    }

    pub fn popup(&self) -> Option<&Popup> {
        self.popup.as_ref()
    }

    pub fn input(&self) -> Option<&Input> {
        self.input.as_ref()
    }

    pub fn filter(&self) -> &str {
        &self.tables.filter
    }

    pub fn vm_sort(&self) -> Sort {
        self.tables.vm_sort
    }

    pub fn host_sort(&self) -> Sort {
        self.tables.host_sort
    }

    pub fn detail_scroll(&self) -> u16 {
        self.detail.scroll.offset
    }

    /// The view knows how long the detail is: it keeps the scroll within it (at its end after
    /// End, however the text grew since).
    pub fn clamp_detail_scroll(&mut self, max: u16) {
        self.detail.scroll.fit(max);
    }

    /// The domain XML of the VM in the detail view (`None` inside while it is fetched).
    pub fn xml(&self) -> Option<&(String, Option<String>)> {
        self.detail.xml.as_ref()
    }

    /// The what-if shown (`None` inside while it runs).
    pub fn what_if(&self) -> Option<&(String, Option<Result<String, String>>)> {
        self.detail.what_if.as_ref()
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn selected_host(&self) -> Option<&str> {
        self.overview.hosts.name()
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn selected_vm(&self) -> Option<&str> {
        self.overview.vms.name()
    }

    /// The VM the operation keys act on in the current view.
    pub fn target_vm(&self) -> Option<&str> {
        match self.screen() {
            Screen::Overview => self.overview.vms.name(),
            Screen::Host(_) => self.host_vms.name(),
            Screen::Vm(v) => Some(v),
            Screen::Alarms => match &self.selected_alarm()?.subject {
                Subject::Vm(v) => Some(v),
                _ => None,
            },
            Screen::WhatIf(_) => None,
        }
    }

    /// The host the host keys act on in the current view.
    pub fn target_host(&self) -> Option<&str> {
        match self.screen() {
            Screen::Overview => self.overview.hosts.name(),
            Screen::Host(h) => Some(h),
            Screen::Vm(v) => self.view.vm(v).and_then(|v| v.host.as_deref()),
            Screen::Alarms => match &self.selected_alarm()?.subject {
                Subject::Host(h) => Some(h),
                _ => None,
            },
            Screen::WhatIf(_) => None,
        }
    }

    /// The view keeps the scroll positions here between frames: (hosts, VMs, a host's VMs).
    pub fn selections_mut(&mut self) -> (&mut Selection, &mut Selection, &mut Selection) {
        (&mut self.overview.hosts, &mut self.overview.vms, &mut self.host_vms)
    }

    /// The alarms view's selection, for its scroll position.
    pub fn alarms_selection_mut(&mut self) -> &mut Selection {
        &mut self.alarms
    }

    /// The alarm selected in the alarms view.
    pub fn selected_alarm(&self) -> Option<&crate::core::AlarmView> {
        let id = self.alarms.name()?;
        self.view.alarms.iter().find(|a| a.id.to_string() == id)
    }

    fn detail_host(&self) -> Option<String> {
        match self.screen() {
            Screen::Host(h) => Some(h.clone()),
            _ => None,
        }
    }

    fn sync_selections(&mut self) {
        let view = Arc::clone(&self.view);
        let hosts: Vec<&str> =
            rows::hosts(&view, &self.tables.filter, self.tables.host_sort).iter().map(|h| h.name.as_str()).collect();
        self.overview.hosts.sync(&hosts);
        let vms: Vec<&str> =
            rows::vms(&view, None, &self.tables.filter, self.tables.vm_sort).iter().map(|v| v.name.as_str()).collect();
        self.overview.vms.sync(&vms);
        let ids: Vec<String> = view.alarms.iter().map(|a| a.id.to_string()).collect();
        self.alarms.sync(&ids.iter().map(String::as_str).collect::<Vec<_>>());
        if let Some(h) = self.detail_host() {
            let vms: Vec<&str> = rows::vms(&view, Some(&h), &self.tables.filter, self.tables.vm_sort)
                .iter()
                .map(|v| v.name.as_str())
                .collect();
            self.host_vms.sync(&vms);
        }
    }

    /// Move in the focused table; in the VM detail view, scroll by `lines`.
    fn move_focused(&mut self, f: impl FnOnce(&mut Selection, &[&str]), lines: i32) {
        let view = Arc::clone(&self.view);
        match self.screen().clone() {
            Screen::Overview => match self.overview.focus {
                Focus::Hosts => {
                    let rows = rows::hosts(&view, &self.tables.filter, self.tables.host_sort);
                    f(&mut self.overview.hosts, &rows.iter().map(|h| h.name.as_str()).collect::<Vec<_>>())
                }
                Focus::Vms => {
                    let rows = rows::vms(&view, None, &self.tables.filter, self.tables.vm_sort);
                    f(&mut self.overview.vms, &rows.iter().map(|v| v.name.as_str()).collect::<Vec<_>>())
                }
            },
            Screen::Host(h) => {
                let rows = rows::vms(&view, Some(&h), &self.tables.filter, self.tables.vm_sort);
                f(&mut self.host_vms, &rows.iter().map(|v| v.name.as_str()).collect::<Vec<_>>())
            }
            Screen::Alarms => {
                let ids: Vec<String> = view.alarms.iter().map(|a| a.id.to_string()).collect();
                f(&mut self.alarms, &ids.iter().map(String::as_str).collect::<Vec<_>>())
            }
            Screen::Vm(_) | Screen::WhatIf(_) => self.detail.scroll.by(lines),
        }
    }
}

mod keys;
mod screens;
#[cfg(test)]
mod tests;

use screens::{Bell, Detail, DetailScroll, LogPane, Overview, P2vScreen, Tables};
