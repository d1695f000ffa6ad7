//! The drill-down views: a host's summary above its VMs table, and a VM's whole story (state
//! timeline with reasons, restart counts, probes, the placement explanation, the domain XML).

use super::text::{bar, elapsed, gib};
use super::vms::in_flight;
use crate::core::placement::Verdict;
use crate::core::{HostState, HostView, Transition, VmState, VmView};
use crate::ui::app::App;
use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

/// Lines of the host summary above its VMs.
pub const HOST_LINES: u16 = 11;

fn block<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .border_style(Style::new().fg(theme.ui.border_focus))
        .title(Line::styled(title, Style::new().fg(theme.ui.title).add_modifier(Modifier::BOLD)))
}

fn label(text: &str, theme: &Theme) -> Span<'static> {
    Span::styled(format!("{text} "), Style::new().fg(theme.ui.header))
}

fn plain(text: impl Into<String>, theme: &Theme) -> Span<'static> {
    Span::styled(text.into(), theme.base())
}

fn transition(t: &Transition, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  t+{:<7} ", elapsed(t.at.0)), Style::new().fg(theme.ui.dim)),
        plain(format!("{} → {}", t.from, t.to), theme),
        Span::styled(format!("  {}", t.reason), Style::new().fg(theme.ui.dim)),
    ])
}

fn fence_status(h: &HostView) -> String {
    let agent = h.fence_agent.as_deref().unwrap_or("none (manual confirmation only)");
    let status = match h.state {
        HostState::Fencing => "fencing now",
        HostState::Fenced => "fenced",
        HostState::Down => "down, not fenced yet",
        HostState::Unmanageable => "alive, its daemon fails: not power-fenced",
        _ => "not fenced",
    };
    format!("{agent}: {status}")
}

pub fn draw_host(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, name: &str) {
    let view = app.view();
    let Some(h) = view.host(name) else {
        let p = Paragraph::new(format!("{name} is no longer in the cluster")).block(block(format!(" {name} "), theme));
        frame.render_widget(p, area);
        return;
    };
    let now = view.at.0;
    let (cpu, mem) = match h.capacity {
        Some(c) => (
            format!("{} {}/{}", bar(u64::from(h.used_vcpus), u64::from(c.cpus), 5), h.used_vcpus, c.cpus),
            format!("{} {}/{} GiB", bar(h.used_memory_kib, c.memory_kib, 5), gib(h.used_memory_kib), gib(c.memory_kib)),
        ),
        None => (format!("{}/?", h.used_vcpus), format!("{}/? GiB", gib(h.used_memory_kib))),
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(h.state.label(), Style::new().fg(theme.host_state(h.state)).add_modifier(Modifier::BOLD)),
            plain(format!(" for {} — {}", elapsed(now.saturating_sub(h.since.0)), h.reason), theme),
        ]),
        Line::from(vec![label("Fence", theme), plain(fence_status(h), theme)]),
    ];
    if let Some(f) = &h.if_fails {
        // The spare capacity check: what its loss would leave without room (high up: the
        // pane is short in an 80x24 terminal, and the URI below never changes).
        let style = if f.ends_with("no room") { Style::new().fg(theme.flash.error) } else { theme.base() };
        lines.push(Line::from(vec![label("Spare", theme), Span::styled(f.clone(), style)]));
    }
    if let Some(d) = &h.decided {
        lines.push(Line::from(vec![label("Decided", theme), plain(d.clone(), theme)]));
    }
    if !h.seen.is_empty() {
        // Several supervisors (`[ha]`): which of them reach it.
        let style = if h.seen.contains("unreachable") { Style::new().fg(theme.flash.error) } else { Style::new() };
        lines.push(Line::from(vec![label("Seen", theme), Span::styled(h.seen.clone(), style)]));
    }
    if let Some(why) = &h.fence_distrust {
        // Its own line, in the error colour (not used for automatic fencing; the alarm has
        // the whole story).
        lines.push(Line::from(vec![
            label("Agent", theme),
            Span::styled(format!("NOT TRUSTED: {why}"), Style::new().fg(theme.flash.error)),
        ]));
    }
    lines.extend([
        Line::from(vec![
            label("vCPU", theme),
            plain(cpu, theme),
            plain("   ", theme),
            label("Mem", theme),
            plain(mem, theme),
            plain(format!("   {} domains", h.vm_count), theme),
        ]),
        Line::from(vec![
            label("Last error", theme),
            match &h.last_error {
                Some(e) => Span::styled(e.clone(), Style::new().fg(theme.flash.error)),
                None => Span::styled("none", Style::new().fg(theme.ui.dim)),
            },
        ]),
        Line::from(vec![label("URI", theme), plain(h.uri.clone(), theme)]),
    ]);
    lines.push(Line::from(label("History", theme)));
    if h.history.is_empty() {
        lines.push(Line::styled("  no transitions yet", Style::new().fg(theme.ui.dim)));
    }
    // The most recent transitions first: the summary has room for a few.
    lines.extend(h.history.iter().rev().map(|t| transition(t, theme)));
    frame.render_widget(Paragraph::new(lines).block(block(format!(" Host {name} "), theme)), area);
}

/// An indeterminate bar: a block that moves one cell a second, with the elapsed time.
fn busy_bar(ms: u64, width: usize) -> String {
    let pos = (ms / 1000) as usize % width;
    (0..width).map(|i| if i == pos { '▮' } else { '▯' }).collect()
}

fn vm_lines(v: &VmView, now: u64, xml: Option<&(String, Option<String>)>, theme: &Theme) -> Vec<Line<'static>> {
    let dim = Style::new().fg(theme.ui.dim);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(v.state.label(), Style::new().fg(theme.vm_state(v.state)).add_modifier(Modifier::BOLD)),
            plain(format!(" for {} — {}", elapsed(now.saturating_sub(v.since.0)), v.reason), theme),
        ]),
        Line::from(vec![
            label("Host", theme),
            plain(v.host.clone().unwrap_or_else(|| "-".into()), theme),
            plain("   ", theme),
            label("Seen", theme),
            plain(v.observed.map(|d| format!("{d:?}")).unwrap_or_else(|| "no answer".into()), theme),
            plain("   ", theme),
            label("Size", theme),
            plain(format!("{} vCPU, {} GiB", v.vcpus, gib(v.memory_kib)), theme),
        ]),
        Line::from(vec![
            label("Restarts", theme),
            plain(format!("{}/{} in the window", v.restarts_in_window, v.max_restart), theme),
            plain("   ", theme),
            label("Relocations", theme),
            plain(format!("{}/{}", v.relocations_in_window, v.max_relocate), theme),
        ]),
        Line::from(vec![
            label("Probes", theme),
            plain(format!("{} bad, {} good in a row", v.bad_probes, v.good_probes), theme),
            plain("   ", theme),
            label("Priority", theme),
            plain(v.priority.to_string(), theme),
            plain("   ", theme),
            label("Anti-affinity", theme),
            plain(v.anti_affinity.clone().unwrap_or_else(|| "-".into()), theme),
        ]),
    ];
    if let Some(d) = &v.decided {
        lines.push(Line::from(vec![label("Decided", theme), plain(d.clone(), theme)]));
    }
    lines.push(Line::from(vec![
        label("Reinstall", theme),
        match &v.reinstall {
            Some(r) => plain(r.clone(), theme),
            None => Span::styled("no spec ([vm.reinstall] in the config)", dim),
        },
    ]));
    // Each guest probe with its last result; the failing ones in the state's colour.
    for (i, g) in v.guest.iter().enumerate() {
        let ok = g.ends_with(": answers") || g.ends_with("has not fired since it started");
        let style = if ok { theme.base() } else { Style::new().fg(theme.vm_state(VmState::Suspect)) };
        let head = if i == 0 { label("Guest", theme) } else { plain(" ".repeat(6), theme) };
        lines.push(Line::from(vec![head, Span::styled(g.clone(), style)]));
    }
    let ms = now.saturating_sub(v.since.0);
    match (&v.progress, in_flight(v.state)) {
        (Some(p), _) => {
            let (gauge, pct) = match p.done {
                Some(d) => (bar((d.clamp(0.0, 1.0) * 1000.0) as u64, 1000, 10), format!(" {:.0}%", d * 100.0)),
                None => (busy_bar(ms, 10), String::new()),
            };
            lines.push(Line::from(vec![
                label("In flight", theme),
                Span::styled(gauge, Style::new().fg(theme.vm_state(v.state))),
                plain(format!("{pct} {} for {}: {}", v.state.label(), elapsed(ms), p.step), theme),
            ]));
        }
        (None, true) => lines.push(Line::from(vec![
            label("In flight", theme),
            Span::styled(busy_bar(ms, 10), Style::new().fg(theme.vm_state(v.state))),
            plain(format!(" {} for {}", v.state.label(), elapsed(ms)), theme),
            Span::styled("  (no step reported yet)", dim),
        ])),
        (None, false) => {}
    }
    lines.push(Line::from(label("Timeline", theme)));
    if v.history.is_empty() {
        lines.push(Line::styled("  no transitions yet", dim));
    }
    lines.extend(v.history.iter().map(|t| transition(t, theme)));
    lines.push(Line::from(label("Placement (why here, why not there)", theme)));
    match &v.placement {
        None => lines.push(Line::styled("  no placement decision yet", dim)),
        Some(p) => {
            for c in &p.candidates {
                let (mark, text, style) = match &c.verdict {
                    Verdict::Chosen { score } => {
                        ("✔", format!("chosen, score {score}"), Style::new().fg(theme.flash.info))
                    }
                    Verdict::Eligible { score } => ("·", format!("could, score {score}"), theme.base()),
                    Verdict::Rejected { reason } => ("✘", format!("not allowed: {reason}"), dim),
                };
                lines.push(Line::from(vec![
                    plain(format!("  {mark} {:<10} ", c.host), theme),
                    Span::styled(text, style),
                ]));
            }
            if p.chosen.is_none() {
                lines.push(Line::styled("  no host fits", Style::new().fg(theme.flash.warning)));
            }
        }
    }
    lines.push(Line::from(label("Domain XML", theme)));
    match xml {
        Some((name, Some(text))) if *name == v.name => {
            lines.extend(text.lines().map(|l| Line::styled(format!("  {l}"), theme.base())))
        }
        _ => lines.push(Line::styled("  loading…", dim)),
    }
    lines
}

pub fn draw_vm(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme, name: &str) {
    let snapshot = app.snapshot();
    let view = &snapshot;
    let title = format!(" VM {name} ");
    let Some(v) = view.vm(name) else {
        let p = Paragraph::new(format!("{name} is no longer in the cluster")).block(block(title, theme));
        frame.render_widget(p, area);
        return;
    };
    let lines = vm_lines(v, view.at.0, app.xml(), theme);
    scrolled(frame, area, app, theme, title, lines);
}

/// Long text in a block, scrolled by the detail keys, no further than its last line (lines as
/// the paragraph wraps them, by words: ratatui's own count), so End shows the end.
fn scrolled(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme, title: String, lines: Vec<Line>) {
    let frame_block = block(title, theme);
    // ratatui's count adds the block's top and bottom but wraps at the width it is given: give
    // it the width inside the borders.
    let inner = frame_block.inner(area);
    let p = Paragraph::new(lines).block(frame_block).style(theme.base()).wrap(Wrap { trim: false });
    let max = p.line_count(inner.width).saturating_sub(area.height as usize);
    app.clamp_detail_scroll(max.min(u16::MAX as usize) as u16);
    frame.render_widget(p.scroll((app.detail_scroll(), 0)), area);
}

/// The answer to a what-if: the simulated events and where every VM would be, as the
/// simulator wrote them (`3rc simulate --what-if` prints the same report).
pub fn draw_what_if(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme, question: &str) {
    let dim = Style::new().fg(theme.ui.dim);
    let lines: Vec<Line> = match app.what_if() {
        Some((q, Some(Ok(text)))) if q == question => {
            text.lines().map(|l| Line::styled(l.to_string(), theme.base())).collect()
        }
        Some((q, Some(Err(e)))) if q == question => {
            vec![Line::styled(format!("no answer: {e}"), Style::new().fg(theme.flash.error))]
        }
        _ => vec![Line::styled("simulating on a copy of the cluster…", dim)],
    };
    let title = " what if (simulated; nothing is changed) ".to_string();
    scrolled(frame, area, app, theme, title, lines);
}
