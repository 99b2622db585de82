//! Pushing an order's commit as its result branch, and nothing else.

use std::str::FromStr;

use fleet_shared::{OrderId, TaskType};
use git2::{Oid, ProxyOptions, PushOptions};

use super::commit::RESULT_REF;
use super::credentials::{is_ssh_url, redact_url};
use super::error::{Action, GitError};
use super::remote::Session;
use super::workspace::open;
use super::{GitSettings, Workspace};

/// Pushes the commit made by [`super::commit`] to the workspace's repository as `branch`, which
/// must be a result branch `fleet/<type>/<order-id>` ([`fleet_shared::WorkOrder::result_branch`]).
///
/// The update is forced, and only ever for that branch: it belongs to this one order, and an
/// existing copy can only be what an earlier attempt of the same order pushed before it died or
/// failed to record its result. A retried order must replace it, not fail on it. Every other
/// ref is refused above, so nothing outside the order's own branch is ever overwritten.
pub fn push_branch(settings: &GitSettings, ws: &Workspace, branch: &str) -> Result<(), GitError> {
    let repo_name = redact_url(ws.repo.as_str());
    let refused = |reason: String| GitError::PushRefused {
        repo: repo_name.clone(),
        branch: branch.to_string(),
        reason,
    };
    check_result_branch(branch).map_err(|why| refused(why.to_string()))?;
    if branch == ws.branch.as_str() {
        return Err(refused("it is the order's base branch".into()));
    }
    if is_ssh_url(ws.repo.as_str()) && !git2::Version::get().ssh() {
        return Err(GitError::SshUnsupported {
            repo: repo_name,
            branch: branch.to_string(),
        });
    }

    let repo = open(ws)?;
    let commit = repo
        .find_reference(RESULT_REF)
        .and_then(|r| r.peel_to_commit())
        .map_err(|_| refused("nothing was committed (commit() returns a commit first)".into()))?;
    let base = Oid::from_str(&ws.base_commit).ok();
    if commit.parent_count() != 1 || commit.parent_id(0).ok() != base {
        return Err(refused(format!(
            "commit {} is not a single commit on top of base {}",
            commit.id(),
            ws.base_commit
        )));
    }
    let local_ref = format!("refs/heads/{branch}");
    repo.reference(&local_ref, commit.id(), true, "fleet: result branch")
        .map_err(|e| ws.error(format!("creating {local_ref}: {}", e.message())))?;

    let session = Session::new(&settings.credentials, settings.timeout);
    let fail = |e: &git2::Error| session.classify(e, &repo_name, branch, Action::Push);
    // Anonymous: the URL (and any userinfo in it) is used for this push only, never stored.
    let mut remote = repo
        .remote_anonymous(ws.repo.as_str())
        .map_err(|e| fail(&e))?;
    let mut options = PushOptions::new();
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    options
        .remote_callbacks(session.callbacks())
        .proxy_options(proxy);
    // '+': replace what an earlier attempt of this order pushed (see the doc comment).
    let refspec = format!("+{local_ref}:{local_ref}");
    remote
        .push(&[refspec.as_str()], Some(&mut options))
        .map_err(|e| fail(&e))?;
    let rejections = session.rejections();
    if !rejections.is_empty() {
        return Err(GitError::PushRejected {
            repo: repo_name,
            branch: branch.to_string(),
            reason: rejections.join("; "),
        });
    }
    tracing::info!(repo = %repo_name, branch, commit = %commit.id(), "pushed the result branch");
    Ok(())
}

/// Accepts exactly `fleet/<task type>/<order id>` with the id in its normal form.
fn check_result_branch(branch: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = branch.split('/').collect();
    let [prefix, task_type, id] = parts.as_slice() else {
        return Err("only result branches fleet/<type>/<order-id> are pushed");
    };
    if *prefix != "fleet" || TaskType::from_str(task_type).is_err() {
        return Err("only result branches fleet/<type>/<order-id> are pushed");
    }
    match OrderId::from_str(id) {
        Ok(parsed) if parsed.as_str() == *id => Ok(()),
        _ => Err("the last part of a result branch must be an order id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_result_branches_pass() {
        let id = OrderId::generate();
        assert!(check_result_branch(&format!("fleet/feature/{id}")).is_ok());
        for bad in [
            "main".to_string(),
            format!("fleet/chore/{id}"),
            format!("fleet/feature/{}", id.as_str().to_uppercase()),
            "fleet/feature/not-an-id".to_string(),
            format!("fleet/feature/{id}/x"),
            format!("other/feature/{id}"),
        ] {
            assert!(check_result_branch(&bad).is_err(), "{bad}");
        }
    }
}
