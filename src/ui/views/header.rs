//! The title line (cluster armed or not, quorum, fault injector, VM counts by state) and the
//! unacknowledged alarms under it.

use super::text::fit;
use crate::core::{AlarmView, ClusterView, Severity, VmState};
use crate::ui::app::{App, Screen};
use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// VM counts in the title, most urgent first: (label, states counted, state whose colour is used).
const COUNTS: &[(&str, &[VmState], VmState)] = &[
    ("needs operator", &[VmState::NeedsOperator], VmState::NeedsOperator),
    ("storage paused", &[VmState::StoragePaused], VmState::StoragePaused),
    ("awaiting fence", &[VmState::AwaitingFence], VmState::AwaitingFence),
    ("pending", &[VmState::Pending], VmState::Pending),
    ("suspect", &[VmState::Suspect], VmState::Suspect),
    ("recovering", &[VmState::Restarting, VmState::Relocating, VmState::Reinstalling], VmState::Restarting),
    ("busy", &[VmState::Migrating, VmState::Starting, VmState::Stopping], VmState::Migrating),
    ("healthy", &[VmState::Healthy], VmState::Healthy),
    ("probation", &[VmState::Probation], VmState::Probation),
    ("discovering", &[VmState::Discovering], VmState::Discovering),
    ("stopped", &[VmState::Stopped], VmState::Stopped),
    ("unmanaged", &[VmState::Unmanaged], VmState::Unmanaged),
];

pub fn draw_title(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ui = &theme.ui;
    let view = app.view();
    let mut line =
        vec![Span::styled(format!(" {} ", app.title()), Style::new().fg(ui.title).add_modifier(Modifier::BOLD))];
    // The breadcrumb: where the drill-down is (Esc goes back one step).
    for screen in app.stack() {
        let crumb = match screen {
            Screen::Overview => continue,
            Screen::Host(h) => format!("› host {h} "),
            Screen::Vm(v) => format!("› vm {v} "),
            Screen::Alarms => "› alarms ".to_string(),
            Screen::WhatIf(q) => format!("› what if {q} "),
        };
        line.push(Span::styled(crumb, Style::new().fg(ui.title)));
    }
    // An attached console that lost its supervisor: what it shows is not live any more. Short,
    // so that it always fits; why is in the log pane.
    if app.link_lost().is_some() {
        line.push(Span::styled(
            " SUPERVISOR LOST, reconnecting ".to_string(),
            Style::new().fg(ui.background).bg(ui.disarmed).add_modifier(Modifier::BOLD),
        ));
    }
    if app.readonly() {
        line.push(Span::styled(
            " READ-ONLY ",
            Style::new().fg(ui.background).bg(ui.key_hint).add_modifier(Modifier::BOLD),
        ));
    }
    line.push(match (view.armed, &view.disarm_pending) {
        (true, _) => Span::styled(" ARMED ", Style::new().fg(ui.armed).add_modifier(Modifier::BOLD)),
        // Disarmed, but a fence under way and its recoveries finish first.
        (false, Some(_)) => Span::styled(
            " DISARMING (fence under way) ",
            Style::new().fg(ui.background).bg(ui.disarmed).add_modifier(Modifier::BOLD),
        ),
        (false, None) => {
            Span::styled(" DISARMED ", Style::new().fg(ui.background).bg(ui.disarmed).add_modifier(Modifier::BOLD))
        }
    });
    // Who disarmed it (the time is in `3rc ctl status`): "by console:alice".
    if let Some(by) = view.disarmed_by.as_deref().and_then(|d| d.strip_prefix("disarmed ")) {
        let who = by.split(" at ").next().unwrap_or(by);
        line.push(Span::styled(format!(" {who}"), Style::new().fg(ui.disarmed)));
    }
    // The votes an automatic fence needs a majority of: quiet while there is one, loud when
    // fencing is held (3RC may be the one cut off).
    let q = &view.quorum;
    if q.votes() > 0 {
        let (r, n) = (q.reachable.len(), q.votes());
        line.push(if q.held {
            Span::styled(
                format!(" NO QUORUM {r}/{n}: fencing held "),
                Style::new().fg(ui.background).bg(ui.disarmed).add_modifier(Modifier::BOLD),
            )
        } else if !q.has() {
            Span::styled(format!(" no quorum {r}/{n} "), Style::new().fg(ui.disarmed).add_modifier(Modifier::BOLD))
        } else {
            Span::styled(format!(" quorum {r}/{n} "), Style::new().fg(ui.foreground))
        });
    }
    // Spare capacity (N+1): quiet while the loss of any host leaves room, loud when not (which
    // hosts: their details and the alarm).
    if let Some(spare) = &view.spare {
        let (n, state) = spare.split_once(": ").unwrap_or((spare.as_str(), ""));
        line.push(if state == "ok" {
            Span::styled(format!(" {n} ok "), Style::new().fg(ui.foreground))
        } else {
            Span::styled(format!(" {n} SHORT "), Style::new().fg(ui.disarmed).add_modifier(Modifier::BOLD))
        });
    }
    // One of several supervisors: whether this one leads (a standby shows, the leader acts).
    if let Some(ha) = &view.ha {
        line.push(match (ha.leads, &ha.leader) {
            (true, _) => {
                Span::styled(format!(" {} LEADS ", ha.name), Style::new().fg(ui.armed).add_modifier(Modifier::BOLD))
            }
            (false, Some(l)) => Span::styled(
                format!(" {} STANDBY: {l} leads ", ha.name),
                Style::new().fg(ui.background).bg(ui.key_hint).add_modifier(Modifier::BOLD),
            ),
            (false, None) => Span::styled(
                format!(" {}: NO LEADER ", ha.name),
                Style::new().fg(ui.background).bg(ui.disarmed).add_modifier(Modifier::BOLD),
            ),
        });
    }
    // Alerts that cannot reach their target: nobody may be called (which, in the lines below).
    if !view.deliveries.is_empty() {
        line.push(Span::styled(
            format!(" PAGING FAILS ({}) ", view.deliveries.len()),
            Style::new().fg(ui.background).bg(ui.disarmed).add_modifier(Modifier::BOLD),
        ));
    }
    match app.injector() {
        Some(true) => {
            line.push(Span::styled(" faults ON ", Style::new().fg(ui.injector_on).add_modifier(Modifier::BOLD)))
        }
        Some(false) => line.push(Span::styled(" faults off ", Style::new().fg(ui.injector_off))),
        None => {}
    }
    line.push(Span::styled(format!(" {} VMs", view.vms.len()), Style::new().fg(ui.foreground)));

    let mut groups = Vec::new();
    for (label, states, colour) in COUNTS {
        let n = view.vms.iter().filter(|v| states.contains(&v.state)).count();
        if n > 0 {
            let style = Style::new().fg(theme.vm_state(*colour));
            groups.push(vec![Span::styled(format!("  {n} {label}"), style)]);
        }
    }
    let line = fit(line, groups, area.width as usize);
    frame.render_widget(Paragraph::new(Line::from(line)), area);
}

/// The alert targets that cannot be reached, then the unacknowledged alarms, as lines, at most
/// `max` (the last says how many more alarms there are).
pub fn alarm_lines(view: &ClusterView, theme: &Theme, max: usize) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = view.deliveries.iter().take(max).map(|d| delivery_line(d, theme)).collect();
    let max = max - lines.len();
    let unacked: Vec<&AlarmView> = view.alarms.iter().filter(|a| !a.acked).collect();
    let shown = if unacked.len() > max { max.saturating_sub(1) } else { unacked.len() };
    lines.extend(unacked[..shown].iter().map(|a| alarm_line(a, theme)));
    if unacked.len() > shown {
        let worst = unacked[shown..].iter().map(|a| a.severity).max().unwrap_or(Severity::Info);
        lines.push(Line::styled(
            format!(" +{} more unacknowledged alarms", unacked.len() - shown),
            Style::new().fg(theme.alarm(worst)),
        ));
    }
    lines
}

fn delivery_line(d: &crate::core::DeliveryView, theme: &Theme) -> Line<'static> {
    let style = Style::new().fg(theme.alarm(Severity::Warning));
    let mut what = format!(" {}: {}", d.target, d.error);
    if d.queued > 0 {
        what += &format!(" ({} waiting", d.queued);
        what += &match d.dropped {
            0 => ")".to_string(),
            n => format!(", {n} dropped)"),
        };
    }
    Line::from(vec![
        Span::styled(" PAGING FAILS".to_string(), style.add_modifier(Modifier::BOLD)),
        Span::styled(what, style),
    ])
}

fn alarm_line(a: &AlarmView, theme: &Theme) -> Line<'static> {
    let style = Style::new().fg(theme.alarm(a.severity));
    let severity = match a.severity {
        Severity::Info => "INFO",
        Severity::Warning => "WARNING",
        Severity::Critical => "CRITICAL",
    };
    Line::from(vec![
        Span::styled(format!(" ALARM {severity}"), style.add_modifier(Modifier::BOLD)),
        Span::styled(format!(" #{} {}: {}", a.id, a.subject, a.message), style),
    ])
}

pub fn draw_alarms(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>) {
    if !lines.is_empty() {
        frame.render_widget(Paragraph::new(lines), area);
    }
}
