//! A sliding window of events: each entry is forgotten `window` after it happened, on its own.
//! (Pacemaker's `failure-timeout` forgets all failures at once; users find that surprising.)

use super::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingWindow {
    at: VecDeque<Time>,
}

impl SlidingWindow {
    /// Record an entry at `now`, dropping those that have left the window.
    pub fn record(&mut self, now: Time, window: Duration) {
        self.expire(now, window);
        self.at.push_back(now);
    }

    /// Entries younger than `window` at `now`.
    pub fn count(&self, now: Time, window: Duration) -> u32 {
        self.at.iter().filter(|t| now.since(**t) < window).count() as u32
    }

    /// Drop entries that have left the window.
    pub fn expire(&mut self, now: Time, window: Duration) {
        while let Some(first) = self.at.front() {
            if now.since(*first) >= window {
                self.at.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn clear(&mut self) {
        self.at.clear();
    }

    /// When the oldest entry still inside the window will leave it.
    pub fn next_expiry(&self, now: Time, window: Duration) -> Option<Time> {
        self.at.iter().find(|t| now.since(**t) < window).map(|t| t.plus(window))
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
        assert_eq!(s.count(Time::from_secs(59), w), 2);
        assert_eq!(s.count(Time::from_secs(60), w), 1, "the first leaves alone");
        assert_eq!(s.next_expiry(Time::from_secs(60), w), Some(Time::from_secs(90)));
        assert_eq!(s.count(Time::from_secs(90), w), 0);
        s.expire(Time::from_secs(61), w);
        assert_eq!(s.count(Time::from_secs(61), w), 1);
    }
}
