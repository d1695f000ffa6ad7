//! Key-sequence tests: feed key strings into the real app state and check what reaches the
//! supervisor (the requests) and what the user sees (state, popups, flashes).

use super::*;
use crate::ui::fixture::{app, cluster, press};
use crossterm::event::{KeyEvent, KeyEventKind};

fn vm_names(view: &ClusterView) -> Vec<String> {
    view.vms.iter().map(|v| v.name.clone()).collect()
}

fn cmd(command: Command, confirmed: Confirmation) -> UiRequest {
    UiRequest::Command { command, confirmed }
}

/// A cluster where hv3 is online with room, so web1 can go there.
fn roomy() -> ClusterView {
    let mut v = cluster();
    v.hosts[2].state = HostState::Online;
    v.hosts[2].capacity = v.hosts[0].capacity;
    v
}

#[test]
fn j_and_k_move_the_vm_selection_and_tab_switches_to_hosts() {
    let mut a = app(None);
    let vms = vm_names(a.view());
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
    let names = vm_names(a.view());
    let pos = names.iter().position(|n| *n == chosen).unwrap();
    press(&mut a, "j");
    assert_eq!(a.selected_vm(), names.get(pos + 1).map(String::as_str));
}

#[test]
fn migrate_web1_to_hv3_with_the_picker_sends_one_migrate_command() {
    let mut a = App::new("t", Arc::new(roomy()), None);
    assert_eq!(a.selected_vm(), Some("web1"));
    assert!(press(&mut a, "m").is_empty());
    assert!(matches!(a.popup(), Some(Popup::Migrate(p)) if p.vm == "web1"));
    // The picker starts on the first allowed host: hv3 (hv1 is web1's own, hv2 is down).
    let sent = press(&mut a, "<enter>");
    assert_eq!(sent, vec![cmd(Command::Migrate { vm: "web1".into(), to: "hv3".into() }, Confirmation::NotNeeded)]);
    assert_eq!(a.popup(), None);
}

#[test]
fn the_picker_refuses_a_down_host_and_esc_sends_nothing() {
    let mut a = app(None);
    press(&mut a, "m");
    // hv1 is web1's host, hv2 down, hv3 suspect: nothing allowed, Enter explains.
    assert!(press(&mut a, "<up><down><enter>").is_empty());
    assert!(a.flash().is_some_and(|f| f.text == "hv2: host is Down"), "{:?}", a.flash());
    assert!(press(&mut a, "<esc>").is_empty());
    assert_eq!(a.popup(), None);
}

#[test]
fn r_then_esc_sends_nothing_and_r_then_enter_cancels_because_focus_starts_on_cancel() {
    let mut a = app(None);
    assert!(press(&mut a, "r").is_empty());
    assert!(matches!(a.popup(), Some(Popup::Confirm(c)) if c.command == Command::Restart { vm: "web1".into() }));
    assert!(press(&mut a, "<esc>").is_empty());
    assert_eq!(a.popup(), None);
    assert!(press(&mut a, "r<enter>").is_empty());
    assert_eq!(a.popup(), None);
    let sent = press(&mut a, "r<tab><enter>");
    assert_eq!(sent, vec![cmd(Command::Restart { vm: "web1".into() }, Confirmation::Dialog)]);
}

#[test]
fn reinstall_needs_the_vm_name_typed() {
    let mut a = app(None);
    press(&mut a, "j"); // web2
    assert!(press(&mut a, "R<tab><enter>").is_empty(), "OK does nothing before the name is typed");
    assert!(press(&mut a, "<tab>web<tab><enter>").is_empty());
    let sent = press(&mut a, "<tab>2<tab><enter>");
    assert_eq!(sent, vec![cmd(Command::Reinstall { vm: "web2".into() }, Confirmation::Typed("web2".into()))]);
}

#[test]
fn a_refresh_under_a_dialog_changes_neither_what_is_confirmed_nor_the_selection() {
    let mut a = app(None);
    press(&mut a, "jjS"); // stop cache1
    let mut next = cluster();
    next.vms.reverse();
    next.vms.retain(|v| v.name != "web1");
    a.set_view(Arc::new(next));
    assert_eq!(a.selected_vm(), Some("cache1"));
    assert!(a.view().vm("web1").is_some(), "the refresh waits under the dialog");
    let sent = press(&mut a, "cache1<tab><enter>");
    assert_eq!(sent, vec![cmd(Command::Stop { vm: "cache1".into() }, Confirmation::Typed("cache1".into()))]);
    assert!(a.view().vm("web1").is_none(), "and shows once the dialog closes");
    assert_eq!(a.selected_vm(), Some("cache1"));
}

#[test]
fn a_selected_vm_that_vanishes_under_a_dialog_stays_selected_until_the_dialog_closes() {
    let mut a = app(None);
    press(&mut a, "jjr"); // restart cache1
    let mut next = cluster();
    next.vms.retain(|v| v.name != "cache1");
    a.set_view(Arc::new(next));
    assert_eq!(a.selected_vm(), Some("cache1"));
    assert!(matches!(a.popup(), Some(Popup::Confirm(c)) if c.command == Command::Restart { vm: "cache1".into() }));
    press(&mut a, "<esc>");
    assert_eq!(a.selected_vm(), Some("mail"), "then the selection stays at its position");
}

#[test]
fn readonly_r_does_nothing_and_colon_commands_are_refused() {
    let mut a = app(None);
    a.set_keymap(Keymap::new(false, true), true);
    assert!(press(&mut a, "r").is_empty());
    assert_eq!(a.popup(), None);
    assert!(press(&mut a, ":restart web1<enter>").is_empty());
    assert_eq!(a.popup(), None);
    assert!(a.flash().is_some_and(|f| f.text.contains("read-only")), "{:?}", a.flash());
    assert!(!a.keymap().for_screen(a.screen()).any(|b| b.action == Action::Restart));
}

#[test]
fn host_keys_act_on_the_selected_host_with_their_confirmations() {
    let mut a = app(None);
    press(&mut a, "<tab>"); // hv1
    assert!(press(&mut a, "M").is_empty(), "maintenance on drains: confirm first");
    let sent = press(&mut a, "<tab><enter>");
    assert_eq!(sent, vec![cmd(Command::Maintenance { host: "hv1".into(), on: true }, Confirmation::Dialog)]);
    press(&mut a, "j"); // hv2, down
    assert!(press(&mut a, "F<tab><enter>").is_empty());
    let sent = press(&mut a, "<tab>hv2<tab><enter>");
    assert_eq!(sent, vec![cmd(Command::ConfirmHostOff { host: "hv2".into() }, Confirmation::Typed("hv2".into()))]);
}

#[test]
fn arm_disarm_start_and_ack_go_out_directly_or_through_the_dialog() {
    let mut a = app(None);
    assert_eq!(press(&mut a, "s"), vec![cmd(Command::Start { vm: "web1".into() }, Confirmation::NotNeeded)]);
    assert!(press(&mut a, "d").is_empty(), "disarming a VM asks first");
    assert_eq!(
        press(&mut a, "<tab><enter>"),
        vec![cmd(Command::Disarm { vm: Some("web1".into()) }, Confirmation::Dialog)]
    );
    press(&mut a, "G<up>"); // backup: Unmanaged
    assert_eq!(a.selected_vm(), Some("backup"));
    assert_eq!(press(&mut a, "d"), vec![cmd(Command::Arm { vm: Some("backup".into()) }, Confirmation::NotNeeded)]);
    assert!(press(&mut a, "D").is_empty());
    assert_eq!(press(&mut a, "<tab><enter>"), vec![cmd(Command::Disarm { vm: None }, Confirmation::Dialog)]);
    assert_eq!(press(&mut a, "a"), vec![cmd(Command::AckAlarm { id: 7 }, Confirmation::NotNeeded)]);
}

#[test]
fn enter_drills_down_and_esc_comes_back() {
    let mut a = app(None);
    press(&mut a, "<tab>");
    assert!(press(&mut a, "<enter>").is_empty());
    assert_eq!(a.screen(), &Screen::Host("hv1".into()));
    assert_eq!(a.target_vm(), Some("web1"), "the first VM on hv1");
    press(&mut a, "j");
    assert_eq!(a.target_vm(), Some("cache1"));
    assert_eq!(press(&mut a, "<enter>"), vec![UiRequest::DomainXml { vm: "cache1".into() }]);
    assert_eq!(a.stack(), &[Screen::Overview, Screen::Host("hv1".into()), Screen::Vm("cache1".into())]);
    assert_eq!(a.target_host(), Some("hv1"));
    a.feedback(UiFeedback::DomainXml { vm: "cache1".into(), xml: Some("<domain/>".into()) }, Instant::now());
    assert_eq!(a.xml(), Some(&("cache1".to_string(), Some("<domain/>".to_string()))));
    press(&mut a, "<esc>");
    assert_eq!(a.screen(), &Screen::Host("hv1".into()));
    assert_eq!(a.target_vm(), Some("cache1"), "back where we were");
    press(&mut a, "<esc><esc>");
    assert_eq!(a.screen(), &Screen::Overview);
}

#[test]
fn slash_filters_and_esc_clears_the_filter() {
    let mut a = app(None);
    press(&mut a, "/db");
    assert_eq!(a.filter(), "db");
    assert_eq!(a.selected_vm(), Some("db2"), "the selection moves into the filtered rows");
    press(&mut a, "<enter>j");
    assert_eq!(a.selected_vm(), Some("db1"));
    press(&mut a, "<enter>");
    assert_eq!(a.screen(), &Screen::Vm("db1".into()));
    press(&mut a, "<esc>");
    assert_eq!((a.screen(), a.filter()), (&Screen::Overview, "db"), "Esc in a detail goes back, the filter stays");
    press(&mut a, "<esc>");
    assert_eq!(a.filter(), "");
    assert_eq!(a.selected_vm(), Some("db1"));
}

#[test]
fn colon_commands_open_views_and_send_commands_through_the_same_path() {
    let mut a = App::new("t", Arc::new(roomy()), None);
    press(&mut a, ":host hv2<enter>");
    assert_eq!(a.screen(), &Screen::Host("hv2".into()));
    assert_eq!(press(&mut a, ":vm web1<enter>"), vec![UiRequest::DomainXml { vm: "web1".into() }]);
    assert_eq!(
        press(&mut a, ":migrate web1 hv3<enter>"),
        vec![cmd(Command::Migrate { vm: "web1".into(), to: "hv3".into() }, Confirmation::NotNeeded)]
    );
    assert!(press(&mut a, ":restart web1<enter>").is_empty(), "restart still asks");
    assert!(matches!(a.popup(), Some(Popup::Confirm(_))));
    press(&mut a, "<esc>:vm nosuch<enter>");
    assert!(a.flash().is_some_and(|f| f.text.contains("no VM named nosuch")));
}

#[test]
fn o_sorts_the_focused_table_and_the_selection_follows_its_vm() {
    let mut a = app(None);
    press(&mut a, "o"); // by name
    assert_eq!(a.vm_sort().column, Some(0));
    assert_eq!(a.selected_vm(), Some("web1"));
    press(&mut a, "g");
    assert_eq!(a.selected_vm(), Some("backup"));
    press(&mut a, "O");
    press(&mut a, "g");
    assert_eq!(a.selected_vm(), Some("web2"));
}

#[test]
fn help_opens_on_question_mark_and_closes_on_esc() {
    let mut a = app(None);
    press(&mut a, "?");
    assert_eq!(a.popup(), Some(&Popup::Help { scroll: 0 }));
    assert!(press(&mut a, "r").is_empty(), "keys under help do not act");
    press(&mut a, "<esc>");
    assert_eq!(a.popup(), None);
}

#[test]
fn verdicts_become_flashes_and_a_new_alarm_rings_once() {
    let mut a = app(None);
    let now = Instant::now();
    a.feedback(
        UiFeedback::Verdict { command: "restart web1".into(), refused: Some("web1 is busy".into()), warning: None },
        now,
    );
    let f = a.flash().unwrap();
    assert_eq!((f.level, f.text.as_str()), (FlashLevel::Error, "restart web1: refused: web1 is busy"));
    let w = Some("in force now, but NOT kept across a restart of 3RC".to_string());
    a.feedback(UiFeedback::Verdict { command: "disarm".into(), refused: None, warning: w }, now);
    let f = a.flash().unwrap();
    assert_eq!(
        (f.level, f.text.as_str()),
        (FlashLevel::Warning, "disarm: accepted, in force now, but NOT kept across a restart of 3RC")
    );
    assert!(!a.take_bell());
    let mut next = cluster();
    next.alarms[0].id = 8;
    a.set_view(Arc::new(next.clone()));
    assert!(a.take_bell());
    assert!(!a.take_bell());
    a.set_view(Arc::new(next));
    assert!(!a.take_bell(), "the same alarm rings once");
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
    press(&mut a, "jkgG<tab>jk<pgdown><enter>mrRSsdMFa/x<esc>:<enter>");
    assert_eq!(a.selected_vm(), None);
    assert_eq!(a.selected_host(), None);
    a.set_view(Arc::new(cluster()));
    assert!(a.selected_vm().is_some());
}

#[test]
fn capital_l_focuses_the_log_pane_and_its_keys_go_to_the_logger_not_the_cluster() {
    let mut a = app(None);
    press(&mut a, "l");
    assert!(!a.show_log());
    press(&mut a, "L");
    assert!(a.show_log() && a.log_focus(), "L shows the pane and focuses it");
    assert!(press(&mut a, "jr<right>-t").is_empty(), "r is not restart while the log has focus");
    assert_eq!(a.popup(), None);
    use tui_logger::TuiWidgetEvent as E;
    assert_eq!(a.take_log_keys(), vec![E::DownKey, E::RightKey, E::MinusKey, E::HideKey]);
    assert_eq!(a.selected_vm(), Some("web1"), "the VM table did not move");
    press(&mut a, "<esc>");
    assert!(!a.log_focus());
    assert_eq!(a.take_log_keys(), vec![E::EscapeKey]);
    press(&mut a, "j");
    assert_eq!(a.selected_vm(), Some("web2"));
}

#[test]
fn the_alarms_view_acks_the_selected_alarm_and_enter_opens_its_subject() {
    let mut a = app(None);
    press(&mut a, "A");
    assert_eq!(a.screen(), &Screen::Alarms);
    assert_eq!(a.selected_alarm().map(|x| x.id), Some(7));
    press(&mut a, "j");
    assert!(press(&mut a, "a").is_empty(), "#3 is already acknowledged");
    assert!(a.flash().is_some_and(|f| f.text == "already acknowledged"));
    assert_eq!(a.target_host(), Some("hv2"), "host keys act on the alarm's host");
    press(&mut a, "k");
    assert_eq!(press(&mut a, "a"), vec![cmd(Command::AckAlarm { id: 7 }, Confirmation::NotNeeded)]);
    assert_eq!(press(&mut a, "<enter>"), vec![UiRequest::DomainXml { vm: "db1".into() }]);
    assert_eq!(a.screen(), &Screen::Vm("db1".into()));
    press(&mut a, "<esc>");
    assert_eq!(a.screen(), &Screen::Alarms);
    press(&mut a, "<esc>:alarms<enter>");
    assert_eq!(a.stack(), &[Screen::Overview, Screen::Alarms]);
}

#[test]
fn w_asks_what_if_the_selected_host_fails_and_the_command_line_asks_anything() {
    let mut a = app(None);
    press(&mut a, "<tab>j");
    assert_eq!(a.selected_host(), Some("hv2"));
    assert_eq!(press(&mut a, "w"), vec![UiRequest::WhatIf { question: "host hv2 down".into() }]);
    assert_eq!(*a.screen(), Screen::WhatIf("host hv2 down".into()));
    // The VM keys do nothing here; Esc goes back.
    assert!(press(&mut a, "r").is_empty());
    press(&mut a, "<esc>");
    assert_eq!(*a.screen(), Screen::Overview);
    let asked = press(&mut a, ":what-if host hv1 down; vm web1 crash<enter>");
    assert_eq!(asked, vec![UiRequest::WhatIf { question: "host hv1 down; vm web1 crash".into() }]);
    // Read-only consoles may ask too: a what-if changes nothing.
    let mut ro = app(None);
    ro.set_keymap(
        Keymap::build(&crate::ui::KeymapContext { has_injector: false, readonly: true, remap: Default::default() })
            .unwrap(),
        true,
    );
    assert_eq!(press(&mut ro, "w").len(), 1);
}

// ---- the P2V wizard ----

#[test]
fn p_opens_the_p2v_wizard_whose_effects_go_to_the_shell_and_whose_answers_come_back() {
    use crate::p2v::plan::tests::{config, facts, inventory};
    use crate::p2v::wizard::{Effect, Step};
    use crate::ui::P2vFeedback as F;
    let mut a = app(None);
    assert!(press(&mut a, "p").is_empty());
    assert!(a.p2v().is_none(), "no config: no wizard");
    assert!(a.flash().unwrap().text.contains("needs the cluster's config"));
    a.set_p2v(crate::p2v::wizard::Wizard::new(config()));
    press(&mut a, "p");
    assert_eq!(a.p2v().map(|w| w.step), Some(Step::Source));
    // Keys type into the wizard, not the console: `q` is a letter here.
    let reqs = press(&mut a, "ssh:root@srv1<enter>");
    match reqs.as_slice() {
        [UiRequest::P2v(Effect::TestConnection(s))] => assert_eq!(s.describe(), "ssh:root@srv1"),
        other => panic!("{other:?}"),
    }
    assert!(!a.should_quit());
    let now = Instant::now();
    a.feedback(UiFeedback::P2v(F::Connected(Ok(("connected to srv1 as root".into(), inventory())))), now);
    let reqs = press(&mut a, "<enter><enter>");
    assert_eq!(reqs, [UiRequest::P2v(Effect::ReadTarget("hv1".into()))]);
    a.feedback(UiFeedback::P2v(F::Target(Ok(facts()))), now);
    assert!(press(&mut a, "<enter>").is_empty());
    assert_eq!(a.p2v().map(|w| w.step), Some(Step::Review), "{:?}", a.p2v().and_then(|w| w.error.clone()));
    let reqs = press(&mut a, "<enter>");
    assert!(matches!(reqs.as_slice(), [UiRequest::P2v(Effect::Run(p))] if p.name == "srv1.example.com"), "{reqs:?}");
    assert_eq!(press(&mut a, "<C-c>"), [UiRequest::P2v(Effect::CancelRun)]);
    a.feedback(UiFeedback::P2v(F::Note("removed volume default/x.img".into())), now);
    a.feedback(UiFeedback::P2v(F::Finished(Err("cancelled (nothing was left behind)".into()))), now);
    assert_eq!(a.p2v().map(|w| w.step), Some(Step::Done));
    assert!(press(&mut a, "<enter>").is_empty());
    assert!(a.p2v().is_none(), "closed");
    // Back in the console, keys are the console's again.
    press(&mut a, "q");
    assert!(a.should_quit());
}

#[test]
fn the_p2v_wizard_is_gone_in_a_read_only_console() {
    let mut a = app(None);
    a.set_p2v(crate::p2v::wizard::Wizard::new(crate::p2v::plan::tests::config()));
    a.set_keymap(crate::ui::Keymap::new(false, true), true);
    press(&mut a, "p");
    assert!(a.p2v().is_none());
}
