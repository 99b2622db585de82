//! One network operation's callbacks: credentials, a deadline, and what went wrong.
//!
//! libgit2 reports a failure as one error; the callbacks know more (did we give up on
//! credentials? did the deadline cancel the transfer? which refs did the server reject?), so a
//! [`Session`] records it and [`Session::classify`] combines both into a [`GitError`].

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use git2::{Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};

use super::credentials::Credentials;
use super::error::{Action, GitError, Remote};

/// Credential requests answered per operation. libgit2 asks again after every rejection and
/// would loop forever on a bad token; SSH legitimately asks twice (user name, then key).
const MAX_AUTH_REQUESTS: u32 = 3;

/// State shared by the callbacks of one fetch or push. Cells, not locks: libgit2 calls the
/// callbacks on the thread that started the operation.
pub(crate) struct Session<'a> {
    credentials: &'a Credentials,
    timeout: Duration,
    deadline: Instant,
    requests: Cell<u32>,
    /// Credential types already offered: offering the same secret twice cannot succeed.
    offered: Cell<CredentialType>,
    timed_out: Cell<bool>,
    auth_problem: Cell<Option<&'static str>>,
    rejected: RefCell<Vec<String>>,
}

impl<'a> Session<'a> {
    pub fn new(credentials: &'a Credentials, timeout: Duration) -> Self {
        Session {
            credentials,
            timeout,
            deadline: Instant::now() + timeout,
            requests: Cell::new(0),
            offered: Cell::new(CredentialType::empty()),
            timed_out: Cell::new(false),
            auth_problem: Cell::new(None),
            rejected: RefCell::new(Vec::new()),
        }
    }

    /// Callbacks for fetch or push options; they borrow the session, which must outlive them.
    pub fn callbacks(&'a self) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, user, allowed| self.credential(user, allowed));
        // The deadline is checked whenever data arrives; returning false cancels the transfer.
        // A server that goes silent sends no progress, which only libgit2's global
        // GIT_OPT_SET_SERVER_TIMEOUT could catch (and setting it takes `unsafe`).
        callbacks.transfer_progress(move |_| self.in_time());
        callbacks.sideband_progress(move |_| self.in_time());
        callbacks.push_negotiation(move |_| {
            if self.in_time() {
                Ok(())
            } else {
                Err(git2::Error::new(
                    ErrorCode::User,
                    ErrorClass::Callback,
                    "deadline passed",
                ))
            }
        });
        callbacks.push_update_reference(move |refname, status| {
            if let Some(reason) = status {
                self.rejected
                    .borrow_mut()
                    .push(format!("{refname}: {reason}"));
            }
            Ok(())
        });
        callbacks
    }

    /// References the server refused during a push ("refs/heads/x: reason"), scrubbed.
    pub fn rejections(&self) -> Vec<String> {
        self.rejected
            .borrow()
            .iter()
            .map(|r| self.credentials.scrub(r))
            .collect()
    }

    /// The [`GitError`] for a failed operation on `repo` (already redacted) and `branch`.
    pub fn classify(
        &self,
        err: &git2::Error,
        repo: &str,
        branch: &str,
        action: Action,
    ) -> GitError {
        Remote {
            repo,
            branch,
            action,
            timeout: self.timeout,
            timed_out: self.timed_out.get(),
            auth_problem: self.auth_problem.get(),
        }
        .classify(err, |m| self.credentials.scrub(m))
    }

    fn in_time(&self) -> bool {
        let ok = Instant::now() < self.deadline;
        if !ok {
            self.timed_out.set(true);
        }
        ok
    }

    fn credential(
        &self,
        username_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        let requests = self.requests.get() + 1;
        self.requests.set(requests);
        if requests > MAX_AUTH_REQUESTS {
            return Err(self.give_up("the server kept rejecting the configured credentials"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            let Some(token) = &self.credentials.https else {
                return Err(self.give_up("the server asks for credentials and none are configured"));
            };
            self.offer(CredentialType::USER_PASS_PLAINTEXT)?;
            return Cred::userpass_plaintext(&token.username, &token.secret);
        }
        let user = username_from_url.unwrap_or("git");
        if allowed.contains(CredentialType::SSH_KEY) {
            self.offer(CredentialType::SSH_KEY)?;
            return match &self.credentials.ssh_key {
                Some(key) => Cred::ssh_key(user, None, key, None),
                None => Cred::ssh_key_from_agent(user),
            };
        }
        if allowed.contains(CredentialType::USERNAME) {
            self.offer(CredentialType::USERNAME)?;
            return Cred::username(user);
        }
        Err(self.give_up("the server asks for a kind of credentials fleet does not support"))
    }

    /// Records that `kind` is being offered; a second request for it means the first was refused.
    fn offer(&self, kind: CredentialType) -> Result<(), git2::Error> {
        if self.offered.get().contains(kind) {
            return Err(self.give_up("the server rejected the configured credentials"));
        }
        self.offered.set(self.offered.get() | kind);
        Ok(())
    }

    fn give_up(&self, why: &'static str) -> git2::Error {
        self.auth_problem.set(Some(why));
        git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, why)
    }
}
