//! Just enough JSON for the helper: encode a string, read a top-level string field.

/// `text` as a JSON string literal.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of the string field `name` of a flat JSON object (the answer files the worker
/// writes), with escapes decoded. `None` when absent or not a string.
pub fn field(json: &str, name: &str) -> Option<String> {
    let key = string(name);
    let mut rest = json;
    loop {
        let at = rest.find(&key)?;
        let after = rest[at + key.len()..].trim_start();
        if let Some(value) = after.strip_prefix(':') {
            let value = value.trim_start();
            return value.strip_prefix('"').and_then(decode);
        }
        rest = &rest[at + key.len()..];
    }
}

/// Decodes a JSON string body up to its closing quote.
fn decode(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        let text = "say \"hi\"\n\tand \\ go ✓";
        let encoded = format!("{{\"text\": {}}}", string(text));
        assert_eq!(field(&encoded, "text").as_deref(), Some(text));
    }

    #[test]
    fn fields_are_found_by_exact_key() {
        let answer = r#"{"action": "answered", "text": "use sqlx", "answered_by": "alice"}"#;
        assert_eq!(field(answer, "action").as_deref(), Some("answered"));
        assert_eq!(field(answer, "text").as_deref(), Some("use sqlx"));
        assert_eq!(field(answer, "missing"), None);
    }
}
