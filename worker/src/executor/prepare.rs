//! Checks every executor makes before a run, and the identity the sandbox runs as.
//!
//! Identity rule (both executors): when the worker runs as root, the sandbox runs as the spec's
//! `uid:gid` and the writable mounts are handed to that user (`chown -R`) first, so the agent can
//! write its workspace; they stay owned by it afterwards, which is fine because root can still
//! read and commit them. When the worker is *not* root it cannot chown, so the sandbox runs as the
//! worker's own `uid:gid` instead of the spec's — still not root, and the owner of the workspace it
//! created.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, lchown};
use std::path::{Path, PathBuf};

use nix::unistd::{getegid, geteuid};

use super::{ExecError, Mount, RunSpec};

/// The numeric identity a sandbox runs as. Numeric because images built `FROM scratch` have no
/// /etc/passwd to resolve names in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl RunAs {
    /// `uid:gid` as Docker's `User` field wants it.
    pub(crate) fn docker_user(self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
}

/// Parses `uid:gid` (or a bare `uid`, meaning gid = uid); refuses root's uid or gid.
pub(crate) fn parse_user(user: &str) -> Result<RunAs, ExecError> {
    let bad = || ExecError::InvalidSpec(format!("user {user:?} is not a numeric uid[:gid]"));
    let (uid, gid) = match user.split_once(':') {
        Some((uid, gid)) => (uid, gid),
        None => (user, user),
    };
    let uid: u32 = uid.parse().map_err(|_| bad())?;
    let gid: u32 = gid.parse().map_err(|_| bad())?;
    // gid 0 is refused too: the root group can write root-group files a sandbox must not touch.
    if uid == 0 || gid == 0 {
        return Err(ExecError::InvalidSpec(format!(
            "user {user:?}: sandboxes never run as root (uid or gid 0)"
        )));
    }
    Ok(RunAs { uid, gid })
}

/// Who the sandbox runs as, and whether the worker is root (and so must chown the mounts).
/// See the module docs for the rule.
pub(crate) fn effective_user(spec: &RunSpec) -> Result<(RunAs, bool), ExecError> {
    let wanted = parse_user(&spec.user)?;
    if geteuid().is_root() {
        return Ok((wanted, true));
    }
    let own = RunAs {
        uid: geteuid().as_raw(),
        gid: getegid().as_raw(),
    };
    if own.gid == 0 {
        return Err(ExecError::InvalidSpec(
            "the worker runs with gid 0 but not as root; sandboxes would inherit the root group"
                .into(),
        ));
    }
    Ok((own, false))
}

/// The spec checks shared by both executors: a command, absolute paths, existing host dirs, no
/// mount over `/` or `/tmp` (the executor owns `/tmp`), no two mounts at one place.
pub(crate) fn validate(spec: &RunSpec) -> Result<(), ExecError> {
    let invalid = |msg: String| Err(ExecError::InvalidSpec(format!("{}: {msg}", spec.name)));
    if spec.argv.first().is_none_or(|a| a.is_empty()) {
        return invalid("argv is empty".into());
    }
    if !spec.workdir.starts_with('/') {
        return invalid(format!("workdir {:?} is not absolute", spec.workdir));
    }
    if spec.limits.cpus <= 0.0 || !spec.limits.cpus.is_finite() {
        return invalid(format!(
            "cpus {} is not a positive number",
            spec.limits.cpus
        ));
    }
    let mut seen = HashSet::new();
    for m in &spec.mounts {
        let target = m.container.trim_end_matches('/');
        if !m.container.starts_with('/') || target.is_empty() || target == "/tmp" {
            return invalid(format!("mount target {:?} is not allowed", m.container));
        }
        if !seen.insert(target) {
            return invalid(format!("two mounts at {:?}", m.container));
        }
        if !m.host.is_absolute() || !m.host.is_dir() {
            return invalid(format!(
                "mount source {} is not an existing absolute directory",
                m.host.display()
            ));
        }
    }
    Ok(())
}

/// Refuses read-only mounts the sandbox user could not read. They are not chowned (they may be
/// shared, like a package cache), so they must already be readable — e.g. mode 0755, which a
/// `tempfile::tempdir()` (0700) is not. Only the top directory is checked: enough to turn the
/// common mistake into a clear error instead of an agent failing on "permission denied".
pub(crate) fn check_read_only_mounts(mounts: &[Mount], user: RunAs) -> Result<(), ExecError> {
    for m in mounts.iter().filter(|m| m.read_only) {
        let meta = std::fs::metadata(&m.host).map_err(|e| {
            ExecError::InvalidSpec(format!("mount source {}: {e}", m.host.display()))
        })?;
        let mode = meta.mode();
        let bits = if meta.uid() == user.uid {
            mode >> 6
        } else if meta.gid() == user.gid {
            mode >> 3
        } else {
            mode
        };
        if bits & 0o5 != 0o5 {
            return Err(ExecError::InvalidSpec(format!(
                "read-only mount source {} (mode {:o}) is not readable by the sandbox user {}",
                m.host.display(),
                mode & 0o7777,
                user.docker_user()
            )));
        }
    }
    Ok(())
}

/// Hands every writable mount to `to`, recursively, without following symlinks (a symlink left
/// in a workspace must not make the worker chown its target). Runs on the blocking pool: a
/// workspace can hold many thousands of files.
pub(crate) async fn chown_writable_mounts(mounts: &[Mount], to: RunAs) -> Result<(), ExecError> {
    let roots: Vec<PathBuf> = mounts
        .iter()
        .filter(|m| !m.read_only)
        .map(|m| m.host.clone())
        .collect();
    tokio::task::spawn_blocking(move || roots.iter().try_for_each(|root| chown_tree(root, to)))
        .await
        .map_err(|e| ExecError::Infrastructure(format!("chown task failed: {e}")))?
}

fn chown_tree(root: &Path, to: RunAs) -> Result<(), ExecError> {
    let failed = |path: &Path, e: std::io::Error| {
        ExecError::Infrastructure(format!("cannot chown {}: {e}", path.display()))
    };
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| failed(&path, e))?;
        // Skipping what already belongs to the user keeps the second phase of an order cheap.
        if meta.uid() != to.uid || meta.gid() != to.gid {
            lchown(&path, Some(to.uid), Some(to.gid)).map_err(|e| failed(&path, e))?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| failed(&path, e))? {
                pending.push(entry.map_err(|e| failed(&path, e))?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_is_numeric_and_never_root() {
        assert_eq!(
            parse_user("1000:1001").ok(),
            Some(RunAs {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(
            parse_user("1234").ok(),
            Some(RunAs {
                uid: 1234,
                gid: 1234
            })
        );
        for bad in ["0:1000", "1000:0", "0", "agent", "1000:", ""] {
            assert!(
                matches!(parse_user(bad), Err(ExecError::InvalidSpec(_))),
                "{bad:?} accepted"
            );
        }
    }
}
