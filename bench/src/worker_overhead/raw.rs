//! The raw side: `docker run --rm` of the agent image and argv, with the same bind mounts.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};

use super::AGENT_ARGV;
use crate::fleet::{MEMORY, PIDS};

/// One `docker run --rm` of the agent image and argv, timed around the CLI; returns ms.
pub(super) async fn raw_run(
    image: &str,
    label: &str,
    tmp: &Path,
    tag: &str,
    hardened: bool,
) -> anyhow::Result<f64> {
    let dir = tmp.join("raw").join(tag);
    let (workspace, fleet) = (dir.join("workspace"), dir.join("fleet"));
    for d in [&workspace, &fleet] {
        std::fs::create_dir_all(d)?;
        // World-writable: the hardened run's user (65534) must write here, as fleet's chown
        // lets it.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777))?;
    }
    std::fs::write(fleet.join("prompt.txt"), format!("edit bench.txt {tag}"))?;
    std::fs::write(fleet.join("events.jsonl"), b"")?;
    std::fs::set_permissions(
        fleet.join("events.jsonl"),
        std::fs::Permissions::from_mode(0o666),
    )?;
    let mut args: Vec<String> = vec!["run".into(), "--rm".into(), "--label".into(), label.into()];
    args.extend(bind(&workspace, "/workspace"));
    args.extend(bind(&fleet, "/fleet"));
    args.extend(["-w".into(), "/workspace".into()]);
    if hardened {
        // What fleet's Docker executor sets (worker/src/executor/docker/config.rs).
        // The tmpfs size is the executor's: the definition's disk, capped (512m is under it).
        for a in [
            "--user=65534:65534".to_string(),
            "--read-only".into(),
            "--tmpfs=/tmp:rw,nosuid,nodev,mode=1777,size=536870912".into(),
            "--cap-drop=ALL".into(),
            "--security-opt=no-new-privileges".into(),
            "--ipc=private".into(),
            "--network=none".into(),
            format!("--memory={MEMORY}"),
            format!("--memory-swap={MEMORY}"),
            "--cpus=1".into(),
            format!("--pids-limit={PIDS}"),
            "--init".into(),
            "--log-opt=max-size=64m".into(),
            "--log-opt=max-file=2".into(),
        ] {
            args.push(a);
        }
    }
    args.push(image.into());
    args.extend(AGENT_ARGV.iter().map(|s| s.to_string()));
    let started = Instant::now();
    // tokio's Command: the in-process worker shares this runtime and must not be blocked.
    let out = tokio::process::Command::new("docker")
        .args(&args)
        .output()
        .await
        .context("run the docker CLI")?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        bail!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if !workspace.join("bench.txt").exists() {
        bail!("the raw run did not write bench.txt");
    }
    Ok(elapsed)
}

fn bind(host: &Path, container: &str) -> [String; 2] {
    ["-v".into(), format!("{}:{container}", host.display())]
}
