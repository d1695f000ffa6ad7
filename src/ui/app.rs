//! The console's state and its update: keys and snapshots in, requests out.
//!
//! Pure: no terminal, no channels, no clock (time is an argument). Everything a user can do
//! with the keyboard is testable here by feeding keys and checking the state and the requests.

use super::flash::{Flash, FlashLevel};
use super::keymap::{Action, Context, Keymap};
use super::selection::Selection;
use super::UiRequest;
use crate::core::ClusterView;
use crossterm::event::{KeyEvent, KeyEventKind};
use std::sync::Arc;
use std::time::Instant;

/// Which table the movement keys act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Hosts,
    Vms,
}

#[derive(Debug)]
pub struct App {
    title: String,
    view: Arc<ClusterView>,
    focus: Focus,
    hosts: Selection,
    vms: Selection,
    show_log: bool,
    /// The demo fault injector's state; `None` outside the demo.
    injector: Option<bool>,
    keymap: Keymap,
    flash: Option<Flash>,
    quit: bool,
}

impl App {
    pub fn new(title: impl Into<String>, view: Arc<ClusterView>, injector: Option<bool>) -> App {
        let mut app = App {
            title: title.into(),
            view,
            focus: Focus::Vms,
            hosts: Selection::default(),
            vms: Selection::default(),
            show_log: true,
            injector,
            keymap: Keymap::new(Context { has_injector: injector.is_some() }),
            flash: None,
            quit: false,
        };
        app.sync_selections();
        app
    }

    /// A new snapshot: the selections stay on the same names.
    pub fn set_view(&mut self, view: Arc<ClusterView>) {
        self.view = view;
        self.sync_selections();
    }

    pub fn set_injector(&mut self, on: bool) {
        if self.injector.is_some() {
            self.injector = Some(on);
        }
    }

    pub fn set_flash(&mut self, flash: Flash) {
        self.flash = Some(flash);
    }

    /// One key press. Returns what to send to the supervisor, if anything.
    pub fn handle_key(&mut self, key: KeyEvent, now: Instant) -> Option<UiRequest> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let action = self.keymap.action_for(&key)?;
        self.apply(action, now)
    }

    pub fn apply(&mut self, action: Action, now: Instant) -> Option<UiRequest> {
        match action {
            Action::Quit => self.quit = true,
            Action::NextFocus => {
                self.focus = match self.focus {
                    Focus::Hosts => Focus::Vms,
                    Focus::Vms => Focus::Hosts,
                }
            }
            Action::Up => self.move_focused(|s, n| s.move_by(n, -1)),
            Action::Down => self.move_focused(|s, n| s.move_by(n, 1)),
            Action::PageUp => self.move_focused(|s, n| s.move_page(n, false)),
            Action::PageDown => self.move_focused(|s, n| s.move_page(n, true)),
            Action::Top => self.move_focused(|s, n| s.select_index(n, 0)),
            Action::Bottom => self.move_focused(|s, n| s.select_index(n, n.len().saturating_sub(1))),
            Action::ToggleLog => self.show_log = !self.show_log,
            Action::ToggleFaultInjector => {
                let on = self.injector?;
                let what = if on { "off" } else { "on" };
                self.flash = Some(Flash::new(FlashLevel::Info, format!("fault injector: turning {what}"), now));
                return Some(UiRequest::ToggleFaultInjector);
            }
        }
        None
    }

    /// The slow tick: expire the flash. True when something visible changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        if self.flash.as_ref().is_some_and(|f| f.expired(now)) {
            self.flash = None;
            return true;
        }
        false
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

    pub fn focus(&self) -> Focus {
        self.focus
    }

    pub fn show_log(&self) -> bool {
        self.show_log
    }

    pub fn injector(&self) -> Option<bool> {
        self.injector
    }

    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    pub fn flash(&self) -> Option<&Flash> {
        self.flash.as_ref()
    }

    // The drill-down and the confirmation popups (next issue) act on these.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn selected_host(&self) -> Option<&str> {
        self.hosts.name()
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn selected_vm(&self) -> Option<&str> {
        self.vms.name()
    }

    /// The view keeps the scroll positions here between frames.
    pub fn selections_mut(&mut self) -> (&mut Selection, &mut Selection) {
        (&mut self.hosts, &mut self.vms)
    }

    fn sync_selections(&mut self) {
        let view = Arc::clone(&self.view);
        self.hosts.sync(&host_names(&view));
        self.vms.sync(&vm_names(&view));
    }

    fn move_focused(&mut self, f: impl FnOnce(&mut Selection, &[&str])) {
        let view = Arc::clone(&self.view);
        match self.focus {
            Focus::Hosts => f(&mut self.hosts, &host_names(&view)),
            Focus::Vms => f(&mut self.vms, &vm_names(&view)),
        }
    }
}

fn host_names(view: &ClusterView) -> Vec<&str> {
    view.hosts.iter().map(|h| h.name.as_str()).collect()
}

fn vm_names(view: &ClusterView) -> Vec<&str> {
    view.vms.iter().map(|v| v.name.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture::{cluster, keys};

    fn app(injector: Option<bool>) -> App {
        App::new("test", Arc::new(cluster()), injector)
    }

    /// Feed a key string ("jj<tab>k") and collect the requests.
    fn press(app: &mut App, seq: &str) -> Vec<UiRequest> {
        let now = Instant::now();
        keys(seq).into_iter().filter_map(|k| app.handle_key(k, now)).collect()
    }

    #[test]
    fn j_and_k_move_the_vm_selection_and_tab_switches_to_hosts() {
        let mut a = app(None);
        let vms = vm_names(a.view()).iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(a.focus(), Focus::Vms);
        assert_eq!(a.selected_vm(), Some(vms[0].as_str()));
        press(&mut a, "jj");
        assert_eq!(a.selected_vm(), Some(vms[2].as_str()));
        press(&mut a, "k<down><down><up>");
        assert_eq!(a.selected_vm(), Some(vms[2].as_str()));
        press(&mut a, "<tab>j");
        assert_eq!(a.focus(), Focus::Hosts);
        assert_eq!(a.selected_host(), Some("hv2"));
        assert_eq!(a.selected_vm(), Some(vms[2].as_str()), "VM selection untouched while hosts have focus");
        press(&mut a, "<tab>G");
        assert_eq!(a.selected_vm(), vms.last().map(String::as_str));
        press(&mut a, "g");
        assert_eq!(a.selected_vm(), Some(vms[0].as_str()));
    }

    #[test]
    fn selection_stays_on_the_same_vm_when_a_snapshot_reorders_them() {
        let mut a = app(None);
        press(&mut a, "jjj");
        let chosen = a.selected_vm().unwrap().to_string();
        let mut next = cluster();
        next.vms.reverse();
        next.vms.rotate_left(3);
        a.set_view(Arc::new(next));
        assert_eq!(a.selected_vm(), Some(chosen.as_str()));
        // And movement continues from its new position.
        let names = vm_names(a.view()).iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pos = names.iter().position(|n| *n == chosen).unwrap();
        press(&mut a, "j");
        assert_eq!(a.selected_vm(), names.get(pos + 1).map(String::as_str));
    }

    #[test]
    fn f_toggles_the_injector_only_when_there_is_one() {
        let mut without = app(None);
        assert!(press(&mut without, "f").is_empty());
        assert_eq!(without.flash(), None);

        let mut with = app(Some(false));
        assert_eq!(press(&mut with, "f"), vec![UiRequest::ToggleFaultInjector]);
        assert!(with.flash().is_some_and(|f| f.text.contains("turning on")));
        with.set_injector(true);
        assert_eq!(with.injector(), Some(true));
    }

    #[test]
    fn q_and_ctrl_c_request_quit_and_nothing_else() {
        let mut a = app(Some(true));
        assert!(press(&mut a, "q").is_empty());
        assert!(a.should_quit());
        let mut b = app(None);
        assert!(press(&mut b, "<C-c>").is_empty());
        assert!(b.should_quit());
    }

    #[test]
    fn l_toggles_the_log_pane() {
        let mut a = app(None);
        assert!(a.show_log());
        press(&mut a, "l");
        assert!(!a.show_log());
        press(&mut a, "l");
        assert!(a.show_log());
    }

    #[test]
    fn key_releases_are_ignored_and_flashes_expire() {
        let mut a = app(Some(false));
        let mut release = KeyEvent::from(crossterm::event::KeyCode::Char('f'));
        release.kind = KeyEventKind::Release;
        let now = Instant::now();
        assert_eq!(a.handle_key(release, now), None);
        a.handle_key(KeyEvent::from(crossterm::event::KeyCode::Char('f')), now);
        assert!(!a.tick(now));
        assert!(a.tick(now + crate::ui::flash::FLASH_TTL));
        assert_eq!(a.flash(), None);
    }

    #[test]
    fn an_empty_cluster_has_no_selection_and_keys_do_not_panic() {
        let mut a = App::new("t", Arc::new(ClusterView::default()), None);
        press(&mut a, "jkgG<tab>jk<pgdown>");
        assert_eq!(a.selected_vm(), None);
        assert_eq!(a.selected_host(), None);
        a.set_view(Arc::new(cluster()));
        assert!(a.selected_vm().is_some());
    }
}
