//! Snapshot tests (insta) of every view and popup at 80×24, plus cell-level checks of what the
//! snapshots cannot show: colours. The log pane is hidden so the text is deterministic.
//!
//! A changed screen fails with a readable diff; `cargo insta review` (or `INSTA_UPDATE=always`)
//! accepts it.

use super::draw;
use crate::core::{Transition, VmState};
use crate::ui::app::App;
use crate::ui::fixture::{cluster, press};
use crate::ui::keymap::Keymap;
use crate::ui::theme::Theme;
use crate::ui::UiFeedback;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tui_logger::TuiWidgetState;

fn render(app: &mut App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let log = TuiWidgetState::new();
    terminal.draw(|f| draw(f, app, theme, &log)).unwrap();
    terminal.backend().buffer().clone()
}

fn screen(buf: &Buffer) -> String {
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string() + "\n")
        .collect()
}

fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    (0..buf.area.height).find_map(|y| {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let line: String = cells.concat();
        line.find(text).map(|b| (line[..b].chars().count() as u16, y))
    })
}

/// A cluster with history, a placement trace and a host error, so the detail views have content.
fn rich() -> crate::core::ClusterView {
    let mut v = cluster();
    let t = |at: u64, from: &str, to: &str, reason: &str| Transition {
        at: crate::core::Time::from_secs(at),
        from: from.into(),
        to: to.into(),
        reason: reason.into(),
    };
    v.vms[2].history = std::sync::Arc::new(vec![
        t(5, "Discovering", "Healthy", "found running"),
        t(20, "Healthy", "Restarting", "crashed: restart 1 of 2"),
    ]);
    v.vms[2].placement = Some(std::sync::Arc::new(crate::core::placement::PlacementTrace {
        vm: "cache1".into(),
        chosen: Some("hv1".into()),
        candidates: vec![
            crate::core::placement::Candidate {
                host: "hv1".into(),
                verdict: crate::core::placement::Verdict::Chosen { score: 610 },
                tier: None,
            },
            crate::core::placement::Candidate {
                host: "hv2".into(),
                verdict: crate::core::placement::Verdict::Rejected { reason: "host is Down".into() },
                tier: None,
            },
        ],
    }));
    v.hosts[1].last_error = Some("connection refused".into());
    v.hosts[1].seen = "unreachable from sup1; reachable from sup2, sup3".into();
    v.hosts[1].history = std::sync::Arc::new(vec![
        t(10, "Online", "Suspect", "1 probe failed"),
        t(15, "Suspect", "Down", "3 probes failed"),
    ]);
    v
}

fn app() -> App {
    let mut a = App::new("3RC test", Arc::new(rich()), Some(false));
    press(&mut a, "l");
    a
}

fn snap(name: &str, app: &mut App) -> Buffer {
    let buf = render(app, &Theme::builtin_default(), 80, 24);
    insta::assert_snapshot!(name, screen(&buf));
    buf
}

#[test]
fn overview() {
    snap("overview", &mut app());
}

#[test]
fn alarms_view() {
    let mut a = app();
    press(&mut a, "A");
    let buf = snap("alarms", &mut a);
    let theme = Theme::builtin_default();
    let (x, y) = find(&buf, "WARNING").unwrap();
    assert_eq!(buf[(x, y)].fg, theme.alarm(crate::core::Severity::Warning));
}

#[test]
fn host_detail() {
    let mut a = app();
    press(&mut a, "<tab>j<enter>");
    let buf = snap("host_detail", &mut a);
    let (x, y) = find(&buf, "connection refused").unwrap();
    assert_eq!(buf[(x, y)].fg, Theme::builtin_default().flash.error);
    // What its loss would leave without room (the spare capacity check), in the same colour,
    // right below the fence, in 80x24 too; the URI, which never changes, last.
    let (x, y) = find(&buf, "if hv2 fails: db2 has no room").unwrap();
    assert_eq!(buf[(x, y)].fg, Theme::builtin_default().flash.error);
    assert_eq!(y, find(&buf, "Fence").unwrap().1 + 1);
    let tall = render(&mut a, &Theme::builtin_default(), 100, 40);
    assert!(find(&tall, "URI").unwrap().1 > find(&tall, "Last error").unwrap().1);
}

#[test]
fn vm_detail_with_timeline_placement_and_xml() {
    let mut a = app();
    press(&mut a, "jj<enter>");
    a.feedback(
        UiFeedback::DomainXml {
            vm: "cache1".into(),
            xml: Some("<domain type='kvm'>\n  <name>cache1</name>\n</domain>".into()),
        },
        Instant::now(),
    );
    let buf = snap("vm_detail", &mut a);
    let theme = Theme::builtin_default();
    let (x, y) = find(&buf, "Restarting for").unwrap();
    assert_eq!(buf[(x, y)].fg, theme.vm_state(VmState::Restarting));
    let (x, y) = find(&buf, "In flight").unwrap();
    assert_eq!(buf[(x, y)].fg, theme.ui.header);
    // Each guest probe with its last result, the failing one in the colour of a suspect VM.
    let (x, y) = find(&buf, "tcp 10.0.0.5:22: Connection refused").unwrap();
    assert_eq!(buf[(x, y)].fg, theme.vm_state(VmState::Suspect));
    let (x, y) = find(&buf, "guest agent: answers").unwrap();
    assert_ne!(buf[(x, y)].fg, theme.vm_state(VmState::Suspect));
}

#[test]
fn confirm_typed_dialog() {
    let mut a = app();
    press(&mut a, "Rwe");
    let buf = snap("confirm_reinstall", &mut a);
    let theme = Theme::builtin_default();
    let (x, y) = find(&buf, "[ Cancel ]").unwrap();
    assert_eq!((buf[(x, y)].fg, buf[(x, y)].bg), (theme.ui.selection_fg, theme.ui.selection_bg), "focus on Cancel");
    let (x, y) = find(&buf, "[ OK ]").unwrap();
    assert_eq!(buf[(x, y)].fg, theme.ui.dim, "OK is dim until the name is typed");
}

#[test]
fn migrate_picker() {
    let mut a = app();
    press(&mut a, "m");
    let buf = snap("migrate_picker", &mut a);
    let (x, y) = find(&buf, "host is Down").unwrap();
    assert_eq!(buf[(x, y)].fg, Theme::builtin_default().ui.dim);
}

#[test]
fn help_and_readonly_help() {
    let mut a = app();
    press(&mut a, "?");
    let buf = snap("help", &mut a);
    assert!(find(&buf, "restart VM").is_some());

    let mut ro = app();
    ro.set_keymap(Keymap::new(true, true), true);
    press(&mut ro, "?");
    let buf = snap("help_readonly", &mut ro);
    assert!(find(&buf, "restart").is_none(), "{}", screen(&buf));
    assert!(find(&buf, "migrate").is_none());
    assert!(find(&buf, "READ-ONLY").is_some());
    press(&mut ro, "<esc>");
    let buf = render(&mut ro, &Theme::builtin_default(), 80, 24);
    assert!(!screen(&buf).lines().last().unwrap().contains("restart"), "nor in the hints");
}

#[test]
fn filter_and_command_lines() {
    let mut a = app();
    press(&mut a, "/db");
    snap("filter", &mut a);
    let mut a = app();
    press(&mut a, ":migrate web1 h");
    snap("command_line", &mut a);
}

#[test]
fn error_flash_is_in_the_error_colour() {
    let mut a = app();
    a.feedback(
        UiFeedback::Verdict { command: "restart web1".into(), refused: Some("busy".into()), warning: None },
        Instant::now(),
    );
    let buf = render(&mut a, &Theme::builtin_default(), 80, 24);
    let (x, y) = find(&buf, "restart web1: refused: busy").unwrap();
    assert_eq!((y, buf[(x, y)].fg), (23, Theme::builtin_default().flash.error));
}

#[test]
fn monochrome_draws_no_colour_at_all_and_shows_the_selection_in_reverse_video() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mono = Theme::load("monochrome", &dir).unwrap();
    for seq in ["", "m", "?", "<tab><enter>", "jj<enter>"] {
        let mut a = app();
        press(&mut a, seq);
        let buf = render(&mut a, &mono, 80, 24);
        for cell in buf.content() {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "after {seq:?}:\n{}", screen(&buf));
        }
    }
    let mut a = app();
    let buf = render(&mut a, &mono, 80, 24);
    let (x, y) = find(&buf, "web1 ").unwrap();
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn every_shipped_theme_renders_every_view_at_80x24_and_200x60() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    for name in ["default", "light", "high-contrast", "monochrome"] {
        let theme = Theme::load(name, &dir).unwrap();
        for seq in ["", "m", "?", "<tab><enter>", "jj<enter>", "R"] {
            for (w, h) in [(80, 24), (200, 60)] {
                let mut a = app();
                press(&mut a, seq);
                let buf = render(&mut a, &theme, w, h);
                assert!(find(&buf, "3RC test").is_some(), "{name} {seq:?} {w}x{h}");
            }
        }
    }
}

#[test]
fn the_focused_log_shows_the_target_selector_and_its_own_hints() {
    let mut a = app();
    press(&mut a, "L");
    let buf = render(&mut a, &Theme::builtin_default(), 100, 30);
    // Two boxes side by side: the target selector and the log.
    assert!(find(&buf, "┐┌ Log").is_some(), "{}", screen(&buf));
    assert!(screen(&buf).lines().last().unwrap().contains("LOG  ↑↓ target"), "{}", screen(&buf));
    let (x, y) = find(&buf, "┐┌ Log").unwrap();
    assert_eq!(buf[(x, y)].fg, Theme::builtin_default().ui.border_focus);
}

/// A theme whose every key has its own true colour, and the set of those colours.
fn distinct_theme() -> (Theme, Vec<Color>) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("themes/default.toml")).unwrap();
    let mut n = 0u32;
    let mut colours = Vec::new();
    let out: String = text
        .lines()
        .map(|l| match l.split_once(" = \"") {
            Some((key, _)) if key != "name" && !l.starts_with('#') => {
                n += 1;
                let c = Color::Rgb(1, (n / 256) as u8, (n % 256) as u8);
                colours.push(c);
                format!("{key} = \"#01{:02x}{:02x}\"\n", n / 256, n % 256)
            }
            _ => format!("{l}\n"),
        })
        .collect();
    (Theme::parse(&out, "distinct.toml", None).unwrap(), colours)
}

#[test]
fn every_cell_of_every_view_and_popup_takes_its_colours_from_the_theme() {
    let (theme, colours) = distinct_theme();
    for seq in ["", "m", "?", "<tab><enter>", "jj<enter>", "R", "r", "/db", ":vm", "L", "f", "A"] {
        let mut a = app();
        press(&mut a, seq);
        let buf = render(&mut a, &theme, 100, 30);
        for (i, cell) in buf.content().iter().enumerate() {
            let (x, y) = ((i % 100) as u16, (i / 100) as u16);
            assert!(colours.contains(&cell.fg), "after {seq:?}: fg of ({x},{y}) {:?} is not from the theme", cell.fg);
            assert!(colours.contains(&cell.bg), "after {seq:?}: bg of ({x},{y}) {:?} is not from the theme", cell.bg);
        }
    }
}

#[test]
fn popups_and_details_on_tiny_terminals_do_not_panic() {
    let theme = Theme::builtin_default();
    for seq in ["m", "?", "R", "r", "<tab><enter>", "jj<enter>", "L", "/x", ":"] {
        for (w, h) in [(1, 1), (10, 3), (40, 10), (80, 5)] {
            let mut a = app();
            press(&mut a, seq);
            render(&mut a, &theme, w, h);
        }
    }
}

#[test]
fn the_selected_row_is_highlighted_across_its_whole_width() {
    let theme = Theme::builtin_default();
    let mut a = app();
    let buf = render(&mut a, &theme, 80, 24);
    let (_, y) = find(&buf, "│web1 ").unwrap();
    for x in 1..79 {
        assert_eq!(buf[(x, y)].bg, theme.ui.selection_bg, "column {x}");
    }
}

#[test]
fn what_if_running_then_answered() {
    let mut a = app();
    // `w` on the selected host (hv1 in the hosts table): the question, then the answer.
    press(&mut a, "w");
    let buf = snap("what_if_running", &mut a);
    assert!(find(&buf, "› what if host hv1 down").is_some());
    let report = "what if: host hv1 down  (at 5.0s, on the real supervisor over a simulated copy of the cluster)\n\
                  \nwhere every VM would be:\n  VM     NOW ON  THEN ON  STATE    WHY\n  db1    hv1     hv2      Healthy  hv2 (score 5488)";
    a.feedback(UiFeedback::WhatIf { question: "host hv1 down".into(), answer: Ok(report.into()) }, Instant::now());
    snap("what_if_answered", &mut a);
    // An answer to another question (asked before, answered late) is not shown.
    a.feedback(UiFeedback::WhatIf { question: "host hv2 down".into(), answer: Err("x".into()) }, Instant::now());
    assert!(find(&render(&mut a, &Theme::builtin_default(), 80, 24), "db1    hv1     hv2").is_some());
    press(&mut a, "<esc>");
    assert!(find(&render(&mut a, &Theme::builtin_default(), 80, 24), "what if").is_none());
}
