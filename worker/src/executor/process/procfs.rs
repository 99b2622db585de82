//! What the process executor learns from /proc: the resource use of a running process tree, and
//! the processes a crashed worker left behind.
//!
//! **What is measured** (sampled every [`SAMPLE_EVERY`] while the agent runs):
//! - peak memory: the largest *sum of resident set sizes* (VmRSS) over the tree rooted at the
//!   spawned process. Pages shared between processes are counted once per process, so it can
//!   overstate; a spike shorter than the sampling interval can be missed.
//! - CPU time: the largest sum over the tree of each process's user + system time plus that of
//!   its reaped children (`utime + stime + cutime + cstime`), so children that already exited
//!   still count. Work in the last interval before exit, and of processes that escaped the tree
//!   (reparented after a double fork), is not counted.
//!
//! No wait4 rusage: nix's safe API does not return it, `unsafe` is forbidden, and
//! `getrusage(RUSAGE_CHILDREN)` mixes every run of the worker together.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How often the process tree is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// Clock ticks per second in /proc/<pid>/stat. Linux reports these in USER_HZ, which is 100 on
/// every architecture it supports, whatever the kernel's internal HZ.
const USER_HZ: u64 = 100;

/// The environment variables that mark a process as part of a fleet sandbox. They are inherited
/// by everything the agent starts, which is what lets [`sweep`] find leftovers without any state
/// on disk.
pub(super) const MARK_WORKER: &str = "FLEET_EXEC_WORKER";
pub(super) const MARK_NAME: &str = "FLEET_EXEC_NAME";

/// Resource use seen so far; shared with the sampler so nothing is lost when it is stopped.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Usage {
    pub(super) peak_memory_bytes: Option<u64>,
    pub(super) cpu_time: Option<Duration>,
}

/// Samples the tree under `root` into `usage` until aborted.
pub(super) async fn sample_tree(root: u32, usage: Arc<Mutex<Usage>>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        // Reading /proc is blocking file I/O over every process of the host.
        let Ok(Some((rss, ticks))) = tokio::task::spawn_blocking(move || tree_usage(root)).await
        else {
            continue;
        };
        let cpu = Duration::from_millis(ticks * 1000 / USER_HZ);
        // A std Mutex: held for two comparisons, never across an await.
        let mut seen = usage.lock().unwrap_or_else(PoisonError::into_inner);
        seen.peak_memory_bytes = Some(seen.peak_memory_bytes.map_or(rss, |p| p.max(rss)));
        seen.cpu_time = Some(seen.cpu_time.map_or(cpu, |p| p.max(cpu)));
    }
}

/// One process as /proc/<pid>/stat shows it.
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces and parentheses: the
    // fields that follow start after the *last* ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); ppid is field 4, utime..cstime 14..17.
    let num = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: u32::try_from(num(4)?).ok()?,
        ticks: num(14)? + num(15)? + num(16)? + num(17)?,
    })
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Resident bytes and CPU ticks of `root` and all its descendants; None once `root` is gone.
fn tree_usage(root: u32) -> Option<(u64, u64)> {
    let stats: HashMap<u32, Stat> = all_pids()
        .into_iter()
        .filter_map(|pid| Some((pid, read_stat(pid)?)))
        .collect();
    stats.get(&root)?;
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, stat) in &stats {
        children.entry(stat.ppid).or_default().push(*pid);
    }
    let (mut rss, mut ticks) = (0, 0);
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        ticks += stats.get(&pid).map_or(0, |s| s.ticks);
        rss += resident_bytes(pid).unwrap_or(0);
        pending.extend(children.get(&pid).into_iter().flatten());
    }
    Some((rss, ticks))
}

fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Kills every process marked as a sandbox of `worker` and returns how many sandboxes (distinct
/// run names) that was. Blocking: scans all of /proc.
///
/// Reading another process's environment needs the same uid or root, which is exactly the set of
/// processes this worker could have started.
pub(super) fn sweep(worker: &str) -> usize {
    let own = std::process::id();
    let mut runs = BTreeSet::new();
    for pid in all_pids().into_iter().filter(|pid| *pid != own) {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let var = |key: &str| {
            environ.split(|b| *b == 0).find_map(|entry| {
                let value = entry.strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
                Some(String::from_utf8_lossy(value).into_owned())
            })
        };
        if var(MARK_WORKER).as_deref() != Some(worker) {
            continue;
        }
        let Ok(raw) = i32::try_from(pid) else {
            continue;
        };
        if kill(Pid::from_raw(raw), Signal::SIGKILL).is_ok() {
            tracing::info!(pid, "killed a process left by an earlier run");
            runs.insert(var(MARK_NAME).unwrap_or_default());
        }
    }
    runs.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_tree_is_measured() {
        let (rss, _ticks) = tree_usage(std::process::id()).expect("we exist");
        assert!(rss > 0);
        assert!(tree_usage(u32::MAX).is_none());
    }
}
