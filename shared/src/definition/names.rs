//! Names and identities in a definition: worker and constraint ids, the sandbox user, the image
//! and environment variable names.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::values::{Scalar, scalar};

/// Implements `Deserialize` through a `parse(&str) -> Result<Self, String>` whose error is the
/// message after the quoted value.
macro_rules! deserialize_by_parse {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$ty>::parse(&s).map_err(|m| de::Error::custom(format!("{s:?} {m}")))
            }
        }
    };
}

/// A worker type's id: a lowercase letter, then 1-62 of `a-z 0-9 -`. Names the worker type in
/// the registry, logs and `definitions check`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct WorkerId(String);

impl WorkerId {
    /// Checks the pattern; the error is the text shown after the quoted value.
    pub fn parse(raw: &str) -> Result<WorkerId, String> {
        let mut chars = raw.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && (2..=63).contains(&raw.len())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(
                "is not a worker id (2-63 characters: a lowercase letter, then a-z, 0-9 or -)"
                    .into(),
            );
        }
        Ok(WorkerId(raw.to_string()))
    }

    /// As written in the definition.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

deserialize_by_parse!(WorkerId);

/// A constraint's id, unique within its definition: a lowercase letter, then up to 62 of
/// `a-z 0-9 - _`. Verdicts and audit entries carry it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ConstraintId(String);

impl ConstraintId {
    /// Checks the pattern; the error is the text shown after the quoted value.
    pub fn parse(raw: &str) -> Result<ConstraintId, String> {
        let mut chars = raw.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && raw.len() <= 63
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(
                "is not a constraint id (1-63 characters: a lowercase letter, then a-z, 0-9, - or _)"
                    .into(),
            );
        }
        Ok(ConstraintId(raw.to_string()))
    }

    /// As written in the definition.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConstraintId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

deserialize_by_parse!(ConstraintId);

/// The numeric `uid:gid` the agent runs as. Numeric because agent images are built FROM scratch
/// and have no /etc/passwd; never uid 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserSpec {
    pub uid: u32,
    pub gid: u32,
}

impl UserSpec {
    /// `nobody:nogroup`, the default.
    pub const NOBODY: UserSpec = UserSpec {
        uid: 65534,
        gid: 65534,
    };

    /// Parses `uid:gid` or `uid` (gid = uid).
    pub fn parse(raw: &str) -> Result<UserSpec, String> {
        let (uid, gid) = raw.split_once(':').unwrap_or((raw, raw));
        let number = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
        };
        let (Some(uid), Some(gid)) = (number(uid), number(gid)) else {
            return Err("is not a user (use numeric uid:gid, e.g. 65534:65534)".into());
        };
        if uid == 0 {
            return Err("would run as root (uid 0 is refused; use e.g. 65534:65534)".into());
        }
        Ok(UserSpec { uid, gid })
    }
}

impl fmt::Display for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

impl Serialize for UserSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UserSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // YAML reads an unquoted `1000` as an integer; accept it as `1000:1000`.
        let value = scalar(d, "a numeric uid:gid such as 65534:65534")?;
        let raw = match &value {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(n) => n.to_string(),
            _ => String::new(),
        };
        UserSpec::parse(&raw).map_err(|m| de::Error::custom(format!("{value} {m}")))
    }
}

/// A local Docker image reference (`name[:tag][@digest]`). Checked for shape only: fleet never
/// pulls, so whether it exists is known only on the worker's host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ImageRef(String);

impl ImageRef {
    /// Checks the shape (`name[:tag][@algo:hex]`, registry ports allowed); the error is the
    /// text shown after the quoted value.
    pub fn parse(raw: &str) -> Result<ImageRef, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        let (name_tag, digest) = raw.split_once('@').unwrap_or((raw, ""));
        // The tag is after the last ':' that follows the last '/' (a registry may have a port).
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (&name_tag[..last_slash + i], &name_tag[last_slash + i + 1..]),
            None => (name_tag, ""),
        };
        let name_ok = !name.is_empty()
            && !name.starts_with(['-', '.', '/', ':'])
            && !name.ends_with('/')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c));
        let tag_ok = (tag.is_empty() && !name_tag.ends_with(':'))
            || (!tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
        let digest_ok = digest.is_empty()
            || digest.split_once(':').is_some_and(|(algo, hex)| {
                !algo.is_empty() && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
            });
        let dangling_at = raw.contains('@') && digest.is_empty();
        if !(name_ok && tag_ok && digest_ok) || dangling_at {
            return Err("is not an image reference (use e.g. fleet-agent:latest)".into());
        }
        Ok(ImageRef(raw.to_string()))
    }

    /// As written in the definition.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

deserialize_by_parse!(ImageRef);

/// An environment variable name for the agent: `[A-Z_][A-Z0-9_]*`, not starting `FLEET_`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EnvKey(pub String);

impl EnvKey {
    fn parse(raw: &str) -> Result<EnvKey, String> {
        let mut chars = raw.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err("is not an environment variable name (use A-Z, 0-9 and _)".into());
        }
        if raw.starts_with("FLEET_") {
            return Err("is reserved (the worker sets FLEET_* variables itself)".into());
        }
        Ok(EnvKey(raw.to_string()))
    }
}

deserialize_by_parse!(EnvKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_numeric_and_never_root() {
        assert_eq!(UserSpec::parse("1000").unwrap().to_string(), "1000:1000");
        assert_eq!(
            UserSpec::parse("65534:100").unwrap(),
            UserSpec {
                uid: 65534,
                gid: 100
            }
        );
        assert!(UserSpec::parse("0:0").unwrap_err().contains("root"));
        assert!(UserSpec::parse("root").is_err());
        assert!(UserSpec::parse("1:-1").is_err());
    }

    #[test]
    fn image_references_accept_registries_tags_and_digests() {
        for ok in [
            "fleet-agent:latest",
            "fleet-agent",
            "localhost:5000/team/agent:1.2",
            "ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            ImageRef::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["", "-rm", "a b", "agent:", "agent@", "agent:la test"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_follow_their_patterns() {
        assert!(WorkerId::parse("feature-worker").is_ok());
        for bad in ["f", "Feature", "1abc", "a_b", &"a".repeat(64)] {
            assert!(WorkerId::parse(bad).is_err(), "{bad}");
        }
        assert!(ConstraintId::parse("a").is_ok());
        assert!(ConstraintId::parse("small_change-2").is_ok());
        assert!(ConstraintId::parse("Small").is_err());
        assert!(EnvKey::parse("FLEET_X").unwrap_err().contains("reserved"));
        assert!(EnvKey::parse("lower").is_err());
        assert!(EnvKey::parse("_OK_1").is_ok());
    }
}
