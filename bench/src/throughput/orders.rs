//! Running a batch of orders through the worker processes and reading back where their time
//! went.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use fleet_shared::{OrderId, Queue};
use futures_util::StreamExt;

use crate::repo::BareRepo;
use crate::report::median;

/// Medians (ms) of a group of orders' phases, from their audit trails.
#[derive(Debug, Clone, Copy)]
pub(super) struct EndPhases {
    /// The mirror fetch (`clone` entry's fetch_ms).
    pub(super) fetch: f64,
    /// Copying the workspace out of the mirror (`clone` entry's clone_ms).
    pub(super) copy: f64,
    /// sandbox_exit → push entries: staging, commit and push (push variant only).
    pub(super) push: f64,
}

/// The phases of the first and the last tenth of `ids`: whether an order costs more once many
/// have run before it (pushed branches pile up in the upstream repository).
pub(super) async fn phases_at_ends(
    queue: &Queue,
    ids: &[OrderId],
) -> anyhow::Result<(EndPhases, EndPhases)> {
    let tenth = (ids.len() / 10).max(1);
    let mut ends = Vec::new();
    for group in [&ids[..tenth], &ids[ids.len() - tenth..]] {
        let (mut fetch, mut copy, mut push) = (Vec::new(), Vec::new(), Vec::new());
        for id in group {
            let trail = queue.audit_trail(id).await?;
            let entry = |action: &str| trail.iter().find(|e| e.action == action);
            if let Some(clone) = entry("clone") {
                fetch.push(clone.detail["fetch_ms"].as_f64().unwrap_or(f64::NAN));
                copy.push(clone.detail["clone_ms"].as_f64().unwrap_or(f64::NAN));
            }
            if let (Some(exit), Some(pushed)) = (entry("sandbox_exit"), entry("push")) {
                push.push((pushed.at_ms - exit.at_ms) as f64);
            }
        }
        ends.push(EndPhases {
            fetch: median(&fetch),
            copy: median(&copy),
            push: median(&push),
        });
    }
    Ok((ends[0], ends[1]))
}

/// Enqueues `count` orders (64 calls in flight), waits until `done_before + count` orders have
/// succeeded (any failure or retry is an error), and returns the orders/s between the 10% and
/// the 90% completion marks: the rate with every slot busy, free of ramp-up and of the tail
/// where slots run dry.
pub(super) async fn run_orders(
    queue: &Queue,
    repo: &BareRepo,
    count: usize,
    done_before: usize,
    log: &Path,
) -> anyhow::Result<(f64, Vec<OrderId>)> {
    let batch: Vec<_> = (0..count)
        .map(|i| crate::fleet::order(&repo.file_url(), &format!("order {}", done_before + i)))
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let mut enqueued = futures_util::stream::iter(&batch)
        .map(|o| queue.enqueue(o, None))
        .buffer_unordered(64);
    while let Some(r) = enqueued.next().await {
        r?;
    }
    let target = (done_before + count) as u64;
    let unsettled = |stats: &std::collections::BTreeMap<String, u64>| {
        stats.get("failed").copied().unwrap_or(0) + stats.get("retried").copied().unwrap_or(0)
    };
    let mut progress: Vec<(f64, u64)> = Vec::new();
    let deadline = started + Duration::from_secs(600);
    let done = loop {
        let stats = queue.stats().await.unwrap_or_default();
        let succeeded = stats.get("succeeded").copied().unwrap_or(0);
        progress.push((started.elapsed().as_secs_f64(), succeeded));
        if unsettled(&stats) > 0 || succeeded >= target {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let failed = unsettled(&queue.stats().await?);
    if !done || failed > 0 {
        // The scratch dir (and the log) go when the benchmark exits: say what went wrong now.
        let ids: Vec<OrderId> = batch.iter().map(|o| o.id.clone()).collect();
        let failed_order = queue
            .orders(&ids)
            .await?
            .into_iter()
            .find(|r| r.error.is_some());
        let first_error = match failed_order {
            Some(r) => {
                let output = queue.order_log(&r.order.id, 5).await.unwrap_or_default();
                Some(format!(
                    "{}: {} (last output: {output:?})",
                    r.reason.unwrap_or_default(),
                    r.error.unwrap_or_default()
                ))
            }
            None => None,
        };
        bail!(
            "not every order succeeded (timed out: {}, failed or retried: {failed}; first error: {}); log: {}",
            !done,
            first_error.as_deref().unwrap_or("none recorded"),
            log.display()
        );
    }
    // First poll at or past each mark.
    let mark = |fraction: f64| {
        let at = done_before as u64 + (fraction * count as f64).round() as u64;
        progress.iter().find(|(_, n)| *n >= at).copied()
    };
    let steady = match (mark(0.1), mark(0.9)) {
        (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => (n1 - n0) as f64 / (t1 - t0),
        _ => f64::NAN,
    };
    Ok((steady, batch.iter().map(|o| o.id.clone()).collect()))
}
