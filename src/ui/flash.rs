//! Flash messages: one line in the status bar with a level, that clears itself after a while.
//!
//! Time is an argument (`now`), so the app state stays pure and tests need no clock.

use std::time::{Duration, Instant};

/// How long a flash stays up.
pub const FLASH_TTL: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashLevel {
    Info,
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    pub level: FlashLevel,
    pub text: String,
    /// `None`: stays until replaced (a condition that does not go away by itself).
    pub until: Option<Instant>,
}

impl Flash {
    pub fn new(level: FlashLevel, text: impl Into<String>, now: Instant) -> Flash {
        Flash { level, text: text.into(), until: Some(now + FLASH_TTL) }
    }

    pub fn sticky(level: FlashLevel, text: impl Into<String>) -> Flash {
        Flash { level, text: text.into(), until: None }
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now >= u)
    }
}
