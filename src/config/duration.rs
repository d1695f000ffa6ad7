//! Durations in config files: "500ms", "1s", "1.5s", "10m", "2h".

use serde::{Deserialize, Deserializer};
use std::time::Duration;

pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        format!("invalid duration {s:?}: expected a number and a unit, like \"500ms\", \"3s\", \"10m\"")
    })?;
    let factor = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "" => return Err(format!("invalid duration {s:?}: missing unit (ms, s, m or h)")),
        u => return Err(format!("invalid duration {s:?}: unknown unit {u:?} (ms, s, m or h)")),
    };
    if !n.is_finite() || n < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(n * factor))
}

/// A duration written as a string; deserialization errors carry the value's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map(Dur).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse("10").unwrap_err().contains("missing unit"));
        assert!(parse("ten s").unwrap_err().contains("expected a number"));
        assert!(parse("3 weeks").unwrap_err().contains("unknown unit"));
    }
}
