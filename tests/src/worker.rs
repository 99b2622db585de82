//! Workers for tests: the test agent image, definitions written per test, and a worker running
//! in-process (or as a real `fleet-worker` process for kill -9 tests).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fleet_shared::definition;
use fleet_shared::{OrderId, OrderState, Queue};
use fleet_worker::config::{Definitions, WorkerConfig};
use fleet_worker::executor::Executor;
use fleet_worker::executor::docker::DockerExecutor;
use fleet_worker::git::{Credentials, GitSettings};
use fleet_worker::runtime::{Shutdown, Worker};
use tokio::task::JoinHandle;

use crate::images::build_image;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The static `fleet-agent` helper, built once per test process.
pub fn static_helper() -> PathBuf {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let root = repo_root();
            let out = Command::new(root.join("scripts/build-agent-helper.sh"))
                .arg(root.join("target/static-helper"))
                .current_dir(&root)
                .output()
                .expect("run scripts/build-agent-helper.sh");
            assert!(
                out.status.success(),
                "building the static helper failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        })
        .clone()
}

/// The directory holding the static helper (what workers mount at /fleet/bin).
pub fn helper_dir() -> PathBuf {
    static_helper()
        .parent()
        .expect("the helper has a directory")
        .to_path_buf()
}

/// The test agent image: busybox, the static helper and tests/fixtures/agent/agent.sh.
pub fn test_agent_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let script = repo_root().join("tests/fixtures/agent/agent.sh");
            let helper = static_helper();
            build_image(
                "fleet-test-protocol-agent",
                &[
                    (helper.as_path(), "/bin/fleet-agent"),
                    (script.as_path(), "/opt/test/agent.sh"),
                ],
            )
        })
        .clone()
}

/// What a test definition may vary.
#[derive(Debug, Clone)]
pub struct DefinitionSpec {
    pub image: String,
    pub trust_level: &'static str,
    /// YAML of the `constraints:` list (without the key), or empty.
    pub constraints: String,
    pub clarification_timeout: &'static str,
    /// `fail`, or a default answer.
    pub on_timeout: Option<&'static str>,
    pub accepts: &'static str,
    /// (after_approved, to)
    pub escalation: Option<(u32, &'static str)>,
}

impl DefinitionSpec {
    pub fn new(image: &str) -> Self {
        DefinitionSpec {
            image: image.to_string(),
            trust_level: "autonomous",
            constraints: String::new(),
            clarification_timeout: "30m",
            on_timeout: None,
            accepts: "[feature, bugfix, test, docs, refactor, review]",
            escalation: None,
        }
    }

    /// Writes the definition into `dir` and returns its path.
    pub fn write(&self, dir: &Path, id: &str) -> PathBuf {
        let on_timeout = match self.on_timeout {
            None => "on_timeout: fail".to_string(),
            Some(answer) => format!("on_timeout: default\n  default_answer: {answer:?}"),
        };
        let constraints = if self.constraints.is_empty() {
            "[]".to_string()
        } else {
            format!("\n{}", self.constraints)
        };
        let yaml = format!(
            r#"worker_id: {id}
identity:
  name: "Test worker"
  system_prompt: "You are a test agent."
accepts: {accepts}
runtime:
  image: {image}
  command: ["/bin/sh", "/opt/test/agent.sh"]
  network: none
  resources:
    memory: 256m
    cpus: 1
    pids: 64
    timeout: 10m
    disk: 64m
trust_level: {trust}
{escalation}constraints: {constraints}
audit:
  log_all_actions: true
  retention_days: 7
clarification:
  timeout: {clarification_timeout}
  {on_timeout}
git:
  author_name: "fleet test"
  author_email: "fleet-test@localhost"
  commit_message: "fleet {{task_type}} {{order_id}}"
"#,
            accepts = self.accepts,
            image = self.image,
            trust = self.trust_level,
            escalation = match self.escalation {
                Some((after, to)) =>
                    format!("escalation:\n  after_approved: {after}\n  to: {to}\n"),
                None => String::new(),
            },
            clarification_timeout = self.clarification_timeout,
        );
        let path = dir.join(format!("{id}.yaml"));
        std::fs::write(&path, yaml).expect("write the test definition");
        path
    }
}

/// A worker running inside the test process. Dropping it forces a shutdown.
pub struct TestWorker {
    pub name: String,
    pub shutdown: Shutdown,
    pub work_dir: tempfile::TempDir,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    /// The definition's own directory when the worker wrote it (see [`TestWorker::for_spec`]).
    _definitions: Option<tempfile::TempDir>,
}

/// Tunables of a test worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub concurrency: usize,
    pub heartbeat: Duration,
    pub lease: Duration,
    pub grace: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 2,
            heartbeat: Duration::from_millis(300),
            lease: Duration::from_secs(60),
            grace: Duration::from_secs(10),
        }
    }
}

impl TestWorker {
    /// Starts a worker named `name` for a definition written from `spec` (its worker_id is
    /// `name` too), with the Docker executor.
    pub async fn for_spec(
        queue: &Queue,
        name: &str,
        spec: DefinitionSpec,
        options: WorkerOptions,
    ) -> Self {
        let definitions = tempfile::tempdir().expect("definitions dir");
        let path = spec.write(definitions.path(), name);
        let mut worker = Self::start(queue, name, &path, options).await;
        worker._definitions = Some(definitions);
        worker
    }

    /// Starts a worker named `name` with the Docker executor for the definition at `path`.
    pub async fn start(queue: &Queue, name: &str, path: &Path, options: WorkerOptions) -> Self {
        let work_dir = tempfile::tempdir().expect("worker dir");
        Self::start_in(queue, name, path, options, work_dir).await
    }

    /// Like [`TestWorker::start`], in a work dir the test prepared (e.g. with leftovers).
    pub async fn start_in(
        queue: &Queue,
        name: &str,
        path: &Path,
        options: WorkerOptions,
        work_dir: tempfile::TempDir,
    ) -> Self {
        let definition = definition::load_file(path).unwrap_or_else(|e| panic!("{e}"));
        let executor = DockerExecutor::connect().await.expect("a Docker engine");
        let mut git = GitSettings::new(work_dir.path().join("mirrors"));
        git.credentials = Credentials::none();
        let worker = Worker {
            config: WorkerConfig {
                name: name.to_string(),
                definitions: Definitions::new(vec![definition]).expect("one definition"),
                concurrency: options.concurrency,
                work_dir: work_dir.path().to_path_buf(),
                heartbeat: options.heartbeat,
                lease: options.lease,
                grace: options.grace,
                poll: Duration::from_millis(500),
                log_lines: 500,
            },
            queue: queue.clone(),
            executor: Arc::new(Executor::Docker(executor)),
            git: Arc::new(git),
            helper_dir: Some(helper_dir()),
        };
        let shutdown = Shutdown::default();
        let task = tokio::spawn(worker.run(shutdown.clone()));
        TestWorker {
            name: name.to_string(),
            shutdown,
            work_dir,
            task: Some(task),
            _definitions: None,
        }
    }

    /// Stops the worker the way a crash would: no drain, no hand-back, no deregistration. Its
    /// containers are left running, as after a kill -9.
    pub fn crash(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Drains and waits for the worker to exit.
    pub async fn drain(mut self) -> anyhow::Result<()> {
        self.shutdown.drain.cancel();
        match self.task.take() {
            Some(task) => tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("the worker stops within a minute")
                .expect("the worker task does not panic"),
            None => Ok(()),
        }
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.shutdown.drain.cancel();
        self.shutdown.force.cancel();
    }
}

/// Polls the order until `done(state)` holds, for at most `within`; returns its last record.
pub async fn wait_for_state(
    queue: &Queue,
    id: &OrderId,
    within: Duration,
    done: impl Fn(OrderState) -> bool,
) -> fleet_shared::queue::OrderRecord {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let record = queue.order(id).await.expect("read the order");
        if let Some(record) = &record
            && done(record.state)
        {
            return record.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {id} did not reach the expected state within {within:?}; it is {:?}",
            record.map(|r| (r.state, r.reason, r.error))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
