//! Flow collections (`[a, b]`, `{K: v}`) and quoted scalars, read with a cursor that may cross
//! lines.

use super::Seg;
use super::scan::{Cursor, Scanner, child};

impl Scanner {
    fn peek(&self, cur: &Cursor) -> Option<char> {
        let line = self.lines.get(cur.line)?;
        Some(line.get(cur.col).copied().unwrap_or('\n'))
    }

    fn bump(&self, cur: &mut Cursor) {
        if self.lines.get(cur.line).is_some_and(|l| cur.col < l.len()) {
            cur.col += 1;
        } else {
            cur.line += 1;
            cur.col = 0;
        }
    }

    fn skip_blank(&self, cur: &mut Cursor) {
        while let Some(c) = self.peek(cur) {
            if c == '#' {
                cur.col = self.lines[cur.line].len();
            } else if c.is_whitespace() {
                self.bump(cur);
            } else {
                break;
            }
        }
    }

    /// A flow collection at the cursor (on `[` or `{`), recording its items and keys.
    pub(super) fn flow(&mut self, cur: &mut Cursor, path: &[Seg]) {
        let Some(open) = self.peek(cur) else { return };
        let close = if open == '[' { ']' } else { '}' };
        self.bump(cur);
        let mut index = 0;
        loop {
            self.skip_blank(cur);
            match self.peek(cur) {
                None => return,
                Some(c) if c == close => {
                    self.bump(cur);
                    return;
                }
                Some(',') => {
                    self.bump(cur);
                    continue;
                }
                Some(_) => {}
            }
            let (line, col) = (cur.line, cur.col);
            if open == '[' {
                let item = child(path, Seg::Index(index));
                self.record(item.clone(), line, col);
                self.flow_node(cur, &item);
                index += 1;
            } else {
                let key = self.flow_scalar(cur);
                let item = child(path, Seg::Key(key));
                self.record(item.clone(), line, col);
                self.skip_blank(cur);
                if self.peek(cur) == Some(':') {
                    self.bump(cur);
                    self.skip_blank(cur);
                    self.flow_node(cur, &item);
                }
            }
            if (cur.line, cur.col) == (line, col) {
                // Never loop on something this scan does not understand.
                self.bump(cur);
            }
        }
    }

    fn flow_node(&mut self, cur: &mut Cursor, path: &[Seg]) {
        match self.peek(cur) {
            Some('[' | '{') => self.flow(cur, path),
            _ => {
                self.flow_scalar(cur);
            }
        }
    }

    /// A scalar in flow context (or a quoted one anywhere), unquoted.
    pub(super) fn flow_scalar(&self, cur: &mut Cursor) -> String {
        let mut out = String::new();
        match self.peek(cur) {
            Some(q @ ('"' | '\'')) => {
                self.bump(cur);
                while let Some(c) = self.peek(cur) {
                    self.bump(cur);
                    if c == '\\' && q == '"' {
                        if let Some(escaped) = self.peek(cur) {
                            out.push(escaped);
                            self.bump(cur);
                        }
                    } else if c == q {
                        if q == '\'' && self.peek(cur) == Some('\'') {
                            out.push('\'');
                            self.bump(cur);
                        } else {
                            break;
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
            _ => {
                while let Some(c) = self.peek(cur) {
                    let colon_ends = c == ':'
                        && self.lines[cur.line]
                            .get(cur.col + 1)
                            .is_none_or(|n| " ,[]{}".contains(*n));
                    if c == '\n' || ",[]{}".contains(c) || colon_ends {
                        break;
                    }
                    out.push(c);
                    self.bump(cur);
                }
            }
        }
        out.trim().to_string()
    }
}
