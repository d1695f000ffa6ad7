//! The hosts table: name, state, vCPU and memory bars with used/total, VM count, reason.

use super::table::{self, fit_column, Spec};
use super::text::{bar, gib};
use crate::core::HostView;
use crate::ui::app::{App, Focus};
use crate::ui::rows::{self, HOST_SORT};
use crate::ui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::Cell;
use ratatui::Frame;

const HEADERS: [&str; 6] = ["Host", "State", "vCPU", "Mem GiB", "VMs", "Reason"];

/// `▮▮▯ 12/32`: vCPUs allocated of the host's threads (a full bar may still have room: vCPUs
/// overcommit).
fn cpu(h: &HostView) -> String {
    match h.capacity {
        Some(c) => format!("{} {}/{}", bar(u64::from(h.used_vcpus), u64::from(c.cpus), 3), h.used_vcpus, c.cpus),
        None => format!("{}/?", h.used_vcpus),
    }
}

/// `▮▮▮▯▯▯ 48/128`: a capacity bar, then the figures.
fn memory(h: &HostView) -> String {
    match h.capacity {
        Some(c) => {
            format!("{} {}/{}", bar(h.used_memory_kib, c.memory_kib, 5), gib(h.used_memory_kib), gib(c.memory_kib))
        }
        None => format!("{}/?", gib(h.used_memory_kib)),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    let view = app.snapshot();
    let sort = app.host_sort();
    let hosts = rows::hosts(&view, app.filter(), sort);
    let cpus: Vec<String> = hosts.iter().map(|h| cpu(h)).collect();
    let mems: Vec<String> = hosts.iter().map(|h| memory(h)).collect();
    let widths = vec![
        fit_column(HEADERS[0], hosts.iter().map(|h| h.name.as_str()), 20),
        Constraint::Length(11),
        fit_column(HEADERS[2], cpus.iter().map(String::as_str), 13),
        fit_column(HEADERS[3], mems.iter().map(String::as_str), 19),
        Constraint::Length(4),
        Constraint::Fill(1),
    ];
    let spec = Spec {
        title: "Hosts",
        focused: app.focus() == Focus::Hosts,
        headers: table::headers(&HEADERS, sort, HOST_SORT.len()),
        note: table::note(app.filter()),
        widths,
        len: hosts.len(),
    };
    let base = theme.base();
    let (selection, _, _) = app.selections_mut();
    table::draw(frame, area, theme, spec, selection, |i| {
        let h = hosts[i];
        vec![
            Cell::from(h.name.clone()).style(base),
            Cell::from(h.state.label()).style(Style::new().fg(theme.host_state(h.state))),
            Cell::from(cpus[i].clone()).style(base),
            Cell::from(mems[i].clone()).style(base),
            Cell::from(h.vm_count.to_string()).style(base),
            Cell::from(h.reason.clone()).style(base),
        ]
    });
}
