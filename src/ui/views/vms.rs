//! The VMs tables (all VMs in the overview, a host's VMs in its detail): name, host, FSM state,
//! restarts in the window, last reason. A VM in the middle of an operation shows how long it
//! has been at it (the supervisor reports no step progress yet).

use super::table::{self, fit_column, Spec};
use super::text::elapsed;
use crate::core::{VmState, VmView};
use crate::ui::app::{App, Focus, Screen};
use crate::ui::rows::{self, VM_SORT};
use crate::ui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::Cell;
use ratatui::Frame;

const HEADERS: [&str; 5] = ["VM", "Host", "State", "Restarts", "Reason"];
const NO_HOST: &str = "-";

/// States in which an operation is in flight.
pub fn in_flight(state: VmState) -> bool {
    state.is_busy()
}

/// The reason, prefixed with the time in flight for a VM in the middle of an operation; while
/// the operation reports its steps, the step (and how much is done) instead.
pub fn reason(v: &VmView, now_ms: u64) -> String {
    let since = elapsed(now_ms.saturating_sub(v.since.0));
    match (&v.progress, in_flight(v.state)) {
        (Some(p), _) => match p.done {
            Some(d) => format!("⟳ {:.0}% {} ({since})", d * 100.0, p.step),
            None => format!("⟳ {since} {}", p.step),
        },
        (None, true) => format!("⟳ {since} {}", v.reason),
        (None, false) => v.reason.clone(),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    let view = app.snapshot();
    let host = match app.screen() {
        Screen::Host(h) => Some(h.clone()),
        _ => None,
    };
    let sort = app.vm_sort();
    let vms = rows::vms(&view, host.as_deref(), app.filter(), sort);
    // Column widths from the visible rows' neighbours would jitter while scrolling: measure
    // at most the first thousand rows (big clusters have uniform names).
    let sample = &vms[..vms.len().min(1000)];
    let widths = vec![
        fit_column(HEADERS[0], sample.iter().map(|v| v.name.as_str()), 24),
        fit_column(HEADERS[1], sample.iter().map(|v| v.host.as_deref().unwrap_or(NO_HOST)), 16),
        Constraint::Length(13),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    let focused = host.is_some() || app.focus() == Focus::Vms;
    let title = match &host {
        Some(h) => format!("VMs on {h}"),
        None => "VMs".to_string(),
    };
    let spec = Spec {
        title: &title,
        focused,
        headers: table::headers(&HEADERS, sort, VM_SORT.len()),
        note: table::note(app.filter()),
        widths,
        len: vms.len(),
    };
    let base = theme.base();
    let dim = Style::new().fg(theme.ui.dim);
    let now = view.at.0;
    let (_, all, on_host) = app.selections_mut();
    let selection = if host.is_some() { on_host } else { all };
    table::draw(frame, area, theme, spec, selection, |i| {
        let v = vms[i];
        vec![
            Cell::from(v.name.clone()).style(base),
            match &v.host {
                Some(h) => Cell::from(h.clone()).style(base),
                None => Cell::from(NO_HOST).style(dim),
            },
            Cell::from(v.state.label()).style(Style::new().fg(theme.vm_state(v.state))),
            Cell::from(format!("{}/{}", v.restarts_in_window, v.max_restart)).style(base),
            Cell::from(reason(v, now)).style(base),
        ]
    });
}

#[cfg(test)]
mod progress_tests {
    use super::*;
    use crate::core::{Progress, Time};

    #[test]
    fn a_reported_step_replaces_the_bare_elapsed_time() {
        let mut v = crate::ui::fixture::cluster().vms[0].clone();
        v.state = VmState::Relocating;
        v.since = Time(1_000);
        v.reason = "recovering from hv1".into();
        assert_eq!(reason(&v, 13_000), "⟳ 12s recovering from hv1");
        v.progress = Some(Progress { step: "defining on hv2".into(), done: Some(0.4) });
        assert_eq!(reason(&v, 13_000), "⟳ 40% defining on hv2 (12s)");
        v.progress = Some(Progress { step: "waiting for capacity".into(), done: None });
        assert_eq!(reason(&v, 13_000), "⟳ 12s waiting for capacity");
    }
}
