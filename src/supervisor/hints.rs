//! Hints from the hosts between probes (libvirt lifecycle events, a closed connection), and the
//! pace of the loop they may quicken.
//!
//! A hint never decides anything: it only brings the next cycle forward, so the first bad
//! observation of a crashed VM is made at event time instead of up to an interval later. The
//! probe of that cycle is what the engine judges, with its hysteresis unchanged. Polling stays
//! the fallback: a hint lost, refused by a full channel, or never sent (a backend without
//! events, events disabled) only means the change is seen at the next scheduled cycle.
//!
//! The pace: cycles come every `interval`. A hint worth a look brings the next cycle forward to
//! now, but never sooner than `interval / 4` after the previous one started (hints that come
//! together make one early cycle), and the schedule then restarts from the early cycle: the
//! cycle after it comes a full interval later. So a single event moves a VM's first bad
//! observation earlier without bringing its following ones closer together (the time from the
//! first bad observation to the ladder stays `(fail_threshold - 1) x interval`), and the
//! time-based rules (`min_uptime`, the restart window, fence and drain retries) read the clock,
//! not the number of cycles. Cycles never overlap: the loop awaits each one.

use super::Supervisor;
use crate::hv::{Hint, HintSink};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info};

/// Hints queued at most before new ones are dropped (the events of a whole host starting its
/// VMs fit many times over; the next scheduled probe sees whatever was dropped).
pub const HINT_QUEUE: usize = 1024;

/// When the next cycle is due.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    due: Instant,
    last: Option<Instant>,
    /// Why the due cycle was brought forward, and by how many hints.
    early: Option<(String, usize)>,
}

/// Past its due time by more than this, a cycle is late and the schedule restarts from it
/// (as tokio's interval with `MissedTickBehavior::Delay`).
const LATE: Duration = Duration::from_millis(5);

impl Pace {
    /// The first cycle is due at once.
    pub fn new(now: Instant, interval: Duration) -> Pace {
        Pace { interval, due: now, last: None, early: None }
    }

    pub fn due(&self) -> Instant {
        self.due
    }

    /// A cycle starts at `now`. Returns why it was brought forward (the first hint, and how
    /// many hints came), or `None` for a cycle on schedule.
    pub fn start(&mut self, now: Instant) -> Option<(String, usize)> {
        self.due = if now > self.due + LATE { now + self.interval } else { self.due + self.interval };
        self.last = Some(now);
        self.early.take()
    }

    /// A hint worth a look came at `now`: bring the next cycle forward if the debounce allows.
    /// Returns whether the next cycle is now earlier than scheduled because of hints.
    pub fn wake(&mut self, now: Instant, why: &str) -> bool {
        let earliest = self.last.map_or(now, |last| last + self.interval / 4).max(now);
        if let Some((_, n)) = &mut self.early {
            *n += 1;
            return true;
        }
        if earliest < self.due {
            self.due = earliest;
            self.early = Some((why.to_string(), 1));
            return true;
        }
        false
    }
}

impl Supervisor {
    /// Ask every host's probe connection for hints (when events are enabled).
    pub(super) fn watch_hosts(&self) {
        let Some(tx) = &self.hints_tx else { return };
        for h in self.ctx.hosts.values() {
            h.watch(HintSink::new(h.name.clone(), tx.clone()));
        }
    }

    /// Log a hint and act on it: a closed connection is reopened at once (and registered
    /// again); a change worth a look brings the next cycle forward.
    pub(super) fn hint(&mut self, hint: Hint, pace: &mut Pace) {
        let look = match &hint {
            Hint::Domain { change, .. } => change.worth_a_look(),
            Hint::Watchdog { host, vm, action } => {
                info!(target: "3rc::events", "{hint}");
                let (host, vm, action) = (host.clone(), vm.clone(), action.clone());
                self.watchdog_fired(&host, &vm, &action);
                true
            }
            Hint::Closed { host, .. } => {
                info!(target: "3rc::events", "{hint}: reconnecting now");
                if let (Some(h), Some(tx)) = (self.ctx.hosts.get(host), &self.hints_tx) {
                    h.watch(HintSink::new(host.clone(), tx.clone()));
                }
                true
            }
        };
        if !look {
            debug!(target: "3rc::events", "{hint}");
            return;
        }
        if matches!(hint, Hint::Domain { .. }) {
            info!(target: "3rc::events", "{hint}: looking now");
        }
        pace.wake(Instant::now(), &hint.to_string());
    }

    /// Log how a cycle came: on schedule, or brought forward by hints.
    pub(super) fn log_pace(&self, early: Option<(String, usize)>) {
        let n = self.cycles + 1;
        match early {
            None => debug!(target: "3rc::pace", "cycle {n} on schedule"),
            Some((why, 1)) => debug!(target: "3rc::pace", "cycle {n} early, after {why}"),
            Some((why, k)) => debug!(target: "3rc::pace", "cycle {n} early, after {why} and {} more hints", k - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Duration = Duration::from_millis(1000);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn on_schedule_every_interval_and_late_cycles_restart_the_schedule() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0, I);
        assert_eq!(p.due(), t0);
        assert_eq!(p.start(t0), None);
        assert_eq!(p.due(), t0 + I);
        // Started 2 ms late: still on the original schedule.
        p.start(t0 + I + ms(2));
        assert_eq!(p.due(), t0 + 2 * I);
        // Started 300 ms late (a slow cycle): the next one a full interval later.
        p.start(t0 + 2 * I + ms(300));
        assert_eq!(p.due(), t0 + 3 * I + ms(300));
    }

    #[test]
    fn a_hint_brings_the_next_cycle_to_now_and_the_schedule_restarts_from_it() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0, I);
        p.start(t0);
        assert!(p.wake(t0 + ms(600), "hv1: domain vm1 stopped (failed)"));
        assert_eq!(p.due(), t0 + ms(600));
        let early = p.start(t0 + ms(600));
        assert_eq!(early, Some(("hv1: domain vm1 stopped (failed)".to_string(), 1)));
        // The next cycle a full interval after the early one, not at the old tick (t0 + I):
        // the observations after the first keep their spacing.
        assert_eq!(p.due(), t0 + ms(1600));
        assert_eq!(p.start(t0 + ms(1600)), None);
    }

    #[test]
    fn hints_are_debounced_to_one_early_cycle_per_quarter_interval() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0, I);
        p.start(t0);
        // 100 ms after a cycle: not before 250 ms.
        assert!(p.wake(t0 + ms(100), "a"));
        assert_eq!(p.due(), t0 + ms(250));
        // More hints before it runs: the same early cycle, counted.
        assert!(p.wake(t0 + ms(150), "b"));
        assert!(p.wake(t0 + ms(200), "c"));
        assert_eq!(p.due(), t0 + ms(250));
        assert_eq!(p.start(t0 + ms(250)), Some(("a".to_string(), 3)));
        // A hint right after the early cycle waits a quarter interval again.
        assert!(p.wake(t0 + ms(260), "d"));
        assert_eq!(p.due(), t0 + ms(500));
    }

    #[test]
    fn a_hint_never_delays_a_cycle_that_is_due() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0, I);
        p.start(t0);
        // Due at 1 s; a hint at 0.9 s may run at once (0.9 s is past the debounce).
        assert!(p.wake(t0 + ms(900), "x"));
        assert_eq!(p.due(), t0 + ms(900));
        p.start(t0 + ms(900));
        // Due at 1.9 s and the loop is late: a hint at 1.95 s leaves the due time as it is.
        assert!(!p.wake(t0 + ms(1950), "y"));
        assert_eq!(p.due(), t0 + ms(1900));
        assert_eq!(p.start(t0 + ms(1950)), None);
    }
}
