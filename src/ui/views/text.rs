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

/// A text bar of `cells` cells for `used` of `total`: `▮▮▯▯▯`.
pub fn bar(used: u64, total: u64, cells: usize) -> String {
    let full = (used.min(total) * cells as u64 + total / 2).checked_div(total).unwrap_or(0) as usize;
    "▮".repeat(full) + &"▯".repeat(cells - full)
}

/// Elapsed supervisor time as `42s`, `3m05s`, `2h10m`.
pub fn elapsed(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn bars_round_to_the_nearest_cell_and_elapsed_reads_well() {
        assert_eq!(bar(48, 128, 5), "▮▮▯▯▯");
        assert_eq!(bar(0, 0, 3), "▯▯▯");
        assert_eq!(bar(200, 100, 4), "▮▮▮▮");
        assert_eq!(elapsed(42_000), "42s");
        assert_eq!(elapsed(185_000), "3m05s");
        assert_eq!(elapsed(7_800_000), "2h10m");
    }
}
