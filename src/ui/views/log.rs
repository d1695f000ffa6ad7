//! The log pane: the `tracing` events of this process, through tui-logger. Focused (`L`), it
//! shows tui-logger's target selector: a level per target, for display and for capture.

use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Block;
use ratatui::Frame;
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerSmartWidget, TuiLoggerWidget, TuiWidgetState};

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme, state: &TuiWidgetState, focused: bool) {
    let ui = &theme.ui;
    if focused {
        let fg = |c| Style::new().fg(c).bg(ui.background);
        let title = Style::new().fg(ui.title).add_modifier(Modifier::BOLD);
        let widget = TuiLoggerSmartWidget::default()
            .title_log(Line::styled(" Log ", title))
            .title_target(Line::styled(" Targets ", title))
            .border_style(Style::new().fg(ui.border_focus))
            .style(theme.base())
            .highlight_style(theme.selection(true))
            .style_error(fg(theme.log.error))
            .style_warn(fg(theme.log.warn))
            .style_info(fg(theme.log.info))
            .style_debug(fg(theme.log.debug))
            .style_trace(fg(theme.log.trace))
            .style_show(fg(ui.foreground))
            .style_hide(fg(ui.dim))
            .style_off(fg(ui.dim))
            .output_separator(' ')
            .output_timestamp(Some("%H:%M:%S".to_string()))
            .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
            .output_target(true)
            .output_file(false)
            .output_line(false)
            .state(state);
        frame.render_widget(widget, area);
        return;
    }
    let block = Block::bordered()
        .border_style(Style::new().fg(ui.border))
        .title(Line::styled(" Log ", Style::new().fg(ui.title).add_modifier(Modifier::BOLD)));
    let fg = |c| Style::new().fg(c).bg(ui.background);
    let widget = TuiLoggerWidget::default()
        .block(block)
        .style(theme.base())
        .style_error(fg(theme.log.error))
        .style_warn(fg(theme.log.warn))
        .style_info(fg(theme.log.info))
        .style_debug(fg(theme.log.debug))
        .style_trace(fg(theme.log.trace))
        .output_separator(' ')
        .output_timestamp(Some("%H:%M:%S".to_string()))
        .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
        .output_target(false)
        .output_file(false)
        .output_line(false)
        .state(state);
    frame.render_widget(widget, area);
}
