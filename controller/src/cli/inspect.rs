//! The reading commands: status, queues, workers.

use std::time::Duration;

use fleet_shared::units::{format_duration, format_size};
use fleet_shared::{OrderId, Priority, Queue, QueueError, TaskType};
use serde_json::json;

use super::CliError;
use super::output::{Table, age, clip, print_json, timestamp};
use crate::orders::{self, Listing};

pub async fn order_status(queue: &Queue, id: &OrderId, json: bool) -> Result<(), CliError> {
    let record = queue
        .order(id)
        .await?
        .ok_or_else(|| QueueError::NotFound(id.clone()))?;
    let history = queue.history(id, 100).await?;
    let log = queue.order_log(id, 10).await?;
    if json {
        print_json(&json!({ "order": record, "history": history, "log_tail": log }));
        return Ok(());
    }
    let now = queue.now_ms().await?;
    let o = &record.order;
    println!("order     {}", o.id);
    println!("state     {}", record.state);
    println!("type      {} ({} priority)", o.task_type, o.priority);
    println!("repo      {} @ {}", o.repo, o.branch);
    println!("attempt   {} of {}", record.attempt, o.max_attempts);
    if let Some(worker) = &record.worker {
        println!("worker    {worker}");
    }
    println!(
        "created   {} ({})",
        timestamp(o.created_at_ms),
        age(now, o.created_at_ms)
    );
    if let Some(p) = record.progress {
        let message = record.progress_message.as_deref().unwrap_or("");
        println!("progress  {p}% {message}");
    }
    if let Some(run_at) = record.run_at_ms {
        println!("next run  {} ({})", timestamp(run_at), age(now, run_at));
    }
    if let Some(reason) = &record.reason {
        println!("reason    {reason}");
    }
    if let Some(error) = &record.error {
        println!("error     {error}");
    }
    if let Some(result) = &record.result {
        if let Some(branch) = result.get("branch").and_then(|b| b.as_str()) {
            println!("branch    {branch}");
        }
        if let Some(summary) = result.get("summary").and_then(|s| s.as_str()) {
            println!("summary   {}", clip(summary, 200));
        }
    }
    println!("prompt    {}", clip(&o.prompt, 100));
    println!("\nhistory (newest first)");
    let mut table = Table::new(&["WHEN", "STATE", "NOTE"]);
    for entry in history.iter().take(20) {
        table.row(vec![
            timestamp(entry.at),
            entry.state.clone(),
            clip(entry.note.as_deref().unwrap_or(""), 90),
        ]);
    }
    print!("{}", table.render());
    if !log.is_empty() {
        println!("\nlast output");
        for line in log {
            println!("  {line}");
        }
    }
    Ok(())
}

pub async fn fleet_summary(queue: &Queue, json: bool) -> Result<(), CliError> {
    let depths = queue.depths().await?;
    let stats = queue.stats().await?;
    let workers = queue.workers().await?;
    let recent = orders::list(
        queue,
        &Listing {
            limit: 10,
            ..Listing::default()
        },
    )
    .await?;
    if json {
        print_json(&json!({
            "depths": depths,
            "stats": stats,
            "workers": workers,
            "recent": recent,
        }));
        return Ok(());
    }
    let now = queue.now_ms().await?;
    let lost = workers
        .iter()
        .filter(|w| w.status.as_str() == "lost")
        .count();
    println!(
        "queued {}  running {}  delayed {}  awaiting approval {}  dead {}",
        depths.total_ready(),
        depths.running,
        depths.delayed,
        depths.awaiting_approval,
        depths.dead
    );
    println!(
        "workers {} ({} lost)  succeeded {}  failed {}  retried {}  cancelled {}",
        workers.len(),
        lost,
        stats.get("succeeded").unwrap_or(&0),
        stats.get("failed").unwrap_or(&0),
        stats.get("retried").unwrap_or(&0),
        stats.get("cancelled").unwrap_or(&0),
    );
    if recent.is_empty() {
        println!("\nno orders yet: fleet-controller enqueue --help");
        return Ok(());
    }
    println!("\nrecent orders");
    let mut table = Table::new(&["ID", "TYPE", "PRIO", "STATE", "ATTEMPT", "UPDATED", "NOTE"]);
    for r in recent {
        let note = r
            .progress_message
            .clone()
            .or(r.error.clone())
            .unwrap_or_default();
        table.row(vec![
            r.order.id.to_string(),
            r.order.task_type.to_string(),
            r.order.priority.to_string(),
            r.state.to_string(),
            format!("{}/{}", r.attempt, r.order.max_attempts),
            age(now, r.updated_at_ms),
            clip(&note, 50),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

pub async fn queues(queue: &Queue, json: bool) -> Result<(), CliError> {
    let depths = queue.depths().await?;
    if json {
        print_json(&depths);
        return Ok(());
    }
    let mut table = Table::new(&["TYPE", "HIGH", "DEFAULT", "LOW", "TOTAL"]);
    for task_type in TaskType::ALL {
        let row = depths.ready.get(task_type.as_str());
        let n = |p: Priority| row.and_then(|r| r.get(p.as_str())).copied().unwrap_or(0);
        let (h, d, l) = (n(Priority::High), n(Priority::Default), n(Priority::Low));
        table.row(vec![
            task_type.to_string(),
            h.to_string(),
            d.to_string(),
            l.to_string(),
            (h + d + l).to_string(),
        ]);
    }
    print!("{}", table.render());
    println!(
        "\nrunning {}  delayed {}  awaiting approval {}  dead {}  finished (retained) {}",
        depths.running, depths.delayed, depths.awaiting_approval, depths.dead, depths.finished
    );
    Ok(())
}

pub async fn workers(queue: &Queue, json: bool) -> Result<(), CliError> {
    let workers = queue.workers().await?;
    if json {
        print_json(&workers);
        return Ok(());
    }
    if workers.is_empty() {
        println!("no workers registered: start one with fleet-worker run --definition FILE");
        return Ok(());
    }
    let now = queue.now_ms().await?;
    let mut table = Table::new(&[
        "ID",
        "DEFINITION",
        "STATUS",
        "ORDERS",
        "HEARTBEAT",
        "CPU",
        "MEMORY",
        "EXECUTOR",
        "HOST",
    ]);
    for w in workers {
        let beat = Duration::from_millis((now - w.last_heartbeat_ms).max(0) as u64);
        table.row(vec![
            w.id,
            w.definition,
            w.status.to_string(),
            if w.current_orders.is_empty() {
                "-".into()
            } else {
                w.current_orders.join(",")
            },
            format!("{} ago", format_duration(beat)),
            format!("{:.0}%", w.cpu_percent),
            format_size(w.memory_bytes),
            w.executor,
            format!("{}:{}", w.host, w.pid),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

pub async fn questions(queue: &Queue, json: bool) -> Result<(), CliError> {
    let questions = queue.pending_questions(200).await?;
    if json {
        print_json(&questions);
        return Ok(());
    }
    if questions.is_empty() {
        println!("no questions waiting");
        return Ok(());
    }
    let now = queue.now_ms().await?;
    let mut table = Table::new(&[
        "QUESTION", "ORDER", "WORKER", "TYPE", "AGE", "DEADLINE", "TEXT",
    ]);
    for q in questions {
        let mut text = q.text.clone();
        if !q.choices.is_empty() {
            text.push_str(&format!(" [{}]", q.choices.join(" | ")));
        }
        table.row(vec![
            q.id,
            q.order,
            q.worker,
            q.task_type,
            age(now, q.asked_at_ms),
            age(now, q.deadline_ms),
            clip(&text, 80),
        ]);
    }
    print!("{}", table.render());
    println!("\nanswer with: fleet-controller answer QUESTION \"your answer\"");
    Ok(())
}

pub async fn audit(queue: &Queue, id: &OrderId, json: bool) -> Result<(), CliError> {
    let trail = queue.audit_trail(id).await?;
    if trail.is_empty() && queue.order(id).await?.is_none() {
        return Err(QueueError::NotFound(id.clone()).into());
    }
    if json {
        print_json(&trail);
        return Ok(());
    }
    if trail.is_empty() {
        println!("no audited actions yet for {id}");
        return Ok(());
    }
    let mut table = Table::new(&["WHEN", "ACTION", "ACTOR", "ATTEMPT", "DETAIL"]);
    for e in trail {
        table.row(vec![
            timestamp(e.at_ms),
            e.action,
            e.actor,
            if e.attempt == 0 {
                "-".into()
            } else {
                e.attempt.to_string()
            },
            clip(&e.detail.to_string(), 100),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
