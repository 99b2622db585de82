//! CPU time of processes from /proc, and signals to the processes a benchmark started.

use std::process::Command;
use std::sync::OnceLock;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Clock ticks per second of /proc's times (USER_HZ; 100 on every usual Linux).
fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds (user + system) of process `pid`; with `reaped_children`, also those of its
/// children that have exited and been waited for (an agent run by a worker). 0 when it is gone.
pub fn cpu_seconds(pid: u32, reaped_children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may contain spaces and parentheses; the fields start after the last ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let [utime, stime, cutime, cstime] = fields[..] else {
        return 0.0;
    };
    let ticks = utime
        + stime
        + if reaped_children {
            cutime + cstime
        } else {
            0.0
        };
    ticks / ticks_per_second()
}

/// CPU seconds of this benchmark process (all its threads).
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id(), false)
}

/// Sends `signal` to one process this benchmark started, by its id.
pub fn signal(pid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        // ESRCH: it already exited, which is what we wanted.
        let _ = kill(Pid::from_raw(raw), signal);
    }
}
