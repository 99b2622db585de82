//! Making an order's workspace from the mirror, and reopening it safely afterwards.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Instant;

use fleet_shared::{BranchName, RepoUrl};
use git2::build::{CloneLocal, RepoBuilder};
use git2::{Repository, RepositoryOpenFlags};

use super::credentials::{is_ssh_url, redact_url, strip_userinfo};
use super::error::GitError;
use super::mirror::{self, mirror_path};
use super::{GitSettings, PrepareStats, Workspace};

/// Clones `branch` of `repo` into `dest` (absent or empty) through the mirror cache: the mirror
/// fetches what is new upstream, then the workspace is copied out of it. Blocking; holds the
/// mirror's lock throughout, so concurrent orders on one repository take turns.
pub fn prepare_workspace(
    settings: &GitSettings,
    repo: &RepoUrl,
    branch: &BranchName,
    dest: &Path,
) -> Result<Workspace, GitError> {
    let redacted = redact_url(repo.as_str());
    if is_ssh_url(repo.as_str()) && !git2::Version::get().ssh() {
        return Err(GitError::SshUnsupported {
            repo: redacted,
            branch: branch.to_string(),
        });
    }
    // Checked before touching the mirror: a clone failing on a used directory would otherwise
    // look like a damaged mirror and get it discarded.
    let occupied = std::fs::read_dir(dest).is_ok_and(|mut entries| entries.next().is_some());
    if occupied || dest.is_file() {
        return Err(GitError::Workspace {
            path: dest.to_path_buf(),
            repo: redacted,
            branch: branch.to_string(),
            detail: "the directory exists and is not empty; give each order a fresh one".into(),
        });
    }
    let started = Instant::now();
    let _lock = mirror::lock(settings, repo)?;
    let lock_wait = started.elapsed();

    let path = mirror_path(&settings.cache_dir, repo);
    let (mirror, mirror_reused) = mirror::open_or_init(&path, repo)?;
    let fetch_started = Instant::now();
    let fetched = mirror::fetch(settings, &mirror, repo, branch)?;
    let fetch_time = fetch_started.elapsed();

    let clone_started = Instant::now();
    let (base_commit, shallow) = match clone_from_mirror(&path, repo, branch, dest) {
        Ok(cloned) => cloned,
        Err(detail) => {
            // Fetching succeeded, so the remote is fine: a local clone failing means the mirror
            // is damaged. Drop it so the retry rebuilds it instead of failing the same way.
            drop(mirror);
            mirror::discard(&path, repo)?;
            return Err(GitError::Local {
                what: "cannot clone from the mirror",
                path,
                repo: redacted,
                detail: format!("{detail} (the mirror was discarded)"),
            });
        }
    };
    if base_commit != fetched.tip.to_string() {
        return Err(GitError::Local {
            what: "the workspace does not match the fetched branch",
            path: dest.to_path_buf(),
            repo: redacted,
            detail: format!("checked out {base_commit}, fetched {}", fetched.tip),
        });
    }
    let stats = PrepareStats {
        mirror_reused,
        received_objects: fetched.received_objects,
        received_bytes: fetched.received_bytes,
        lock_wait,
        fetch_time,
        clone_time: clone_started.elapsed(),
    };
    tracing::info!(
        repo = %redacted, branch = %branch, commit = %base_commit, shallow,
        mirror_reused, objects = stats.received_objects, bytes = stats.received_bytes,
        fetch_ms = stats.fetch_time.as_millis() as u64, clone_ms = stats.clone_time.as_millis() as u64,
        "workspace prepared"
    );
    Ok(Workspace {
        path: dest.to_path_buf(),
        repo: repo.clone(),
        branch: branch.clone(),
        base_commit,
        shallow,
        stats,
    })
}

/// Copies the mirror into `dest` and checks out `branch`; returns (HEAD commit, shallow).
fn clone_from_mirror(
    mirror: &Path,
    repo: &RepoUrl,
    branch: &BranchName,
    dest: &Path,
) -> Result<(String, bool), String> {
    let source = mirror
        .to_str()
        .ok_or_else(|| "the cache path is not UTF-8".to_string())?;
    let msg = |e: git2::Error| e.message().to_string();
    // A plain copy of the object files: hard links would share inodes with the mirror, and a
    // later chown of the workspace for the agent's uid would hand it the mirror's packs too.
    // libgit2 also never writes objects/info/alternates, so the clone is self-contained.
    let workspace = RepoBuilder::new()
        .branch(branch.as_str())
        .clone_local(CloneLocal::NoLinks)
        .clone(source, dest)
        .map_err(msg)?;
    // The copy does not carry the mirror's shallow boundary; without it the history ends in
    // commits whose parents are missing, and `git log` in the workspace fails.
    let boundary = mirror.join("shallow");
    if boundary.exists() {
        std::fs::copy(&boundary, workspace.path().join("shallow"))
            .map_err(|e| format!("copying the shallow file: {e}"))?;
    }
    // origin pointed at the mirror, a host path the agent cannot see; the real address helps it,
    // and userinfo (possibly a token) stays out of .git/config.
    workspace
        .remote_set_url("origin", &strip_userinfo(repo.as_str()))
        .map_err(msg)?;
    let head = workspace
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(msg)?;
    Ok((head.id().to_string(), workspace.is_shallow()))
}

/// Opens the workspace for the steps after the agent, refusing one the agent redirected: a
/// `core.worktree`, a `.git` file, `commondir` or alternates could make staging read host files
/// (the worker's credentials, other repositories) and push them.
pub(crate) fn open(ws: &Workspace) -> Result<Repository, GitError> {
    let repo = Repository::open_ext(
        &ws.path,
        RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&OsStr>(),
    )
    .map_err(|e| ws.error(format!("cannot open the repository: {}", e.message())))?;
    let canonical = |p: &Path| {
        p.canonicalize()
            .map_err(|e| ws.error(format!("cannot resolve {}: {e}", p.display())))
    };
    let root = canonical(&ws.path)?;
    let git_dir = root.join(".git");
    if canonical(repo.path())? != git_dir {
        return Err(ws.error(format!(
            ".git points elsewhere ({}); refusing to use it",
            repo.path().display()
        )));
    }
    let workdir = repo.workdir().map(canonical).transpose()?;
    if workdir.as_deref() != Some(root.as_path()) {
        return Err(ws.error("core.worktree points outside the workspace; refusing to use it"));
    }
    for redirect in ["commondir", "objects/info/alternates"] {
        if git_dir.join(redirect).exists() {
            return Err(ws.error(format!(".git/{redirect} exists; refusing to use it")));
        }
    }
    Ok(repo)
}

impl Workspace {
    /// A [`GitError::Workspace`] naming this workspace, its repository and branch.
    pub(crate) fn error(&self, detail: impl Into<String>) -> GitError {
        GitError::Workspace {
            path: self.path.clone(),
            repo: redact_url(self.repo.as_str()),
            branch: self.branch.to_string(),
            detail: detail.into(),
        }
    }

    /// `map_err` adapter for a failed local libgit2 call: "`what`: libgit2's message".
    pub(crate) fn git_error<'a>(
        &'a self,
        what: &'a str,
    ) -> impl FnOnce(git2::Error) -> GitError + 'a {
        move |e| self.error(format!("{what}: {}", e.message()))
    }
}
