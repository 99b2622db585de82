//! Sizes, durations and bounded numbers. The bounds are const parameters of the reading types
//! (`SizeIn<MIN, MAX>`...), so a value out of range fails while it is read, at its own path.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::values::{Scalar, scalar};

/// A suggestion built from what the user typed: `"4 gigs"` → `4g`, `"30 minutes"` → `30m`.
fn suggest(raw: &str, units: &str, fallback: &str) -> String {
    let digits: String = raw
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let unit = raw
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start()
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| units.contains(*c));
    match (digits.is_empty(), unit) {
        (false, Some(u)) => format!("{digits}{u}"),
        _ => fallback.to_string(),
    }
}

/// A number of bytes, written as an integer with an optional binary suffix `k`, `m` or `g`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(u64);

impl Size {
    /// No range check: ranges belong to the field that holds the size.
    pub const fn from_bytes(bytes: u64) -> Self {
        Size(bytes)
    }

    /// Exact bytes, as the container engine wants limits.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `512m`, `2g`, `64k` or plain bytes; the error is the message after the value.
    pub fn parse(raw: &str) -> Result<Size, String> {
        let bad = || format!("is not a size (use e.g. {})", suggest(raw, "kmg", "512m"));
        let (digits, shift) = match raw.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let shift = match c.to_ascii_lowercase() {
                    'k' => 10,
                    'm' => 20,
                    'g' => 30,
                    _ => return Err(bad()),
                };
                (&raw[..i], shift)
            }
            _ => (raw, 0),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1 << shift))
            .map(Size)
            .ok_or_else(|| "is too large".to_string())
    }
}

impl fmt::Display for Size {
    /// The shortest exact spelling: `2g`, `1536m`, `4097`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shift, unit) in [(30, 'g'), (20, 'm'), (10, 'k')] {
            if self.0 != 0 && self.0 % (1 << shift) == 0 {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads a [`Size`] from a YAML string or integer, with the value quoted in the error.
pub(crate) fn size_from_scalar(value: &Scalar) -> Result<Size, String> {
    match value {
        Scalar::Str(s) => Size::parse(s).map_err(|m| format!("{value} {m}")),
        Scalar::Int(n) if *n >= 0 => u64::try_from(*n)
            .map(Size)
            .map_err(|_| format!("{value} is too large")),
        _ => Err(format!("{value} is not a size (use e.g. 512m)")),
    }
}

/// A [`Size`] that must lie in `MIN..=MAX` bytes.
pub(crate) struct SizeIn<const MIN: u64, const MAX: u64>(pub Size);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for SizeIn<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = scalar(d, "a size such as 512m or 2g")?;
        let size = size_from_scalar(&value).map_err(de::Error::custom)?;
        if !(MIN..=MAX).contains(&size.0) {
            return Err(de::Error::custom(format!(
                "{value} is out of range (use {} to {})",
                Size(MIN),
                Size(MAX)
            )));
        }
        Ok(SizeIn(size))
    }
}

/// A length of time written as `90s`, `30m`, `2h`, `7d` or combined (`1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationSpec(Duration);

impl DurationSpec {
    /// No range check: ranges belong to the field that holds the duration.
    pub const fn from_secs(secs: u64) -> Self {
        DurationSpec(Duration::from_secs(secs))
    }

    /// As a [`Duration`] for timers and deadlines.
    pub fn duration(self) -> Duration {
        self.0
    }

    /// Parses the YAML spelling; the error is the message after the value.
    pub fn parse(raw: &str) -> Result<DurationSpec, String> {
        let bad = || {
            format!(
                "is not a duration (use e.g. {})",
                suggest(raw, "smhd", "90s, 30m or 2h")
            )
        };
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in raw.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return Err(bad()),
            };
            let n: u64 = digits.parse().map_err(|_| bad())?;
            total = n
                .checked_mul(unit)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(|| "is too long".to_string())?;
            digits.clear();
        }
        if !digits.is_empty() || raw.is_empty() {
            return Err(bad());
        }
        Ok(DurationSpec(Duration::from_secs(total)))
    }
}

impl fmt::Display for DurationSpec {
    /// The shortest exact single-unit spelling: `30m`, `90s`, `24h`, `7d` (days only from two
    /// days on, so the 24h limit reads as people write it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        for (unit_secs, unit) in [(86_400, 'd'), (3600, 'h'), (60, 'm')] {
            let min_count = if unit == 'd' { 2 } else { 1 };
            if secs >= unit_secs * min_count && secs % unit_secs == 0 {
                return write!(f, "{}{unit}", secs / unit_secs);
            }
        }
        write!(f, "{secs}s")
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads a duration that must lie in `min..=max`, quoting the value in the error.
pub(crate) fn duration_in(
    value: &Scalar,
    min: DurationSpec,
    max: DurationSpec,
) -> Result<DurationSpec, String> {
    let d = match value {
        Scalar::Str(s) => DurationSpec::parse(s).map_err(|m| format!("{value} {m}"))?,
        _ => {
            return Err(format!(
                "{value} is not a duration (use e.g. 90s, 30m or 2h)"
            ));
        }
    };
    if d < min || d > max {
        return Err(format!("{value} is out of range (use {min} to {max})"));
    }
    Ok(d)
}

/// A [`DurationSpec`] that must lie in `MIN..=MAX` seconds.
pub(crate) struct DurationIn<const MIN: u64, const MAX: u64>(pub DurationSpec);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for DurationIn<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = scalar(d, "a duration such as 90s, 30m or 2h")?;
        duration_in(
            &value,
            DurationSpec::from_secs(MIN),
            DurationSpec::from_secs(MAX),
        )
        .map(DurationIn)
        .map_err(de::Error::custom)
    }
}

/// An integer that must lie in `MIN..=MAX`.
pub(crate) struct IntIn<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for IntIn<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = scalar(d, "an integer")?;
        match value {
            Scalar::Int(n) if (i128::from(MIN)..=i128::from(MAX)).contains(&n) => {
                Ok(IntIn(n as u64))
            }
            Scalar::Int(_) => Err(de::Error::custom(format!(
                "{value} is out of range (use {MIN} to {MAX})"
            ))),
            _ => Err(de::Error::custom(format!("{value} is not an integer"))),
        }
    }
}

/// CPU cores for the sandbox, `0.1..=64`.
pub(crate) struct Cpus(pub f64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = scalar(d, "a number of CPUs such as 1.5")?;
        let cpus = match value {
            Scalar::Int(n) => n as f64,
            Scalar::Float(x) => x,
            _ => {
                return Err(de::Error::custom(format!(
                    "{value} is not a number of CPUs (use e.g. 1.5)"
                )));
            }
        };
        // `contains` is false for NaN, so `.nan` is refused too.
        if !(0.1..=64.0).contains(&cpus) {
            return Err(de::Error::custom(format!(
                "{value} is out of range (use 0.1 to 64)"
            )));
        }
        Ok(Cpus(cpus))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes_and_print_their_shortest_form() {
        assert_eq!(Size::parse("512m").unwrap().bytes(), 512 << 20);
        assert_eq!(Size::parse("2G").unwrap().bytes(), 2 << 30);
        assert_eq!(Size::parse("4096").unwrap().bytes(), 4096);
        assert_eq!(Size::parse("1536m").unwrap().to_string(), "1536m");
        assert_eq!(Size::parse("2048m").unwrap().to_string(), "2g");
        assert_eq!(
            Size::parse("4 gigs").unwrap_err(),
            "is not a size (use e.g. 4g)"
        );
        for bad in ["", "g", "1.5g", "-1m", "12x", "1 g"] {
            assert!(Size::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Size::parse("99999999999999999999g").unwrap_err(),
            "is too large"
        );
    }

    #[test]
    fn durations_parse_units_and_combinations() {
        assert_eq!(DurationSpec::parse("90s").unwrap().duration().as_secs(), 90);
        assert_eq!(
            DurationSpec::parse("1h30m").unwrap().duration().as_secs(),
            5400
        );
        assert_eq!(DurationSpec::parse("120m").unwrap().to_string(), "2h");
        assert_eq!(DurationSpec::parse("1d").unwrap().to_string(), "24h");
        assert_eq!(DurationSpec::parse("168h").unwrap().to_string(), "7d");
        assert_eq!(
            DurationSpec::parse("30 minutes").unwrap_err(),
            "is not a duration (use e.g. 30m)"
        );
        for bad in ["", "30", "m", "1.5h", "3w"] {
            assert!(DurationSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
