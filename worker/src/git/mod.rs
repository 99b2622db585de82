//! Git with libgit2: mirror cache, workspace clone, change set, commit, push.
//!
//! The life of an order's repository, each step one blocking call (wrap it in
//! `tokio::task::spawn_blocking`):
//! 1. [`prepare_workspace`]: fetch the base branch into this worker's bare mirror of the
//!    repository (shallow over the network, only new objects once warm), then copy a
//!    self-contained clone out of it into the order's directory.
//! 2. The agent edits the workspace (and may run `git` there itself).
//! 3. [`change_set`]: stage like `git add -A` and describe the change for the witnesses.
//! 4. [`commit`]: commit exactly what was staged on top of the base commit.
//! 5. [`push_branch`]: push it as `fleet/<type>/<order-id>`, replacing only what an earlier
//!    attempt of the same order pushed there.
//!
//! Credentials ([`Credentials`]) reach libgit2 only through its credential callback: remotes are
//! anonymous, the workspace's `origin` is the URL without userinfo, errors and logs redact.
//! Failures are [`GitError`]s that say whether a retry can help ([`GitError::is_transient`]).
//!
//! Timing a cold against a warm mirror: call [`prepare_workspace`] twice with the same
//! [`GitSettings`] into two fresh directories; [`Workspace::stats`] says whether the mirror was
//! reused and how long the fetch and the clone took. A fresh `cache_dir` makes the next call cold.

mod change;
mod commit;
mod credentials;
mod error;
mod mirror;
mod push;
mod remote;
mod template;
mod workspace;

use std::path::PathBuf;
use std::time::Duration;

use fleet_shared::{BranchName, RepoUrl};

pub use change::change_set;
pub use commit::{Author, CommitOutcome, commit};
pub use credentials::{
    Credentials, DEFAULT_USERNAME, ENV_CREDENTIALS_FILE, ENV_SSH_KEY, ENV_TOKEN, ENV_USERNAME,
    redact_url, strip_userinfo,
};
pub use error::{Action, GitError};
pub use mirror::mirror_path;
pub use push::push_branch;
pub use workspace::prepare_workspace;

/// History fetched from network remotes by default: enough for an agent to read recent history.
pub const DEFAULT_DEPTH: u32 = 50;
/// Default limit for one fetch or push, and for waiting on another order's mirror lock.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How this worker talks to git remotes.
#[derive(Debug, Clone)]
pub struct GitSettings {
    /// Holds one bare mirror per repository URL; may be shared by worker processes on one host.
    pub cache_dir: PathBuf,
    /// Commits of history fetched from network remotes; 0 fetches everything. Local paths are
    /// always fetched in full (libgit2 cannot fetch them shallowly).
    pub depth: u32,
    /// Offered to remotes that ask, through libgit2's callback only.
    pub credentials: Credentials,
    /// Cancels a fetch or push still transferring after this long, and bounds the wait for the
    /// mirror lock. A server that stops sending entirely is not caught (see `remote.rs`).
    pub timeout: Duration,
}

impl GitSettings {
    /// Settings with [`DEFAULT_DEPTH`], [`DEFAULT_TIMEOUT`] and no credentials.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        GitSettings {
            cache_dir: cache_dir.into(),
            depth: DEFAULT_DEPTH,
            credentials: Credentials::none(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// An order's checkout, made by [`prepare_workspace`]: a normal, self-contained repository
/// (no alternates, `origin` = the repository URL without userinfo) with the base branch checked
/// out.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The working tree; its repository is `path/.git`.
    pub path: PathBuf,
    /// Where it was cloned from and where [`push_branch`] pushes.
    pub repo: RepoUrl,
    /// The base branch checked out.
    pub branch: BranchName,
    /// The base branch's tip when fetched (hex sha): the parent of the order's commit.
    pub base_commit: String,
    /// True when history stops at a `.git/shallow` boundary (network remotes with a depth).
    pub shallow: bool,
    /// How the mirror was used and where the time went.
    pub stats: PrepareStats,
}

/// What [`prepare_workspace`] cost, for logs and the cold/warm mirror benchmark.
#[derive(Debug, Clone, Default)]
pub struct PrepareStats {
    /// False when this order had to create the mirror (a cold cache).
    pub mirror_reused: bool,
    /// Objects the fetch into the mirror downloaded: only what is new once the mirror is warm.
    pub received_objects: usize,
    /// Bytes of pack data the fetch downloaded.
    pub received_bytes: usize,
    /// Time spent waiting for another order holding the mirror.
    pub lock_wait: Duration,
    /// Time to update the mirror from the remote.
    pub fetch_time: Duration,
    /// Time to make the workspace: check out a template when this tip has none yet, then copy
    /// it (see the template module).
    pub clone_time: Duration,
    /// True when a checked-out template of this tip already existed (no checkout was needed).
    pub template_reused: bool,
}
