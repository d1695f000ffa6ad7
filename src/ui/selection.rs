//! A table selection that follows a row's name, not its position.
//!
//! Snapshots arrive every supervisor cycle and may reorder or drop rows; an on-call engineer
//! who selected `db1` must still be on `db1` after the refresh. When the selected row vanishes,
//! the selection stays at the same position (clamped), so it does not jump to the top.

/// Selection and scroll position of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    name: Option<String>,
    /// Where the name was last seen; used when it vanishes.
    index: usize,
    /// First visible row, kept by the view between frames.
    offset: usize,
    /// Rows the view showed last frame: the page size for PageUp/PageDown.
    visible: usize,
}

impl Selection {
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The selected row's index in `names`, after [`Selection::sync`].
    pub fn index(&self) -> Option<usize> {
        self.name.as_ref().map(|_| self.index)
    }

    /// Find the selected name again in a new list of rows.
    pub fn sync(&mut self, names: &[&str]) {
        if names.is_empty() {
            self.name = None;
            self.index = 0;
            return;
        }
        let found = self.name.as_deref().and_then(|n| names.iter().position(|m| *m == n));
        self.index = found.unwrap_or(self.index.min(names.len() - 1));
        self.name = Some(names[self.index].to_string());
    }

    /// Move by `delta` rows, stopping at the ends.
    pub fn move_by(&mut self, names: &[&str], delta: isize) {
        self.sync(names);
        if names.is_empty() {
            return;
        }
        let target = self.index.saturating_add_signed(delta).min(names.len() - 1);
        self.select_index(names, target);
    }

    pub fn move_page(&mut self, names: &[&str], down: bool) {
        let page = self.visible.max(1) as isize;
        self.move_by(names, if down { page } else { -page });
    }

    pub fn select_index(&mut self, names: &[&str], index: usize) {
        if let Some(name) = names.get(index) {
            self.index = index;
            self.name = Some(name.to_string());
        }
    }

    /// The rows to draw for a table of `len` rows with room for `visible`: scrolls as little as
    /// possible to keep the selection in view.
    pub fn window(&mut self, len: usize, visible: usize) -> std::ops::Range<usize> {
        self.visible = visible;
        if visible == 0 || len == 0 {
            self.offset = 0;
            return 0..0;
        }
        if let Some(i) = self.index() {
            if i < self.offset {
                self.offset = i;
            } else if i >= self.offset + visible {
                self.offset = i + 1 - visible;
            }
        }
        self.offset = self.offset.min(len.saturating_sub(visible));
        self.offset..(self.offset + visible).min(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_name_across_reorders_and_keeps_the_position_when_it_vanishes() {
        let mut s = Selection::default();
        s.sync(&["a", "b", "c", "d"]);
        assert_eq!(s.name(), Some("a"));
        s.move_by(&["a", "b", "c", "d"], 2);
        assert_eq!(s.name(), Some("c"));
        s.sync(&["d", "c", "b", "a"]);
        assert_eq!((s.name(), s.index()), (Some("c"), Some(1)));
        s.sync(&["d", "b", "a"]);
        assert_eq!(s.name(), Some("b"));
        s.sync(&["x"]);
        assert_eq!(s.name(), Some("x"));
        s.sync(&[]);
        assert_eq!(s.name(), None);
    }

    #[test]
    fn moves_stop_at_the_ends() {
        let names = ["a", "b", "c"];
        let mut s = Selection::default();
        s.move_by(&names, -1);
        assert_eq!(s.name(), Some("a"));
        s.move_by(&names, 10);
        assert_eq!(s.name(), Some("c"));
    }

    #[test]
    fn window_scrolls_just_enough_to_show_the_selection() {
        let names: Vec<String> = (0..10).map(|i| format!("vm{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut s = Selection::default();
        s.sync(&names);
        assert_eq!(s.window(10, 4), 0..4);
        s.select_index(&names, 5);
        assert_eq!(s.window(10, 4), 2..6);
        s.select_index(&names, 3);
        assert_eq!(s.window(10, 4), 2..6);
        s.select_index(&names, 0);
        assert_eq!(s.window(10, 4), 0..4);
        s.move_page(&names, true);
        assert_eq!(s.name(), Some("vm4"));
        // A taller window never leaves empty rows at the bottom.
        s.select_index(&names, 9);
        assert_eq!(s.window(10, 4), 6..10);
        assert_eq!(s.window(10, 8), 2..10);
        assert_eq!(s.window(3, 8), 0..3);
    }
}
