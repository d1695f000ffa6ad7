//! The clock seam. Production uses tokio's monotonic clock; under `tokio::time::pause()` the
//! same clock is virtual, which is how tests and the simulator run the unmodified loop.

use crate::core::Time;

pub trait Clock: Send + Sync {
    fn now(&self) -> Time;
}

/// Milliseconds since the clock was made, on tokio's clock.
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> TokioClock {
        TokioClock { start: tokio::time::Instant::now() }
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
}
