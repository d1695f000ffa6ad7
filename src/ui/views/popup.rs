//! Popups drawn over the views: the confirmation dialog, the migration target picker, help.

use super::text::gib;
use crate::ui::app::{App, Popup};
use crate::ui::confirm::{Button, Confirm};
use crate::ui::picker::Picker;
use crate::ui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// A rectangle of at most `w`×`h` centred in `area`.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn frame_block<'a>(title: &str, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .border_style(Style::new().fg(theme.ui.border_focus))
        .title(Line::styled(format!(" {title} "), Style::new().fg(theme.ui.title).add_modifier(Modifier::BOLD)))
        .style(theme.base())
}

pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    match app.popup() {
        Some(Popup::Confirm(c)) => confirm(frame, area, c, theme),
        Some(Popup::Migrate(p)) => picker(frame, area, p, theme),
        Some(Popup::Help { scroll }) => help(frame, area, app, *scroll, theme),
        None => {}
    }
}

fn button(text: &str, focused: bool, enabled: bool, theme: &Theme) -> Span<'static> {
    let style = if focused {
        theme.selection(true).add_modifier(Modifier::BOLD)
    } else if enabled {
        theme.base()
    } else {
        Style::new().fg(theme.ui.dim)
    };
    Span::styled(format!("[ {text} ]"), style)
}

fn confirm(frame: &mut Frame, area: Rect, c: &Confirm, theme: &Theme) {
    let mut lines = vec![
        Line::styled(
            format!("{}?", capitalise(&c.command.to_string())),
            Style::new().fg(theme.flash.warning).add_modifier(Modifier::BOLD),
        ),
        Line::styled(c.command.consequence(), theme.base()),
        Line::raw(""),
    ];
    if let Some(phrase) = &c.phrase {
        lines.push(Line::from(vec![
            Span::styled("Type ", theme.base()),
            Span::styled(phrase.clone(), Style::new().fg(theme.ui.key_hint).add_modifier(Modifier::BOLD)),
            Span::styled(" to confirm: ", theme.base()),
        ]));
        lines.push(Line::styled(format!("> {}▏", c.typed), Style::new().fg(theme.ui.title)));
        lines.push(Line::raw(""));
    }
    lines.push(Line::from(vec![
        Span::raw("   "),
        button("Cancel", c.focus == Button::Cancel, true, theme),
        Span::raw("   "),
        button("OK", c.focus == Button::Ok, c.ready(), theme),
    ]));
    lines.push(Line::styled("Tab switches, Enter chooses, Esc cancels", Style::new().fg(theme.ui.dim)));
    let height = lines.len() as u16 + 4;
    let rect = centred(area, 64, height);
    frame.render_widget(Clear, rect);
    let p = Paragraph::new(lines).block(frame_block("Confirm", theme)).wrap(Wrap { trim: false });
    frame.render_widget(p, rect);
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn picker(frame: &mut Frame, area: Rect, p: &Picker, theme: &Theme) {
    let chosen = p.index();
    let mut lines = vec![Line::styled(
        format!("{:<12} {:>5} {:>10}  {}", "Host", "vCPU", "Mem free", "Allowed"),
        Style::new().fg(theme.ui.header).add_modifier(Modifier::BOLD),
    )];
    for (i, t) in p.targets.iter().enumerate() {
        let cpu = t.free_vcpus.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
        let mem = t.free_memory_kib.map(|m| gib(m.max(0) as u64)).unwrap_or_else(|| "?".into());
        let why = match &t.refusal {
            None => "yes".to_string(),
            Some(r) => format!("no: {r}"),
        };
        let style = if Some(i) == chosen {
            theme.selection(true)
        } else if t.refusal.is_some() {
            Style::new().fg(theme.ui.dim)
        } else {
            theme.base()
        };
        lines.push(Line::styled(format!("{:<12} {cpu:>5} {mem:>10}  {why}", t.host), style));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("↑↓ choose, Enter migrates, Esc cancels", Style::new().fg(theme.ui.dim)));
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = centred(area, 72, height);
    frame.render_widget(Clear, rect);
    let title = format!("Live-migrate {} to", p.vm);
    frame.render_widget(Paragraph::new(lines).block(frame_block(&title, theme)), rect);
}

fn help(frame: &mut Frame, area: Rect, app: &App, scroll: u16, theme: &Theme) {
    let key_style = Style::new().fg(theme.ui.key_hint).add_modifier(Modifier::BOLD);
    let bindings: Vec<(String, String)> = app
        .keymap()
        .for_screen(app.screen())
        .map(|b| {
            let keys: Vec<String> = b.keys.iter().map(|k| k.to_string()).collect();
            let danger = if b.dangerous { " !" } else { "" };
            (keys.join(" "), format!("{}{danger}", b.description))
        })
        .collect();
    let key_width = bindings.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0) + 1;
    let mut entries: Vec<Line> = bindings
        .into_iter()
        .map(|(k, d)| {
            Line::from(vec![Span::styled(format!("{k:<key_width$}"), key_style), Span::styled(d, theme.base())])
        })
        .collect();
    if !app.readonly() {
        entries.push(Line::styled("! changes the cluster", Style::new().fg(theme.ui.dim)));
    }
    let rect = centred(area, 84, area.height.saturating_sub(2));
    frame.render_widget(Clear, rect);
    let title = if app.readonly() { "Help (read-only)" } else { "Help" };
    let block = frame_block(title, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    // Two columns when they do not fit in one.
    let rows = inner.height.max(1) as usize;
    if entries.len() > rows && inner.width >= 70 {
        let half = entries.len().div_ceil(2);
        let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(inner);
        frame.render_widget(Paragraph::new(entries[..half].to_vec()).scroll((scroll, 0)), left);
        frame.render_widget(Paragraph::new(entries[half..].to_vec()).scroll((scroll, 0)), right);
    } else {
        frame.render_widget(Paragraph::new(entries).scroll((scroll, 0)), inner);
    }
}
