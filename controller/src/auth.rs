//! Who may change things through the HTTP API.
//!
//! Reads are open (the dashboard and /metrics are for watching). Mutations need
//! `Authorization: Bearer <token>` when a token is configured, where the token is either
//! - the shared secret `FLEET_API_TOKEN` (the actor is recorded as `api-token`), or
//! - a JWT signed with HS256 by `FLEET_JWT_SECRET` (the actor is its `sub`), so answers,
//!   approvals and cancels are attributed to a person. `fleet-controller token` mints one.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The person or system behind a request, as recorded in events and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

/// Authentication settings of `serve`.
#[derive(Clone, Default)]
pub struct AuthConfig {
    pub api_token: Option<String>,
    pub jwt_secret: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("api_token", &self.api_token.as_ref().map(|_| "***"))
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: u64,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "this endpoint needs Authorization: Bearer <token> (FLEET_API_TOKEN or a JWT from `fleet-controller token`)"
    )]
    Missing,
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
}

impl AuthConfig {
    /// Whether mutations need a token.
    pub fn enabled(&self) -> bool {
        self.api_token.is_some() || self.jwt_secret.is_some()
    }

    /// The actor behind an `Authorization` header value. Anonymous mutations are allowed only
    /// when no token is configured.
    pub fn authorize(&self, header: Option<&str>) -> Result<Actor, AuthError> {
        if !self.enabled() {
            return Ok(Actor("anonymous".into()));
        }
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        if let Some(expected) = &self.api_token
            && bool::from(token.as_bytes().ct_eq(expected.as_bytes()))
        {
            return Ok(Actor("api-token".into()));
        }
        if let Some(secret) = &self.jwt_secret {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_required_spec_claims(&["exp", "sub"]);
            return jsonwebtoken::decode::<Claims>(
                token,
                &DecodingKey::from_secret(secret.as_bytes()),
                &validation,
            )
            .map(|data| Actor(data.claims.sub))
            .map_err(|e| AuthError::Invalid(e.to_string()));
        }
        Err(AuthError::Invalid(
            "it does not match FLEET_API_TOKEN".into(),
        ))
    }

    /// A JWT for `subject`, valid for `ttl`, signed with the JWT secret.
    pub fn mint(&self, subject: &str, ttl: Duration) -> Result<String, AuthError> {
        let secret = self
            .jwt_secret
            .as_ref()
            .ok_or_else(|| AuthError::Invalid("FLEET_JWT_SECRET is not set".into()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = Claims {
            sub: subject.to_string(),
            iat: now,
            exp: now + ttl.as_secs(),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .map_err(|e| AuthError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_token_everyone_may_write() {
        assert_eq!(
            AuthConfig::default().authorize(None),
            Ok(Actor("anonymous".into()))
        );
    }

    #[test]
    fn the_shared_token_must_match() {
        let auth = AuthConfig {
            api_token: Some("s3cret".into()),
            jwt_secret: None,
        };
        assert_eq!(auth.authorize(None), Err(AuthError::Missing));
        assert!(auth.authorize(Some("Bearer nope")).is_err());
        assert_eq!(
            auth.authorize(Some("Bearer s3cret")),
            Ok(Actor("api-token".into()))
        );
    }

    #[test]
    fn a_minted_jwt_names_its_person() {
        let auth = AuthConfig {
            api_token: None,
            jwt_secret: Some("k".repeat(32)),
        };
        let token = auth.mint("alice", Duration::from_secs(60)).unwrap();
        assert_eq!(
            auth.authorize(Some(&format!("Bearer {token}"))),
            Ok(Actor("alice".into()))
        );
        let other = AuthConfig {
            api_token: None,
            jwt_secret: Some("x".repeat(32)),
        };
        assert!(other.authorize(Some(&format!("Bearer {token}"))).is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let auth = AuthConfig {
            api_token: Some("s3cret".into()),
            jwt_secret: None,
        };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }
}
