//! Time as the core sees it: a plain number of milliseconds on the supervisor's clock.
//!
//! The core never reads a clock. The supervisor passes `now` into every call, which is what
//! lets the same decisions run on a virtual clock (the simulator) and replay exactly.

use serde::{Deserialize, Serialize};
use std::fmt;
pub use std::time::Duration;

/// A point on the supervisor's monotonic clock, in milliseconds since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_millis(ms: u64) -> Time {
        Time(ms)
    }

    pub fn from_secs(s: u64) -> Time {
        Time(s * 1000)
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d.as_millis() as u64))
    }

    /// How long ago `earlier` was, zero if it lies in the future.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Time {
    /// Seconds with one decimal, the form used in logs and expected scenario files.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}s", self.0 / 1000, (self.0 % 1000) / 100)
    }
}

/// A duration for people: "3 s", "1.5 s", "2 min", "1 h".
pub fn human(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        if ms.is_multiple_of(1000) {
            format!("{} s", ms / 1000)
        } else {
            format!("{:.1} s", ms as f64 / 1000.0)
        }
    } else if ms < 3_600_000 {
        if ms.is_multiple_of(60_000) {
            format!("{} min", ms / 60_000)
        } else {
            format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
        }
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_secs(3)), "3 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_secs(120)), "2 min");
        assert_eq!(human(Duration::from_secs(90)), "1 min 30 s");
    }

    #[test]
    fn since_saturates() {
        assert_eq!(Time(5).since(Time(10)), Duration::ZERO);
        assert_eq!(Time(1500).to_string(), "1.5s");
    }
}
