//! Render tests: the whole console on ratatui's `TestBackend`, at 80×24 and 120×40, on the
//! hand-built cluster of `ui::fixture`.

use super::draw;
use crate::core::{HostState, VmState};
use crate::ui::app::App;
use crate::ui::fixture::{app, cluster, keys, press};
use crate::ui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;
use std::sync::Arc;
use std::time::Instant;
use tui_logger::TuiWidgetState;

fn render(app: &mut App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let log = TuiWidgetState::new();
    terminal.draw(|f| draw(f, app, theme, &log)).unwrap();
    terminal.backend().buffer().clone()
}

fn row(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

fn screen(buf: &Buffer) -> String {
    (0..buf.area.height).map(|y| row(buf, y) + "\n").collect()
}

/// Where `text` starts on screen (column, row). Columns count cells, not bytes.
fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    (0..buf.area.height).find_map(|y| {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        (0..cells.len()).find(|&x| cells[x..].concat().starts_with(text)).map(|x| (x as u16, y))
    })
}

/// Where `text` appears on the row that contains `anchor` (a VM or host name).
fn find_in_row(buf: &Buffer, anchor: &str, text: &str) -> (u16, u16) {
    let (_, y) = find(buf, anchor).unwrap_or_else(|| panic!("{anchor} not on screen:\n{}", screen(buf)));
    let line = row(buf, y);
    let x = line.find(text).unwrap_or_else(|| panic!("{text} not on the row of {anchor}: {line}"));
    (line[..x].chars().count() as u16, y)
}

/// The screen row of a table row whose first column is `name`.
fn table_row(buf: &Buffer, name: &str) -> Option<u16> {
    (0..buf.area.height).find(|&y| row(buf, y).starts_with(&format!("│{name} ")))
}

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

#[test]
fn host_and_vm_names_appear_at_80x24_and_120x40() {
    let theme = Theme::builtin_default();
    for (w, h) in SIZES {
        let mut a = app(None);
        let buf = render(&mut a, &theme, w, h);
        for host in ["hv1", "hv2", "hv3"] {
            assert!(table_row(&buf, host).is_some(), "{host} at {w}x{h}:\n{}", screen(&buf));
        }
        for vm in ["web1", "web2", "cache1", "mail", "ci", "db2"] {
            assert!(table_row(&buf, vm).is_some(), "{vm} at {w}x{h}:\n{}", screen(&buf));
        }
        assert!(find(&buf, " VMs 1/10 ").is_some(), "{}", screen(&buf));
    }
    let mut a = app(None);
    let buf = render(&mut a, &theme, 120, 40);
    for vm in ["legacy", "dns", "backup", "db1"] {
        assert!(table_row(&buf, vm).is_some(), "{vm} at 120x40:\n{}", screen(&buf));
    }
}

#[test]
fn at_80x24_only_the_visible_vms_are_drawn_and_the_list_scrolls_with_the_selection() {
    let theme = Theme::builtin_default();
    let mut a = app(None);
    let buf = render(&mut a, &theme, 80, 24);
    assert!(table_row(&buf, "db1").is_none(), "db1 is below the fold:\n{}", screen(&buf));
    press(&mut a, "G");
    let buf = render(&mut a, &theme, 80, 24);
    assert!(table_row(&buf, "db1").is_some(), "{}", screen(&buf));
    assert!(table_row(&buf, "web1").is_none(), "{}", screen(&buf));
    assert!(find(&buf, " VMs 10/10 ").is_some());
    // Moving up one row keeps the window where it is.
    press(&mut a, "k");
    let again = render(&mut a, &theme, 80, 24);
    assert_eq!(table_row(&again, "db1"), table_row(&buf, "db1"));
}

#[test]
fn state_cells_have_their_theme_colours() {
    let theme = Theme::builtin_default();
    assert_eq!(theme.vm_state(VmState::NeedsOperator), Color::Red);
    for (w, h) in SIZES {
        let mut a = app(None);
        press(&mut a, "jj");
        let buf = render(&mut a, &theme, w, h);
        let (x, y) = find_in_row(&buf, "│web2 ", "Healthy");
        assert_eq!(buf[(x, y)].fg, theme.vm_state(VmState::Healthy), "Healthy at {w}x{h}");
        let (x, y) = find_in_row(&buf, "│hv2 ", "Down");
        assert_eq!(buf[(x, y)].fg, theme.host_state(HostState::Down));
        let (x, y) = find_in_row(&buf, "│hv1 ", "Online");
        assert_eq!(buf[(x, y)].bg, theme.ui.selection_inactive_bg, "host selection without focus");
        let (x, y) = find_in_row(&buf, "│cache1 ", "Restarting");
        assert_eq!((buf[(x, y)].fg, buf[(x, y)].bg), (theme.ui.selection_fg, theme.ui.selection_bg));

        // db1 is last: select it (the list scrolls), then the row above so it is not highlighted.
        press(&mut a, "G");
        render(&mut a, &theme, w, h);
        press(&mut a, "k");
        let buf = render(&mut a, &theme, w, h);
        let (x, y) = find_in_row(&buf, "│db1 ", "NeedsOperator");
        assert_eq!(buf[(x, y)].fg, Color::Red, "NeedsOperator at {w}x{h}");
    }
}

#[test]
fn every_colour_comes_from_the_theme() {
    let base = Theme::builtin_default();
    let text = "[vm_state]\nHealthy = \"#00ff7f\"\n[ui]\nbackground = \"#101010\"\n";
    let theme = Theme::parse(text, "custom.toml", Some(&base)).unwrap();
    let mut a = app(None);
    let buf = render(&mut a, &theme, 80, 24);
    let (x, y) = find_in_row(&buf, "│web2 ", "Healthy");
    assert_eq!(buf[(x, y)].fg, Color::Rgb(0, 0xff, 0x7f));
    let (x, y) = find_in_row(&buf, "│web2 ", "running");
    assert_eq!(buf[(x, y)].bg, Color::Rgb(0x10, 0x10, 0x10));
}

#[test]
fn unacknowledged_alarms_are_shown_on_top() {
    let theme = Theme::builtin_default();
    let mut a = app(None);
    let buf = render(&mut a, &theme, 80, 24);
    let (x, y) = find(&buf, "ALARM CRITICAL #7 vm db1: ladder exhausted").expect("alarm line");
    assert_eq!(y, 1, "right under the title");
    assert_eq!(buf[(x, y)].fg, theme.alarm.critical);
    assert!(find(&buf, "old acknowledged alarm").is_none());

    // More alarms than room: the last line counts the rest.
    let mut view = cluster();
    let alarm = view.alarms[0].clone();
    view.alarms = (0..5).map(|i| crate::core::AlarmView { id: i, ..alarm.clone() }).collect();
    a.set_view(Arc::new(view));
    let buf = render(&mut a, &theme, 80, 24);
    assert!(find(&buf, "ALARM CRITICAL #0").is_some());
    assert!(find(&buf, "ALARM CRITICAL #1").is_none());
    assert!(find(&buf, "+4 more unacknowledged alarms").is_some(), "{}", screen(&buf));

    a.set_view(Arc::new(crate::core::ClusterView { alarms: vec![], ..cluster() }));
    let buf = render(&mut a, &theme, 80, 24);
    assert!(find(&buf, "ALARM").is_none());
    assert!(row(&buf, 1).starts_with("┌ Hosts"), "hosts move up when there is no alarm");
}

#[test]
fn title_shows_disarmed_injector_and_counts_and_hints_follow_the_keymap() {
    let theme = Theme::builtin_default();
    let mut a = app(None);
    let buf = render(&mut a, &theme, 80, 24);
    let title = row(&buf, 0);
    assert!(title.contains("3RC test") && title.contains("ARMED") && title.contains("10 VMs"), "{title}");
    assert!(title.contains("1 needs operator"), "{title}");
    assert!(!title.contains("faults"), "{title}");
    let status = row(&buf, 23);
    assert!(status.contains("? help") && status.contains("/ filter") && status.contains("m migrate"), "{status}");
    assert!(!status.contains("faults"), "{status}");

    let mut a = app(Some(true));
    a.set_view(Arc::new(crate::core::ClusterView { armed: false, ..cluster() }));
    let buf = render(&mut a, &theme, 80, 24);
    let title = row(&buf, 0);
    assert!(title.contains("DISARMED") && title.contains("faults ON"), "{title}");
    let (x, y) = find(&buf, "DISARMED").unwrap();
    assert_eq!(buf[(x, y)].bg, theme.ui.disarmed);
    assert!(row(&buf, 23).contains("f faults"));
}

#[test]
fn title_shows_the_quorum_and_says_loudly_when_fencing_is_held() {
    let theme = Theme::builtin_default();
    let mut a = app(None);
    let title = row(&render(&mut a, &theme, 100, 24), 0);
    assert!(title.contains(" quorum 3/4 "), "{title}");
    let held = crate::core::QuorumView {
        reachable: vec!["hv1".into()],
        unreachable: vec!["hv2".into(), "hv3".into(), "gateway".into()],
        held: true,
    };
    a.set_view(Arc::new(crate::core::ClusterView { quorum: held, ..cluster() }));
    let buf = render(&mut a, &theme, 100, 24);
    let title = row(&buf, 0);
    assert!(title.contains("NO QUORUM 1/4: fencing held"), "{title}");
    let (x, y) = find(&buf, "NO QUORUM").unwrap();
    assert_eq!(buf[(x, y)].bg, theme.ui.disarmed);
    // Without witnesses or hosts to count (a view from before quorum), nothing is shown.
    a.set_view(Arc::new(crate::core::ClusterView { quorum: Default::default(), ..cluster() }));
    assert!(!row(&render(&mut a, &theme, 100, 24), 0).contains("quorum"));
}

#[test]
fn flash_shows_in_the_status_bar_in_its_colour() {
    let theme = Theme::builtin_default();
    let mut a = app(Some(false));
    press(&mut a, "f");
    let buf = render(&mut a, &theme, 80, 24);
    let (x, y) = find(&buf, "fault injector: turning on").expect("flash");
    assert_eq!(y, 23);
    assert_eq!(buf[(x, y)].fg, theme.flash.info);
}

#[test]
fn l_hides_the_log_pane_and_the_vms_get_its_rows() {
    let theme = Theme::builtin_default();
    let mut a = app(None);
    let with_log = render(&mut a, &theme, 80, 24);
    assert!(find(&with_log, "┌ Log").is_some());
    press(&mut a, "l");
    let without = render(&mut a, &theme, 80, 24);
    assert!(find(&without, "┌ Log").is_none());
    assert!(table_row(&without, "db1").is_some(), "{}", screen(&without));
}

#[test]
fn tiny_and_empty_screens_do_not_panic() {
    let theme = Theme::builtin_default();
    for (w, h) in [(1, 1), (10, 3), (40, 10)] {
        render(&mut app(Some(true)), &theme, w, h);
    }
    let mut empty = App::new("empty", Arc::new(crate::core::ClusterView::default()), None);
    let buf = render(&mut empty, &theme, 80, 24);
    assert!(find(&buf, " VMs 0 ").is_some(), "{}", screen(&buf));
}

#[test]
fn the_p2v_wizard_shows_its_steps_fields_and_errors_at_80x24() {
    use crate::p2v::plan::tests::{config, inventory};
    let theme = Theme::builtin_default();
    let mut app = App::new("3RC test", Arc::new(cluster()), None);
    app.set_p2v(crate::p2v::wizard::Wizard::new(config()));
    let now = Instant::now();
    for k in keys("pssh:root@srv1<enter>") {
        app.handle_key(k, now);
    }
    let s = screen(&render(&mut app, &theme, 80, 24));
    assert!(s.contains("P2V source › connection › machine"), "{s}");
    assert!(s.contains("testing the connection to ssh:root@srv1 (Esc: stop waiting)"), "{s}");
    let fb = crate::ui::P2vFeedback::Connected(Ok(("connected to srv1 as root".into(), inventory())));
    app.feedback(crate::ui::UiFeedback::P2v(fb), now);
    let s = screen(&render(&mut app, &theme, 80, 24));
    assert!(s.contains("connected to srv1 as root"), "{s}");
    assert!(s.contains("disk sda") && s.contains("serial SER-sda"), "{s}");
    for k in keys("<enter><tab><tab>X<enter>") {
        app.handle_key(k, now);
    }
    let buf = render(&mut app, &theme, 80, 24);
    let s = screen(&buf);
    assert!(s.contains("memory       [8192MX_]"), "the focused field shows its cursor:\n{s}");
    assert!(s.contains("[x] sda 10.0 GiB ST2000 (SER-sda)") && s.contains("[ ] sr0"), "{s}");
    assert!(s.contains("memory \"8192MX\": unknown unit"), "the error names the field:\n{s}");
    let (x, y) = find(&buf, "[8192MX_]").unwrap();
    assert_eq!(buf[(x, y)].style().bg, theme.selection(true).bg, "the focused field is highlighted");
}

/// End in a detail shows its last line even when long lines wrap: by words (a wrap that moves a
/// word to the next line makes more lines than the text's width divided by the screen's) and
/// inside the block's borders; counting otherwise stopped the scroll short of the end.
#[test]
fn end_in_a_detail_shows_the_last_line_when_long_lines_wrap_by_words() {
    let theme = Theme::builtin_default();
    let mut view = cluster();
    let long_words = vec!["abcdefghijklmnopqrstuvwxyz0123456789abcd"; 16].join(" ");
    view.vms.iter_mut().find(|v| v.name == "web1").unwrap().reason = long_words;
    let mut a = App::new("3RC test", Arc::new(view), None);
    press(&mut a, ":vm web1<enter>");
    // End before the domain XML arrives: the view stays at the end as the text grows.
    press(&mut a, "<end>");
    render(&mut a, &theme, 80, 24);
    // Lines of 79 characters as shown: one screen line for an 80-column count, two inside the
    // borders.
    let xml: String =
        (0..30).map(|i| format!("  <line{i:02} a='{}'/>\n", "x".repeat(61))).collect::<String>() + "</domain>";
    a.feedback(
        crate::ui::UiFeedback::DomainXml { vm: "web1".into(), xml: Some(format!("<domain>\n{xml}")) },
        Instant::now(),
    );
    let buf = render(&mut a, &theme, 80, 24);
    assert!(find(&buf, "</domain>").is_some(), "End shows the last line:\n{}", screen(&buf));
    // Another scroll key leaves the end from where the view is.
    press(&mut a, "k");
    let buf = render(&mut a, &theme, 80, 24);
    assert!(find(&buf, "</domain>").is_none() && find(&buf, "<line29 ").is_some(), "{}", screen(&buf));
}

#[test]
fn a_failing_alert_target_is_shown_in_the_title_and_above_the_alarms() {
    let theme = Theme::builtin_default();
    let mut a = app(None);
    let failing = crate::core::DeliveryView {
        target: "webhook https://hooks.example.com/3rc?***".into(),
        error: "Connection Failed: Connect error".into(),
        since_ms: 0,
        queued: 12,
        dropped: 0,
    };
    a.set_view(Arc::new(crate::core::ClusterView { deliveries: vec![failing], ..cluster() }));
    let buf = render(&mut a, &theme, 120, 30);
    assert!(row(&buf, 0).contains("PAGING FAILS (1)"), "{}", row(&buf, 0));
    let line = row(&buf, 1);
    assert!(
        line.contains("PAGING FAILS webhook https://hooks.example.com/3rc?***: Connection Failed")
            && line.contains("(12 waiting)"),
        "{line}"
    );
    assert!(row(&buf, 2).contains("ALARM CRITICAL"), "the alarms follow: {}", screen(&buf));
}

#[test]
fn one_of_several_supervisors_says_whether_it_leads() {
    let theme = Theme::builtin_default();
    let mut a = app(None);
    let ha = |leads: bool, leader: Option<&str>| crate::core::HaView {
        name: "sup2".into(),
        leads,
        leader: leader.map(str::to_string),
    };
    for (view, says) in [
        (ha(false, Some("sup1")), "sup2 STANDBY: sup1 leads"),
        (ha(true, Some("sup2")), "sup2 LEADS"),
        (ha(false, None), "sup2: NO LEADER"),
    ] {
        a.set_view(Arc::new(crate::core::ClusterView { ha: Some(view), ..cluster() }));
        let buf = render(&mut a, &theme, 120, 30);
        assert!(row(&buf, 0).contains(says), "{}", row(&buf, 0));
    }
}
