//! Synthetic git repositories for the benchmarks, written with `git fast-import` (seconds for
//! thousands of commits), and `git daemon` serving them over git:// on loopback.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::redis_server::free_port;

/// The shape of a synthetic repository.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Files in the tree (spread over directories of 100).
    pub files: usize,
    /// Commits on `main`, the first of which adds every file.
    pub commits: usize,
    /// Files each later commit changes (one line each).
    pub files_per_commit: usize,
    /// Lines per file (about 60 bytes each).
    pub lines: usize,
}

impl Shape {
    /// A handful of files and one commit: for benchmarks where the clone must not dominate.
    pub const TINY: Shape = Shape {
        files: 8,
        commits: 1,
        files_per_commit: 1,
        lines: 10,
    };
}

/// A bare repository `<name>.git` under a directory of its own.
pub struct BareRepo {
    pub root: PathBuf,
    pub name: String,
    /// Unix time of the last commit written, so later commits sort after it.
    last_time: u64,
}

impl BareRepo {
    /// Creates `root/<name>.git` with `shape`'s history on `main`.
    pub fn create(root: &Path, name: &str, shape: Shape) -> anyhow::Result<Self> {
        let name = format!("{name}.git");
        git(root, &["init", "--quiet", "--bare", "-b", "main", &name])?;
        let mut repo = BareRepo {
            root: root.to_path_buf(),
            name,
            last_time: 1_700_000_000,
        };
        let mut versions = vec![0usize; shape.files];
        let mut stream = Vec::new();
        for c in 0..shape.commits {
            let changed: Vec<usize> = if c == 0 {
                (0..shape.files).collect()
            } else {
                (0..shape.files_per_commit)
                    .map(|k| mix(c as u64, k as u64) as usize % shape.files)
                    .collect()
            };
            let mut body = Vec::new();
            for f in changed {
                if c > 0 {
                    versions[f] += 1;
                }
                let content = file_content(f, versions[f], shape.lines);
                writeln!(body, "M 100644 inline {}", file_path(f))?;
                writeln!(body, "data {}", content.len())?;
                body.extend_from_slice(content.as_bytes());
                body.push(b'\n');
            }
            repo.write_commit(&mut stream, &format!("commit {c}"), &body, None)?;
        }
        repo.fast_import(&stream)?;
        Ok(repo)
    }

    pub fn path(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    /// One more commit on `main` changing `file` (upstream moved on since the last clone).
    pub fn advance(&mut self, file: &str, content: &str) -> anyhow::Result<()> {
        let mut body = Vec::new();
        writeln!(body, "M 100644 inline {file}")?;
        writeln!(body, "data {}", content.len())?;
        body.extend_from_slice(content.as_bytes());
        body.push(b'\n');
        let mut stream = Vec::new();
        // A new fast-import process does not know the branch: name its parent explicitly.
        self.write_commit(
            &mut stream,
            "upstream moved on",
            &body,
            Some("refs/heads/main^0"),
        )?;
        self.fast_import(&stream)
    }

    /// Number of refs under refs/heads (pushed result branches pile up here).
    pub fn branch_count(&self) -> anyhow::Result<usize> {
        let out = git(
            &self.path(),
            &["for-each-ref", "--format=%(refname)", "refs/heads"],
        )?;
        Ok(out.lines().count())
    }

    fn write_commit(
        &mut self,
        stream: &mut Vec<u8>,
        message: &str,
        body: &[u8],
        from: Option<&str>,
    ) -> anyhow::Result<()> {
        self.last_time += 60;
        writeln!(stream, "commit refs/heads/main")?;
        writeln!(
            stream,
            "committer Bench <bench@example.com> {} +0000",
            self.last_time
        )?;
        writeln!(stream, "data {}", message.len())?;
        stream.extend_from_slice(message.as_bytes());
        stream.push(b'\n');
        if let Some(from) = from {
            writeln!(stream, "from {from}")?;
        }
        stream.extend_from_slice(body);
        stream.push(b'\n');
        Ok(())
    }

    fn fast_import(&self, stream: &[u8]) -> anyhow::Result<()> {
        let mut child = Command::new("git")
            .args(["fast-import", "--quiet"])
            .current_dir(self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("run git fast-import (is git installed?)")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(stream).context("feed git fast-import")?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "git fast-import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

fn file_path(f: usize) -> String {
    format!("src/module_{:03}/file_{f:05}.rs", f / 100)
}

/// Source-like text: every line stable except one that names the file's revision, so each
/// commit is a one-line change that deltas well, as real edits do.
fn file_content(f: usize, version: usize, lines: usize) -> String {
    let mut s = String::with_capacity(lines * 64);
    s.push_str(&format!("// file {f}: generated for fleet-bench\n"));
    for j in 0..lines {
        if version > 0 && j == version % lines {
            s.push_str(&format!(
                "pub const C{j}: u64 = {}; // revision {version}\n",
                mix(f as u64, (j * 1000 + version) as u64)
            ));
        } else {
            s.push_str(&format!(
                "pub const C{j}: u64 = {}; // stable line of module {}\n",
                mix(f as u64, j as u64),
                f / 100
            ));
        }
    }
    s
}

/// A cheap deterministic hash (splitmix64 of two numbers).
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs git in `dir`; returns stdout, or its stderr as the error.
pub fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .context("run git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `git daemon` serving every repository under one directory on a free loopback port, pushes
/// allowed; killed when dropped.
pub struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    pub fn start(base: &Path) -> anyhow::Result<Self> {
        for _ in 0..20 {
            let port = free_port()?;
            let mut child = Command::new("git")
                .arg("daemon")
                .arg("--export-all")
                .arg("--enable=receive-pack")
                .arg(format!("--base-path={}", base.display()))
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg("--reuseaddr")
                .arg(base)
                // Its own process group: `git daemon` runs git-daemon as a child and does not
                // pass a kill on, so the whole group is what must be stopped.
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("spawn git daemon")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(GitDaemon { child, port });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            kill_group(&mut child);
        }
        bail!("git daemon did not start on a free port")
    }

    /// The daemon's URL of `base/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("git://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// SIGKILLs the process group `child` leads (it was spawned with `process_group(0)`) and reaps
/// the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // ESRCH: the group is already gone.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.wait();
}
