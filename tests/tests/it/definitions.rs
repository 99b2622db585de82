//! Worker definitions: the shipped ones load, and every kind of broken file is refused with one
//! line that names the file, line, column and field.

use std::path::{Path, PathBuf};

use fleet_shared::definition::{
    DefinitionError, Network, OnTimeout, PlaceholderValues, Position, TrustLevel, WitnessRule,
    check_dir, load_dir, load_file, resolve,
};
use fleet_shared::{NewOrder, OrderId, TaskType};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/definitions")
}

/// Each broken fixture and the exact line it must produce, after `<fixture dir>/`.
const BROKEN: &[(&str, &str)] = &[
    (
        "memory-not-a-size.yaml",
        r#"memory-not-a-size.yaml:14:5: runtime.resources.memory: "4 gigs" is not a size (use e.g. 4g)"#,
    ),
    (
        "unknown-field.yaml",
        "unknown-field.yaml:19:5: runtime.resources.gpu: unknown field (use memory, cpus, pids, timeout or disk)",
    ),
    (
        "unknown-top-level-field.yaml",
        "unknown-top-level-field.yaml:20:1: owner: unknown field (use worker_id, identity, accepts, runtime, trust_level, escalation, constraints, audit, clarification or git)",
    ),
    (
        "unknown-witness.yaml",
        r#"unknown-witness.yaml:25:5: constraints[0].witness: "max_lines" is not a witness (use max_file_size, max_changed_files, max_changed_lines, forbidden_paths, allowed_paths, no_secrets, no_binary_files or require_command)"#,
    ),
    (
        "witness-value-type.yaml",
        r#"witness-value-type.yaml:34:5: constraints[2].value: forbidden_paths expects a list of globs, not ".github/**""#,
    ),
    (
        "witness-value-not-integer.yaml",
        r#"witness-value-not-integer.yaml:26:5: constraints[0].value: max_changed_lines expects an integer >= 1, not "lots""#,
    ),
    (
        "unknown-placeholder.yaml",
        r#"unknown-placeholder.yaml:10:9: runtime.env.PROMPT_FILE: "{prompt_path}" uses unknown placeholder {prompt_path} (known: {order_id} {task_type} {priority} {repo} {branch} {attempt} {workspace} {order_file} {prompt_file} {system_prompt_file} {events_file} {prompt}; write {{ for a literal brace)"#,
    ),
    (
        "prompt-in-shell-c.yaml",
        "prompt-in-shell-c.yaml:9:46: runtime.command[3]: {prompt} is refused in a shell -c command (the shell would parse it as code; read {prompt_file} instead)",
    ),
    (
        "prompt-inside-argument.yaml",
        r#"prompt-inside-argument.yaml:9:56: runtime.command[2]: {prompt} must be a whole argument on its own (e.g. [agent, "{prompt}"]), never part of a string"#,
    ),
    (
        "prompt-in-env.yaml",
        "prompt-in-env.yaml:10:39: runtime.env.TASK: {prompt} is refused here (prompts are data: pass {prompt_file}, or {prompt} as a whole argument of runtime.command)",
    ),
    (
        "prompt-in-commit-message.yaml",
        "prompt-in-commit-message.yaml:44:3: git.commit_message: {prompt} is refused here (prompts are data: pass {prompt_file}, or {prompt} as a whole argument of runtime.command)",
    ),
    (
        "bad-worker-id.yaml",
        r#"bad-worker-id.yaml:1:1: worker_id: "Example_Worker" is not a worker id (2-63 characters: a lowercase letter, then a-z, 0-9 or -)"#,
    ),
    (
        "empty-accepts.yaml",
        "empty-accepts.yaml:6:1: accepts: must list at least one task type",
    ),
    (
        "unknown-task-type.yaml",
        r#"unknown-task-type.yaml:6:20: accepts[1]: "chore" is not a task type (use feature, bugfix, test, docs, refactor or review)"#,
    ),
    (
        "duplicate-task-type.yaml",
        r#"duplicate-task-type.yaml:6:26: accepts[2]: "feature" is listed twice"#,
    ),
    (
        "uid-0.yaml",
        r#"uid-0.yaml:11:3: runtime.user: "0:0" would run as root (uid 0 is refused; use e.g. 65534:65534)"#,
    ),
    (
        "network-host.yaml",
        r#"network-host.yaml:12:3: runtime.network: "host" is not a network (use none or bridge)"#,
    ),
    (
        "escalation-not-above.yaml",
        r#"escalation-not-above.yaml:22:3: escalation.to: "supervised" is not above trust_level supervised (escalation promotes: supervised < monitored < autonomous)"#,
    ),
    (
        "default-without-answer.yaml",
        "default-without-answer.yaml:40:3: clarification.default_answer: missing (required when on_timeout is default)",
    ),
    (
        "answer-without-default.yaml",
        "answer-without-default.yaml:41:3: clarification.default_answer: is only used when on_timeout is default (remove it, or set on_timeout: default)",
    ),
    (
        "timeout-out-of-range.yaml",
        r#"timeout-out-of-range.yaml:17:5: runtime.resources.timeout: "48h" is out of range (use 10s to 24h)"#,
    ),
    (
        "clarification-timeout-out-of-range.yaml",
        r#"clarification-timeout-out-of-range.yaml:39:3: clarification.timeout: "30d" is out of range (use 10s to 7d)"#,
    ),
    (
        "cpus-out-of-range.yaml",
        "cpus-out-of-range.yaml:15:5: runtime.resources.cpus: 128 is out of range (use 0.1 to 64)",
    ),
    (
        "retention-out-of-range.yaml",
        "retention-out-of-range.yaml:37:3: audit.retention_days: 0 is out of range (use 1 to 3650)",
    ),
    (
        "duplicate-constraint-id.yaml",
        r#"duplicate-constraint-id.yaml:32:5: constraints[2].constraint_id: "small-change" is already used by constraints[0]"#,
    ),
    (
        "bad-glob.yaml",
        r#"bad-glob.yaml:34:27: constraints[2].value[1]: "src/[abc" is not a valid glob (unclosed character class; missing ']')"#,
    ),
    (
        "reserved-env-key.yaml",
        r#"reserved-env-key.yaml:10:39: runtime.env.FLEET_TOKEN: "FLEET_TOKEN" is reserved (the worker sets FLEET_* variables itself)"#,
    ),
    (
        "missing-image.yaml",
        "missing-image.yaml:7:1: runtime.image: missing",
    ),
    (
        "missing-trust-level.yaml",
        "missing-trust-level.yaml:1:1: trust_level: missing",
    ),
    (
        "empty-command.yaml",
        "empty-command.yaml:9:3: runtime.command: must not be empty (give the agent's argv as a list)",
    ),
    (
        "invalid-yaml.yaml",
        "invalid-yaml.yaml:4:2: invalid YAML: did not find expected key, while parsing a block mapping",
    ),
];

#[test]
fn every_shipped_definition_loads() {
    let dir = repo_root().join("definitions");
    let report = check_dir(&dir);
    assert!(report.ok(), "{}", report.render());
    let mut ids: Vec<&str> = report
        .loaded
        .iter()
        .map(|l| l.definition.worker_id.as_str())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "bugfix-worker",
            "docs-worker",
            "feature-worker",
            "refactor-worker",
            "review-worker",
            "test-worker"
        ]
    );
    // One worker type per task type, and every witness used somewhere.
    let mut accepted: Vec<TaskType> = report
        .loaded
        .iter()
        .flat_map(|l| l.definition.accepts.clone())
        .collect();
    accepted.sort();
    assert_eq!(accepted, TaskType::ALL);
    let mut witnesses: Vec<_> = report
        .loaded
        .iter()
        .flat_map(|l| l.definition.constraints.iter().map(|c| c.rule.kind()))
        .collect();
    witnesses.sort();
    witnesses.dedup();
    assert_eq!(witnesses.len(), 8, "{witnesses:?}");
    for l in &report.loaded {
        assert_eq!(l.definition.runtime.image.as_str(), "fleet-agent:latest");
        assert_eq!(l.definition.runtime.network, Network::None);
    }
}

#[test]
fn the_example_agent_definitions_load() {
    let report = check_dir(repo_root().join("definitions/examples"));
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.loaded.len(), 3);
}

#[test]
fn every_broken_fixture_is_refused_with_its_exact_message() {
    let dir = fixtures().join("broken");
    for (file, expected) in BROKEN {
        let err = load_file(dir.join(file)).expect_err(file);
        assert_eq!(
            err.to_string(),
            format!("{}/{expected}", dir.display()),
            "fixture {file}"
        );
    }
}

#[test]
fn every_broken_fixture_is_in_the_table() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures().join("broken"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = BROKEN.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    assert!(listed.len() >= 12);
}

#[test]
fn errors_keep_file_position_path_and_message_apart() {
    let file = fixtures().join("broken/memory-not-a-size.yaml");
    let err = load_file(&file).unwrap_err();
    assert_eq!(
        err,
        DefinitionError {
            file,
            position: Some(Position {
                line: 14,
                column: 5
            }),
            path: "runtime.resources.memory".into(),
            message: r#""4 gigs" is not a size (use e.g. 4g)"#.into(),
        }
    );
}

#[test]
fn a_valid_definition_reads_every_field_and_fills_defaults() {
    let d = load_file(fixtures().join("valid.yaml")).unwrap();
    assert_eq!(d.worker_id.as_str(), "example-worker");
    assert_eq!(d.identity.onboarding_steps.len(), 2);
    assert!(d.accepts(TaskType::Feature) && !d.accepts(TaskType::Docs));
    assert_eq!(d.runtime.resources.memory.bytes(), 2 << 30);
    assert_eq!(d.runtime.resources.cpus, 1.5);
    assert_eq!(d.runtime.resources.timeout.duration().as_secs(), 1800);
    assert_eq!(d.runtime.user.to_string(), "65534:65534");
    assert_eq!(d.trust_level, TrustLevel::Supervised);
    assert_eq!(d.escalation.unwrap().to, TrustLevel::Monitored);
    assert!(matches!(
        d.constraints[0].rule,
        WitnessRule::MaxChangedLines(500)
    ));
    assert_eq!(d.clarification.on_timeout, OnTimeout::Fail);

    // The same definition without its optional sections.
    let text = std::fs::read_to_string(fixtures().join("valid.yaml")).unwrap();
    let minimal: String = text
        .split_inclusive('\n')
        .take_while(|l| !l.starts_with("escalation:"))
        .collect::<String>()
        + "audit: {log_all_actions: false, retention_days: 7}\n";
    let d = fleet_shared::definition::parse_str(&minimal, Path::new("minimal.yaml")).unwrap();
    assert!(d.escalation.is_none() && d.constraints.is_empty());
    assert_eq!(d.clarification.timeout.to_string(), "30m");
    assert_eq!(d.git.author_name, "fleet-example-worker");
    assert_eq!(d.git.author_email, "fleet@localhost");
    assert_eq!(
        d.git.commit_message.as_str(),
        "fleet {task_type} {order_id}"
    );
}

#[test]
fn rendering_substitutes_order_values_without_a_shell() {
    let d = resolve("claude-code", repo_root().join("definitions/examples"))
        .unwrap()
        .definition;
    let order = NewOrder {
        task_type: "bugfix".into(),
        repo: "/srv/git/app.git".into(),
        prompt: "Fix it\"; rm -rf / #".into(),
        ..NewOrder::default()
    }
    .validate(OrderId::generate(), 0)
    .unwrap();
    let vars = PlaceholderValues::for_order(&order, 1);
    let argv = d.render_command(&vars);
    assert_eq!(argv.first().map(String::as_str), Some("claude"));
    assert_eq!(
        argv.last(),
        Some(&order.prompt),
        "the prompt is one whole argument"
    );
    assert_eq!(argv[argv.len() - 2], "--");

    let feature = load_file(repo_root().join("definitions/feature.yaml")).unwrap();
    assert_eq!(
        feature.render_command(&vars),
        ["/bin/sh", "/opt/fleet/agents/feature.sh"]
    );
    let env = feature.render_env(&vars);
    assert!(env.contains(&("PROMPT_FILE".into(), "/fleet/prompt.txt".into())));
    assert!(env.contains(&("ATTEMPT".into(), "1".into())));
    assert_eq!(
        feature.render_commit_message(&vars),
        format!("feat: fleet order {} (attempt 1)", order.id)
    );
}

#[test]
fn a_worker_id_resolves_to_its_file_and_a_path_loads_directly() {
    let dir = repo_root().join("definitions");
    let by_id = resolve("docs-worker", &dir).unwrap();
    assert!(by_id.path.ends_with("docs.yaml"));
    let path = dir.join("docs.yaml");
    let by_path = resolve(path.to_str().unwrap(), "/nonexistent").unwrap();
    assert_eq!(by_path.definition, by_id.definition);

    let err = resolve("nobody-worker", &dir).unwrap_err();
    assert!(
        err.to_string().contains(
            "no definition with worker_id \"nobody-worker\" (found: bugfix-worker, docs-worker, feature-worker, refactor-worker, review-worker, test-worker)"
        ),
        "{err}"
    );
    assert!(resolve("Not An Id", &dir).is_err());
}

#[test]
fn load_dir_refuses_a_worker_id_defined_twice_and_skips_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let valid = std::fs::read_to_string(fixtures().join("valid.yaml")).unwrap();
    std::fs::write(dir.path().join("a.yaml"), &valid).unwrap();
    std::fs::write(dir.path().join("b.yml"), format!("# copy\n{valid}")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not yaml").unwrap();
    std::fs::create_dir(dir.path().join("nested.yaml")).unwrap();
    std::fs::write(dir.path().join("nested.yaml/c.yaml"), "broken: [").unwrap();

    let (loaded, errors) = load_dir(dir.path());
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].path.ends_with("a.yaml"));
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}:2:1: worker_id: \"example-worker\" is already defined in {}",
            dir.path().join("b.yml").display(),
            dir.path().join("a.yaml").display()
        )
    );

    let report = check_dir(dir.path());
    assert!(!report.ok());
    assert_eq!(report.exit_code(), 2);
    let text = report.render();
    assert!(text.contains("example-worker  accepts=feature  trust=supervised  image=fleet-agent:latest  constraints=3"), "{text}");
    assert!(text.contains("is already defined in"), "{text}");
    assert!(
        text.ends_with("1 definition(s) loaded, 1 error(s)\n"),
        "{text}"
    );
}

#[test]
fn a_missing_directory_is_one_error() {
    let report = check_dir("/nonexistent/definitions");
    assert!(!report.ok());
    assert!(
        report.errors[0]
            .to_string()
            .starts_with("/nonexistent/definitions: cannot read directory: ")
    );
}

#[test]
fn a_definition_serialises_to_json_with_its_constraints_flattened() {
    let d = load_file(fixtures().join("valid.yaml")).unwrap();
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["worker_id"], "example-worker");
    assert_eq!(json["runtime"]["resources"]["memory"], "2g");
    assert_eq!(json["runtime"]["user"], "65534:65534");
    assert_eq!(
        json["constraints"][0],
        serde_json::json!({
            "constraint_id": "small-change",
            "witness": "max_changed_lines",
            "value": 500,
            "feedback": "alert",
        })
    );
    assert_eq!(
        json["constraints"][2]["value"],
        serde_json::json!([".github/**", "*.pem"])
    );
    assert_eq!(json["clarification"]["on_timeout"], "fail");
}

#[test]
fn mangled_definitions_are_refused_without_panicking() {
    // Deterministic mutations of real files: whatever the text, loading returns an error or a
    // definition, and never panics in the position scanner.
    let mut sources = vec![std::fs::read_to_string(fixtures().join("valid.yaml")).unwrap()];
    for f in ["feature.yaml", "test.yaml", "examples/claude-code.yaml"] {
        sources.push(std::fs::read_to_string(repo_root().join("definitions").join(f)).unwrap());
    }
    let noise: Vec<char> = ":-[]{}'\"#|> \n\t,\\&*!?é".chars().collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for round in 0..3000 {
        let mut chars: Vec<char> = sources[round % sources.len()].chars().collect();
        for _ in 0..1 + next(4) {
            let at = next(chars.len());
            match next(3) {
                0 => chars.insert(at, noise[next(noise.len())]),
                1 => {
                    chars.remove(at);
                }
                _ => chars[at] = noise[next(noise.len())],
            }
        }
        let text: String = chars.into_iter().collect();
        if let Err(e) = fleet_shared::definition::parse_str(&text, Path::new("m.yaml")) {
            assert!(e.to_string().starts_with("m.yaml"), "{e}");
        }
    }
}
