//! `no_secrets`: credentials in the new content of changed text files.
//!
//! Looks for private key blocks, well-known token formats (AWS access key ids, GitHub, Slack,
//! Stripe live and Google API keys) and `*_TOKEN=` / `*_SECRET:` / `*_PASSWORD=` / `*_API_KEY=`
//! style assignments of a literal value. JWTs are left out: they are everywhere in test fixtures
//! and mostly short-lived. The whole new content is scanned, not only added lines, because a
//! change set holds contents rather than hunks; `allow_paths` exempts known fixtures.
//!
//! A finding names the file, the line and the kind of secret, never the value.

mod patterns;
mod redact;

use fleet_shared::definition::SecretScan;
use regex::Regex;

use super::Finding;
use crate::change::{ChangeSet, FileStatus, MAX_CONTENT_BYTES};
use patterns::{BUILTIN, assigned_value, literal_secret};

pub use redact::redact;

pub(super) fn no_secrets(scan: &SecretScan, change: &ChangeSet) -> Vec<Finding> {
    let Some(builtin) = BUILTIN.as_ref() else {
        return vec![Finding::general(
            "the built-in secret patterns did not compile; nothing was scanned",
        )];
    };
    let mut findings = Vec::new();
    let mut extra = Vec::new();
    for pattern in &scan.extra_patterns {
        match Regex::new(pattern) {
            Ok(re) => extra.push((pattern, re)),
            Err(e) => {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or_default().trim();
                findings.push(Finding::general(format!(
                    "extra pattern {pattern:?} is not a valid regex ({why}); nothing was scanned for it"
                )));
            }
        }
    }
    for file in &change.files {
        let scannable = !matches!(file.status, FileStatus::Deleted) && !file.binary;
        let allowed = scan
            .allow_paths
            .as_ref()
            .is_some_and(|g| g.is_match(&file.path));
        if !scannable || allowed {
            continue;
        }
        let Some(content) = &file.content else {
            if file.size_bytes > MAX_CONTENT_BYTES {
                // Fail closed: padding a file past the scan limit must not hide a key.
                findings.push(Finding::about(
                    &file.path,
                    format!(
                        "is larger than {} MiB and was not scanned (list it in allow_paths if that is intended)",
                        MAX_CONTENT_BYTES >> 20
                    ),
                ));
            }
            continue;
        };
        for (number, line) in content.lines().enumerate() {
            let mut kinds: Vec<String> = Vec::new();
            for (kind, re) in &builtin.tokens {
                if re.is_match(line) {
                    kinds.push(format!("looks like {kind} (value not shown)"));
                }
            }
            for caps in builtin.assignment.captures_iter(line) {
                let name = caps.get(1).map_or("", |m| m.as_str());
                let rest = caps.get(2).map_or("", |m| m.as_str());
                if let Some((value, quoted)) = assigned_value(rest)
                    && literal_secret(value, quoted)
                {
                    kinds.push(format!(
                        "assigns a literal value to {name} (value not shown)"
                    ));
                }
            }
            for (pattern, re) in &extra {
                if re.is_match(line) {
                    kinds.push(format!(
                        "matches extra pattern {pattern:?} (value not shown)"
                    ));
                }
            }
            kinds.dedup();
            findings.extend(kinds.into_iter().map(|message| Finding {
                path: Some(file.path.clone()),
                line: Some(number as u64 + 1),
                message,
            }));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Verdict, evaluate};
    use super::*;
    use crate::change::ChangedFile;

    const ON: &str = "  - {constraint_id: s, witness: no_secrets, value: true}";

    fn scan(constraint: &str, files: Vec<ChangedFile>) -> Verdict {
        evaluate(&constraints(constraint), &change(files)).remove(0)
    }

    fn one_file(content: &str) -> Verdict {
        scan(ON, vec![file("config/app.env", FileStatus::Added, content)])
    }

    // Built at run time so this source file does not itself look like it holds secrets.
    fn fake(prefix: &str, body: &str, len: usize) -> String {
        format!("{prefix}{}", &body.repeat(len / body.len() + 1)[..len])
    }
    #[test]
    fn token_formats_are_found_with_path_and_line_but_never_the_value() {
        let cases = [
            (fake("AKIA", "Q7XW3M2K9P", 16), "an AWS access key id"),
            (fake("ghp_", "a1B2c3D4e5", 36), "a GitHub token"),
            (fake("github_pat_", "11ABCDEFG0_", 40), "a GitHub token"),
            (fake("xoxb-", "1234-abcd", 30), "a Slack token"),
            (
                fake("sk_live_", "4eC39HqLyjWDarjtT1", 24),
                "a Stripe live key",
            ),
            (fake("AIza", "SyD-x9_k2LmQ", 35), "a Google API key"),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----".to_string(),
                "a private key",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----".to_string(),
                "a private key",
            ),
        ];
        for (secret, kind) in cases {
            let v = one_file(&format!("# settings\nkey = \"{secret}\"\n"));
            assert!(!v.passed, "{kind}: {secret}");
            let f = &v.findings[0];
            assert_eq!(f.path.as_deref(), Some("config/app.env"));
            assert_eq!(f.line, Some(2));
            assert_eq!(f.message, format!("looks like {kind} (value not shown)"));
            let json = serde_json::to_string(&v).unwrap();
            assert!(!json.contains(&secret), "{json}");
        }
    }

    #[test]
    fn literal_credential_assignments_are_found() {
        for line in [
            "DB_PASSWORD=s3cr3t-Value-42",
            "export GITHUB_TOKEN=abc123def456ghi",
            "  SERVICE_API_KEY: \"k3y-material\"",
            "\"CLIENT_SECRET\": \"zz9-plural-z-alpha\",",
            "AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMIK7MDENG'",
        ] {
            let v = one_file(line);
            assert!(!v.passed, "{line}");
            assert!(
                v.findings[0]
                    .message
                    .starts_with("assigns a literal value to "),
                "{line}"
            );
            assert!(!v.findings[0].message.contains("s3cr3t"));
        }
    }

    #[test]
    fn empty_referenced_and_placeholder_values_pass() {
        for line in [
            "GITHUB_TOKEN=",
            "API_KEY=\"${API_KEY}\"",
            "TOKEN: ${{ secrets.TOKEN }}",
            "API_KEY = os.environ[\"API_KEY\"]",
            "SECRET_KEY = settings.SECRET_KEY",
            "DB_PASSWORD=<your password here>",
            "STRIPE_API_KEY=sk_test_xxxxxxxxxxxxxxxx",
            "PASSWORD: required",
            "API_KEY=changeme123",
            "my_token = get_token()",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        ] {
            let v = one_file(line);
            assert!(v.passed, "{line}: {:?}", v.findings);
        }
    }

    #[test]
    fn allow_paths_deleted_and_binary_files_are_not_scanned() {
        let key = "-----BEGIN EC PRIVATE KEY-----";
        let allow = "  - {constraint_id: s, witness: no_secrets, value: {allow_paths: ['tests/fixtures/**']}}";
        assert!(
            scan(
                allow,
                vec![file("tests/fixtures/key.pem", FileStatus::Added, key)]
            )
            .passed
        );
        assert!(!scan(allow, vec![file("src/key.pem", FileStatus::Added, key)]).passed);
        let mut deleted = file("old.pem", FileStatus::Deleted, "");
        deleted.content = Some(key.into());
        let mut binary = file("blob", FileStatus::Added, key);
        binary.binary = true;
        assert!(scan(ON, vec![deleted, binary]).passed);
    }

    #[test]
    fn files_too_large_to_scan_fail_closed() {
        let mut big = file("dump.sql", FileStatus::Added, "");
        big.size_bytes = MAX_CONTENT_BYTES + 1;
        big.content = None;
        let v = scan(ON, vec![big]);
        assert!(!v.passed);
        assert!(v.findings[0].message.contains("was not scanned"));
    }

    #[test]
    fn extra_patterns_are_matched_and_bad_ones_reported() {
        let extra = "  - {constraint_id: s, witness: no_secrets, value: {extra_patterns: ['corp-[0-9]{6}', 'bad[']}}";
        let v = scan(
            extra,
            vec![file("a.txt", FileStatus::Added, "id corp-123456\n")],
        );
        assert!(!v.passed);
        assert!(
            v.findings[0]
                .message
                .starts_with("extra pattern \"bad[\" is not a valid regex")
        );
        assert_eq!(v.findings[1].line, Some(1));
        assert_eq!(
            v.findings[1].message,
            "matches extra pattern \"corp-[0-9]{6}\" (value not shown)"
        );
    }
}
