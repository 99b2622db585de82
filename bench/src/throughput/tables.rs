//! What the `throughput` benchmark prints.

use super::{Measured, SandboxKind, Variant};
use crate::report::{Table, ms, ratio, thousands};

pub(super) fn report(results: &[Measured], concurrency: usize, sandbox: SandboxKind, base: usize) {
    let mut t = Table::new(
        &format!(
            "orders/s through fleet-worker processes (--executor process, {} sandbox, --concurrency {concurrency} each)",
            match sandbox {
                SandboxKind::Plain => "plain",
                SandboxKind::Bwrap => "bubblewrap",
            }
        ),
        &[
            "variant",
            "processes",
            "orders",
            "orders/s (all)",
            "orders/s (steady 10→90%)",
            "steady ÷ 1 process",
            "worker CPU ms/order (incl. agents)",
            "Redis CPU ms/order",
            "Redis cmds/order",
        ],
    );
    let one = |variant: Variant| {
        results
            .iter()
            .find(|o| o.variant == variant && o.workers == 1 && o.orders == base)
            .map_or(f64::NAN, |m| m.steady)
    };
    for m in results {
        t.row(vec![
            m.variant.name().to_string(),
            m.workers.to_string(),
            thousands(m.orders as f64),
            format!("{:.1}", m.rate()),
            format!("{:.1}", m.steady),
            ratio(m.steady / one(m.variant)),
            format!("{:.1}", m.worker_cpu_ms_per_order),
            format!("{:.2}", m.redis_cpu_ms_per_order),
            format!("{:.0}", m.redis_cmds_per_order),
        ]);
    }
    t.print();

    let mut t = Table::new(
        "phase medians, ms, of the first and the last tenth of each run's orders (audit trail)",
        &[
            "variant",
            "processes",
            "orders",
            "fetch first → last",
            "copy first → last",
            "exit → pushed first → last",
        ],
    );
    for m in results {
        t.row(vec![
            m.variant.name().to_string(),
            m.workers.to_string(),
            thousands(m.orders as f64),
            format!("{} → {}", ms(m.first.fetch), ms(m.last.fetch)),
            format!("{} → {}", ms(m.first.copy), ms(m.last.copy)),
            format!("{} → {}", ms(m.first.push), ms(m.last.push)),
        ]);
    }
    t.print();

    let mut t = Table::new(
        "queue depth ×10 (same processes) and nochange vs push (ratios of orders/s)",
        &["comparison", "steady", "all"],
    );
    let most = results.iter().map(|m| m.workers).max().unwrap_or(1);
    let find = |variant: Variant, workers: usize, orders: usize| {
        results
            .iter()
            .find(|m| m.variant == variant && m.workers == workers && m.orders == orders)
    };
    for variant in [Variant::Push, Variant::NoChange] {
        if let (Some(deep), Some(shallow)) =
            (find(variant, most, base * 10), find(variant, most, base))
        {
            t.row(vec![
                format!(
                    "{}: {} queued ÷ {base} queued, {most} processes",
                    variant.name(),
                    base * 10
                ),
                ratio(deep.steady / shallow.steady),
                ratio(deep.rate() / shallow.rate()),
            ]);
        }
    }
    for push in results
        .iter()
        .filter(|m| m.variant == Variant::Push && m.orders == base)
    {
        if let Some(nochange) = find(Variant::NoChange, push.workers, base) {
            t.row(vec![
                format!("nochange ÷ push, {} process(es)", push.workers),
                ratio(nochange.steady / push.steady),
                ratio(nochange.rate() / push.rate()),
            ]);
        }
    }
    t.print();
}
