//! Staging the agent's edits and describing them as a [`ChangeSet`] for the witnesses.
//!
//! The change set and the commit come from the same index: [`change_set`] stages, and
//! [`super::commit`] writes the staged tree without staging again, so what witnesses approved
//! is byte for byte what is committed.

use std::path::Path;

use git2::{Delta, DiffFindOptions, DiffOptions, FileMode, IndexAddOption, Oid, Patch, Repository};

use super::Workspace;
use super::workspace::open;
use crate::change::{ChangeSet, ChangedFile, FileStatus, MAX_CONTENT_BYTES};
use crate::git::error::GitError;

/// Stages everything like `git add -A` (new, modified and deleted files; `.gitignore`d files
/// stay out) and returns how the staged tree differs from the base commit, renames detected.
/// Commits the agent made itself are included: the diff is against the base, not HEAD.
pub fn change_set(ws: &Workspace) -> Result<ChangeSet, GitError> {
    let repo = open(ws)?;
    let mut index = repo.index().map_err(ws.git_error("reading the index"))?;
    let all = ["*"];
    // libgit2 reports a nested repository (one the agent cloned or `git init`ed) as "dir/" and
    // fails to add it that way; git adds it as a gitlink, which add_path does without the slash.
    let mut nested = Vec::new();
    let mut skip_nested = |path: &Path, _: &[u8]| {
        let path = path.to_string_lossy();
        match path.strip_suffix('/') {
            Some(dir) => {
                nested.push(dir.to_string());
                1 // skip
            }
            None => 0, // add
        }
    };
    index
        .add_all(all, IndexAddOption::DEFAULT, Some(&mut skip_nested))
        .map_err(ws.git_error("staging files"))?;
    for dir in nested {
        index.add_path(Path::new(&dir)).map_err(|e| {
            ws.error(format!(
                "staging the nested repository {dir} (it needs a commit checked out, or remove \
                 its .git): {}",
                e.message()
            ))
        })?;
    }
    // add_all stages new and modified files; removals of tracked files need update_all.
    index
        .update_all(all, None)
        .map_err(ws.git_error("staging deletions"))?;
    index.write().map_err(ws.git_error("writing the index"))?;

    let base_tree = base_tree(&repo, ws)?;
    let mut options = DiffOptions::new();
    // A file replaced by a symlink (or the reverse) is one change, not a deletion plus an add.
    options.include_typechange(true);
    let mut diff = repo
        .diff_tree_to_index(Some(&base_tree), Some(&index), Some(&mut options))
        .map_err(ws.git_error("diffing against the base commit"))?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))
        .map_err(ws.git_error("detecting renames"))?;

    let odb = repo
        .odb()
        .map_err(ws.git_error("opening the object database"))?;
    let mut files = Vec::with_capacity(diff.deltas().len());
    for (idx, delta) in diff.deltas().enumerate() {
        let status = match delta.status() {
            Delta::Added | Delta::Copied | Delta::Untracked => FileStatus::Added,
            Delta::Deleted => FileStatus::Deleted,
            Delta::Renamed => FileStatus::Renamed,
            Delta::Typechange => FileStatus::TypeChanged,
            Delta::Modified if delta.old_file().id() == delta.new_file().id() => {
                FileStatus::TypeChanged // same content: only the mode (executable bit) changed
            }
            Delta::Modified => FileStatus::Modified,
            Delta::Unmodified | Delta::Ignored | Delta::Unreadable | Delta::Conflicted => continue,
        };
        let patch = Patch::from_diff(&diff, idx).map_err(ws.git_error("computing a patch"))?;
        let (lines_added, lines_removed) = match &patch {
            Some(p) => {
                let (_, added, removed) = p.line_stats().map_err(ws.git_error("counting lines"))?;
                (added as u64, removed as u64)
            }
            None => (0, 0),
        };
        // Loading the patch is what sets the binary flag, so read it from the patch's delta.
        let binary = patch
            .as_ref()
            .map_or(delta.flags().is_binary(), |p| p.delta().flags().is_binary());
        let new = delta.new_file();
        let path = |file: git2::DiffFile<'_>| {
            String::from_utf8_lossy(file.path_bytes().unwrap_or_default()).into_owned()
        };
        let deleted = status == FileStatus::Deleted;
        // A gitlink (a nested repository the agent cloned) names a commit that is not here.
        let blob = (!deleted && new.mode() != FileMode::Commit).then(|| new.id());
        let size_bytes = match blob {
            Some(id) => blob_size(&odb, id).map_err(ws.git_error("reading a blob's size"))?,
            None => 0,
        };
        let content = match blob {
            Some(id) if !binary && size_bytes <= MAX_CONTENT_BYTES => {
                let blob = repo.find_blob(id).map_err(ws.git_error("reading a blob"))?;
                Some(String::from_utf8_lossy(blob.content()).into_owned())
            }
            _ => None,
        };
        files.push(ChangedFile {
            path: if deleted {
                path(delta.old_file())
            } else {
                path(new)
            },
            old_path: (status == FileStatus::Renamed).then(|| path(delta.old_file())),
            status,
            size_bytes,
            lines_added,
            lines_removed,
            binary,
            content,
        });
    }
    Ok(ChangeSet { files })
}

/// The tree of the commit the workspace was cloned at.
pub(crate) fn base_tree<'r>(
    repo: &'r Repository,
    ws: &Workspace,
) -> Result<git2::Tree<'r>, GitError> {
    Oid::from_str(&ws.base_commit)
        .and_then(|oid| repo.find_commit(oid))
        .and_then(|commit| commit.tree())
        .map_err(|e| {
            ws.error(format!(
                "cannot read base commit {}: {}",
                ws.base_commit,
                e.message()
            ))
        })
}

fn blob_size(odb: &git2::Odb<'_>, id: Oid) -> Result<u64, git2::Error> {
    odb.read_header(id).map(|(size, _)| size as u64)
}
