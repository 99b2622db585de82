//! Credentials for remote repositories, and keeping them out of everything but libgit2.
//!
//! Secrets reach libgit2 only through the credential callback ([`super::remote`]); no URL, git
//! config, log line or error message carries them. Remotes are always anonymous (built from the
//! URL for one operation), so nothing is written to any repository's config.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::GitError;

/// HTTPS token; read by [`Credentials::from_env`].
pub const ENV_TOKEN: &str = "FLEET_GIT_TOKEN";
/// User name sent with the token; [`DEFAULT_USERNAME`] when unset.
pub const ENV_USERNAME: &str = "FLEET_GIT_USERNAME";
/// A file holding `username:token` (see [`Credentials::from_file`]).
pub const ENV_CREDENTIALS_FILE: &str = "FLEET_GIT_CREDENTIALS_FILE";
/// A private key for SSH remotes; only used when libgit2 was built with SSH.
pub const ENV_SSH_KEY: &str = "FLEET_GIT_SSH_KEY";
/// The user name GitHub and Gitea accept with any token; GitLab accepts any name too.
pub const DEFAULT_USERNAME: &str = "x-access-token";

/// What the worker may authenticate with. `Debug` prints user names and paths, never tokens.
#[derive(Clone, Default)]
pub struct Credentials {
    pub(crate) https: Option<Token>,
    pub(crate) ssh_key: Option<PathBuf>,
}

/// A user name and the secret sent as its password.
#[derive(Clone)]
pub(crate) struct Token {
    pub username: String,
    pub secret: String,
}

impl Credentials {
    /// No credentials: public repositories only; a server that asks gets a permanent
    /// [`GitError::AuthFailed`] instead of a retry loop.
    pub fn none() -> Self {
        Self::default()
    }

    /// An HTTPS user name and token (for GitHub, any user name works with `x-access-token`).
    pub fn token(username: impl Into<String>, token: impl Into<String>) -> Self {
        Credentials {
            https: Some(Token {
                username: username.into(),
                secret: token.into(),
            }),
            ssh_key: None,
        }
    }

    /// Adds a private key for SSH remotes (ignored unless libgit2 has SSH; the agent is tried
    /// first when `SSH_AUTH_SOCK` is set).
    pub fn with_ssh_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_key = Some(path.into());
        self
    }

    /// Reads the process environment: `FLEET_GIT_TOKEN` (+ `FLEET_GIT_USERNAME`) wins over
    /// `FLEET_GIT_CREDENTIALS_FILE`; `FLEET_GIT_SSH_KEY` adds a key. Nothing set means none.
    pub fn from_env() -> Result<Self, GitError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Credentials::from_env`] over any variable source, so tests need not touch the process
    /// environment (which other test threads share).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, GitError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let username = var(ENV_USERNAME);
        let mut creds = if let Some(token) = var(ENV_TOKEN) {
            let username = username.unwrap_or_else(|| DEFAULT_USERNAME.to_string());
            Credentials::token(username, token.trim())
        } else if let Some(file) = var(ENV_CREDENTIALS_FILE) {
            Credentials::from_file(Path::new(&file), username.as_deref())?
        } else {
            Credentials::none()
        };
        if let Some(key) = var(ENV_SSH_KEY) {
            creds = creds.with_ssh_key(key);
        }
        Ok(creds)
    }

    /// Reads a credentials file: the first line that is neither blank nor a `#` comment is
    /// `username:token`, or just `token` (user name then `default_username`, else
    /// [`DEFAULT_USERNAME`]). Only the first `:` splits, so tokens may contain colons. Errors name
    /// the file and line, never its content.
    pub fn from_file(path: &Path, default_username: Option<&str>) -> Result<Self, GitError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            GitError::Credentials(format!(
                "cannot read {ENV_CREDENTIALS_FILE}={}: {e}",
                path.display()
            ))
        })?;
        let Some((number, line)) = text
            .lines()
            .map(str::trim)
            .enumerate()
            .find(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        else {
            return Err(GitError::Credentials(format!(
                "{ENV_CREDENTIALS_FILE}={} has no credentials line (expected `username:token`)",
                path.display()
            )));
        };
        let (username, token) = match line.split_once(':') {
            Some((user, token)) => (user.trim().to_string(), token.trim()),
            None => (
                default_username.unwrap_or(DEFAULT_USERNAME).to_string(),
                line,
            ),
        };
        if username.is_empty() || token.is_empty() {
            return Err(GitError::Credentials(format!(
                "line {} of {} has an empty user name or token (expected `username:token`)",
                number + 1,
                path.display()
            )));
        }
        Ok(Credentials::token(username, token))
    }

    /// Replaces every occurrence of a configured secret with `***`: libgit2 messages are quoted
    /// in errors, and a server could echo what it was sent.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match &self.https {
            Some(t) if !t.secret.is_empty() => text.replace(&t.secret, "***"),
            _ => text.to_string(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let https = self
            .https
            .as_ref()
            .map(|t| format!("{}:<redacted>", t.username));
        f.debug_struct("Credentials")
            .field("https", &https)
            .field("ssh_key", &self.ssh_key)
            .finish()
    }
}

/// The URL with any userinfo (which may be a token: `https://TOKEN@host/...`) replaced by `***`,
/// for messages and logs.
pub fn redact_url(url: &str) -> String {
    match split_userinfo(url) {
        Some((scheme, _, rest)) => format!("{scheme}://***@{rest}"),
        None => url.to_string(),
    }
}

/// The URL without userinfo: what the workspace's `origin` points at, and the mirror's key.
pub fn strip_userinfo(url: &str) -> String {
    match split_userinfo(url) {
        Some((scheme, _, rest)) => format!("{scheme}://{rest}"),
        None => url.to_string(),
    }
}

/// `scheme://user@rest` as (scheme, user, rest). scp-style `git@host:path` is left alone: its
/// user is an account name, not a secret, and removing it would break the address.
fn split_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or("");
    let (user, _) = authority.rsplit_once('@')?;
    Some((scheme, user, &rest[user.len() + 1..]))
}

/// True for `ssh://` and scp-style `user@host:path` addresses.
pub(crate) fn is_ssh_url(url: &str) -> bool {
    match url.split_once("://") {
        Some((scheme, _)) => scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git",
        None => !url.starts_with('/') && url.contains(':'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_and_stripped() {
        let url = "https://ghp_secret@git.example.com/team/app.git";
        assert_eq!(redact_url(url), "https://***@git.example.com/team/app.git");
        assert_eq!(strip_userinfo(url), "https://git.example.com/team/app.git");
        for plain in [
            "https://h/a.git",
            "/srv/a.git",
            "git@h:a.git",
            "file:///a@b",
        ] {
            assert_eq!(redact_url(plain), plain);
            assert_eq!(strip_userinfo(plain), plain);
        }
    }

    #[test]
    fn ssh_addresses_are_recognised() {
        assert!(is_ssh_url("ssh://git@h/a.git"));
        assert!(is_ssh_url("git@github.com:a/b.git"));
        for other in ["https://h/a", "git://h/a", "file:///a", "/srv/a"] {
            assert!(!is_ssh_url(other), "{other}");
        }
    }

    #[test]
    fn token_from_env_wins_and_debug_hides_it() {
        let creds = Credentials::from_vars(|name| match name {
            ENV_TOKEN => Some("s3cr3t-token".into()),
            ENV_CREDENTIALS_FILE => Some("/nonexistent".into()),
            _ => None,
        })
        .unwrap();
        let https = creds.https.as_ref().unwrap();
        assert_eq!(https.username, DEFAULT_USERNAME);
        assert_eq!(https.secret, "s3cr3t-token");
        let debug = format!("{creds:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("x-access-token:<redacted>"), "{debug}");
        assert_eq!(creds.scrub("a s3cr3t-token b"), "a *** b");
    }

    #[test]
    fn credentials_file_takes_username_colon_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds");
        std::fs::write(&path, "# fleet\n\n  bot:tok:en  \n").unwrap();
        let creds = Credentials::from_file(&path, None).unwrap();
        let https = creds.https.unwrap();
        assert_eq!(
            (https.username.as_str(), https.secret.as_str()),
            ("bot", "tok:en")
        );

        std::fs::write(&path, "only-a-token\n").unwrap();
        let https = Credentials::from_file(&path, Some("me"))
            .unwrap()
            .https
            .unwrap();
        assert_eq!(
            (https.username.as_str(), https.secret.as_str()),
            ("me", "only-a-token")
        );

        std::fs::write(&path, "user:\n").unwrap();
        let err = Credentials::from_file(&path, None).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn no_variables_means_no_credentials() {
        let creds = Credentials::from_vars(|_| None).unwrap();
        assert!(creds.https.is_none() && creds.ssh_key.is_none());
    }
}
