//! The agent image the Docker benchmarks run: busybox, the static `fleet-agent` helper and the
//! test agent script (tests/fixtures/agent/agent.sh), built locally `FROM scratch` like the
//! integration tests' image, and the containers and files the benchmarks leave to clean up.
//!
//! Nothing is pulled. The image is tagged with a hash of its content and labelled
//! [`BENCH_LABEL`], so it is reused across runs and can be pruned
//! (`docker image prune -a --filter label=io.fleet.bench`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// Label on the benchmark's image and on the raw `docker run` containers it starts.
pub const BENCH_LABEL: &str = "io.fleet.bench";
/// The static busybox the image is made of (Debian: busybox-static).
const BUSYBOX: &str = "/bin/busybox";

/// The repository root (this crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory for this run: `CARGO_TARGET_DIR`, else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Builds the static `fleet-agent` helper with scripts/build-agent-helper.sh into
/// `<target>/static-helper` (cargo makes it a no-op when nothing changed); returns its path.
pub fn static_helper() -> anyhow::Result<PathBuf> {
    let root = repo_root();
    let out = Command::new(root.join("scripts/build-agent-helper.sh"))
        .arg(target_dir().join("static-helper"))
        .current_dir(&root)
        .output()
        .context("run scripts/build-agent-helper.sh")?;
    if !out.status.success() {
        bail!(
            "building the static fleet-agent helper failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Builds (or reuses) the benchmark agent image and returns its tag.
pub fn agent_image(helper: &Path) -> anyhow::Result<String> {
    let script = repo_root().join("tests/fixtures/agent/agent.sh");
    let files: [(&Path, &str); 2] = [
        (helper, "/bin/fleet-agent"),
        (script.as_path(), "/opt/test/agent.sh"),
    ];
    let mut dockerfile = String::from(
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    );
    let mut hash = Sha256::new();
    hash.update(read(Path::new(BUSYBOX))?);
    for (i, (host, in_image)) in files.iter().enumerate() {
        dockerfile.push_str(&format!("COPY files/{i} {in_image}\n"));
        hash.update(in_image.as_bytes());
        hash.update(read(host)?);
    }
    dockerfile.push_str(&format!("LABEL {BENCH_LABEL}=true\n"));
    hash.update(dockerfile.as_bytes());
    let content: String = hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let tag = format!("fleet-bench-agent:{content}");
    if docker(&["image", "inspect", "--format", "{{.Id}}", &tag]).is_ok() {
        return Ok(tag);
    }
    let context = tempfile::Builder::new()
        .prefix("fleet-bench-image-")
        .tempdir()?;
    let dir = context.path();
    std::fs::copy(BUSYBOX, dir.join("busybox")).context("copy busybox into the build context")?;
    std::fs::create_dir(dir.join("files"))?;
    for (i, (host, _)) in files.iter().enumerate() {
        std::fs::copy(host, dir.join("files").join(i.to_string()))
            .with_context(|| format!("copy {} into the build context", host.display()))?;
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile)?;
    docker(&["build", "-q", "-t", &tag, &dir.to_string_lossy()])?;
    Ok(tag)
}

/// Runs the docker CLI; its stderr becomes the error.
pub fn docker(args: &[&str]) -> anyhow::Result<Output> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .context("run the docker CLI")?;
    if !out.status.success() {
        bail!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Force-removes every container carrying `label` (`key=value`); returns how many.
pub fn remove_containers_labelled(label: &str) -> usize {
    let Ok(out) = docker(&["ps", "-aq", "--filter", &format!("label={label}")]) else {
        return 0;
    };
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for id in &ids {
        let _ = docker(&["rm", "-f", id]);
    }
    ids.len()
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("read {}", path.display()))
}
