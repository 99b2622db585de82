//! Leaf values of a definition. Each is checked while it is read, so serde reports the failure at
//! the value's own path; the messages say what was given and what to write instead.
//!
//! This file holds the enums and the reading helpers; [`super::quantity`] the sizes, durations and
//! numbers with ranges; [`super::names`] the ids, user and image.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::order::string_enum;

string_enum!(
    /// How much a worker's output is trusted. Ordered: `supervised < monitored < autonomous`, and
    /// escalation only ever moves up.
    TrustLevel, "trust level", {
        /// Every result waits for a person's approval before it counts.
        Supervised => "supervised",
        /// Results count at once; people are alerted to violations and review after the fact.
        Monitored => "monitored",
        /// Results count at once; violations are recorded.
        Autonomous => "autonomous",
    }
);

string_enum!(
    /// Whether the agent's sandbox gets a network.
    Network, "network", {
        /// No network at all (loopback only).
        None => "none",
        /// The engine's default bridge: outbound access, for agents that call a model API.
        Bridge => "bridge",
    }
);

string_enum!(
    /// What a failed constraint does.
    Feedback, "feedback", {
        /// The change is refused (the order fails with a constraint violation) and people are
        /// alerted.
        Alert => "alert",
        /// The violation is recorded in the result and the audit stream; the change goes ahead.
        Log => "log",
    }
);

/// What happens when nobody answers an agent's question in time, as spelled in YAML; becomes
/// [`super::OnTimeout`] once `default_answer` is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnTimeoutKind {
    Fail,
    Default,
}

impl FromStr for OnTimeoutKind {
    type Err = crate::state::ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(OnTimeoutKind::Fail),
            "default" => Ok(OnTimeoutKind::Default),
            _ => Err(crate::state::ParseEnumError {
                what: "clarification timeout action",
                value: s.to_string(),
                expected: &["fail", "default"],
            }),
        }
    }
}

/// An enum or other [`FromStr`] value read from a YAML string, failing with the type's own
/// message (e.g. `"root" is not a trust level (use supervised, monitored or autonomous)`).
pub(crate) struct Parsed<T>(pub T);

impl<'de, T> Deserialize<'de> for Parsed<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(Parsed).map_err(de::Error::custom)
    }
}

/// One YAML scalar as the user wrote it, kept so messages can quote it back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

struct ScalarVisitor(&'static str);

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
}

/// Reads any scalar; `expecting` words the error for a list or mapping given instead.
pub(crate) fn scalar<'de, D: Deserializer<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor(expecting))
}

/// A string that must not be empty or only whitespace.
pub(crate) struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(NonEmpty(s))
    }
}
