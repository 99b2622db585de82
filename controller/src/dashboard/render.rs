//! HTML rendering of the dashboard. Every value from Redis goes through [`esc`].

use std::fmt::Write;
use std::time::Duration;

use fleet_shared::alerts::Alert;
use fleet_shared::clarification::Question;
use fleet_shared::queue::{OrderRecord, QueueResult, StateList};
use fleet_shared::registry::{WorkerInfo, WorkerStatus};
use fleet_shared::units::{format_duration, format_size};
use fleet_shared::{OrderState, Priority, Queue, TaskType};

use crate::orders::{self, Listing};

/// Escapes text for HTML element content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The whole page around the panels.
pub fn page(prefix: &str, auth_enabled: bool, panels: &str) -> String {
    let fleet = prefix.trim_start_matches("fleet:{").trim_end_matches("}:");
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleet · {fleet}</title>
<link rel="icon" href="data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><path d='M8 1.5 15 14.5H1z' fill='%235aa9ff'/></svg>">
<link rel="stylesheet" href="/ui/style.css">
</head><body data-auth="{auth}">
<header>
  <h1><span class="logo">▲</span> fleet <span class="fleet">{fleet}</span></h1>
  <div class="live"><span id="live-dot" class="dot"></span><span id="live-text">connecting…</span></div>
  <div class="token" {token_hidden}><input id="token" type="password" placeholder="API token (for actions)" autocomplete="off"></div>
</header>
<main id="panels">{panels}</main>
<div id="toast" role="status"></div>
<script src="/ui/app.js"></script>
</body></html>"#,
        fleet = esc(fleet),
        auth = auth_enabled,
        token_hidden = if auth_enabled { "" } else { "hidden" },
        panels = panels,
    )
}

/// Shown in place of the panels while Redis cannot be reached.
pub fn unavailable(error: &str) -> String {
    format!(
        r#"<section class="panel alert-panel"><h2>Redis unavailable</h2><p class="alert bad">{}</p><p>The controller keeps retrying; this page updates by itself.</p></section>"#,
        esc(error)
    )
}

/// Every panel, rendered from the current state in Redis.
pub async fn panels(queue: &Queue) -> QueueResult<String> {
    let now = queue.now_ms().await?;
    let depths = queue.depths().await?;
    let stats = queue.stats().await?;
    let workers = queue.workers().await?;
    let recent = orders::list(
        queue,
        &Listing {
            limit: 30,
            ..Listing::default()
        },
    )
    .await?;
    let dead_ids = queue.list(StateList::Dead, 20).await?;
    let dead = queue.orders(&dead_ids).await?;
    let questions = queue.pending_questions(50).await?;
    let approval_ids = queue.list(StateList::AwaitingApproval, 20).await?;
    let approvals = queue.orders(&approval_ids).await?;
    let recent_alerts = queue.alerts(10).await?;

    let mut html = String::with_capacity(16 * 1024);
    let lost = workers
        .iter()
        .filter(|w| w.status == WorkerStatus::Lost)
        .count();
    let stat = |k: &str| stats.get(k).copied().unwrap_or(0);
    html.push_str(r#"<section class="cards">"#);
    for (label, value, class) in [
        ("queued", depths.total_ready(), "queued"),
        ("running", depths.running, "running"),
        ("delayed", depths.delayed, "delayed"),
        // "awaiting approval" does not fit a card at 1400 px; the panel below says it in full.
        ("to approve", depths.awaiting_approval, "awaiting"),
        (
            "questions",
            questions.len() as u64,
            if questions.is_empty() { "" } else { "awaiting" },
        ),
        (
            "dead",
            depths.dead,
            if depths.dead > 0 { "dead" } else { "" },
        ),
        ("succeeded", stat("succeeded"), "succeeded"),
        ("workers", workers.len() as u64 - lost as u64, "workers"),
        (
            "lost workers",
            lost as u64,
            if lost > 0 { "dead" } else { "" },
        ),
    ] {
        let zero = if value == 0 { " zero" } else { "" };
        let _ = write!(
            html,
            r#"<div class="card {class}{zero}"><div class="value">{value}</div><div class="label">{label}</div></div>"#
        );
    }
    html.push_str("</section>");

    // Top to bottom: what needs a person, the orders as they move, then capacity and the
    // dead set, so the part that changes most comes before the part that rarely does.
    alerts(&mut html, &workers, &dead, &recent_alerts, now);
    questions_panel(&mut html, &questions, now);
    approvals_panel(&mut html, &approvals, now);
    orders_panel(&mut html, &recent, now);
    html.push_str(r#"<div class="grid">"#);
    workers_panel(&mut html, &workers, now);
    depths_panel(&mut html, &depths);
    html.push_str("</div>");
    dead_panel(&mut html, &dead, now);
    Ok(html)
}

fn alerts(
    html: &mut String,
    workers: &[WorkerInfo],
    dead: &[OrderRecord],
    recent: &[Alert],
    now: i64,
) {
    let mut items = Vec::new();
    // Alerts older than a day have been seen; the events stream keeps them for `watch`.
    for a in recent.iter().filter(|a| now - a.at_ms < 86_400_000) {
        let order = a
            .order
            .as_deref()
            .map(|o| format!(r#" <code title="{0}">{1}</code>"#, esc(o), esc(short(o))))
            .unwrap_or_default();
        items.push(format!(
            "<b>{}</b>{order}: {} <span class=\"sub\">{}</span>",
            esc(&a.kind.replace('_', " ")),
            esc(&a.message),
            ago(now, a.at_ms)
        ));
    }
    for w in workers.iter().filter(|w| w.status == WorkerStatus::Lost) {
        items.push(format!(
            "worker <b>{}</b> is lost: no heartbeat for {}; its orders return to the queue when their leases expire",
            esc(&w.id),
            format_duration(Duration::from_millis((now - w.last_heartbeat_ms).max(0) as u64))
        ));
    }
    if !dead.is_empty() {
        items.push(format!(
            "{} order(s) in the dead set: every attempt failed (retry them below once the cause is fixed)",
            dead.len()
        ));
    }
    if items.is_empty() {
        return;
    }
    html.push_str(r#"<section class="panel alert-panel"><h2>Alerts</h2><ul class="alerts">"#);
    for item in items {
        let _ = write!(html, r#"<li class="alert bad">{item}</li>"#);
    }
    html.push_str("</ul></section>");
}

fn questions_panel(html: &mut String, questions: &[Question], now: i64) {
    if questions.is_empty() {
        return;
    }
    html.push_str(r#"<section class="panel" id="questions"><h2>Questions waiting for you</h2><table><thead><tr><th>order</th><th>question</th><th>asked</th><th class="actions">answer</th></tr></thead><tbody>"#);
    for q in questions {
        let choices = if q.choices.is_empty() {
            String::new()
        } else {
            format!(
                r#"<div class="sub">choices: {}</div>"#,
                esc(&q.choices.join(" · "))
            )
        };
        let _ = write!(
            html,
            r#"<tr data-question="{id}"><td><code title="{order}">{order_short}</code><div class="sub">{ty} · {worker}</div></td><td><b>{text}</b>{choices}</td><td class="when">{asked}<div class="sub">times out {deadline}</div></td><td class="answer actions"><input id="answer-{id}" placeholder="your answer" autocomplete="off"> <button data-action="answer" data-id="{id}">answer</button></td></tr>"#,
            id = esc(&q.id),
            order = esc(&q.order),
            order_short = esc(short(&q.order)),
            ty = esc(&q.task_type),
            worker = esc(&q.worker),
            text = esc(&q.text),
            asked = ago(now, q.asked_at_ms),
            deadline = until(now, q.deadline_ms),
        );
    }
    html.push_str("</tbody></table></section>");
}

fn approvals_panel(html: &mut String, approvals: &[OrderRecord], now: i64) {
    if approvals.is_empty() {
        return;
    }
    html.push_str(r#"<section class="panel" id="approvals"><h2>Waiting for approval</h2><table><thead><tr><th>order</th><th>branch</th><th>summary</th><th>pushed</th><th></th></tr></thead><tbody>"#);
    for r in approvals {
        let result = r.result.clone().unwrap_or_default();
        let _ = write!(
            html,
            r#"<tr data-approval="{id}"><td><code title="{id}">{short}</code><div class="sub">{ty} · {worker}</div></td><td class="branch"><code>{branch}</code></td><td>{summary}<div class="sub">{files} file(s), +{added} −{removed}</div></td><td class="when">{pushed}</td><td class="actions"><button data-action="approve" data-id="{id}">approve</button> <button class="danger" data-action="reject" data-id="{id}">reject</button></td></tr>"#,
            id = esc(r.order.id.as_str()),
            short = esc(short(r.order.id.as_str())),
            ty = r.order.task_type,
            worker = esc(r.worker.as_deref().unwrap_or("")),
            branch = esc(result["branch"].as_str().unwrap_or("")),
            summary = esc(&clip(result["summary"].as_str().unwrap_or(""), 100)),
            files = result["changed_files"].as_u64().unwrap_or(0),
            added = result["lines_added"].as_u64().unwrap_or(0),
            removed = result["lines_removed"].as_u64().unwrap_or(0),
            pushed = ago(now, r.updated_at_ms),
        );
    }
    html.push_str("</tbody></table></section>");
}

fn workers_panel(html: &mut String, workers: &[WorkerInfo], now: i64) {
    html.push_str(r#"<section class="panel" id="workers"><h2>Workers</h2>"#);
    if workers.is_empty() {
        html.push_str(r#"<p class="empty">No workers yet. Start one: <code>fleet-worker run --definition definitions/docs.yaml</code></p></section>"#);
        return;
    }
    html.push_str(r#"<table><thead><tr><th>worker</th><th>definition</th><th>status</th><th>orders</th><th>heartbeat</th><th class="num">cpu</th><th class="num">memory</th></tr></thead><tbody>"#);
    for w in workers {
        let age = Duration::from_millis((now - w.last_heartbeat_ms).max(0) as u64);
        let stale = age.as_millis() as u64 > 2 * w.heartbeat_interval_ms.max(1000);
        let orders: Vec<String> = w
            .current_orders
            .iter()
            .map(|id| format!(r#"<code title="{0}">{1}</code>"#, esc(id), esc(short(id))))
            .collect();
        let _ = write!(
            html,
            r#"<tr><td><b>{id}</b><div class="sub">{exec} · {host}</div></td><td>{def}</td><td><span class="badge w-{status}">{status}</span></td><td>{orders}</td><td class="when {stale}">{age} ago</td><td class="num">{cpu:.0}%</td><td class="num">{mem}</td></tr>"#,
            id = esc(&w.id),
            exec = esc(&w.executor),
            host = esc(&w.host),
            def = esc(&w.definition),
            status = w.status,
            orders = if orders.is_empty() {
                "–".into()
            } else {
                orders.join(" ")
            },
            stale = if stale { "stale" } else { "" },
            age = format_duration(age),
            cpu = w.cpu_percent,
            mem = format_size(w.memory_bytes),
        );
    }
    html.push_str("</tbody></table></section>");
}

fn depths_panel(html: &mut String, depths: &fleet_shared::queue::QueueDepths) {
    html.push_str(r#"<section class="panel" id="queues"><h2>Queues</h2><table class="depths"><thead><tr><th>type</th>"#);
    for p in Priority::ALL {
        let _ = write!(html, r#"<th class="num">{p}</th>"#);
    }
    html.push_str("</tr></thead><tbody>");
    for t in TaskType::ALL {
        let _ = write!(html, "<tr><td>{t}</td>");
        for p in Priority::ALL {
            let n = depths
                .ready
                .get(t.as_str())
                .and_then(|r| r.get(p.as_str()))
                .copied()
                .unwrap_or(0);
            let _ = write!(
                html,
                r#"<td class="num {}" data-depth="{t}:{p}">{n}</td>"#,
                if n > 0 { "hot" } else { "zero" }
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></section>");
}

fn orders_panel(html: &mut String, recent: &[OrderRecord], now: i64) {
    html.push_str(r#"<section class="panel" id="orders"><h2>Recent orders</h2>"#);
    if recent.is_empty() {
        html.push_str(r#"<p class="empty">No orders yet. <code>fleet-controller enqueue --type docs --repo … --prompt …</code></p></section>"#);
        return;
    }
    html.push_str(r#"<table><thead><tr><th>order</th><th>type</th><th>state</th><th class="num">attempt</th><th>progress</th><th>duration</th><th>updated</th><th></th></tr></thead><tbody>"#);
    for r in recent {
        let duration = match (r.started_at_ms, r.finished_at_ms) {
            (Some(s), Some(f)) if f >= s => format_duration(Duration::from_millis((f - s) as u64)),
            (Some(s), None) if r.state.is_leased() => {
                format_duration(Duration::from_millis((now - s).max(0) as u64))
            }
            _ => "–".into(),
        };
        let progress = match (r.progress, &r.progress_message) {
            (Some(p), message) => format!(
                r#"<div class="bar"><span style="width:{p}%"></span></div><div class="sub">{p}% {}</div>"#,
                esc(message.as_deref().unwrap_or(""))
            ),
            (None, _) => r
                .error
                .as_deref()
                .map(|e| format!(r#"<div class="sub err" title="{0}">{0}</div>"#, esc(e)))
                .unwrap_or_default(),
        };
        let action = if r.state.is_finished() || r.state == OrderState::AwaitingApproval {
            String::new()
        } else {
            format!(
                r#"<button class="ghost" data-action="cancel" data-id="{}">cancel</button>"#,
                esc(r.order.id.as_str())
            )
        };
        let _ = write!(
            html,
            r#"<tr data-order="{id}" data-state="{state}"><td><code title="{id}">{short}</code><div class="sub" title="{prompt}">{prompt_short}</div></td><td>{ty}<div class="sub">{prio}</div></td><td><span class="badge s-{state}">{state_text}</span></td><td class="num">{attempt}/{max}</td><td class="progress">{progress}</td><td class="when">{duration}</td><td class="when">{updated}</td><td class="actions">{action}</td></tr>"#,
            id = esc(r.order.id.as_str()),
            short = esc(short(r.order.id.as_str())),
            prompt = esc(&r.order.prompt),
            prompt_short = esc(&clip(&r.order.prompt, 60)),
            ty = r.order.task_type,
            prio = r.order.priority,
            state = r.state,
            state_text = r.state.as_str().replace('_', " "),
            attempt = r.attempt,
            max = r.order.max_attempts,
            updated = ago(now, r.updated_at_ms),
        );
    }
    html.push_str("</tbody></table></section>");
}

fn dead_panel(html: &mut String, dead: &[OrderRecord], now: i64) {
    html.push_str(r#"<section class="panel" id="dead"><h2>Dead letters</h2>"#);
    if dead.is_empty() {
        html.push_str(
            r#"<p class="empty">Nothing here: no order has used up its attempts.</p></section>"#,
        );
        return;
    }
    html.push_str("<table><thead><tr><th>order</th><th>type</th><th>reason</th><th>died</th><th></th></tr></thead><tbody>");
    for r in dead {
        let _ = write!(
            html,
            r#"<tr data-dead="{id}"><td><code title="{id}">{short}</code><div class="sub" title="{prompt}">{prompt_short}</div></td><td>{ty}</td><td><b>{reason}</b><div class="sub err" title="{error_full}">{error}</div></td><td class="when">{died}</td><td class="actions"><button data-action="retry" data-id="{id}">retry</button></td></tr>"#,
            id = esc(r.order.id.as_str()),
            short = esc(short(r.order.id.as_str())),
            prompt = esc(&r.order.prompt),
            prompt_short = esc(&clip(&r.order.prompt, 60)),
            error_full = esc(r.error.as_deref().unwrap_or("")),
            ty = r.order.task_type,
            reason = esc(r.reason.as_deref().unwrap_or("")),
            error = esc(&clip(r.error.as_deref().unwrap_or(""), 120)),
            died = ago(now, r.finished_at_ms.unwrap_or(r.updated_at_ms)),
        );
    }
    html.push_str("</tbody></table></section>");
}

fn short(id: &str) -> &str {
    // UUIDv7: the tail is the random part, the most telling to a human eye.
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

fn clip(text: &str, max: usize) -> String {
    let line = text.replace('\n', " ");
    if line.chars().count() <= max {
        line
    } else {
        format!("{}…", line.chars().take(max - 1).collect::<String>())
    }
}

fn until(now: i64, then: i64) -> String {
    format!(
        "in {}",
        format_duration(Duration::from_millis((then - now).max(0) as u64))
    )
}

fn ago(now: i64, then: i64) -> String {
    format!(
        "{} ago",
        format_duration(Duration::from_millis((now - then).max(0) as u64))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            esc("<script>\"x\" & 'y'"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
    }
}
