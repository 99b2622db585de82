//! Turning the staged change into the one commit an order produces.

use git2::{Oid, Signature};

use super::Workspace;
use super::change::base_tree;
use super::error::GitError;
use super::workspace::open;

/// The workspace ref [`commit`] points at its commit and [`super::push_branch`] pushes from.
/// Outside `refs/heads/` so that nothing the agent did to branches can be mistaken for it.
pub(crate) const RESULT_REF: &str = "refs/fleet/result";

/// Who a commit is by; the committer is the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Must not contain `<` or `>` (git's rule; libgit2 rejects it).
    pub name: String,
    pub email: String,
}

/// What [`commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A commit (its sha) with the base commit as its only parent.
    Committed(String),
    /// The staged tree equals the base commit's: the agent changed nothing that git tracks.
    NothingToCommit,
}

/// Commits the index exactly as [`super::change_set`] staged it (call that first; this does not
/// stage again) on top of the base commit. Commits the agent made are folded into this one, so
/// the result branch is always the base plus one commit.
pub fn commit(ws: &Workspace, author: &Author, message: &str) -> Result<CommitOutcome, GitError> {
    let repo = open(ws)?;
    let tree_id = repo
        .index()
        .and_then(|mut index| index.write_tree())
        .map_err(ws.git_error("writing the staged tree"))?;
    let base_tree = base_tree(&repo, ws)?;
    if tree_id == base_tree.id() {
        return Ok(CommitOutcome::NothingToCommit);
    }
    let tree = repo
        .find_tree(tree_id)
        .map_err(ws.git_error("reading the staged tree"))?;
    let base = Oid::from_str(&ws.base_commit)
        .and_then(|oid| repo.find_commit(oid))
        .map_err(ws.git_error("reading the base commit"))?;
    let signature = Signature::now(&author.name, &author.email)
        .map_err(ws.git_error("the commit author is not valid"))?;
    let oid = repo
        .commit(None, &signature, &signature, message, &tree, &[&base])
        .map_err(ws.git_error("creating the commit"))?;
    repo.reference(RESULT_REF, oid, true, "fleet: order result")
        .map_err(ws.git_error("recording the commit"))?;
    tracing::info!(commit = %oid, base = %ws.base_commit, "committed the order's change");
    Ok(CommitOutcome::Committed(oid.to_string()))
}
