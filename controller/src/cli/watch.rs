//! `fleet-controller watch`: follow the events stream live.

use std::time::Duration;

use clap::Args;
use fleet_shared::Queue;
use fleet_shared::events::Event;

use super::CliError;
use super::output::timestamp;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only events of this order.
    #[arg(long)]
    pub order: Option<String>,
    /// Replay this many past events before following.
    #[arg(long, default_value_t = 10)]
    pub last: usize,
}

pub async fn watch(queue: &Queue, args: WatchArgs, json: bool) -> Result<(), CliError> {
    let matches = |e: &Event| {
        args.order
            .as_deref()
            .is_none_or(|o| e.order.as_deref() == Some(o))
    };
    let mut past = queue.recent_events(args.last.max(1)).await?;
    past.reverse();
    let mut after = past
        .last()
        .map(|e| e.id.clone())
        .unwrap_or_else(|| "0-0".into());
    for e in past
        .iter()
        .filter(|e| matches(e))
        .skip(past.len().saturating_sub(args.last))
    {
        print_event(e, json);
    }
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            read = queue.read_events(&after, Duration::from_secs(5), 100) => {
                match read {
                    Ok(events) => {
                        for e in &events {
                            if matches(e) {
                                print_event(e, json);
                            }
                        }
                        if let Some(last) = events.last() {
                            after = last.id.clone();
                        }
                    }
                    Err(e) if e.is_transient() => {
                        eprintln!("warning: lost Redis ({e}); retrying…");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}

fn print_event(e: &Event, json: bool) {
    if json {
        println!("{}", serde_json::to_string(e).unwrap_or_default());
        return;
    }
    let details: Vec<String> = e
        .fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                if v.contains(' ') {
                    format!("{v:?}")
                } else {
                    v.clone()
                }
            )
        })
        .collect();
    println!(
        "{}  {:<22} {}  {}",
        timestamp(e.at_ms),
        e.event,
        e.order.as_deref().unwrap_or("-"),
        details.join(" ")
    );
}
