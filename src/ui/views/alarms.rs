//! The alarms view (`A`, `:alarms`): every alarm, unacknowledged first, with its severity in its
//! colour, subject, age and message; `a` acknowledges the selected one, Enter opens its subject.

use super::table::{self, fit_column, Spec};
use super::text::elapsed;
use crate::core::Severity;
use crate::ui::app::App;
use crate::ui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::Cell;
use ratatui::Frame;

const HEADERS: [&str; 6] = ["#", "Severity", "Subject", "Age", "Ack", "Message"];

pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "INFO",
        Severity::Warning => "WARNING",
        Severity::Critical => "CRITICAL",
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    let view = app.snapshot();
    let alarms = &view.alarms;
    let subjects: Vec<String> = alarms.iter().map(|a| a.subject.to_string()).collect();
    let ids: Vec<String> = alarms.iter().map(|a| a.id.to_string()).collect();
    let widths = vec![
        fit_column(HEADERS[0], ids.iter().map(String::as_str), 8),
        Constraint::Length(8),
        fit_column(HEADERS[2], subjects.iter().map(String::as_str), 24),
        Constraint::Length(7),
        Constraint::Length(3),
        Constraint::Fill(1),
    ];
    let unacked = alarms.iter().filter(|a| !a.acked).count();
    let spec = Spec {
        title: "Alarms",
        focused: true,
        headers: HEADERS.iter().map(|h| h.to_string()).collect(),
        note: format!("{unacked} unacknowledged "),
        widths,
        len: alarms.len(),
    };
    let base = theme.base();
    let dim = Style::new().fg(theme.ui.dim);
    table::draw(frame, area, theme, spec, app.alarms_selection_mut(), |i| {
        let a = &alarms[i];
        let text = if a.acked { dim } else { base };
        vec![
            Cell::from(ids[i].clone()).style(text),
            Cell::from(severity(a.severity)).style(Style::new().fg(theme.alarm(a.severity))),
            Cell::from(subjects[i].clone()).style(text),
            Cell::from(elapsed(a.age_ms)).style(text),
            Cell::from(if a.acked { "yes" } else { "no" }).style(text),
            Cell::from(match &a.acked_by {
                Some(by) => format!("{} (acknowledged by {by})", a.message),
                None => a.message.clone(),
            })
            .style(text),
        ]
    });
}
