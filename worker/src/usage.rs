//! The worker process's own CPU and memory use, reported at each heartbeat.

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Samples this process. CPU use is measured between two samples, so keep one `Usage` alive.
pub struct Usage {
    /// `None` where sysinfo cannot read this platform's process table: usage then reads as 0.
    system: Option<System>,
    pid: Pid,
}

impl Usage {
    pub fn new() -> Self {
        Usage {
            system: System::new().ok(),
            pid: Pid::from_u32(std::process::id()),
        }
    }

    /// (CPU percent of one core since the last sample, resident memory in bytes).
    pub fn sample(&mut self) -> (f32, u64) {
        let Some(system) = self.system.as_mut() else {
            return (0.0, 0);
        };
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        system
            .process(self.pid)
            .map(|p| (p.cpu_usage(), p.memory()))
            .unwrap_or((0.0, 0))
    }
}

impl Default for Usage {
    fn default() -> Self {
        Self::new()
    }
}
