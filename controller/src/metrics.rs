//! Prometheus text exposition of the fleet, computed from Redis at scrape time.
//!
//! Nothing is kept in the controller's memory: every controller serves the same numbers, and a
//! restart loses no counts. The histograms are filled by the Lua scripts themselves
//! (`fleet:{F}:histograms`), so claims and runs on every worker add up in one place.

use std::collections::BTreeMap;
use std::fmt::Write;

use fleet_shared::Queue;
use fleet_shared::queue::{HISTOGRAMS, QueueResult};
use fleet_shared::registry::WorkerStatus;

/// The whole /metrics page.
pub async fn render(queue: &Queue) -> QueueResult<String> {
    let depths = queue.depths().await?;
    let stats = queue.stats().await?;
    let histograms = queue.histograms().await?;
    let workers = queue.workers().await?;
    let mut out = String::with_capacity(4096);

    family(
        &mut out,
        "fleet_queue_depth",
        "gauge",
        "Orders waiting in a ready list.",
    );
    for (task_type, row) in &depths.ready {
        for (priority, n) in row {
            let _ = writeln!(
                out,
                "fleet_queue_depth{{type=\"{task_type}\",priority=\"{priority}\"}} {n}"
            );
        }
    }

    family(
        &mut out,
        "fleet_orders",
        "gauge",
        "Orders in each place of their life.",
    );
    for (place, n) in [
        ("queued", depths.total_ready()),
        ("running", depths.running),
        ("delayed", depths.delayed),
        ("dead", depths.dead),
        ("awaiting_approval", depths.awaiting_approval),
        ("finished", depths.finished),
    ] {
        let _ = writeln!(out, "fleet_orders{{state=\"{place}\"}} {n}");
    }

    family(
        &mut out,
        "fleet_order_transitions_total",
        "counter",
        "Order transitions since the fleet was created.",
    );
    for (event, n) in &stats {
        let _ = writeln!(
            out,
            "fleet_order_transitions_total{{event=\"{event}\"}} {n}"
        );
    }

    for (metric, bounds) in HISTOGRAMS {
        let (name, help) = match *metric {
            "claim_wait" => (
                "fleet_claim_wait_seconds",
                "Time from an order becoming ready to a worker claiming it.",
            ),
            _ => (
                "fleet_run_duration_seconds",
                "Time from claim to completion or failure.",
            ),
        };
        histogram(&mut out, name, help, metric, bounds, &histograms);
    }

    family(
        &mut out,
        "fleet_workers",
        "gauge",
        "Registered workers by status.",
    );
    let mut by_status: BTreeMap<&str, u64> =
        WorkerStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for w in &workers {
        *by_status.entry(w.status.as_str()).or_default() += 1;
    }
    for (status, n) in &by_status {
        let _ = writeln!(out, "fleet_workers{{status=\"{status}\"}} {n}");
    }
    family(
        &mut out,
        "fleet_workers_alive",
        "gauge",
        "Workers that are not lost or stopped.",
    );
    let alive = workers
        .iter()
        .filter(|w| !matches!(w.status, WorkerStatus::Lost | WorkerStatus::Stopped))
        .count();
    let _ = writeln!(out, "fleet_workers_alive {alive}");
    family(
        &mut out,
        "fleet_workers_lost",
        "gauge",
        "Workers that missed their heartbeats.",
    );
    let _ = writeln!(
        out,
        "fleet_workers_lost {}",
        by_status.get("lost").unwrap_or(&0)
    );
    Ok(out)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Turns the scripts' per-bucket counts (ms) into a cumulative Prometheus histogram (seconds).
fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    metric: &str,
    bounds: &[i64],
    stored: &BTreeMap<String, u64>,
) {
    family(out, name, "histogram", help);
    let get = |suffix: &str| {
        stored
            .get(&format!("{metric}:{suffix}"))
            .copied()
            .unwrap_or(0)
    };
    let mut cumulative = 0;
    for bound in bounds {
        cumulative += get(&bound.to_string());
        let le = *bound as f64 / 1000.0;
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let count = get("count");
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum {}", get("sum") as f64 / 1000.0);
    let _ = writeln!(out, "{name}_count {count}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_become_cumulative_seconds() {
        let mut stored = BTreeMap::new();
        stored.insert("run:100".to_string(), 2);
        stored.insert("run:500".to_string(), 1);
        stored.insert("run:+Inf".to_string(), 1);
        stored.insert("run:count".to_string(), 4);
        stored.insert("run:sum".to_string(), 9_000);
        let mut out = String::new();
        histogram(&mut out, "x", "help", "run", &[100, 500, 1000], &stored);
        assert!(out.contains("x_bucket{le=\"0.1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.5\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"1\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_sum 9\n"), "{out}");
    }
}
