//! Docker images (and engine checks) for tests that need a real engine.
//!
//! Nothing is ever pulled: test hosts and CI may have no registry access, and fleet never pulls
//! either. Every image is built locally `FROM scratch` with a static busybox at /bin/busybox (its
//! applets installed in /bin) plus whatever files a test adds, and tagged with a hash of its
//! content, so an image that already exists is reused across test runs and a changed file gives
//! a new tag. Images carry [`TEST_LABEL`] so they can be cleaned up
//! (`docker image prune -a --filter label=io.fleet.test`).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Label on every test image.
pub const TEST_LABEL: &str = "io.fleet.test";

/// Where the static busybox comes from (Debian: package busybox-static). It must be static: the
/// image has no libc.
const BUSYBOX: &str = "/bin/busybox";

/// True when the `docker` CLI is installed and an engine answers it.
pub fn docker_available() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Panics, with what to do about it, unless an engine answers. Docker tests call this first so
/// that a host without an engine fails them loudly instead of letting them pass.
pub fn require_docker() {
    assert!(
        docker_available(),
        "no Docker engine answers `docker version`: these tests need a running dockerd \
         (CI installs and starts one; locally: `dockerd &`)"
    );
}

/// The plain test agent image: busybox only. Built at most once per test process.
pub fn agent_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| build_image("fleet-test-agent", &[]))
        .clone()
}

/// Builds (or reuses) a `FROM scratch` image with busybox and `files` — pairs of a host path and
/// the absolute path it gets in the image, mode preserved (e.g. a static `fleet-agent` helper at
/// /usr/local/bin/fleet-agent) — and returns its tag, `<tag_prefix>:<content hash>`.
///
/// Panics on failure: it is test setup.
pub fn build_image(tag_prefix: &str, files: &[(&Path, &str)]) -> String {
    // One build at a time per tag in this process: parallel tests asking for the same image wait
    // for the first build instead of racing it.
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

    let mut dockerfile = String::from(
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    );
    let mut hash = Fnv64::new();
    hash.bytes(&read(Path::new(BUSYBOX)));
    for (i, (host, in_image)) in files.iter().enumerate() {
        assert!(in_image.starts_with('/'), "{in_image:?} is not absolute");
        dockerfile.push_str(&format!("COPY files/{i} {in_image}\n"));
        hash.bytes(in_image.as_bytes());
        hash.bytes(&read(host));
    }
    hash.bytes(dockerfile.as_bytes());
    let content = format!("{:016x}", hash.finish());
    dockerfile.push_str(&format!(
        "LABEL {TEST_LABEL}=true {TEST_LABEL}.content={content}\n"
    ));
    let tag = format!("{tag_prefix}:{content}");

    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    let built = built.get_or_insert_with(HashSet::new);
    if !built.contains(&tag) && !image_exists(&tag) {
        build(&tag, &dockerfile, files);
    }
    built.insert(tag.clone());
    tag
}

/// Whether the engine has an image by that reference (it is never pulled).
pub fn image_exists(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// IDs of all containers, running or not, that carry `label` (`key` or `key=value`).
pub fn containers_labelled(label: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label={label}"),
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Force-removes every container that carries `label` (cleanup after a simulated crash).
pub fn remove_containers_labelled(label: &str) {
    for id in containers_labelled(label) {
        docker(&["rm", "-f", &id]);
    }
}

fn build(tag: &str, dockerfile: &str, files: &[(&Path, &str)]) {
    let context = tempfile::tempdir().expect("build context");
    let dir = context.path();
    std::fs::copy(BUSYBOX, dir.join("busybox")).expect("copy busybox into the build context");
    std::fs::create_dir(dir.join("files")).expect("files dir");
    for (i, (host, _)) in files.iter().enumerate() {
        std::fs::copy(host, dir.join("files").join(i.to_string()))
            .unwrap_or_else(|e| panic!("copy {} into the build context: {e}", host.display()));
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("write Dockerfile");
    docker(&["build", "-q", "-t", tag, &dir.to_string_lossy()]);
}

/// Runs the docker CLI and panics with its stderr if it fails.
fn docker(args: &[&str]) -> Output {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `docker`: {e}"));
    assert!(
        out.status.success(),
        "`docker {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// FNV-1a: a content hash that, unlike std's hasher, is the same across Rust versions, so a tag
/// built yesterday is found today.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        self.0 = self.0.rotate_left(5) ^ 0xff;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
