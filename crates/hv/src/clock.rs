//! The clock seam. Production uses tokio's monotonic clock; under `tokio::time::pause()` the
//! same clock is virtual, which is how tests and the simulator run the unmodified loop.

use threerc_core::Time;

pub trait Clock: Send + Sync {
    fn now(&self) -> Time;
    /// Wall-clock milliseconds since the Unix epoch, for what must outlive this process (the
    /// ladder's windows in the journal).
    fn wall_ms(&self) -> u64 {
        system_wall_ms()
    }
}

fn system_wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Milliseconds since the clock was made, on tokio's clock.
pub struct TokioClock {
    start: tokio::time::Instant,
    /// The wall clock when it was made.
    wall_start: u64,
}

impl TokioClock {
    pub fn new() -> TokioClock {
        TokioClock::with_wall_start(system_wall_ms())
    }

    /// A clock whose wall time starts at `wall_ms` (the simulator's, so that what it prints
    /// with a wall time is the same on every run).
    pub fn with_wall_start(wall_ms: u64) -> TokioClock {
        TokioClock { start: tokio::time::Instant::now(), wall_start: wall_ms }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Time {
        Time::from_millis(self.start.elapsed().as_millis() as u64)
    }

    /// The wall clock at start plus the time elapsed on this clock: steady within a run (a
    /// wall-clock step does not shift it), and virtual under a paused tokio clock, so the
    /// simulator's restarts of the supervisor stay deterministic.
    fn wall_ms(&self) -> u64 {
        self.wall_start + self.start.elapsed().as_millis() as u64
    }
}
