//! What the `heartbeats` benchmark prints.

use std::time::Duration;

use super::Case;
use crate::report::{Table, ratio, thousands};

pub(super) fn report(cases: &[Case], interval: Duration, window: Duration) {
    let mut t = Table::new(
        &format!(
            "heartbeats every {} s, maintenance every 500 ms; {} s window",
            interval.as_secs_f64(),
            window.as_secs_f64()
        ),
        &[
            "case",
            "workers",
            "queued",
            "beats/s",
            "Redis CPU %",
            "bench CPU %",
            "Redis cmds/s",
            "beat p50 ms",
            "beat p99 ms",
            "cycle p50 ms",
            "cycle p99 ms",
            "cycle max ms",
            "cycles",
            "leases lost",
        ],
    );
    for c in cases {
        t.row(vec![
            c.label.clone(),
            thousands(c.workers as f64),
            thousands(c.depth as f64),
            thousands(c.beats_per_s),
            format!("{:.1}", c.redis_cpu_pct),
            format!("{:.1}", c.bench_cpu_pct),
            thousands(c.redis_cmds_per_s),
            format!("{:.2}", c.beat_p50),
            format!("{:.2}", c.beat_p99),
            format!("{:.2}", c.cycle_p50),
            format!("{:.2}", c.cycle_p99),
            format!("{:.2}", c.cycle_max),
            c.cycles.to_string(),
            c.lost.to_string(),
        ]);
    }
    t.print();
    let Some(base) = cases.first() else {
        return;
    };
    let mut t = Table::new(
        "growth against the base case (ratios)",
        &[
            "case",
            "Redis CPU",
            "bench CPU",
            "Redis cmds/s",
            "beat p50",
            "cycle p50",
            "cycle p99",
        ],
    );
    for c in &cases[1..] {
        t.row(vec![
            c.label.clone(),
            ratio(c.redis_cpu_pct / base.redis_cpu_pct),
            ratio(c.bench_cpu_pct / base.bench_cpu_pct),
            ratio(c.redis_cmds_per_s / base.redis_cmds_per_s),
            ratio(c.beat_p50 / base.beat_p50),
            ratio(c.cycle_p50 / base.cycle_p50),
            ratio(c.cycle_p99 / base.cycle_p99),
        ]);
    }
    t.print();
}
