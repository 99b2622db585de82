//! The command line a [`RunSpec`] becomes: `prlimit <limits> -- [bwrap <sandbox> --] argv...`.
//! Pure argument building, no I/O besides looking at which system directories exist.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::executor::{ExecError, Limits, RunSpec};

/// Host directories the bubblewrap sandbox sees, read-only: enough to run the host's tools
/// (shells, git, compilers under /usr or /opt) and no more — not /home, /root, /var, /srv, /run
/// or the worker's data directory. A path that is a symlink on the host (merged /usr: /bin ->
/// usr/bin) is recreated as the same symlink.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// The `prlimit` options for `limits`.
///
/// rlimits are what a process can get without a cgroup (and without `unsafe`), and they are
/// weaker than the Docker executor's limits, as documented in the module docs:
/// - memory → `--data` (RLIMIT_DATA): per process, heap and private writable mappings, not
///   address-space reservations (RLIMIT_AS would break runtimes that reserve large ranges).
/// - pids → `--nproc` (RLIMIT_NPROC): counted per real uid across the whole host, so it is only
///   set when the sandbox has a uid of its own (`own_uid`); sharing the worker's uid it would
///   count the worker's processes too.
/// - `--core=0`: no core dumps in the workspace.
/// - cpus has no rlimit equivalent (RLIMIT_CPU is total seconds, not a rate); the timeout bounds
///   CPU use instead.
pub(super) fn prlimit_args(limits: &Limits, own_uid: bool) -> Vec<OsString> {
    let mut args = vec![
        format!("--data={}", limits.memory_bytes).into(),
        "--core=0".into(),
    ];
    if own_uid {
        args.push(format!("--nproc={}", limits.pids).into());
    }
    args.push("--".into());
    args
}

/// The bubblewrap options that build the sandbox for `spec`, up to and including the `--` that
/// precedes the agent's argv.
pub(super) fn bwrap_args(spec: &RunSpec) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
        args.extend(items.iter().map(|i| i.as_ref().to_os_string()));
    };
    // Every namespace (user, mount, pid, ipc, uts, cgroup, net); the user namespace maps the
    // sandbox's uid to itself, so `id -u` inside is the uid bwrap was started as.
    push(&[&"--unshare-all"]);
    if spec.network {
        push(&[&"--share-net"]);
    }
    push(&[
        &"--die-with-parent",
        &"--new-session",
        &"--cap-drop",
        &"ALL",
    ]);
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(path) {
                    push(&[&"--symlink", &target, &path]);
                }
            }
            Ok(meta) if meta.is_dir() => push(&[&"--ro-bind", &path, &path]),
            _ => {}
        }
    }
    if spec.network {
        // Where systemd-resolved hosts point /etc/resolv.conf; without it DNS fails.
        push(&[
            &"--ro-bind-try",
            &"/run/systemd/resolve",
            &"/run/systemd/resolve",
        ]);
    }
    let tmp_size = spec.limits.tmpfs_bytes.to_string();
    push(&[
        &"--dev", &"/dev", &"--proc", &"/proc", &"--size", &tmp_size, &"--tmpfs", &"/tmp",
    ]);
    // After /tmp and the system dirs, so a mount below one of them lands on top of it.
    for m in &spec.mounts {
        let kind = if m.read_only { "--ro-bind" } else { "--bind" };
        push(&[&kind, &m.host, &m.container]);
    }
    // The root itself is a tmpfs bwrap made to hold the mount points; once they exist it is made
    // read-only, like the Docker executor's root filesystem.
    push(&[&"--remount-ro", &"/", &"--chdir", &spec.workdir, &"--"]);
    args
}

/// Where the plain fallback starts the agent: the host directory mounted at (or above) the
/// spec's workdir. Without a sandbox there is no other way to honour the workdir.
pub(super) fn plain_cwd(spec: &RunSpec) -> Result<PathBuf, ExecError> {
    spec.mounts
        .iter()
        .filter_map(|m| {
            let target = m.container.trim_end_matches('/');
            let rest = spec.workdir.strip_prefix(target)?;
            if rest.is_empty() {
                Some((target.len(), m.host.clone()))
            } else {
                let rest = rest.strip_prefix('/')?;
                Some((target.len(), m.host.join(rest)))
            }
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, path)| path)
        .ok_or_else(|| {
            ExecError::InvalidSpec(format!(
                "{}: workdir {:?} is not inside a mount; without a sandbox it cannot be provided",
                spec.name, spec.workdir
            ))
        })
}

/// The environment variables that tell a plain-mode agent where its mounts really are:
/// `/workspace` → `FLEET_WORKSPACE`, `/fleet` → `FLEET_DIR`, any other `/a/b` →
/// `FLEET_MOUNT_A_B`, each set to the host path.
pub(super) fn plain_mount_env(spec: &RunSpec) -> Vec<(String, String)> {
    spec.mounts
        .iter()
        .map(|m| {
            let target = m.container.trim_matches('/');
            let name = match target {
                "workspace" => "FLEET_WORKSPACE".to_string(),
                "fleet" => "FLEET_DIR".to_string(),
                other => {
                    let upper: String = other
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() {
                                c.to_ascii_uppercase()
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    format!("FLEET_MOUNT_{upper}")
                }
            };
            (name, m.host.to_string_lossy().into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::executor::Mount;

    fn spec(workdir: &str) -> RunSpec {
        RunSpec {
            name: "n".into(),
            image: String::new(),
            argv: vec!["true".into()],
            env: vec![],
            workdir: workdir.into(),
            mounts: vec![
                Mount {
                    host: "/srv/ws".into(),
                    container: "/workspace".into(),
                    read_only: false,
                },
                Mount {
                    host: "/srv/meta".into(),
                    container: "/fleet".into(),
                    read_only: true,
                },
                Mount {
                    host: "/srv/npm".into(),
                    container: "/cache/npm-x".into(),
                    read_only: true,
                },
            ],
            network: false,
            limits: Limits::default(),
            timeout: Duration::from_secs(1),
            user: "1000:1000".into(),
            labels: BTreeMap::new(),
            worker: "w".into(),
            order: "o".into(),
            phase: "agent".into(),
        }
    }

    #[test]
    fn plain_mode_maps_the_workdir_onto_its_mount() {
        assert_eq!(plain_cwd(&spec("/workspace")).ok(), Some("/srv/ws".into()));
        assert_eq!(
            plain_cwd(&spec("/workspace/sub/dir")).ok(),
            Some("/srv/ws/sub/dir".into())
        );
        assert!(plain_cwd(&spec("/workspacex")).is_err());
        assert!(plain_cwd(&spec("/elsewhere")).is_err());
    }

    #[test]
    fn plain_mode_names_each_mount_in_the_environment() {
        let env = plain_mount_env(&spec("/workspace"));
        assert_eq!(
            env,
            [
                ("FLEET_WORKSPACE".to_string(), "/srv/ws".to_string()),
                ("FLEET_DIR".to_string(), "/srv/meta".to_string()),
                (
                    "FLEET_MOUNT_CACHE_NPM_X".to_string(),
                    "/srv/npm".to_string()
                ),
            ]
        );
    }

    #[test]
    fn the_sandbox_has_no_network_unless_allowed() {
        let mut s = spec("/workspace");
        let args = bwrap_args(&s);
        assert!(args.iter().any(|a| a == "--unshare-all"));
        assert!(!args.iter().any(|a| a == "--share-net"));
        s.network = true;
        assert!(bwrap_args(&s).iter().any(|a| a == "--share-net"));
        assert_eq!(
            bwrap_args(&s).last().map(|a| a.as_os_str()),
            Some("--".as_ref())
        );
    }
}
