//! The console's per-screen state: each screen keeps its own (the overview's tables, the
//! detail's scroll and what it waits for, the log pane, the bell, the P2V wizard).

use super::Focus;
use crate::ui::rows::Sort;
use crate::ui::selection::Selection;
use tui_logger::TuiWidgetEvent;

/// The overview: which table the movement keys act on, and each table's selection.
#[derive(Debug)]
pub(super) struct Overview {
    pub(super) focus: Focus,
    pub(super) hosts: Selection,
    pub(super) vms: Selection,
}

/// The VM detail and the what-if answer: their scroll, and what they wait for.
#[derive(Debug, Default)]
pub(super) struct Detail {
    pub(super) scroll: DetailScroll,
    /// The domain XML of the VM in the detail view: `(vm, None)` while it is being fetched.
    pub(super) xml: Option<(String, Option<String>)>,
    /// The what-if shown: `(question, None)` while it runs.
    pub(super) what_if: Option<(String, Option<Result<String, String>>)>,
}

#[derive(Debug, Default)]
pub(super) struct Tables {
    pub(super) filter: String,
    pub(super) vm_sort: Sort,
    pub(super) host_sort: Sort,
}

/// The log pane.
#[derive(Debug)]
pub(super) struct LogPane {
    pub(super) show: bool,
    /// Keys go to the log pane (its target and level selector).
    pub(super) focus: bool,
    /// Keys for the log pane's widget state, applied by the event loop.
    pub(super) keys: Vec<TuiWidgetEvent>,
}

/// The terminal bell for new alarms.
#[derive(Debug, Default)]
pub(super) struct Bell {
    /// The highest alarm id seen.
    pub(super) last: u64,
    pub(super) ring: bool,
}

/// The P2V wizard's screen.
#[derive(Debug, Default)]
pub(super) struct P2vScreen {
    /// The wizard, when open (it takes the keys and the screen).
    pub(super) open: Option<Box<crate::p2v::wizard::Wizard>>,
    /// A fresh wizard, copied each time the wizard opens.
    pub(super) fresh: Option<crate::p2v::wizard::Wizard>,
}

/// A detail's scroll: an offset within the text as last drawn, or "at the end" (End), which
/// follows the text as it grows (the domain XML arriving, a longer reason) until another
/// scroll key.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DetailScroll {
    pub(super) offset: u16,
    pub(super) at_end: bool,
    /// The largest offset the last drawing allowed.
    pub(super) max: u16,
}

impl DetailScroll {
    /// Scroll by `lines` (`i32::MAX`: to the end and stay there; `i32::MIN`: to the top).
    pub(super) fn by(&mut self, lines: i32) {
        if lines == i32::MAX {
            self.at_end = true;
            return;
        }
        let from = if self.at_end { self.max } else { self.offset.min(self.max) };
        self.at_end = false;
        self.offset = i32::from(from).saturating_add(lines).clamp(0, i32::from(u16::MAX)) as u16;
    }

    /// The text allows offsets up to `max` now.
    pub(super) fn fit(&mut self, max: u16) {
        self.max = max;
        self.offset = if self.at_end { max } else { self.offset.min(max) };
    }
}
