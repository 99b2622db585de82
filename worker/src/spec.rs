//! Turning a definition and an order into sandbox specs, one per phase.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use fleet_shared::WorkOrder;
use fleet_shared::definition::{Definition, Network, PlaceholderValues};

use crate::executor::{Limits, Mount, RunSpec};
use crate::order_dir::{FLEET_MOUNT, OrderDirs, WORKSPACE_MOUNT};
use crate::witness::CommandCheck;

/// Where the `fleet-agent` helper appears inside the sandbox (read-only), added to PATH.
///
/// Under /fleet rather than a system path: a read-only bind nested in the /fleet bind needs only
/// a mount point in the order's own directory, while one under /opt or /usr would need the
/// host (or the image) to have that directory already — bubblewrap binds those read-only.
pub const HELPER_MOUNT: &str = "/fleet/bin";

/// What every phase of one order shares.
pub struct PhaseContext<'a> {
    pub worker: &'a str,
    pub definition: &'a Definition,
    pub order: &'a WorkOrder,
    pub attempt: u32,
    pub dirs: &'a OrderDirs,
    /// Host directory holding the `fleet-agent` helper, mounted read-only when present.
    pub helper_dir: Option<&'a PathBuf>,
}

impl PhaseContext<'_> {
    /// The agent phase: the definition's command, with the order's placeholders filled in.
    /// Each argv element is passed to exec as is; nothing goes through a shell.
    pub fn agent(&self) -> RunSpec {
        let vars = PlaceholderValues::for_order(self.order, self.attempt);
        let argv = self.definition.render_command(&vars);
        let timeout = self
            .order
            .timeout()
            .min(self.definition.runtime.resources.timeout.duration());
        self.spec("agent", argv, timeout, self.definition.render_env(&vars))
    }

    /// A `require_command` witness, run in the same sandbox shape after the agent.
    pub fn witness(&self, check: &CommandCheck) -> RunSpec {
        let vars = PlaceholderValues::for_order(self.order, self.attempt);
        self.spec(
            &format!("witness-{}", check.constraint_id),
            check.argv.clone(),
            check.timeout,
            self.definition.render_env(&vars),
        )
    }

    fn spec(
        &self,
        phase: &str,
        argv: Vec<String>,
        timeout: Duration,
        definition_env: Vec<(String, String)>,
    ) -> RunSpec {
        let resources = &self.definition.runtime.resources;
        let mut env = definition_env;
        let mut path = String::from("/usr/local/bin:/usr/bin:/bin");
        let mut mounts = vec![
            Mount {
                host: self.dirs.workspace.clone(),
                container: WORKSPACE_MOUNT.into(),
                read_only: false,
            },
            Mount {
                host: self.dirs.fleet.clone(),
                container: FLEET_MOUNT.into(),
                read_only: false,
            },
        ];
        if let Some(helper) = self.helper_dir {
            mounts.push(Mount {
                host: helper.clone(),
                container: HELPER_MOUNT.into(),
                read_only: true,
            });
            path = format!("{HELPER_MOUNT}:{path}");
        }
        let id = self.order.id.as_str();
        for (key, value) in [
            ("FLEET_ORDER_ID", id.to_string()),
            ("FLEET_TASK_TYPE", self.order.task_type.to_string()),
            ("FLEET_ATTEMPT", self.attempt.to_string()),
            ("FLEET_ORDER_FILE", format!("{FLEET_MOUNT}/order.json")),
            ("FLEET_PROMPT_FILE", format!("{FLEET_MOUNT}/prompt.txt")),
            ("FLEET_EVENTS_FILE", format!("{FLEET_MOUNT}/events.jsonl")),
            ("FLEET_ANSWERS_DIR", format!("{FLEET_MOUNT}/answers")),
            ("FLEET_WORKSPACE", WORKSPACE_MOUNT.to_string()),
            ("FLEET_PHASE", phase.to_string()),
            ("HOME", "/tmp".to_string()),
            ("PATH", path),
        ] {
            env.retain(|(k, _)| k != key);
            env.push((key.to_string(), value));
        }
        RunSpec {
            name: format!("fleet-{}-{}-{}", self.worker, id, phase),
            image: self.definition.runtime.image.to_string(),
            argv,
            env,
            workdir: WORKSPACE_MOUNT.into(),
            mounts,
            network: self.definition.runtime.network == Network::Bridge,
            limits: Limits {
                memory_bytes: resources.memory.bytes(),
                cpus: resources.cpus,
                pids: resources.pids,
                tmpfs_bytes: resources
                    .disk
                    .bytes()
                    .min(Limits::default().tmpfs_bytes * 8),
            },
            timeout,
            user: self.definition.runtime.user.to_string(),
            labels: BTreeMap::from([(
                "io.fleet.definition".to_string(),
                self.definition.worker_id.to_string(),
            )]),
            worker: self.worker.to_string(),
            order: id.to_string(),
            phase: phase.to_string(),
        }
    }
}
