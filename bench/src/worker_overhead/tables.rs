//! What the `worker-overhead` benchmark prints.

use super::Phases;
use crate::report::{Table, Targets, median, ms, percentile, ratio};

pub(super) fn report(fleet: &[Phases], plain: &[f64], hardened: &[f64], target: f64) -> bool {
    let col = |f: fn(&Phases) -> f64| fleet.iter().map(f).collect::<Vec<f64>>();
    let total = col(|p| p.total);
    let mut t = Table::new(
        &format!(
            "per-order time, ms (median and p90 of {} orders, side by side)",
            fleet.len()
        ),
        &["what", "median", "p90", "÷ raw docker run"],
    );
    let raw = median(plain);
    let mut line = |what: &str, xs: &[f64]| {
        t.row(vec![
            what.to_string(),
            ms(median(xs)),
            ms(percentile(xs, 90.0)),
            ratio(median(xs) / raw),
        ]);
    };
    line("raw `docker run --rm` (plain)", plain);
    line(
        "raw `docker run --rm` with fleet's hardening flags",
        hardened,
    );
    line("fleet order: queued_at → finished_at", &total);
    line(
        "fleet order: enqueue → seen finished (client)",
        &col(|p| p.observed),
    );
    t.print();

    let mut t = Table::new(
        "where a fleet order's time goes, ms (from its audit trail; Redis clock, 1 ms resolution)",
        &["phase", "median", "p90", "share of total"],
    );
    let whole = median(&total);
    let mut phase = |what: &str, xs: Vec<f64>| {
        t.row(vec![
            what.to_string(),
            ms(median(&xs)),
            ms(percentile(&xs, 90.0)),
            format!("{:.0}%", 100.0 * median(&xs) / whole),
        ]);
    };
    phase(
        "enqueue → claimed (wake-up, claim, audit)",
        col(|p| p.claimed),
    );
    phase(
        "claimed → workspace ready (mirror fetch + clone)",
        col(|p| p.workspace),
    );
    phase(
        "workspace → sandbox_start (order files, progress)",
        col(|p| p.to_sandbox),
    );
    phase(
        "executor around the container (image check, chown, create, attach, inspect, remove)",
        col(|p| p.executor),
    );
    phase("container run (start → exit seen)", col(|p| p.container));
    phase(
        "exit → pushed (take back, stage, commit, push)",
        col(|p| p.to_pushed),
    );
    phase(
        "pushed → finished (order dirs removed, complete.lua)",
        col(|p| p.to_finished),
    );
    t.print();

    let mut targets = Targets::default();
    let measured = median(&total) / raw;
    targets.check(
        "fleet per-order time ÷ raw `docker run --rm` (medians)",
        ratio(measured),
        format!("≤ {target:.2}×"),
        measured <= target,
    );
    targets.print()
}
