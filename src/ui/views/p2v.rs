//! The P2V wizard's screen: the steps as a breadcrumb, the current step's fields (the focused
//! one highlighted), the last refused answer naming its field, what the wizard waits for, and
//! during the run its log and progress.

use crate::p2v::wizard::{fields, Kind, Step, Wizard};
use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

const STEPS: [(Step, &str); 7] = [
    (Step::Source, "source"),
    (Step::Connection, "connection"),
    (Step::Machine, "machine"),
    (Step::Target, "target"),
    (Step::Review, "review"),
    (Step::Run, "run"),
    (Step::Done, "done"),
];

fn label(name: &str) -> String {
    format!("{:<13}", name.replace('_', " "))
}

fn field_lines(w: &Wizard, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for (i, &(name, kind)) in fields(w.step).iter().enumerate() {
        let focused = i == w.focus;
        let style = if focused { theme.selection(true) } else { Style::new().fg(theme.ui.foreground) };
        let value = match kind {
            Kind::Text => format!("[{}{}]", w.text(name), if focused { "_" } else { "" }),
            Kind::Toggle => format!("[{}]", if w.toggle_value(name) { "x" } else { " " }),
            Kind::Choice => {
                let (list, at) = w.choices(name);
                match list.get(at) {
                    Some(v) => format!("< {v} >  ({} of {})", at + 1, list.len()),
                    None => "(none yet)".to_string(),
                }
            }
            Kind::Checks => String::new(),
        };
        out.push(Line::from(vec![
            Span::styled(label(name.name()), Style::new().fg(theme.ui.header)),
            Span::styled(value, style),
        ]));
        if kind == Kind::Checks {
            let items = w.checks(name);
            if items.is_empty() {
                out.push(Line::styled("   (none)", Style::new().fg(theme.ui.dim)));
            }
            for (j, (text, on)) in items.into_iter().enumerate() {
                let here = focused && j == w.cursor;
                let st = if here { theme.selection(true) } else { Style::new().fg(theme.ui.foreground) };
                out.push(Line::styled(format!("   [{}] {text}", if on { "x" } else { " " }), st));
            }
        }
    }
    out
}

fn body(w: &Wizard, theme: &Theme) -> Vec<Line<'static>> {
    let dim = Style::new().fg(theme.ui.dim);
    let plain = |s: String| Line::styled(s, Style::new().fg(theme.ui.foreground));
    match w.step {
        Step::Source | Step::Machine | Step::Target => {
            let mut l = field_lines(w, theme);
            if w.step == Step::Target {
                if let Some(f) = &w.facts {
                    let pools: Vec<String> = f
                        .pools
                        .iter()
                        .map(|(p, _)| {
                            format!("{} ({}, {} free)", p.name, p.kind, crate::p2v::plan::human_bytes(p.available))
                        })
                        .collect();
                    l.push(Line::styled(format!("pools: {}", pools.join(", ")), dim));
                    l.push(Line::styled(format!("networks: {} (or bridge:NAME)", f.networks.join(", ")), dim));
                }
            }
            l
        }
        Step::Connection => {
            let mut l = Vec::new();
            if let Some(h) = &w.hello {
                l.push(plain(h.clone()));
            }
            if let Some(inv) = &w.inventory {
                l.extend(inv.describe().into_iter().map(plain));
                l.push(Line::styled("Enter: choose disks, NICs, CPUs and memory", dim));
            }
            l
        }
        Step::Review => {
            let mut l: Vec<Line> = match (&w.plan, &w.inventory) {
                (Some(p), Some(inv)) => p.review(inv).into_iter().map(plain).collect(),
                _ => Vec::new(),
            };
            l.push(Line::styled("Enter: run this plan   Esc: back", dim));
            l
        }
        Step::Run | Step::Done => {
            let mut l: Vec<Line> = w.log.iter().cloned().map(plain).collect();
            if let Some(p) = &w.progress {
                l.push(Line::styled(p.clone(), Style::new().fg(theme.ui.title)));
            }
            match &w.outcome {
                Some(Ok(lines)) => l.extend(lines.iter().cloned().map(plain)),
                Some(Err(e)) => l.push(Line::styled(format!("failed: {e}"), Style::new().fg(theme.flash.error))),
                None if w.cancelling => l.push(Line::styled("cancelling...", dim)),
                None => l.push(Line::styled("Ctrl-C or Esc: cancel (what was made is removed)", dim)),
            }
            l
        }
    }
}

pub fn draw(frame: &mut Frame, area: Rect, w: &Wizard, theme: &Theme) {
    frame.render_widget(Clear, area);
    let mut crumbs = vec![Span::styled(" P2V ", Style::new().fg(theme.ui.title).add_modifier(Modifier::BOLD))];
    for (i, (step, name)) in STEPS.iter().enumerate() {
        if i > 0 {
            crumbs.push(Span::styled(" › ", Style::new().fg(theme.ui.dim)));
        }
        let st = if *step == w.step {
            Style::new().fg(theme.ui.title).add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            Style::new().fg(theme.ui.dim)
        };
        crumbs.push(Span::styled(name.to_string(), st));
    }
    crumbs.push(Span::raw(" "));
    let block = Block::bordered()
        .border_style(Style::new().fg(theme.ui.border_focus))
        .title(Line::from(crumbs))
        .style(theme.base());
    let mut lines = body(w, theme);
    if let Some(wait) = &w.waiting {
        lines.push(Line::styled(format!("... {wait} (Esc: stop waiting)"), Style::new().fg(theme.flash.warning)));
    }
    if let Some(e) = &w.error {
        lines.push(Line::styled(e.clone(), Style::new().fg(theme.flash.error).add_modifier(Modifier::BOLD)));
    }
    lines.push(Line::styled(
        "Tab: next field  ↑↓: choose  Space: toggle  Enter: next  Esc: back  Ctrl-C: leave",
        Style::new().fg(theme.ui.key_hint),
    ));
    // The newest lines stay in view (a long run log scrolls up).
    let inner = area.height.saturating_sub(2) as usize;
    let skip = lines.len().saturating_sub(inner) as u16;
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }).scroll((skip, 0)), area);
}
