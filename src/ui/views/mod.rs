//! Rendering: one function per region of the screen, all reading the app state and the theme.
//!
//! Views never change what the user sees as state; the only thing they write back is each
//! table's scroll position (how many rows fit is known only while drawing).
//!
//! Layout, top to bottom: title line (with the breadcrumb), unacknowledged alarms (when any),
//! the current view (overview: hosts and VMs; a host: its summary and VMs; a VM: its detail),
//! log pane (toggled with `l`), status bar; popups over all of it; the P2V wizard, when open,
//! over everything but the title line.

mod alarms;
mod detail;
mod header;
mod hosts;
mod log;
mod p2v;
mod popup;
mod status;
mod table;
mod text;
mod vms;

#[cfg(test)]
mod snapshots;
#[cfg(test)]
mod tests;

pub use vms::in_flight;

use super::app::{App, Screen};
use super::theme::Theme;
use ratatui::layout::{Constraint, Layout};
use ratatui::widgets::Block;
use ratatui::Frame;
use tui_logger::TuiWidgetState;

/// Draw the whole console.
pub fn draw(frame: &mut Frame, app: &mut App, theme: &Theme, log_state: &TuiWidgetState) {
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.base()), area);

    let max_alarms = if area.height >= 30 { 4 } else { 2 };
    let alarms = header::alarm_lines(app.view(), theme, max_alarms);
    // Hosts get their rows plus borders and header, but never more than a third of the screen.
    let screen = app.screen().clone();
    let hosts_height = match &screen {
        Screen::Overview => (app.view().hosts.len() as u16 + 3).min((area.height / 3).max(4)),
        Screen::Host(_) => detail::HOST_LINES.min(area.height * 2 / 5),
        Screen::Vm(_) | Screen::Alarms | Screen::WhatIf(_) => 0,
    };
    let log_height = match (app.show_log(), app.log_focus()) {
        (false, _) => 0,
        (true, false) => (area.height / 4).clamp(4, 12),
        // Focused, the log takes half the screen: the target selector needs rows.
        (true, true) => (area.height / 2).max(6),
    };

    let [title_area, alarms_area, hosts_area, vms_area, log_area, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(alarms.len() as u16),
        Constraint::Length(hosts_height),
        Constraint::Min(4),
        Constraint::Length(log_height),
        Constraint::Length(1),
    ])
    .areas(area);

    header::draw_title(frame, title_area, app, theme);
    header::draw_alarms(frame, alarms_area, alarms);
    match &screen {
        Screen::Overview => {
            hosts::draw(frame, hosts_area, app, theme);
            vms::draw(frame, vms_area, app, theme);
        }
        Screen::Host(h) => {
            detail::draw_host(frame, hosts_area, app, theme, h);
            vms::draw(frame, vms_area, app, theme);
        }
        Screen::Vm(v) => detail::draw_vm(frame, vms_area, app, theme, v),
        Screen::Alarms => alarms::draw(frame, vms_area, app, theme),
        Screen::WhatIf(q) => detail::draw_what_if(frame, vms_area, app, theme, q),
    }
    if app.show_log() {
        log::draw(frame, log_area, theme, log_state, app.log_focus());
    }
    status::draw(frame, status_area, app, theme);
    popup::draw(frame, app, theme);
    if let Some(w) = app.p2v() {
        // The wizard takes the screen below the title line.
        let rest = ratatui::layout::Rect { y: area.y + 1, height: area.height.saturating_sub(1), ..area };
        p2v::draw(frame, rest, w, theme);
    }
}
