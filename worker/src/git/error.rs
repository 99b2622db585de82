//! [`GitError`]: every failure of the git module, split into "retry later" and "give up now".
//!
//! libgit2 reports failures as (code, class, message); [`Remote::classify`] turns the ones from
//! network operations into a variant that says what happened in words an operator can act on.
//! libgit2's codes are too coarse on their own (a 404 and a refused connection are both
//! `GenericError`), so the classification also reads the message; the tests in
//! `tests/tests/it/git.rs` pin each case against real servers.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use git2::{ErrorClass, ErrorCode};

/// What the module was doing when a remote failed; part of every remote error's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Updating the mirror from the order's repository.
    Fetch,
    /// Sending the result branch to the order's repository.
    Push,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Fetch => "fetching",
            Action::Push => "pushing",
        })
    }
}

/// A failure of the git module. `repo` fields never carry userinfo (see
/// [`super::credentials::redact_url`]) and no message carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// Transient: the network or the server failed (refused, reset, DNS, TLS I/O, HTTP 5xx/429).
    #[error(
        "could not reach {repo} while {action} branch '{branch}': {detail} (usually temporary: the order will be retried)"
    )]
    Unreachable {
        repo: String,
        branch: String,
        action: Action,
        detail: String,
    },

    /// Transient: the operation ran past [`super::GitSettings::timeout`].
    #[error(
        "{action} branch '{branch}' of {repo} took longer than {after:?} and was cancelled (the order will be retried; raise the git timeout if the repository is very large)"
    )]
    TimedOut {
        repo: String,
        branch: String,
        action: Action,
        after: Duration,
    },

    /// Transient: another order (or worker process) held this repository's mirror lock too long.
    #[error(
        "the mirror cache of {repo} stayed locked by another order for {waited:?} (the order will be retried)"
    )]
    MirrorBusy { repo: String, waited: Duration },

    /// Permanent: the server refused the credentials, or asked for some and none are configured.
    #[error(
        "authentication to {repo} failed while {action} branch '{branch}': {detail}; give the worker a token with {} access through FLEET_GIT_TOKEN (user in FLEET_GIT_USERNAME) or FLEET_GIT_CREDENTIALS_FILE",
        if *.action == Action::Push { "write" } else { "read" }
    )]
    AuthFailed {
        repo: String,
        branch: String,
        action: Action,
        detail: String,
    },

    /// Permanent: the repository has no such branch.
    #[error(
        "branch '{branch}' does not exist in {repo}; push it there first or fix the order's branch"
    )]
    BranchNotFound { repo: String, branch: String },

    /// Permanent: nothing usable at that address (no such path, not a repository, HTTP 404,
    /// not exported by git daemon).
    #[error(
        "{repo} does not exist, is not a git repository or is not exported ({detail}); fix the order's repo URL (wanted branch '{branch}')"
    )]
    RepositoryNotFound {
        repo: String,
        branch: String,
        detail: String,
    },

    /// Permanent: this build of libgit2 has no SSH transport.
    #[error(
        "{repo} is an SSH URL but this worker's libgit2 was built without SSH support; use the https:// URL with FLEET_GIT_TOKEN (wanted branch '{branch}')"
    )]
    SshUnsupported { repo: String, branch: String },

    /// Permanent: the remote refused the update (non-fast-forward, a hook, a protected branch).
    #[error(
        "{repo} rejected the push of '{branch}': {reason}; check the server's branch protection and hooks for fleet/* branches"
    )]
    PushRejected {
        repo: String,
        branch: String,
        reason: String,
    },

    /// Permanent: the push was refused here, before contacting the remote.
    #[error("refusing to push '{branch}' to {repo}: {reason}")]
    PushRefused {
        repo: String,
        branch: String,
        reason: String,
    },

    /// Permanent: a remote failure none of the cases above explains.
    #[error(
        "{action} branch '{branch}' of {repo} failed: {detail}; check the repository and the worker's git settings"
    )]
    Remote {
        repo: String,
        branch: String,
        action: Action,
        detail: String,
    },

    /// Permanent: the workspace is not the repository [`super::prepare_workspace`] made (the agent
    /// broke or redirected `.git`), or a local git operation on it failed.
    #[error(
        "workspace {path} (clone of {repo}, branch '{branch}'): {detail}; the order's result cannot be committed"
    )]
    Workspace {
        path: PathBuf,
        repo: String,
        branch: String,
        detail: String,
    },

    /// Transient: the host's file system failed (disk full, permissions of the cache directory).
    /// A corrupt mirror lands here too, after it has been discarded so the retry rebuilds it.
    #[error("{what} at {path} (repository {repo}): {detail} (the order will be retried)")]
    Local {
        what: &'static str,
        path: PathBuf,
        repo: String,
        detail: String,
    },

    /// Permanent: the worker's credential configuration cannot be read.
    #[error("git credentials: {0}")]
    Credentials(String),
}

impl GitError {
    /// True when retrying the same order later may succeed; false when it needs a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GitError::Unreachable { .. }
                | GitError::TimedOut { .. }
                | GitError::MirrorBusy { .. }
                | GitError::Local { .. }
        )
    }
}

/// What a network operation knew when libgit2 failed; its callbacks fill in the flags.
pub(crate) struct Remote<'a> {
    pub repo: &'a str,
    pub branch: &'a str,
    pub action: Action,
    pub timeout: Duration,
    pub timed_out: bool,
    /// Set by the credential callback when it gave up; the reason it gave.
    pub auth_problem: Option<&'static str>,
}

impl Remote<'_> {
    /// Turns libgit2's error into the variant an operator can act on. `scrub` removes secrets
    /// from libgit2's message, which may quote the URL.
    pub fn classify(&self, err: &git2::Error, scrub: impl Fn(&str) -> String) -> GitError {
        let repo = self.repo.to_string();
        let branch = self.branch.to_string();
        let action = self.action;
        let detail = scrub(err.message().trim_end_matches('.'));
        let lower = detail.to_ascii_lowercase();
        if self.timed_out || err.code() == ErrorCode::Timeout {
            return GitError::TimedOut {
                repo,
                branch,
                action,
                after: self.timeout,
            };
        }
        if let Some(problem) = self.auth_problem {
            return GitError::AuthFailed {
                repo,
                branch,
                action,
                detail: problem.to_string(),
            };
        }
        let status = http_status(&lower);
        if err.code() == ErrorCode::Auth || matches!(status, Some(401 | 403)) {
            return GitError::AuthFailed {
                repo,
                branch,
                action,
                detail,
            };
        }
        if err.code() == ErrorCode::NotFastForward {
            return GitError::PushRejected {
                repo,
                branch,
                reason: detail,
            };
        }
        if status == Some(404) || NOT_FOUND_PHRASES.iter().any(|p| lower.contains(p)) {
            return GitError::RepositoryNotFound {
                repo,
                branch,
                detail,
            };
        }
        if PERMANENT_PHRASES.iter().any(|p| lower.contains(p)) {
            return GitError::Remote {
                repo,
                branch,
                action,
                detail,
            };
        }
        let transient = match status {
            Some(code) => code >= 500 || code == 429 || code == 408,
            None => {
                matches!(
                    err.class(),
                    ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssl | ErrorClass::Http
                ) || err.code() == ErrorCode::Eof
                    || TRANSIENT_PHRASES.iter().any(|p| lower.contains(p))
            }
        };
        if transient && err.code() != ErrorCode::Certificate {
            GitError::Unreachable {
                repo,
                branch,
                action,
                detail,
            }
        } else {
            GitError::Remote {
                repo,
                branch,
                action,
                detail,
            }
        }
    }
}

/// How libgit2 (and git daemon, through it) says there is no repository at the address.
const NOT_FOUND_PHRASES: &[&str] = &[
    "could not find repository",
    "not a git repository",
    "does not appear to be a git repository",
    "repository not found",
    "not exported",
    "no such repository",
];

/// Failures of class Net that no retry fixes.
const PERMANENT_PHRASES: &[&str] = &["unsupported url protocol", "invalid url", "malformed url"];

/// Messages of network failures whose libgit2 class is not Net/Os/Ssl/Http.
const TRANSIENT_PHRASES: &[&str] = &[
    "connection refused",
    "connection reset",
    "connection timed out",
    "timed out",
    "failed to resolve address",
    "failed to connect",
    "broken pipe",
    "early eof",
    "unexpected eof",
    "unexpected disconnect",
];

/// The status in libgit2's "unexpected http status code: 503" messages.
fn http_status(lower_message: &str) -> Option<u16> {
    let (_, rest) = lower_message.split_once("status code: ")?;
    rest.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_is_read_from_libgit2_messages() {
        assert_eq!(http_status("unexpected http status code: 503"), Some(503));
        assert_eq!(http_status("unexpected http status code: 40"), None);
        assert_eq!(http_status("connection refused"), None);
    }
}
