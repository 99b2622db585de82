//! The per-worker mirror cache: one bare repository per repository URL, updated per order.
//!
//! Layout under [`super::GitSettings::cache_dir`]:
//! - `<key>.git`: a bare repository holding the base branches orders asked for, as
//!   `refs/heads/<branch>` (shallow for network remotes);
//! - `<key>.lock`: an advisory `flock` serialising everyone who fetches into or copies out of
//!   that mirror: threads of one worker and worker processes sharing the directory alike.
//!
//! `<key>` is a hash of the URL without userinfo, so tokens never appear in file names and every
//! spelling of credentials maps to one mirror. The mirror has no configured remote: fetches use
//! an anonymous remote, so its config never holds a URL, let alone a secret.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fleet_shared::{BranchName, RepoUrl};
use git2::{AutotagOption, FetchOptions, FetchPrune, Oid, ProxyOptions, Repository};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};

use super::GitSettings;
use super::credentials::{redact_url, strip_userinfo};
use super::error::{Action, GitError};
use super::remote::Session;

/// Where the mirror of `repo` lives under `cache_dir`.
pub fn mirror_path(cache_dir: &Path, repo: &RepoUrl) -> PathBuf {
    cache_dir.join(format!("{}.git", key(repo)))
}

fn key(repo: &RepoUrl) -> String {
    let digest = Sha256::digest(strip_userinfo(repo.as_str()).as_bytes());
    // 128 bits: collisions between a worker's repositories are not a concern.
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Exclusive use of one mirror until dropped (the kernel releases it if the process dies).
pub(crate) struct MirrorLock {
    _lock: Flock<File>,
}

/// Waits up to `settings.timeout` for the mirror's lock.
pub(crate) fn lock(settings: &GitSettings, repo: &RepoUrl) -> Result<MirrorLock, GitError> {
    let path = settings.cache_dir.join(format!("{}.lock", key(repo)));
    let local = |what, at: &Path, source: std::io::Error| GitError::Local {
        what,
        path: at.to_path_buf(),
        repo: redact_url(repo.as_str()),
        detail: source.to_string(),
    };
    std::fs::create_dir_all(&settings.cache_dir)
        .map_err(|e| local("cannot create the mirror cache", &settings.cache_dir, e))?;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| local("cannot open the mirror lock", &path, e))?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        // flock has no timed wait, so poll without blocking: a fetch stuck on a dead server
        // must fail this order with MirrorBusy rather than hang it forever.
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(MirrorLock { _lock: lock }),
            Err((returned, Errno::EWOULDBLOCK | Errno::EINTR)) => file = returned,
            Err((_, errno)) => return Err(local("cannot lock the mirror", &path, errno.into())),
        }
        if started.elapsed() >= settings.timeout {
            return Err(GitError::MirrorBusy {
                repo: redact_url(repo.as_str()),
                waited: started.elapsed(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Opens the mirror at `path`, or creates it; true when it already existed. Call with the lock.
pub(crate) fn open_or_init(path: &Path, repo: &RepoUrl) -> Result<(Repository, bool), GitError> {
    if pack_count(path) > MAX_PACKS {
        // Every fetch adds a pack and libgit2 cannot repack; past this many, lookups and the
        // copy into each workspace slow down, so start over with one fresh pack.
        tracing::info!(path = %path.display(), "rebuilding a mirror with too many packs");
        discard(path, repo)?;
    }
    if path.exists() {
        match Repository::open_bare(path) {
            Ok(mirror) => return Ok((mirror, true)),
            // A process killed while creating it leaves a directory libgit2 cannot open.
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding an unreadable mirror");
                discard(path, repo)?;
            }
        }
    }
    Repository::init_bare(path)
        .map(|mirror| (mirror, false))
        .map_err(|e| GitError::Local {
            what: "cannot create the mirror",
            path: path.to_path_buf(),
            repo: redact_url(repo.as_str()),
            detail: e.message().to_string(),
        })
}

/// Packs a mirror may gather before it is rebuilt; each order that fetched something adds one.
const MAX_PACKS: usize = 64;

fn pack_count(mirror: &Path) -> usize {
    std::fs::read_dir(mirror.join("objects/pack")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
            .count()
    })
}

/// Deletes a mirror that is broken; the next order rebuilds it. Call with the lock.
pub(crate) fn discard(path: &Path, repo: &RepoUrl) -> Result<(), GitError> {
    std::fs::remove_dir_all(path).map_err(|e| GitError::Local {
        what: "cannot remove the broken mirror",
        path: path.to_path_buf(),
        repo: redact_url(repo.as_str()),
        detail: e.to_string(),
    })
}

/// What one fetch into the mirror brought.
pub(crate) struct Fetched {
    /// The branch's tip as the remote advertised it during this fetch.
    pub tip: Oid,
    pub received_objects: usize,
    pub received_bytes: usize,
}

/// Updates `refs/heads/<branch>` of the mirror from `repo`: shallow (`settings.depth`) over the
/// network, full for local paths, which libgit2 cannot fetch shallowly. Call with the lock.
pub(crate) fn fetch(
    settings: &GitSettings,
    mirror: &Repository,
    repo: &RepoUrl,
    branch: &BranchName,
) -> Result<Fetched, GitError> {
    let redacted = redact_url(repo.as_str());
    // libgit2 only picks its local transport for paths that exist, and calls anything else an
    // "unsupported URL protocol"; say what is really wrong.
    if repo.is_local() {
        let path = repo
            .as_str()
            .strip_prefix("file://")
            .unwrap_or(repo.as_str());
        if !Path::new(path).exists() {
            return Err(GitError::RepositoryNotFound {
                repo: redacted,
                branch: branch.to_string(),
                detail: "no such path on this host".into(),
            });
        }
    }
    let session = Session::new(&settings.credentials, settings.timeout);
    let fail = |e: &git2::Error| session.classify(e, &redacted, branch.as_str(), Action::Fetch);
    let mut remote = mirror
        .remote_anonymous(repo.as_str())
        .map_err(|e| fail(&e))?;
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(session.callbacks())
        .download_tags(AutotagOption::None)
        .prune(FetchPrune::Off)
        .update_fetchhead(false);
    // http(s)_proxy / no_proxy and http.proxy, as git itself would use them.
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    options.proxy_options(proxy);
    if !repo.is_local() && settings.depth > 0 {
        options.depth(i32::try_from(settings.depth).unwrap_or(i32::MAX));
    }
    let head = format!("refs/heads/{branch}");
    // Forced: upstream may rewrite its branches and the mirror must follow, not refuse.
    let refspec = format!("+{head}:{head}");
    remote
        .fetch(&[refspec.as_str()], Some(&mut options), None)
        .map_err(|e| fail(&e))?;
    // A refspec matching nothing is not an error to libgit2; and a ref left by an earlier fetch
    // may be stale, so believe only what the server advertised just now (kept after disconnect).
    let tip = remote
        .list()
        .map_err(|e| fail(&e))?
        .iter()
        .find(|h| h.name() == head)
        .map(|h| h.oid())
        .ok_or_else(|| GitError::BranchNotFound {
            repo: redacted.clone(),
            branch: branch.to_string(),
        })?;
    let stats = remote.stats();
    Ok(Fetched {
        tip,
        received_objects: stats.received_objects(),
        received_bytes: stats.received_bytes(),
    })
}
