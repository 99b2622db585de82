//! The commands that change things (and `serve`); the reading ones are in `inspect`.

use std::io::Read;

use fleet_shared::clarification::AnswerAction;
use fleet_shared::telemetry;
use fleet_shared::{NewOrder, OrderId, Queue};

use super::output::print_json;
use super::{Cli, CliError, Command, DefinitionsCommand, EnqueueArgs, ServeArgs, inspect, watch};
use crate::auth::AuthConfig;
use crate::maintenance::MaintenanceConfig;
use crate::orders;
use crate::people;
use crate::serve::{self, ServeConfig};

/// The actor recorded for CLI actions: the local user.
fn cli_actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

pub async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let default_filter = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    telemetry::init(cli.log_format, default_filter);
    if let Command::Definitions(DefinitionsCommand::Check { dir }) = &cli.command {
        // Needs no Redis: a definition check runs anywhere (CI, a laptop).
        let report = fleet_shared::definition::check_dir(dir);
        print!("{}", report.render());
        return match report.exit_code() {
            0 => Ok(()),
            code => Err(CliError {
                code: code as u8,
                message: format!(
                    "{} definition error(s) in {}",
                    report.errors.len(),
                    dir.display()
                ),
            }),
        };
    }
    let queue = cli.redis.queue()?;
    let json = cli.json;
    match cli.command {
        Command::Serve(args) => serve_command(queue, args).await,
        Command::Enqueue(args) => enqueue(&queue, args, json).await,
        Command::Status { id: Some(id) } => {
            inspect::order_status(&queue, &parse_id(&id)?, json).await
        }
        Command::Status { id: None } => inspect::fleet_summary(&queue, json).await,
        Command::Queues => inspect::queues(&queue, json).await,
        Command::Workers => inspect::workers(&queue, json).await,
        Command::Cancel { id } => {
            let id = parse_id(&id)?;
            let outcome = people::cancel(&queue, &id, &cli_actor())
                .await
                .map_err(api_to_cli)?;
            if json {
                print_json(
                    &serde_json::json!({"id": id, "previous_state": outcome.previous, "state": "cancelled"}),
                );
            } else if outcome.previous.is_leased() {
                println!(
                    "cancelled {id} (was {}); its worker stops it at its next heartbeat",
                    outcome.previous
                );
            } else {
                println!("cancelled {id} (was {})", outcome.previous);
            }
            Ok(())
        }
        Command::Retry { id } => {
            let id = parse_id(&id)?;
            let previous = people::retry(&queue, &id, &cli_actor())
                .await
                .map_err(api_to_cli)?;
            if json {
                print_json(
                    &serde_json::json!({"id": id, "previous_state": previous, "state": "queued"}),
                );
            } else {
                println!("queued {id} again (was {previous})");
            }
            Ok(())
        }
        Command::Approve { id } => {
            let id = parse_id(&id)?;
            let approval = people::approve(&queue, &id, &cli_actor())
                .await
                .map_err(api_to_cli)?;
            if json {
                print_json(&serde_json::json!({"id": id, "state": "succeeded",
                    "trust_level": approval.trust_level, "trust_escalated": approval.escalated}));
            } else if approval.escalated {
                println!(
                    "approved {id}; its definition earned trust level {}",
                    approval.trust_level.as_deref().unwrap_or("?")
                );
            } else {
                println!("approved {id}");
            }
            Ok(())
        }
        Command::Reject { id, reason } => {
            let id = parse_id(&id)?;
            let reverted = people::reject(&queue, &id, &cli_actor(), &reason)
                .await
                .map_err(api_to_cli)?;
            if json {
                print_json(
                    &serde_json::json!({"id": id, "state": "failed", "trust_reverted": reverted}),
                );
            } else if reverted {
                println!("rejected {id}; its definition's trust escalation was reverted");
            } else {
                println!("rejected {id}");
            }
            Ok(())
        }
        Command::Audit { id } => inspect::audit(&queue, &parse_id(&id)?, json).await,
        Command::Trust { definition, reset } => {
            if reset {
                let reverted = queue
                    .reset_trust(&definition, &format!("reset by {}", cli_actor()))
                    .await?;
                println!(
                    "{definition}: {}",
                    if reverted {
                        "escalation reverted; streak restarted"
                    } else {
                        "streak restarted (it was not escalated)"
                    }
                );
                return Ok(());
            }
            let record = queue.trust(&definition).await?;
            if json {
                print_json(&record);
            } else {
                println!(
                    "{definition}: {} · {} approval(s) in a row",
                    record
                        .escalated_to
                        .as_deref()
                        .map(|l| format!("escalated to {l}"))
                        .unwrap_or_else(|| "at its configured level".into()),
                    record.approved_in_a_row
                );
            }
            Ok(())
        }
        Command::Questions => inspect::questions(&queue, json).await,
        Command::Answer { id, text, decline } => {
            let action = if decline {
                AnswerAction::Declined
            } else {
                AnswerAction::Answered
            };
            let text = text.unwrap_or_default();
            people::answer(&queue, &id, action, &text, &cli_actor())
                .await
                .map_err(api_to_cli)?;
            if json {
                print_json(&serde_json::json!({"id": id, "state": action.as_str()}));
            } else {
                println!("{} question {id}", action.as_str());
            }
            Ok(())
        }
        Command::Watch(args) => watch::watch(&queue, args, json).await,
        Command::Definitions(_) => Ok(()),
        Command::Token {
            subject,
            ttl,
            jwt_secret,
        } => {
            let auth = AuthConfig {
                api_token: None,
                jwt_secret: Some(jwt_secret),
            };
            let token = auth
                .mint(&subject, ttl)
                .map_err(|e| CliError::bad_input(e.to_string()))?;
            println!("{token}");
            Ok(())
        }
    }
}

/// The CLI's view of an error the API layer produced: the same message, an exit code.
fn api_to_cli(e: crate::api::ApiError) -> CliError {
    match e.status.as_u16() {
        400 | 413 => CliError::bad_input(e.error),
        503 => CliError::infrastructure(format!(
            "cannot reach Redis: {} (is redis-server running? check --redis-url / FLEET_REDIS_URL)",
            e.error
        )),
        _ => CliError {
            code: 1,
            message: e.error,
        },
    }
}

fn parse_id(raw: &str) -> Result<OrderId, CliError> {
    raw.parse::<OrderId>().map_err(CliError::from)
}

async fn enqueue(queue: &Queue, args: EnqueueArgs, json: bool) -> Result<(), CliError> {
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(p), _) => p.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::bad_input(format!("prompt-file: cannot read stdin: {e}")))?;
            text
        }
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            CliError::bad_input(format!("prompt-file: cannot read {}: {e}", path.display()))
        })?,
        (None, None) => return Err(CliError::bad_input("give --prompt or --prompt-file")),
    };
    let new = NewOrder {
        task_type: args.task_type,
        priority: Some(args.priority),
        repo: args.repo,
        branch: Some(args.branch),
        prompt,
        labels: args.labels,
        max_attempts: Some(args.max_attempts),
        timeout_secs: Some(args.timeout.as_secs()),
        clarification_timeout_secs: args.clarification_timeout.map(|d| d.as_secs()),
    };
    let record = orders::submit(queue, new, &cli_actor())
        .await
        .map_err(api_to_cli)?;
    if json {
        print_json(&record);
    } else {
        println!("{}", record.order.id);
    }
    Ok(())
}

async fn serve_command(queue: Queue, args: ServeArgs) -> Result<(), CliError> {
    let config = ServeConfig {
        auth: AuthConfig {
            api_token: args.api_token.filter(|t| !t.is_empty()),
            jwt_secret: args.jwt_secret.filter(|t| !t.is_empty()),
        },
        insecure: args.insecure,
        maintenance: MaintenanceConfig {
            interval: args.maintenance_interval,
            ..MaintenanceConfig::default()
        },
        controller_id: format!(
            "{}:{}",
            hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "controller".into()),
            std::process::id()
        ),
    };
    serve::check_exposure(args.bind, &config).map_err(|e| CliError::bad_input(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| CliError::infrastructure(format!("cannot listen on {}: {e}", args.bind)))?;
    if let Err(e) = queue.redis().ping().await {
        tracing::warn!(error = %e, redis = queue.redis().display_url(),
            "Redis is not reachable yet; serving anyway and retrying in the background");
    }
    serve::run(listener, queue, config, serve::shutdown_signal())
        .await
        .map_err(|e| CliError::infrastructure(format!("{e:#}")))
}
