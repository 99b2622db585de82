//! `fleet-agent`: speak the fleet agent protocol from inside a sandbox without knowing Redis.
//!
//! ```text
//! fleet-agent progress 40 "running tests"     # {type: progress} → /fleet/events.jsonl
//! fleet-agent log "found 3 call sites"        # {type: log}
//! fleet-agent result "Added --verbose"         # {type: result}
//! fleet-agent ask "Use sqlx or diesel?"        # {type: question}; blocks; prints the answer
//! fleet-agent ask --id db --choice sqlx --choice diesel "Which database crate?"
//! ```
//! Exit codes of `ask`: 0 answered (or the definition's default answer), 3 declined, 4 nobody
//! answered in time. Every command: 2 on bad usage, 1 when the events file cannot be written.

mod json;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage:
  fleet-agent progress PERCENT [MESSAGE...]
  fleet-agent log MESSAGE...
  fleet-agent result SUMMARY...
  fleet-agent ask [--id ID] [--choice CHOICE]... [--json] QUESTION...

Appends one JSON line to $FLEET_EVENTS_FILE (default /fleet/events.jsonl). `ask` then waits for
$FLEET_ANSWERS_DIR/<id>.json (default /fleet/answers) and prints the answer's text (the whole
answer as JSON with --json). Exit codes of ask: 0 answered or default, 3 declined, 4 timed out.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "progress" => progress(rest),
        "log" => simple("log", "message", rest),
        "result" => simple("result", "summary", rest),
        "ask" => ask(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => Err(Failure::Usage(format!("unknown command {other:?}"))),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(message)) => {
            eprintln!("fleet-agent: {message}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Io(message)) => {
            eprintln!("fleet-agent: {message}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Io(String),
}

fn events_file() -> PathBuf {
    std::env::var_os("FLEET_EVENTS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/fleet/events.jsonl"))
}

fn answers_dir() -> PathBuf {
    std::env::var_os("FLEET_ANSWERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/fleet/answers"))
}

/// Appends one line in a single write, so concurrent writers never interleave within a line.
fn append(line: &str) -> Result<(), Failure> {
    let path = events_file();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| Failure::Io(format!("cannot open {}: {e}", path.display())))?;
    file.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", path.display())))
}

fn progress(args: &[String]) -> Result<u8, Failure> {
    let Some((percent, message)) = args.split_first() else {
        return Err(Failure::Usage("progress needs a PERCENT".into()));
    };
    let percent: f64 = percent
        .trim_end_matches('%')
        .parse()
        .map_err(|_| Failure::Usage(format!("{percent:?} is not a percentage")))?;
    append(&format!(
        "{{\"type\":\"progress\",\"percent\":{},\"message\":{}}}",
        percent.clamp(0.0, 100.0),
        json::string(&message.join(" "))
    ))?;
    Ok(0)
}

fn simple(kind: &str, field: &str, args: &[String]) -> Result<u8, Failure> {
    if args.is_empty() {
        return Err(Failure::Usage(format!(
            "{kind} needs a {}",
            field.to_uppercase()
        )));
    }
    append(&format!(
        "{{\"type\":\"{kind}\",\"{field}\":{}}}",
        json::string(&args.join(" "))
    ))?;
    Ok(0)
}

fn ask(args: &[String]) -> Result<u8, Failure> {
    let mut id = None;
    let mut choices = Vec::new();
    let mut as_json = false;
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--id" => {
                id = Some(
                    it.next()
                        .ok_or(Failure::Usage("--id needs a value".into()))?,
                )
            }
            "--choice" => choices.push(
                it.next()
                    .ok_or(Failure::Usage("--choice needs a value".into()))?,
            ),
            "--json" => as_json = true,
            _ => words.push(arg.clone()),
        }
    }
    if words.is_empty() {
        return Err(Failure::Usage("ask needs a QUESTION".into()));
    }
    let id = id.cloned().unwrap_or_else(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("q{}-{}", std::process::id(), nanos % 1_000_000_000)
    });
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Failure::Usage(format!(
            "{id:?} is not a question id (A-Z a-z 0-9 - _)"
        )));
    }
    let choices_json: Vec<String> = choices.iter().map(|c| json::string(c)).collect();
    append(&format!(
        "{{\"type\":\"question\",\"id\":{},\"text\":{},\"choices\":[{}]}}",
        json::string(&id),
        json::string(&words.join(" ")),
        choices_json.join(",")
    ))?;
    let path = answers_dir().join(format!("{id}.json"));
    // The worker writes the answer atomically (rename), so a file that exists is complete.
    let text = loop {
        match std::fs::read_to_string(&path) {
            Ok(text) => break text,
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let action = json::field(&text, "action").unwrap_or_default();
    if as_json {
        println!("{}", text.trim());
    } else {
        println!("{}", json::field(&text, "text").unwrap_or_default());
    }
    Ok(match action.as_str() {
        "answered" | "default" => 0,
        "declined" => 3,
        _ => 4,
    })
}
