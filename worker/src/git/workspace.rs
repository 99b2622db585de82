//! Making an order's workspace from the mirror, and reopening it safely afterwards.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Instant;

use fleet_shared::{BranchName, RepoUrl};
use git2::{Repository, RepositoryOpenFlags};

use super::credentials::{is_ssh_url, redact_url, strip_userinfo};
use super::error::GitError;
use super::mirror::{self, mirror_path};
use super::template;
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
    let built = template::ensure(&path, branch.as_str(), fetched.tip, |dir| {
        clone_from_mirror(&path, repo, branch, dir, fetched.tip).map(|_| ())
    });
    let (template, template_reused) = match built {
        Ok(built) => built,
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
    template::copy_to(&template, dest).map_err(|e| GitError::Local {
        what: "cannot copy the workspace from its template",
        path: template.clone(),
        repo: redacted.clone(),
        detail: e.to_string(),
    })?;
    let (base_commit, shallow) = {
        let copied = Repository::open(dest).map_err(|e| GitError::Local {
            what: "the copied workspace is not a repository",
            path: dest.to_path_buf(),
            repo: redacted.clone(),
            detail: e.message().to_string(),
        })?;
        let head = copied
            .head()
            .and_then(|h| h.peel_to_commit())
            .map(|c| c.id().to_string())
            .unwrap_or_default();
        (head, copied.is_shallow())
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
        template_reused,
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
/// Makes the order's workspace out of the mirror: a fresh repository, the mirror's object files
/// copied in as plain files, the base branch pointing at the fetched tip, then a checkout.
///
/// Why not libgit2's own local clone: it moves the objects through its transport (building a
/// pack), which costs several times the checkout itself; copying the pack files is a plain
/// file copy. Why copy rather than hard-link or use alternates: the workspace is handed to the
/// sandbox's user (chown) and mounted alone into the sandbox, where the agent's own `git` must
/// find every object; links or alternates would expose or change the mirror.
fn clone_from_mirror(
    mirror: &Path,
    repo: &RepoUrl,
    branch: &BranchName,
    dest: &Path,
    tip: git2::Oid,
) -> Result<(String, bool), String> {
    let msg = |e: git2::Error| e.message().to_string();
    let workspace = Repository::init(dest).map_err(msg)?;
    let git_dir = workspace.path().to_path_buf();
    copy_objects(&mirror.join("objects"), &git_dir.join("objects"))
        .map_err(|e| format!("copying the mirror's objects: {e}"))?;
    let boundary = mirror.join("shallow");
    if boundary.exists() {
        std::fs::copy(&boundary, git_dir.join("shallow"))
            .map_err(|e| format!("copying the shallow file: {e}"))?;
    }
    let local = format!("refs/heads/{branch}");
    workspace
        .reference(&local, tip, true, "fleet: base branch")
        .map_err(msg)?;
    // What `git clone` leaves, so the agent's own git sees a normal clone of origin.
    workspace
        .reference(
            &format!("refs/remotes/origin/{branch}"),
            tip,
            true,
            "fleet: base branch",
        )
        .map_err(msg)?;
    workspace
        .remote("origin", &strip_userinfo(repo.as_str()))
        .map_err(msg)?;
    let mut config = workspace.config().map_err(msg)?;
    config
        .set_str(&format!("branch.{branch}.remote"), "origin")
        .map_err(msg)?;
    config
        .set_str(&format!("branch.{branch}.merge"), &local)
        .map_err(msg)?;
    workspace.set_head(&local).map_err(msg)?;
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force();
    workspace.checkout_head(Some(&mut checkout)).map_err(msg)?;
    Ok((tip.to_string(), workspace.is_shallow()))
}

/// Copies an object directory (packs, loose objects) file by file. `info/alternates` is never
/// copied: the workspace must stand alone.
fn copy_objects(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if name == "alternates" {
            continue;
        }
        let target = to.join(&name);
        if kind.is_dir() {
            copy_objects(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

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
