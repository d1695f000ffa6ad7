//! The log pane: the `tracing` events of this process, through tui-logger.

use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Block;
use ratatui::Frame;
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerWidget, TuiWidgetState};

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme, state: &TuiWidgetState) {
    let ui = &theme.ui;
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
