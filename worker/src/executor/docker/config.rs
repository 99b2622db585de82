//! The container a [`RunSpec`] becomes: every hardening option in one place, with no I/O, so it
//! can be read (and unit-tested) on its own.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType};

use crate::executor::prepare::RunAs;
use crate::executor::{ExecError, LABEL_MANAGED, LABEL_ORDER, LABEL_PHASE, LABEL_WORKER, RunSpec};

/// The engine also keeps a copy of the output in its log driver until the container is
/// removed. Pinned to a size-capped json-file whatever the daemon's default, so a runaway agent
/// cannot fill the disk in the meantime (the executor itself reads the attach, not this file).
const LOG_MAX_SIZE: &str = "64m";
const LOG_MAX_FILES: &str = "2";

/// The labels on every container of `spec`. The executor's own keys are written last, so a spec
/// cannot forge another worker's ownership.
pub(super) fn labels(spec: &RunSpec) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels.insert(LABEL_MANAGED.into(), "true".into());
    labels.insert(LABEL_WORKER.into(), spec.worker.clone());
    labels.insert(LABEL_ORDER.into(), spec.order.clone());
    labels.insert(LABEL_PHASE.into(), spec.phase.clone());
    labels
}

/// The create body for `spec`, running as `user`.
pub(super) fn container_body(
    spec: &RunSpec,
    user: RunAs,
) -> Result<ContainerCreateBody, ExecError> {
    let limits = &spec.limits;
    let too_big = |what: &str| ExecError::InvalidSpec(format!("{what} limit does not fit"));
    let memory = i64::try_from(limits.memory_bytes).map_err(|_| too_big("memory"))?;
    let pids = i64::try_from(limits.pids).map_err(|_| too_big("pids"))?;
    // Saturating float-to-int cast; validate() already refused non-positive and non-finite.
    let nano_cpus = (limits.cpus * 1e9).round() as i64;

    let mounts = spec
        .mounts
        .iter()
        .map(|m| Mount {
            typ: Some(MountType::BIND),
            source: Some(m.host.to_string_lossy().into_owned()),
            target: Some(m.container.clone()),
            read_only: Some(m.read_only),
            ..Mount::default()
        })
        .collect();

    // mode=1777: the agent is not root and must be able to write (and exec — compilers and test
    // runners do) in /tmp; nosuid/nodev keep it from being a way around the hardening.
    let tmpfs = HashMap::from([(
        "/tmp".to_string(),
        format!("rw,nosuid,nodev,mode=1777,size={}", limits.tmpfs_bytes),
    )]);

    let host_config = HostConfig {
        mounts: Some(mounts),
        tmpfs: Some(tmpfs),
        readonly_rootfs: Some(true),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        privileged: Some(false),
        ipc_mode: Some("private".into()),
        network_mode: Some(if spec.network { "bridge" } else { "none" }.into()),
        memory: Some(memory),
        // Equal to memory: no swap on top of the limit.
        memory_swap: Some(memory),
        nano_cpus: Some(nano_cpus),
        pids_limit: Some(pids),
        // The engine's tiny init (tini) as pid 1: it forwards the stop signal to the agent — an
        // agent that is pid 1 itself ignores SIGTERM unless it installs a handler, so every
        // timeout would take the full grace — and reaps orphaned grandchildren, which would
        // otherwise pile up as zombies against the pids limit.
        init: Some(true),
        auto_remove: Some(false),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), LOG_MAX_SIZE.to_string()),
                ("max-file".to_string(), LOG_MAX_FILES.to_string()),
            ])),
        }),
        ..HostConfig::default()
    };

    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        // The argv replaces the image's ENTRYPOINT and CMD entirely: what runs is exactly what
        // the spec says, never an image wrapper with the argv appended.
        entrypoint: Some(spec.argv.clone()),
        cmd: None,
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: Some(spec.workdir.clone()),
        user: Some(user.docker_user()),
        labels: Some(labels(spec)),
        network_disabled: Some(!spec.network),
        tty: Some(false),
        open_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::executor::Limits;

    fn spec() -> RunSpec {
        RunSpec {
            name: "fleet-w-1-o-agent".into(),
            image: "agent:1".into(),
            argv: vec!["/bin/agent".into(), "--go".into()],
            env: vec![("A".into(), "b c".into())],
            workdir: "/workspace".into(),
            mounts: vec![],
            network: false,
            limits: Limits::default(),
            timeout: Duration::from_secs(60),
            user: "1000:1000".into(),
            labels: BTreeMap::from([(LABEL_WORKER.to_string(), "someone-else".to_string())]),
            worker: "w-1".into(),
            order: "o".into(),
            phase: "agent".into(),
        }
    }

    #[test]
    fn the_container_is_hardened_and_labelled_by_default() {
        let user = RunAs {
            uid: 1000,
            gid: 1000,
        };
        let body = container_body(&spec(), user).expect("body");
        let host = body.host_config.expect("host config");
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.memory, host.memory_swap);
        assert_eq!(host.nano_cpus, Some(1_000_000_000));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert_eq!(body.env, Some(vec!["A=b c".to_string()]));
        let labels = body.labels.expect("labels");
        assert_eq!(
            labels[LABEL_WORKER], "w-1",
            "a spec label cannot override ownership"
        );
        assert_eq!(labels[LABEL_MANAGED], "true");
    }
}
