//! The Lua scripts, each prefixed with the shared prelude and the tables rendered from Rust.
//!
//! `redis::Script` runs EVALSHA and falls back to loading the script on NOSCRIPT (a restarted or
//! flushed Redis), so callers never see a missing script.

use std::fmt::Write;
use std::sync::LazyLock;

use redis::Script;

use crate::state::OrderState;

/// Histogram bounds (ms) per metric. /metrics reports the same buckets.
pub const HISTOGRAMS: &[(&str, &[i64])] = &[
    (
        "claim_wait",
        &[
            5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
            900_000, 3_600_000,
        ],
    ),
    (
        "run",
        &[
            100, 500, 1_000, 5_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_200_000,
            1_800_000, 3_600_000, 7_200_000,
        ],
    ),
];

/// Transitions kept per order in its history list.
pub const HISTORY_MAX: usize = 100;
/// Wake-up tokens kept per marker list: enough to wake every idle worker of a burst.
pub const MARKER_MAX: usize = 1024;

const PRELUDE: &str = include_str!("../../lua/prelude.lua");

/// Every transition script, loaded once per process.
pub struct Scripts {
    pub enqueue: Script,
    pub claim: Script,
    pub heartbeat: Script,
    pub complete: Script,
    pub fail: Script,
    pub release: Script,
    pub cancel: Script,
    pub reap: Script,
    pub abandon: Script,
    pub promote: Script,
    pub retry: Script,
    pub progress: Script,
    pub lock: Script,
    pub lost_workers: Script,
    pub ask: Script,
    pub answer: Script,
    pub resume: Script,
    pub approve: Script,
    pub reject: Script,
}

pub static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    enqueue: build(include_str!("../../lua/enqueue.lua")),
    claim: build(include_str!("../../lua/claim.lua")),
    heartbeat: build(include_str!("../../lua/heartbeat.lua")),
    complete: build(include_str!("../../lua/complete.lua")),
    fail: build(include_str!("../../lua/fail.lua")),
    release: build(include_str!("../../lua/release.lua")),
    cancel: build(include_str!("../../lua/cancel.lua")),
    reap: build(include_str!("../../lua/reap.lua")),
    abandon: build(include_str!("../../lua/abandon.lua")),
    promote: build(include_str!("../../lua/promote.lua")),
    retry: build(include_str!("../../lua/retry.lua")),
    progress: build(include_str!("../../lua/progress.lua")),
    lock: build(include_str!("../../lua/lock.lua")),
    lost_workers: build(include_str!("../../lua/lost_workers.lua")),
    ask: build(include_str!("../../lua/ask.lua")),
    answer: build(include_str!("../../lua/answer.lua")),
    resume: build(include_str!("../../lua/resume.lua")),
    approve: build(include_str!("../../lua/approve.lua")),
    reject: build(include_str!("../../lua/reject.lua")),
});

/// Prelude + body: one script text, so each transition stays one atomic EVALSHA.
pub fn build(body: &str) -> Script {
    Script::new(&source(body))
}

/// The full text of a script as Redis runs it.
pub fn source(body: &str) -> String {
    format!("{}\n{PRELUDE}\n{body}", rendered_tables())
}

/// The Lua tables rendered from the Rust definitions they mirror.
fn rendered_tables() -> String {
    let mut lua = String::from("local ALLOWED = {\n");
    for from in OrderState::ALL {
        let nexts: Vec<String> = OrderState::ALL
            .iter()
            .filter(|to| from.can_become(**to))
            .map(|to| format!("{to} = true"))
            .collect();
        let _ = writeln!(lua, "  {from} = {{ {} }},", nexts.join(", "));
    }
    lua.push_str("}\nlocal BUCKETS = {\n");
    for (metric, bounds) in HISTOGRAMS {
        let list: Vec<String> = bounds.iter().map(|b| b.to_string()).collect();
        let _ = writeln!(lua, "  {metric} = {{ {} }},", list.join(", "));
    }
    let _ = write!(
        lua,
        "}}\nlocal HISTORY_MAX = {HISTORY_MAX}\nlocal MARKER_MAX = {MARKER_MAX}\n\
         local LOST_AFTER_BEATS = {}\nlocal DEFAULT_HEARTBEAT_MS = {}\n",
        crate::registry::LOST_AFTER_MISSED_BEATS,
        crate::registry::DEFAULT_HEARTBEAT.as_millis()
    );
    lua
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_table_is_rendered_from_the_state_machine() {
        let lua = rendered_tables();
        assert!(
            lua.contains("queued = { running = true, cancelled = true },"),
            "{lua}"
        );
        assert!(lua.contains("succeeded = {  },"), "{lua}");
    }
}
