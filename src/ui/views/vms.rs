//! The VMs table: name, host, FSM state, restarts in the window, last reason.

use super::table::{self, fit_column, Spec};
use crate::ui::app::{App, Focus};
use crate::ui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::Cell;
use ratatui::Frame;

const HEADERS: [&str; 5] = ["VM", "Host", "State", "Restarts", "Reason"];
const NO_HOST: &str = "-";

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    let view = app.snapshot();
    let vms = &view.vms;
    let widths = vec![
        fit_column(HEADERS[0], vms.iter().map(|v| v.name.as_str()), 24),
        fit_column(HEADERS[1], vms.iter().map(|v| v.host.as_deref().unwrap_or(NO_HOST)), 16),
        Constraint::Length(13),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    let spec = Spec { title: "VMs", focused: app.focus() == Focus::Vms, headers: &HEADERS, widths, len: vms.len() };
    let base = theme.base();
    let dim = Style::new().fg(theme.ui.dim);
    let (_, selection) = app.selections_mut();
    table::draw(frame, area, theme, spec, selection, |i| {
        let v = &vms[i];
        vec![
            Cell::from(v.name.clone()).style(base),
            match &v.host {
                Some(h) => Cell::from(h.clone()).style(base),
                None => Cell::from(NO_HOST).style(dim),
            },
            Cell::from(v.state.label()).style(Style::new().fg(theme.vm_state(v.state))),
            Cell::from(format!("{}/{}", v.restarts_in_window, v.max_restart)).style(base),
            Cell::from(v.reason.clone()).style(base),
        ]
    });
}
