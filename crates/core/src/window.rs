//! A sliding window of events: each entry is forgotten `window` after it happened, on its own.
//! (Pacemaker's `failure-timeout` forgets all failures at once; users find that surprising.)

use super::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// Entries are kept as the time each one leaves the window, so that a window carried over from an
/// earlier run (its entries' remaining lifetimes, from the journal) fits on a fresh clock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingWindow {
    expires: VecDeque<Time>,
}

impl SlidingWindow {
    /// Record an entry at `now`, forgotten `window` later; drops those already gone.
    pub fn record(&mut self, now: Time, window: Duration) {
        self.expire(now);
        self.expires.push_back(now.plus(window));
    }

    /// Entries still inside their window at `now`.
    pub fn count(&self, now: Time) -> u32 {
        self.expires.iter().filter(|t| **t > now).count() as u32
    }

    /// Drop entries that have left the window.
    pub fn expire(&mut self, now: Time) {
        self.expires.retain(|t| *t > now);
    }

    pub fn clear(&mut self) {
        self.expires.clear();
    }

    /// When the next entry still inside the window will leave it.
    pub fn next_expiry(&self, now: Time) -> Option<Time> {
        self.expires.iter().filter(|t| **t > now).min().copied()
    }

    /// When each entry leaves the window, oldest first.
    pub fn expiries(&self) -> Vec<Time> {
        self.expires.iter().copied().collect()
    }

    /// A window whose entries leave it at these times (carried over from an earlier run).
    pub fn from_expiries(mut expires: Vec<Time>) -> SlidingWindow {
        expires.sort();
        SlidingWindow { expires: expires.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decay_one_by_one() {
        let w = Duration::from_secs(60);
        let mut s = SlidingWindow::default();
        s.record(Time::from_secs(0), w);
        s.record(Time::from_secs(30), w);
        assert_eq!(s.count(Time::from_secs(59)), 2);
        assert_eq!(s.count(Time::from_secs(60)), 1, "the first leaves alone");
        assert_eq!(s.next_expiry(Time::from_secs(60)), Some(Time::from_secs(90)));
        assert_eq!(s.count(Time::from_secs(90)), 0);
        s.expire(Time::from_secs(61));
        assert_eq!(s.count(Time::from_secs(61)), 1);
    }

    #[test]
    fn a_window_carried_over_keeps_each_entry_s_remaining_life() {
        let w = Duration::from_secs(600);
        let mut s = SlidingWindow::default();
        s.record(Time::from_secs(1000), w);
        s.record(Time::from_secs(1300), w);
        // Carried over to a clock that starts again at 0, 100 s later (remaining: 500 s, 800 s).
        let carried: Vec<Time> = s.expiries().iter().map(|t| Time::from_millis(t.millis() - 1_100_000)).collect();
        let c = SlidingWindow::from_expiries(carried);
        assert_eq!(c.count(Time::from_secs(499)), 2);
        assert_eq!(c.count(Time::from_secs(500)), 1);
        assert_eq!(c.count(Time::from_secs(800)), 0);
    }
}
