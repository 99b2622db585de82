//! Checked-out templates: one finished workspace per (repository, branch, tip), copied for
//! each order.
//!
//! libgit2's checkout (single-threaded: inflate, filter, write, stat, index) is the slowest part
//! of preparing a workspace; writing the same files as plain copies is several times cheaper.
//! So the first order on a given tip checks out once into the cache, and every order gets a
//! file-by-file copy of that template — a complete, self-contained repository (no links, no
//! alternates: the copy is handed to the sandbox user and mounted alone). A template is built in
//! a temporary directory and renamed into place, so a half-built one is never used; it is never
//! changed afterwards. Templates of older tips are pruned, keeping the newest few.

use std::path::{Path, PathBuf};

use git2::Oid;
use sha2::{Digest, Sha256};

/// Templates kept per (repository, branch): the newest and the one before (an order may still
/// be copying from it while a newer tip arrives).
const KEEP: usize = 2;

/// Where the template of `branch` at `tip` lives, for the mirror at `mirror`.
pub(crate) fn template_path(mirror: &Path, branch: &str, tip: Oid) -> PathBuf {
    let digest = Sha256::digest(branch.as_bytes());
    let branch_key: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    templates_dir(mirror).join(format!("{branch_key}-{tip}"))
}

fn templates_dir(mirror: &Path) -> PathBuf {
    let name = mirror
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    mirror.with_file_name(format!("{}.templates", name.trim_end_matches(".git")))
}

/// The template of `branch` at `tip`, built with `build` when missing. Returns its path and
/// whether it already existed. Call with the mirror's lock held.
pub(crate) fn ensure(
    mirror: &Path,
    branch: &str,
    tip: Oid,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(PathBuf, bool), String> {
    let path = template_path(mirror, branch, tip);
    if path.is_dir() {
        return Ok((path, true));
    }
    let parent = templates_dir(mirror);
    std::fs::create_dir_all(&parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let building = parent.join(format!(".building-{}-{tip}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    if let Err(e) = build(&building) {
        let _ = std::fs::remove_dir_all(&building);
        return Err(e);
    }
    std::fs::rename(&building, &path)
        .map_err(|e| format!("publishing the template {}: {e}", path.display()))?;
    prune(&parent, &path);
    Ok((path, false))
}

/// Removes all but the newest [`KEEP`] templates of the same branch (same name prefix).
fn prune(parent: &Path, newest: &Path) {
    let Some(prefix) = newest
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('-').next())
        .map(|p| format!("{p}-"))
    else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let mut same_branch: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    same_branch.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, old) in same_branch.into_iter().skip(KEEP) {
        if old != newest {
            let _ = std::fs::remove_dir_all(old);
        }
    }
}

/// Copies a template to `dest` file by file: regular files with their permission bits,
/// symlinks as symlinks (never followed), directories recreated.
pub(crate) fn copy_to(template: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(template)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = dest.join(entry.file_name());
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            copy_to(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_built_once_and_older_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("abc.git");
        std::fs::create_dir_all(&mirror).unwrap();
        let tips: Vec<Oid> = (1u8..=4)
            .map(|i| Oid::from_bytes(&[i; 20]).unwrap())
            .collect();
        for tip in &tips {
            let (path, existed) = ensure(&mirror, "main", *tip, |p| {
                std::fs::create_dir_all(p).map_err(|e| e.to_string())
            })
            .unwrap();
            assert!(!existed && path.is_dir());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (_, existed) = ensure(&mirror, "main", tips[3], |_| Err("not again".into())).unwrap();
        assert!(existed, "reused, not rebuilt");
        let left: Vec<_> = std::fs::read_dir(templates_dir(&mirror)).unwrap().collect();
        assert_eq!(left.len(), KEEP);
        assert!(template_path(&mirror, "main", tips[3]).is_dir());
        assert!(!template_path(&mirror, "main", tips[0]).exists());
    }

    #[test]
    fn a_failed_build_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("abc.git");
        let tip = Oid::from_bytes(&[9; 20]).unwrap();
        let err = ensure(&mirror, "main", tip, |p| {
            std::fs::create_dir_all(p).unwrap();
            Err("boom".into())
        });
        assert!(err.is_err());
        assert_eq!(
            std::fs::read_dir(templates_dir(&mirror)).unwrap().count(),
            0
        );
    }

    #[test]
    fn copies_keep_modes_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::write(src.join("bin/run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(src.join("bin/run"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        copy_to(&src, &dst).unwrap();
        let mode = std::fs::metadata(dst.join("bin/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
