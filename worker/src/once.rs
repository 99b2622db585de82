//! `fleet-worker once`: one order, no Redis — for CI pipelines. Prints the result as JSON on
//! stdout; progress and agent output go to stderr.
//!
//! Exit codes: 0 succeeded, 1 the order failed, 2 bad input (order or definition), 3 the agent
//! timed out, 4 infrastructure (no sandbox, network, disk).

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use fleet_shared::clock::wall_clock_ms;
use fleet_shared::{FailureReason, NewOrder, OrderId};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::clarify::Clarifier;
use crate::cli::{
    OnceArgs, build_executor, git_settings, helper_dir, load_definitions, prepare_work_dir,
};
use crate::pipeline::{Job, Outcome};
use crate::report::Reporter;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_TIMED_OUT: u8 = 3;
pub const EXIT_INFRASTRUCTURE: u8 = 4;

fn bail(code: u8, message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

pub async fn run(args: OnceArgs) -> ExitCode {
    let text = if args.order.as_os_str() == "-" {
        let mut s = String::new();
        match std::io::stdin().read_to_string(&mut s) {
            Ok(_) => s,
            Err(e) => return bail(EXIT_BAD_INPUT, format!("order: cannot read stdin: {e}")),
        }
    } else {
        match std::fs::read_to_string(&args.order) {
            Ok(s) => s,
            Err(e) => {
                return bail(
                    EXIT_BAD_INPUT,
                    format!("order: cannot read {}: {e}", args.order.display()),
                );
            }
        }
    };
    let new: NewOrder = match serde_json::from_str(&text) {
        Ok(n) => n,
        Err(e) => return bail(EXIT_BAD_INPUT, format!("order: {e}")),
    };
    let order = match new.validate(OrderId::generate(), wall_clock_ms()) {
        Ok(o) => o,
        Err(e) => return bail(EXIT_BAD_INPUT, e.to_string()),
    };
    let definitions = match load_definitions(&args.common) {
        Ok(d) => d,
        Err(e) => return bail(EXIT_BAD_INPUT, e),
    };
    let Some(definition) = definitions
        .into_iter()
        .map(|l| l.definition)
        .find(|d| d.accepts(order.task_type))
    else {
        return bail(
            EXIT_BAD_INPUT,
            format!(
                "type: {:?} is not accepted by any definition given (--definition {})",
                order.task_type.as_str(),
                args.common.definition.join(",")
            ),
        );
    };
    let work_dir = match prepare_work_dir(args.common.work_dir.clone()) {
        Ok(dir) => dir,
        Err(e) => return bail(EXIT_BAD_INPUT, e),
    };
    let git = match git_settings(&work_dir, args.common.git_depth) {
        Ok(g) => g,
        Err(e) => return bail(EXIT_BAD_INPUT, e),
    };
    let executor = match build_executor(args.common.executor).await {
        Ok(e) => e,
        Err(e) => return bail(EXIT_INFRASTRUCTURE, e),
    };
    let name = format!("once-{}", std::process::id());
    let job = Job {
        worker: name.clone(),
        clarifier: Clarifier::Standalone {
            on_timeout: definition.clarification.on_timeout.clone(),
        },
        definition: Arc::new(definition),
        executor: Arc::new(executor),
        git: Arc::new(git),
        orders_dir: work_dir.join("orders").join(&name),
        helper_dir: helper_dir(&args.common, &work_dir),
        order: order.clone(),
        attempt: 1,
        reporter: Reporter::Standalone,
        stop: CancellationToken::new(),
    };
    let stop = job.stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let outcome = job.run().await;
    let (code, body) = match outcome {
        Outcome::Succeeded { result, .. } => (
            0,
            json!({"id": order.id, "state": "succeeded", "result": result}),
        ),
        Outcome::Failed(f) => {
            let code = match f.reason {
                FailureReason::Timeout => EXIT_TIMED_OUT,
                FailureReason::Infrastructure => EXIT_INFRASTRUCTURE,
                FailureReason::CloneFailed | FailureReason::PushFailed if !f.permanent => {
                    EXIT_INFRASTRUCTURE
                }
                _ => EXIT_FAILED,
            };
            (
                code,
                json!({"id": order.id, "state": "failed", "reason": f.reason.to_string(),
                    "error": f.message, "details": f.details}),
            )
        }
        Outcome::Abandoned(why) => (
            EXIT_INFRASTRUCTURE,
            json!({"id": order.id, "state": "cancelled", "error": why}),
        ),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&body).unwrap_or_default()
    );
    ExitCode::from(code)
}
