//! The worker's git module against real repositories: bare upstreams on disk, `git daemon`, and a
//! fake HTTP server for authentication and server failures.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fleet_shared::{BranchName, OrderId, RepoUrl};
use fleet_tests::free_port;
use fleet_tests::git_fixtures::{
    FakeHttpServer, GitDaemon, Upstream, basic_auth, files_containing, git,
};
use fleet_worker::change::FileStatus;
use fleet_worker::git::{
    Author, CommitOutcome, Credentials, GitError, GitSettings, Workspace, change_set, commit,
    mirror_path, prepare_workspace, push_branch,
};

/// A token value that must never be found on disk.
const SENTINEL: &str = "fleet-sentinel-token-7f3a9c";
/// The depth tests fetch with: small, so that shallowness is visible with a few commits.
const DEPTH: u32 = 3;

/// One test's cache and workspaces, removed when dropped.
struct Scratch {
    dir: tempfile::TempDir,
    settings: GitSettings,
    workspaces: AtomicUsize,
}

impl Scratch {
    fn new() -> Self {
        Self::with_credentials(Credentials::none())
    }

    fn with_credentials(credentials: Credentials) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = GitSettings::new(dir.path().join("cache"));
        settings.depth = DEPTH;
        settings.credentials = credentials;
        settings.timeout = Duration::from_secs(30);
        Scratch {
            dir,
            settings,
            workspaces: AtomicUsize::new(0),
        }
    }

    /// A fresh directory for the next workspace.
    fn dest(&self) -> PathBuf {
        let n = self.workspaces.fetch_add(1, Ordering::SeqCst);
        self.dir.path().join(format!("ws-{n}"))
    }

    fn prepare(&self, url: &str, branch: &str) -> Result<Workspace, GitError> {
        prepare_workspace(
            &self.settings,
            &repo(url),
            &branch_name(branch),
            &self.dest(),
        )
    }
}

fn repo(url: &str) -> RepoUrl {
    RepoUrl::parse(url).unwrap()
}

fn branch_name(name: &str) -> BranchName {
    BranchName::parse(name).unwrap()
}

fn result_branch() -> String {
    format!("fleet/feature/{}", OrderId::generate())
}

fn author() -> Author {
    Author {
        name: "Fleet Agent".into(),
        email: "agent@fleet.invalid".into(),
    }
}

fn write(ws: &Workspace, path: &str, content: &[u8]) {
    let path = ws.path.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn commit_count(dir: &Path) -> usize {
    git(dir, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap()
}

/// Edits, stages, commits: the steps between prepare and push.
fn commit_an_edit(ws: &Workspace) -> String {
    write(ws, "notes/todo.md", b"- ship it\n");
    assert!(!change_set(ws).unwrap().is_empty());
    match commit(ws, &author(), "Add todo").unwrap() {
        CommitOutcome::Committed(sha) => sha,
        CommitOutcome::NothingToCommit => panic!("expected a commit"),
    }
}

#[test]
fn clones_a_local_repository_in_full_over_a_file_url() {
    let upstream = Upstream::new("app");
    let tip = upstream.add_commits("main", 4);
    let scratch = Scratch::new();

    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();

    assert_eq!(ws.base_commit, tip.to_string());
    assert!(!ws.shallow);
    assert_eq!(commit_count(&ws.path), 5);
    assert_eq!(
        std::fs::read_to_string(ws.path.join("README.md")).unwrap(),
        "# app\n"
    );
    assert!(git(&ws.path, &["status", "--porcelain"]).is_empty());
    assert_eq!(
        git(&ws.path, &["remote", "get-url", "origin"]).trim(),
        upstream.file_url()
    );
    assert!(!ws.path.join(".git/objects/info/alternates").exists());
}

#[test]
fn clones_shallowly_over_the_git_protocol() {
    let upstream = Upstream::new("app");
    let tip = upstream.add_commits("main", 6);
    let daemon = GitDaemon::start(upstream.root());
    let scratch = Scratch::new();

    let ws = scratch
        .prepare(&daemon.url(upstream.name()), "main")
        .unwrap();

    assert_eq!(ws.base_commit, tip.to_string());
    assert!(ws.shallow);
    let commits = commit_count(&ws.path);
    assert!((1..=DEPTH as usize).contains(&commits), "{commits} commits");
    // The agent's own git must see a healthy repository.
    assert!(git(&ws.path, &["status", "--porcelain"]).is_empty());
    git(&ws.path, &["log", "--oneline"]);
    git(&ws.path, &["fsck", "--no-progress"]);
}

#[test]
fn an_agent_edit_is_reported_committed_and_pushed_as_the_result_branch() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    let png: Vec<u8> = [&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], &[0u8; 64]].concat();
    write(&ws, "notes/new.md", b"first\nsecond\n");
    write(&ws, "src/lib.rs", b"pub fn answer() -> u32 {\n    43\n}\n");
    std::fs::remove_file(ws.path.join("docs/old.md")).unwrap();
    write(&ws, "assets/logo.png", &png);
    write(&ws, "build.log", b"ignored by .gitignore\n");
    write(&ws, "target/debug/app", b"ignored too\n");

    let mut changes = change_set(&ws).unwrap();
    changes.files.sort_by(|a, b| a.path.cmp(&b.path));
    let summary: Vec<_> = changes
        .files
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                f.status,
                f.lines_added,
                f.lines_removed,
                f.binary,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("assets/logo.png", FileStatus::Added, 0, 0, true),
            ("docs/old.md", FileStatus::Deleted, 0, 2, false),
            ("notes/new.md", FileStatus::Added, 2, 0, false),
            ("src/lib.rs", FileStatus::Modified, 1, 1, false),
        ]
    );
    let file = |path: &str| changes.files.iter().find(|f| f.path == path).unwrap();
    assert_eq!(file("assets/logo.png").size_bytes, png.len() as u64);
    assert_eq!(file("assets/logo.png").content, None);
    assert_eq!(
        (
            file("docs/old.md").size_bytes,
            file("docs/old.md").content.as_deref()
        ),
        (0, None)
    );
    assert_eq!(
        file("notes/new.md").content.as_deref(),
        Some("first\nsecond\n")
    );
    assert_eq!(file("notes/new.md").size_bytes, 13);
    assert_eq!(changes.changed_lines(), 6);

    let CommitOutcome::Committed(sha) = commit(&ws, &author(), "Agent change").unwrap() else {
        panic!("expected a commit");
    };
    let branch = result_branch();
    push_branch(&scratch.settings, &ws, &branch).unwrap();

    let pushed = upstream.tip(&branch).unwrap();
    assert_eq!(pushed.to_string(), sha);
    assert_eq!(upstream.parents(pushed), [ws.base_commit.parse().unwrap()]);
    assert_eq!(upstream.tip("main").unwrap().to_string(), ws.base_commit);
    assert_eq!(upstream.file(&branch, "assets/logo.png").unwrap(), png);
    assert_eq!(upstream.file(&branch, "docs/old.md"), None);
    assert_eq!(upstream.file(&branch, "build.log"), None);
    let upstream_repo = upstream.repo();
    let commit = upstream_repo.find_commit(pushed).unwrap();
    assert_eq!(commit.author().name().ok(), Some("Fleet Agent"));
    assert_eq!(commit.committer().email().ok(), Some("agent@fleet.invalid"));
    assert_eq!(commit.message().ok(), Some("Agent change"));
}

#[test]
fn renames_and_mode_changes_are_classified() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    std::fs::rename(ws.path.join("docs/old.md"), ws.path.join("docs/kept.md")).unwrap();
    let readme = ws.path.join("README.md");
    std::fs::set_permissions(&readme, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut changes = change_set(&ws).unwrap();
    changes.files.sort_by(|a, b| a.path.cmp(&b.path));
    let summary: Vec<_> = changes
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.old_path.as_deref(), f.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("README.md", None, FileStatus::TypeChanged),
            ("docs/kept.md", Some("docs/old.md"), FileStatus::Renamed),
        ]
    );
}

#[test]
fn commits_the_agent_made_are_folded_into_one_result_commit() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    write(&ws, "committed.txt", b"by the agent\n");
    git(&ws.path, &["add", "committed.txt"]);
    git(&ws.path, &["commit", "-q", "-m", "agent commit"]);
    write(&ws, "uncommitted.txt", b"left in the tree\n");

    let changes = change_set(&ws).unwrap();
    let mut paths: Vec<_> = changes.files.iter().map(|f| f.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["committed.txt", "uncommitted.txt"]);
    commit(&ws, &author(), "Result").unwrap();
    let branch = result_branch();
    push_branch(&scratch.settings, &ws, &branch).unwrap();

    let pushed = upstream.tip(&branch).unwrap();
    assert_eq!(upstream.parents(pushed), [ws.base_commit.parse().unwrap()]);
    assert!(upstream.file(&branch, "committed.txt").is_some());
    assert!(upstream.file(&branch, "uncommitted.txt").is_some());
}

#[test]
fn a_repository_the_agent_cloned_inside_is_staged_as_a_gitlink_like_git_add() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    let nested = ws.path.join("vendor/dep");
    std::fs::create_dir_all(&nested).unwrap();
    git(&nested, &["init", "-q"]);
    std::fs::write(nested.join("dep.rs"), "// dependency\n").unwrap();
    git(&nested, &["add", "dep.rs"]);
    git(&nested, &["commit", "-q", "-m", "dep"]);

    let changes = change_set(&ws).unwrap();

    let summary: Vec<_> = changes
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.status, f.size_bytes, f.content.is_some()))
        .collect();
    assert_eq!(summary, [("vendor/dep", FileStatus::Added, 0, false)]);
}

#[test]
fn an_unchanged_workspace_has_nothing_to_commit() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    write(&ws, "debug.log", b"only an ignored file\n");

    assert!(change_set(&ws).unwrap().is_empty());
    assert_eq!(
        commit(&ws, &author(), "nothing").unwrap(),
        CommitOutcome::NothingToCommit
    );
    let err = push_branch(&scratch.settings, &ws, &result_branch()).unwrap_err();
    assert!(matches!(err, GitError::PushRefused { .. }), "{err}");
}

#[test]
fn pushes_from_a_shallow_workspace_over_the_git_protocol() {
    let upstream = Upstream::new("app");
    upstream.add_commits("main", 6);
    let daemon = GitDaemon::start(upstream.root());
    let scratch = Scratch::new();
    let ws = scratch
        .prepare(&daemon.url(upstream.name()), "main")
        .unwrap();
    assert!(ws.shallow);

    let sha = commit_an_edit(&ws);
    let branch = result_branch();
    push_branch(&scratch.settings, &ws, &branch).unwrap();

    assert_eq!(upstream.tip(&branch).unwrap().to_string(), sha);
    assert_eq!(
        upstream.file(&branch, "notes/todo.md").unwrap(),
        b"- ship it\n"
    );
    assert_eq!(upstream.tip("main").unwrap().to_string(), ws.base_commit);
}

#[test]
fn a_warm_mirror_is_reused_and_fetches_only_new_objects() {
    let upstream = Upstream::new("app");
    upstream.add_commits("main", 5);
    let daemon = GitDaemon::start(upstream.root());
    for url in [upstream.file_url(), daemon.url(upstream.name())] {
        let scratch = Scratch::new();
        let first = scratch.prepare(&url, "main").unwrap();
        assert!(!first.stats.mirror_reused, "{url}");
        assert!(mirror_path(&scratch.settings.cache_dir, &repo(&url)).is_dir());

        let new_tip = upstream.commit("main", &[("NEWS.md", Some(b"new\n"))], "news");
        let second = scratch.prepare(&url, "main").unwrap();

        assert!(second.stats.mirror_reused, "{url}");
        assert_eq!(second.base_commit, new_tip.to_string(), "{url}");
        // The new commit, its tree and its blob; nothing the mirror already had.
        assert!(
            (1..=3).contains(&second.stats.received_objects),
            "{url}: {:?}",
            second.stats
        );
        assert_eq!(
            std::fs::read_to_string(second.path.join("NEWS.md")).unwrap(),
            "new\n"
        );
        // Updating a shallow mirror must leave a consistent boundary in the copy.
        git(&second.path, &["fsck", "--no-progress"]);
        if second.shallow {
            assert!(commit_count(&second.path) <= DEPTH as usize, "{url}");
        }
    }
}

#[test]
fn a_mirror_with_too_many_packs_is_rebuilt() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let url = upstream.file_url();
    scratch.prepare(&url, "main").unwrap();
    let packs = mirror_path(&scratch.settings.cache_dir, &repo(&url)).join("objects/pack");
    for i in 0..100 {
        std::fs::write(packs.join(format!("pack-fake{i}.pack")), b"").unwrap();
    }

    let ws = scratch.prepare(&url, "main").unwrap();

    assert!(!ws.stats.mirror_reused);
    assert_eq!(ws.base_commit, upstream.tip("main").unwrap().to_string());
}

#[test]
fn a_used_workspace_directory_is_refused_and_the_mirror_kept() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let url = upstream.file_url();
    let ws = scratch.prepare(&url, "main").unwrap();

    let err = prepare_workspace(
        &scratch.settings,
        &repo(&url),
        &branch_name("main"),
        &ws.path,
    )
    .unwrap_err();

    assert!(matches!(err, GitError::Workspace { .. }), "{err}");
    assert!(scratch.prepare(&url, "main").unwrap().stats.mirror_reused);
}

#[test]
fn concurrent_orders_on_one_repository_both_succeed() {
    let upstream = Upstream::new("app");
    let tip = upstream.add_commits("main", 3);
    let daemon = GitDaemon::start(upstream.root());
    let scratch = Scratch::new();
    let url = daemon.url(upstream.name());
    let start = Barrier::new(2);

    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    scratch.prepare(&url, "main")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    for result in results {
        let ws = result.unwrap();
        assert_eq!(ws.base_commit, tip.to_string());
        assert!(git(&ws.path, &["status", "--porcelain"]).is_empty());
    }
}

#[test]
fn a_missing_branch_fails_permanently_naming_the_branch() {
    let upstream = Upstream::new("app");
    let daemon = GitDaemon::start(upstream.root());
    for url in [upstream.file_url(), daemon.url(upstream.name())] {
        let err = Scratch::new().prepare(&url, "no-such-branch").unwrap_err();
        assert!(matches!(err, GitError::BranchNotFound { .. }), "{err}");
        assert!(!err.is_transient());
        let message = err.to_string();
        assert!(message.contains("'no-such-branch'"), "{message}");
        assert!(message.contains(&url), "{message}");
    }
}

#[test]
fn a_nonexistent_local_repository_fails_permanently() {
    let scratch = Scratch::new();
    let missing = scratch.dir.path().join("missing.git");
    for url in [
        missing.display().to_string(),
        format!("file://{}", missing.display()),
    ] {
        let err = scratch.prepare(&url, "main").unwrap_err();
        assert!(matches!(err, GitError::RepositoryNotFound { .. }), "{err}");
        assert!(!err.is_transient());
    }
}

#[test]
fn a_repository_the_daemon_does_not_serve_fails_permanently() {
    let upstream = Upstream::new("app");
    let daemon = GitDaemon::start(upstream.root());

    let err = Scratch::new()
        .prepare(&daemon.url("not-exported.git"), "main")
        .unwrap_err();

    assert!(matches!(err, GitError::RepositoryNotFound { .. }), "{err}");
    assert!(!err.is_transient());
}

#[test]
fn a_closed_port_fails_transiently() {
    let url = format!("git://127.0.0.1:{}/app.git", free_port());

    let err = Scratch::new().prepare(&url, "main").unwrap_err();

    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(err.is_transient());
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn rejected_credentials_fail_permanently_after_few_attempts() {
    let server = FakeHttpServer::start(401);
    let scratch = Scratch::with_credentials(Credentials::token("fleet-bot", SENTINEL));

    let err = scratch
        .prepare(&server.url("team/app.git"), "main")
        .unwrap_err();

    assert!(matches!(err, GitError::AuthFailed { .. }), "{err}");
    assert!(!err.is_transient());
    assert!(!err.to_string().contains(SENTINEL), "{err}");
    let requests = server.requests();
    assert!(requests.len() <= 4, "{} requests", requests.len());
    let header = format!("Authorization: {}", basic_auth("fleet-bot", SENTINEL));
    assert!(requests.iter().any(|r| r.contains(&header)), "{requests:?}");
}

#[test]
fn a_server_asking_for_credentials_when_none_are_configured_fails_permanently() {
    let server = FakeHttpServer::start(401);

    let err = Scratch::new()
        .prepare(&server.url("app.git"), "main")
        .unwrap_err();

    assert!(matches!(err, GitError::AuthFailed { .. }), "{err}");
    assert!(err.to_string().contains("none are configured"), "{err}");
    assert!(server.requests().len() <= 2);
}

#[test]
fn http_server_errors_are_transient_and_not_found_is_permanent() {
    let unavailable = FakeHttpServer::start(503);
    let err = Scratch::new()
        .prepare(&unavailable.url("app.git"), "main")
        .unwrap_err();
    assert!(err.is_transient(), "{err}");

    let missing = FakeHttpServer::start(404);
    let err = Scratch::new()
        .prepare(&missing.url("app.git"), "main")
        .unwrap_err();
    assert!(matches!(err, GitError::RepositoryNotFound { .. }), "{err}");
}

#[test]
fn credentials_never_land_in_the_workspace_or_the_mirror() {
    let upstream = Upstream::new("app");
    let daemon = GitDaemon::start(upstream.root());
    let scratch = Scratch::with_credentials(Credentials::token("fleet-bot", SENTINEL));
    // Userinfo in the URL is a token too, as far as fleet knows.
    let url = daemon
        .url(upstream.name())
        .replace("git://", &format!("git://{SENTINEL}@"));

    let ws = scratch.prepare(&url, "main").unwrap();
    commit_an_edit(&ws);
    push_branch(&scratch.settings, &ws, &result_branch()).unwrap();

    assert_eq!(
        git(&ws.path, &["remote", "get-url", "origin"]).trim(),
        daemon.url(upstream.name())
    );
    assert_eq!(
        files_containing(scratch.dir.path(), SENTINEL.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert!(!format!("{:?}", scratch.settings).contains(SENTINEL));
}

#[test]
fn ssh_urls_fail_permanently_without_ssh_support() {
    for url in [
        "git@github.com:team/app.git",
        "ssh://git@127.0.0.1:1/app.git",
    ] {
        let err = Scratch::new().prepare(url, "main").unwrap_err();
        assert!(matches!(err, GitError::SshUnsupported { .. }), "{err}");
        assert!(!err.is_transient());
        assert!(err.to_string().contains("SSH support"), "{err}");
    }
}

#[test]
fn only_result_branches_are_pushed() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    commit_an_edit(&ws);

    for branch in ["main", "feature/x", "fleet/feature/not-an-id"] {
        let err = push_branch(&scratch.settings, &ws, branch).unwrap_err();
        assert!(
            matches!(err, GitError::PushRefused { .. }),
            "{branch}: {err}"
        );
    }
    assert_eq!(upstream.tip("main").unwrap().to_string(), ws.base_commit);
    assert_eq!(upstream.tip("feature/x"), None);
}

#[test]
fn a_later_attempt_replaces_the_result_branch_an_earlier_attempt_pushed() {
    let upstream = Upstream::new("app");
    let daemon = GitDaemon::start(upstream.root());
    let scratch = Scratch::new();
    let ws = scratch
        .prepare(&daemon.url(upstream.name()), "main")
        .unwrap();
    commit_an_edit(&ws);
    let branch = result_branch();
    // What an earlier attempt of the same order left: pushed, but never recorded as done.
    let earlier = upstream.commit(&branch, &[("other.txt", Some(b"x\n"))], "earlier attempt");

    push_branch(&scratch.settings, &ws, &branch).unwrap();

    let tip = upstream.tip(&branch).unwrap();
    assert_ne!(tip, earlier);
    assert_eq!(
        upstream.tip("main").unwrap().to_string(),
        ws.base_commit,
        "only the order's own branch moves"
    );
}

#[test]
fn a_symlink_the_agent_made_is_staged_as_a_link_not_as_its_target() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let secret = scratch.dir.path().join("host-secret");
    std::fs::write(&secret, SENTINEL).unwrap();
    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    std::os::unix::fs::symlink(&secret, ws.path.join("leak")).unwrap();

    let changes = change_set(&ws).unwrap();

    let leak = &changes.files[0];
    assert_eq!(
        (leak.path.as_str(), leak.status),
        ("leak", FileStatus::Added)
    );
    assert_eq!(leak.content.as_deref(), secret.to_str());
}

#[test]
fn a_workspace_the_agent_redirected_is_refused() {
    let upstream = Upstream::new("app");
    let scratch = Scratch::new();
    let elsewhere = scratch.dir.path().join("host-secrets");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("token"), SENTINEL).unwrap();

    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    git(
        &ws.path,
        &["config", "core.worktree", elsewhere.to_str().unwrap()],
    );
    let err = change_set(&ws).unwrap_err();
    assert!(matches!(err, GitError::Workspace { .. }), "{err}");

    let ws = scratch.prepare(&upstream.file_url(), "main").unwrap();
    let alternates = ws.path.join(".git/objects/info/alternates");
    std::fs::write(
        alternates,
        format!("{}\n", upstream.path().join("objects").display()),
    )
    .unwrap();
    let err = change_set(&ws).unwrap_err();
    assert!(matches!(err, GitError::Workspace { .. }), "{err}");
}
