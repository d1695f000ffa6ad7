//! The hosts table: name, state, vCPUs and memory used of total, VM count, reason.

use super::table::{self, fit_column, Spec};
use super::text::gib;
use crate::core::HostView;
use crate::ui::app::{App, Focus};
use crate::ui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::Cell;
use ratatui::Frame;

const HEADERS: [&str; 6] = ["Host", "State", "vCPU", "Mem GiB", "VMs", "Reason"];

fn cpu(h: &HostView) -> String {
    match h.capacity {
        Some(c) => format!("{}/{}", h.used_vcpus, c.cpus),
        None => format!("{}/?", h.used_vcpus),
    }
}

fn memory(h: &HostView) -> String {
    match h.capacity {
        Some(c) => format!("{}/{}", gib(h.used_memory_kib), gib(c.memory_kib)),
        None => format!("{}/?", gib(h.used_memory_kib)),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: &Theme) {
    let view = app.snapshot();
    let hosts = &view.hosts;
    let cpus: Vec<String> = hosts.iter().map(cpu).collect();
    let mems: Vec<String> = hosts.iter().map(memory).collect();
    let widths = vec![
        fit_column(HEADERS[0], hosts.iter().map(|h| h.name.as_str()), 20),
        Constraint::Length(11),
        fit_column(HEADERS[2], cpus.iter().map(String::as_str), 9),
        fit_column(HEADERS[3], mems.iter().map(String::as_str), 13),
        Constraint::Length(4),
        Constraint::Fill(1),
    ];
    let spec =
        Spec { title: "Hosts", focused: app.focus() == Focus::Hosts, headers: &HEADERS, widths, len: hosts.len() };
    let base = theme.base();
    let (selection, _) = app.selections_mut();
    table::draw(frame, area, theme, spec, selection, |i| {
        let h = &hosts[i];
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
