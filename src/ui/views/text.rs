//! Small text helpers shared by the views: units, and fitting spans into a width.

use ratatui::text::Span;

const KIB_PER_GIB: f64 = 1024.0 * 1024.0;

/// Memory in GiB with one decimal: `48.0`.
pub fn gib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / KIB_PER_GIB)
}

/// The width of spans on screen.
pub fn width(spans: &[Span]) -> usize {
    spans.iter().map(Span::width).sum()
}

/// Append optional groups of spans in priority order while they fit in `max` columns.
/// A group that does not fit is skipped, and a smaller one after it may still go in.
pub fn fit<'a>(mut line: Vec<Span<'a>>, optional: Vec<Vec<Span<'a>>>, max: usize) -> Vec<Span<'a>> {
    let mut used = width(&line);
    for group in optional {
        let w = width(&group);
        if used + w <= max {
            used += w;
            line.extend(group);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gib_has_one_decimal() {
        assert_eq!(gib(128 * 1024 * 1024), "128.0");
        assert_eq!(gib(1536 * 1024), "1.5");
        assert_eq!(gib(0), "0.0");
    }

    #[test]
    fn fit_drops_groups_that_do_not_fit() {
        let line = vec![Span::raw("abc")];
        let groups = vec![vec![Span::raw("12345")], vec![Span::raw("12")]];
        let out = fit(line, groups, 6);
        assert_eq!(out.iter().map(|s| s.content.as_ref()).collect::<String>(), "abc12");
    }
}
