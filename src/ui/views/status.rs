//! The status bar: the input line (`/filter`, `:command`) when one is open, otherwise key hints
//! from the current view's keymap on the left and the flash message on the right.

use super::text::width;
use crate::ui::app::{App, InputKind};
use crate::ui::flash::FlashLevel;
use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ui = &theme.ui;
    let bar = Style::new().fg(ui.status_fg).bg(ui.status_bg);
    let key = Style::new().fg(ui.key_hint).bg(ui.status_bg).add_modifier(Modifier::BOLD);

    if let Some(input) = app.input() {
        let prefix = match input.kind {
            InputKind::Filter => "/",
            InputKind::Command => ":",
        };
        let help = match input.kind {
            InputKind::Filter => "  name, host or state; Enter keeps, Esc clears",
            InputKind::Command => "  host NAME, vm NAME, migrate VM HOST, ...; Enter runs, Esc cancels",
        };
        let line = Line::from(vec![Span::styled(format!("{prefix}{}▏", input.text), key), Span::styled(help, bar)]);
        frame.render_widget(Paragraph::new(line).style(bar), area);
        return;
    }

    if app.log_focus() {
        let line = Line::from(vec![
            Span::styled(" LOG ", key),
            Span::styled(" ↑↓ target  ←→ level shown  +- level captured  t targets  PgUp/PgDn scroll  Esc back", bar),
        ]);
        frame.render_widget(Paragraph::new(line).style(bar), area);
        return;
    }

    let flash: Vec<Span> = match app.flash() {
        Some(f) => {
            let colour = match f.level {
                FlashLevel::Info => theme.flash.info,
                FlashLevel::Warning => theme.flash.warning,
                FlashLevel::Error => theme.flash.error,
            };
            vec![Span::styled(format!(" {} ", f.text), Style::new().fg(colour).bg(ui.status_bg))]
        }
        None => vec![],
    };
    // The flash wins: hints are dropped from the end to make room for it.
    let room = (area.width as usize).saturating_sub(width(&flash));
    let mut line = Vec::new();
    for (k, d) in app.keymap().hints(app.screen()) {
        let hint = [Span::styled(format!(" {k}"), key), Span::styled(format!(" {d} "), bar)];
        if width(&line) + width(&hint) > room {
            break;
        }
        line.extend(hint);
    }
    let pad = room.saturating_sub(width(&line));
    line.push(Span::styled(" ".repeat(pad), bar));
    line.extend(flash);
    frame.render_widget(Paragraph::new(Line::from(line)).style(bar), area);
}
