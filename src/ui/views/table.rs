//! What the hosts and VMs tables share: the framed block, the header, the selected row's style,
//! and drawing only the rows that fit.

use crate::ui::selection::Selection;
use crate::ui::theme::Theme;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;

/// A table to draw: its columns, and one function that builds a row from its index.
pub struct Spec<'a> {
    pub title: &'a str,
    pub focused: bool,
    pub headers: Vec<String>,
    /// Shown after the position in the title, e.g. the filter.
    pub note: String,
    pub widths: Vec<Constraint>,
    pub len: usize,
}

/// Draw the rows of `spec` that fit in `area`, scrolled to keep the selection visible.
/// `row(i)` builds the cells of row `i`; it is called only for visible rows.
pub fn draw<'a>(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    spec: Spec<'_>,
    selection: &mut Selection,
    row: impl Fn(usize) -> Vec<Cell<'a>>,
) {
    let ui = &theme.ui;
    // Borders and header take three lines.
    let visible = area.height.saturating_sub(3) as usize;
    let window = selection.window(spec.len, visible);
    let selected = selection.index();

    let position = match selected {
        Some(i) => format!(" {} {}/{} {}", spec.title, i + 1, spec.len, spec.note),
        None => format!(" {} 0 {}", spec.title, spec.note),
    };
    let border = if spec.focused { ui.border_focus } else { ui.border };
    let block = Block::bordered()
        .border_style(Style::new().fg(border))
        .title(Line::styled(position, Style::new().fg(ui.title).add_modifier(Modifier::BOLD)));

    let selected_style = theme.selection(spec.focused);
    let rows: Vec<Row> = window
        .map(|i| {
            let cells = row(i);
            if Some(i) == selected {
                Row::new(cells.into_iter().map(|c| c.style(selected_style))).style(selected_style)
            } else {
                Row::new(cells)
            }
        })
        .collect();
    let header = Row::new(spec.headers.into_iter().map(Cell::from))
        .style(Style::new().fg(ui.header).add_modifier(Modifier::BOLD));
    let table = Table::new(rows, spec.widths).header(header).block(block).column_spacing(1).style(theme.base());
    frame.render_widget(table, area);
}

/// A column as wide as its widest cell or header, between `min` and `max`.
pub fn fit_column<'s>(header: &str, cells: impl Iterator<Item = &'s str>, max: u16) -> Constraint {
    let widest = cells.map(|c| c.chars().count()).max().unwrap_or(0).max(header.chars().count());
    Constraint::Length((widest as u16).min(max))
}

/// Headers with the sort arrow after the sorted column (`sortable` columns come first).
pub fn headers(all: &[&str], sort: crate::ui::rows::Sort, sortable: usize) -> Vec<String> {
    all.iter()
        .enumerate()
        .map(|(i, h)| if i < sortable { format!("{h}{}", sort.marker(i)) } else { h.to_string() })
        .collect()
}

/// The filter, for a table's title.
pub fn note(filter: &str) -> String {
    if filter.is_empty() {
        String::new()
    } else {
        format!("/{filter} ")
    }
}
