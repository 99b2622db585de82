//! Redaction of command output before it goes into a verdict or a log.

use super::patterns::{BUILTIN, assigned_value, literal_secret};

const REDACTED: &str = "[REDACTED]";

/// `text` with every built-in secret format, literal credential assignment and private key
/// block replaced by `[REDACTED]`: for command output that goes into verdicts and logs.
pub fn redact(text: &str) -> String {
    let Some(builtin) = BUILTIN.as_ref() else {
        return "[output withheld: secret redaction unavailable]".to_string();
    };
    let mut out = Vec::new();
    let mut in_key = false;
    for line in text.lines() {
        if in_key {
            if line.contains("-----END ") {
                in_key = false;
                out.push(line.to_string());
            }
            continue;
        }
        if line.contains("-----BEGIN ") && line.contains("PRIVATE KEY") {
            in_key = !line.contains("-----END ");
            out.push(format!("{REDACTED} (private key)"));
            continue;
        }
        let mut line = line.to_string();
        for (_, re) in &builtin.tokens {
            line = re.replace_all(&line, REDACTED).into_owned();
        }
        let mut cut: Vec<(usize, usize)> = Vec::new();
        for caps in builtin.assignment.captures_iter(&line) {
            if let Some(rest) = caps.get(2)
                && let Some((value, quoted)) = assigned_value(rest.as_str())
                && literal_secret(value, quoted)
                && let Some(offset) = rest.as_str().find(value)
            {
                cut.push((rest.start() + offset, value.len()));
            }
        }
        for (start, len) in cut.into_iter().rev() {
            line.replace_range(start..start + len, REDACTED);
        }
        out.push(line);
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Built at run time so this source file does not itself look like it holds secrets.
    fn fake(prefix: &str, body: &str, len: usize) -> String {
        format!("{prefix}{}", &body.repeat(len / body.len() + 1)[..len])
    }

    #[test]
    fn redaction_removes_tokens_assignments_and_key_blocks() {
        let token = fake("ghp_", "Zx9Yw8Vu7T", 36);
        let text = format!(
            "ok line\npushing with {token}\nDB_PASSWORD=s3cr3t-Value-42 rest\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nafter"
        );
        let red = redact(&text);
        assert!(!red.contains(&token) && !red.contains("s3cr3t") && !red.contains("MIIEp"));
        assert_eq!(
            red,
            "ok line\npushing with [REDACTED]\nDB_PASSWORD=[REDACTED] rest\n[REDACTED] (private key)\n-----END RSA PRIVATE KEY-----\nafter"
        );
    }
}
