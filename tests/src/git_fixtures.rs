//! Real git repositories for the git module's tests, each in its own temp directory.
//!
//! - [`Upstream`]: a bare repository with commits on `main`, read back for assertions.
//! - [`GitDaemon`]: `git daemon` serving a directory over git:// with pushes enabled.
//! - [`FakeHttpServer`]: answers every request with one status (401, 404, 503), recording the
//!   requests, for the failure cases a real git server makes hard to provoke.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, RepositoryInitOptions, Signature};

use crate::free_port;

/// Files of the first commit on `main`.
pub const INITIAL_FILES: &[(&str, &str)] = &[
    ("README.md", "# app\n"),
    ("src/lib.rs", "pub fn answer() -> u32 {\n    42\n}\n"),
    ("docs/old.md", "obsolete\nnotes\n"),
    (".gitignore", "target/\n*.log\n"),
];

/// A bare repository `<name>.git` alone in a temp directory (served as `/<name>.git`).
pub struct Upstream {
    root: tempfile::TempDir,
    name: String,
}

impl Upstream {
    /// A bare repository whose `main` has one commit with [`INITIAL_FILES`].
    pub fn new(name: &str) -> Self {
        let root = tempfile::tempdir().expect("temp dir for upstream");
        let upstream = Upstream {
            root,
            name: format!("{name}.git"),
        };
        let mut options = RepositoryInitOptions::new();
        options.bare(true).initial_head("main");
        Repository::init_opts(upstream.path(), &options).expect("init bare upstream");
        let files: Vec<(&str, Option<&[u8]>)> = INITIAL_FILES
            .iter()
            .map(|(p, c)| (*p, Some(c.as_bytes())))
            .collect();
        upstream.commit("main", &files, "initial commit");
        upstream
    }

    /// The directory holding the repository: what a [`GitDaemon`] serves.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `<name>.git`, the repository's path on a [`GitDaemon`].
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> PathBuf {
        self.root.path().join(&self.name)
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    pub fn repo(&self) -> Repository {
        Repository::open_bare(self.path()).expect("open upstream")
    }

    /// Commits on `branch` (created at the empty tree if missing): each `(path, Some(content))`
    /// writes a file, `(path, None)` deletes one.
    pub fn commit(&self, branch: &str, changes: &[(&str, Option<&[u8]>)], message: &str) -> Oid {
        let repo = self.repo();
        let parent = self
            .tip(branch)
            .map(|oid| repo.find_commit(oid).expect("tip commit"));
        let baseline = match &parent {
            Some(commit) => commit.tree().expect("tip tree"),
            None => {
                let empty = repo.treebuilder(None).and_then(|b| b.write()).unwrap();
                repo.find_tree(empty).unwrap()
            }
        };
        let mut update = TreeUpdateBuilder::new();
        for (path, content) in changes {
            match content {
                Some(bytes) => {
                    let blob = repo.blob(bytes).expect("write blob");
                    update.upsert(*path, blob, FileMode::Blob);
                }
                None => {
                    update.remove(*path);
                }
            }
        }
        let tree = update.create_updated(&repo, &baseline).expect("tree");
        let tree = repo.find_tree(tree).unwrap();
        let signature = Signature::now("Upstream", "upstream@example.com").unwrap();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(
            Some(&format!("refs/heads/{branch}")),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .expect("commit upstream")
    }

    /// `n` more commits on `branch`, each rewriting `counter.txt`; returns the last.
    pub fn add_commits(&self, branch: &str, n: usize) -> Oid {
        let mut last = None;
        for i in 0..n {
            let content = format!("{i}\n");
            let message = format!("commit {i}");
            last = Some(self.commit(
                branch,
                &[("counter.txt", Some(content.as_bytes()))],
                &message,
            ));
        }
        last.expect("n > 0")
    }

    /// The branch's tip, if the branch exists.
    pub fn tip(&self, branch: &str) -> Option<Oid> {
        self.repo()
            .find_reference(&format!("refs/heads/{branch}"))
            .ok()
            .and_then(|r| r.target())
    }

    /// The tree of the branch's tip.
    pub fn tree(&self, branch: &str) -> Oid {
        let repo = self.repo();
        let tip = self.tip(branch).expect("branch exists");
        repo.find_commit(tip).unwrap().tree_id()
    }

    /// A file's bytes at the branch's tip; `None` when the file does not exist there.
    pub fn file(&self, branch: &str, path: &str) -> Option<Vec<u8>> {
        let repo = self.repo();
        let tip = self.tip(branch)?;
        let tree = repo.find_commit(tip).ok()?.tree().ok()?;
        let entry = tree.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(blob.content().to_vec())
    }

    /// The parents of a commit.
    pub fn parents(&self, commit: Oid) -> Vec<Oid> {
        self.repo()
            .find_commit(commit)
            .unwrap()
            .parent_ids()
            .collect()
    }
}

/// `git daemon` serving one directory on a free loopback port, killed when dropped.
pub struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    /// Serves every repository under `base` (`--export-all`), pushes allowed.
    pub fn start(base: &Path) -> Self {
        for _ in 0..20 {
            let port = free_port();
            let mut child = Command::new("git")
                .arg("daemon")
                .arg("--export-all")
                .arg("--enable=receive-pack")
                .arg(format!("--base-path={}", base.display()))
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg("--reuseaddr")
                .arg(base)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // `git daemon` runs the real daemon as a child of `git`: a group of its own lets
                // Drop kill both, not leave the daemon behind.
                .process_group(0)
                .spawn()
                .expect("spawn git daemon (is git installed?)");
            if wait_listening(&mut child, port) {
                return GitDaemon { child, port };
            }
            kill_group(&mut child);
        }
        panic!("git daemon did not start on a free port");
    }

    /// The daemon's address of the repository at `base/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("git://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// SIGKILLs the child's whole process group and reaps the child.
fn kill_group(child: &mut Child) {
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
}

/// True once `port` accepts connections; false if the child exits first (port taken) or 10 s
/// pass.
fn wait_listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// An HTTP server answering every request with one status and an empty body.
pub struct FakeHttpServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHttpServer {
    /// Answers `status` (with a Basic challenge when 401) until dropped.
    pub fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake http server");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        answer(stream, status, &requests);
                    }
                }
            })
        };
        FakeHttpServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// The head (request line and headers) of every request received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(mut stream: TcpStream, status: u16, requests: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    if head.is_empty() {
        return;
    }
    requests
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&head).into_owned());
    let challenge = if status == 401 {
        "WWW-Authenticate: Basic realm=\"fleet-test\"\r\n"
    } else {
        ""
    };
    let response = format!(
        "HTTP/1.1 {status} Fake\r\nContent-Length: 0\r\nConnection: close\r\n{challenge}\r\n"
    );
    let _ = stream.write_all(response.as_bytes());
}

/// The value of an `Authorization: Basic` header for `user:password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Runs the git CLI in `dir` and returns its stdout; panics with stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Agent")
        .env("GIT_AUTHOR_EMAIL", "agent@example.com")
        .env("GIT_COMMITTER_NAME", "Agent")
        .env("GIT_COMMITTER_EMAIL", "agent@example.com")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let bytes = std::fs::read(entry.path()).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}
