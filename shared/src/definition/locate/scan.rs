//! The block structure of the YAML text: indentation, `key:` lines and `- ` items.

use std::collections::HashMap;

use super::{Position, Seg};

struct Frame {
    indent: usize,
    path: Vec<Seg>,
    /// `Some(next index)` for a sequence, `None` for a mapping.
    next_item: Option<usize>,
}

/// A key (or list item) whose value is on the following lines.
struct Pending {
    path: Vec<Seg>,
    /// The indent of the key or dash that opened it.
    indent: usize,
    /// Whether a list may sit at the key's own indent (`key:` then `- item` below it).
    same_indent_list: bool,
}

pub(super) struct Cursor {
    pub line: usize,
    pub col: usize,
}

pub(super) struct Scanner {
    pub lines: Vec<Vec<char>>,
    frames: Vec<Frame>,
    pending: Option<Pending>,
    spots: HashMap<Vec<Seg>, Position>,
}

pub(super) fn child(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

impl Scanner {
    /// Scans `text` and returns the position of every key and list item it found.
    pub fn run(text: &str) -> HashMap<Vec<Seg>, Position> {
        let mut scanner = Scanner {
            lines: text.lines().map(|l| l.chars().collect()).collect(),
            frames: Vec::new(),
            pending: None,
            spots: HashMap::new(),
        };
        scanner.block();
        scanner.spots
    }

    fn block(&mut self) {
        let mut line = 0;
        while line < self.lines.len() {
            let indent = self.indent(line);
            let text = &self.lines[line];
            let directive = indent == 0
                && (text.starts_with(&['-', '-', '-'])
                    || text.starts_with(&['.', '.', '.'])
                    || text.first() == Some(&'%'));
            if self.content_end(line) <= indent || directive {
                line += 1;
                continue;
            }
            line = self.block_line(line, indent);
        }
    }

    pub(super) fn record(&mut self, path: Vec<Seg>, line: usize, col: usize) {
        let pos = Position {
            line: line + 1,
            column: col + 1,
        };
        // The document itself is "at" its first key: where a missing top-level field is reported.
        self.spots.entry(vec![]).or_insert(pos);
        self.spots.entry(path).or_insert(pos);
    }

    fn indent(&self, line: usize) -> usize {
        self.lines[line].iter().take_while(|c| **c == ' ').count()
    }

    /// Where the line's content ends: before a comment and trailing whitespace.
    fn content_end(&self, line: usize) -> usize {
        let chars = &self.lines[line];
        let mut quote = None;
        let mut end = chars.len();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some('"') if c == '\\' => i += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '#' && (i == 0 || chars[i - 1].is_whitespace()) => {
                    end = i;
                    break;
                }
                None => {}
            }
            i += 1;
        }
        while end > 0 && chars[end - 1].is_whitespace() {
            end -= 1;
        }
        end
    }

    fn starts_item(&self, line: usize, col: usize) -> bool {
        let chars = &self.lines[line];
        chars.get(col) == Some(&'-') && chars.get(col + 1).is_none_or(|c| *c == ' ')
    }

    /// A block line whose content starts at `col`. Returns the next line to read.
    fn block_line(&mut self, line: usize, col: usize) -> usize {
        let end = self.content_end(line);
        if self.starts_item(line, col) {
            let Some(item) = self.seq_item(col) else {
                return line + 1;
            };
            self.record(item.clone(), line, col);
            let rest = (col + 1..end)
                .find(|&i| self.lines[line][i] != ' ')
                .unwrap_or(end);
            if rest >= end {
                self.pending = Some(Pending {
                    path: item,
                    indent: col,
                    same_indent_list: false,
                });
                return line + 1;
            }
            return self.inline_node(line, rest, item, col);
        }
        if let Some((key, value_col)) = self.split_key(line, col, end) {
            let Some(parent) = self.map_entry(col) else {
                return line + 1;
            };
            let path = child(&parent, Seg::Key(key));
            self.record(path.clone(), line, col);
            if value_col >= end {
                self.pending = Some(Pending {
                    path,
                    indent: col,
                    same_indent_list: true,
                });
                return line + 1;
            }
            return self.value(line, value_col, path, col);
        }
        // A value on the line below its key (`command:` then `  [a, b]`).
        if let Some(p) = self.pending.take()
            && col > p.indent
        {
            return self.value(line, col, p.path, p.indent);
        }
        line + 1
    }

    /// The node right after a list item's dash: a nested mapping or list, or a value.
    fn inline_node(&mut self, line: usize, col: usize, path: Vec<Seg>, dash: usize) -> usize {
        let end = self.content_end(line);
        if self.starts_item(line, col) || self.split_key(line, col, end).is_some() {
            let next_item = self.starts_item(line, col).then_some(0);
            self.frames.push(Frame {
                indent: col,
                path,
                next_item,
            });
            return self.block_line(line, col);
        }
        self.value(line, col, path, dash)
    }

    fn map_entry(&mut self, col: usize) -> Option<Vec<Seg>> {
        let first = self.spots.is_empty();
        match self.pending.take() {
            Some(p) if col > p.indent => self.frames.push(Frame {
                indent: col,
                path: p.path,
                next_item: None,
            }),
            _ => {
                while let Some(top) = self.frames.last() {
                    if top.indent > col || (top.indent == col && top.next_item.is_some()) {
                        self.frames.pop();
                    } else {
                        break;
                    }
                }
                if self.frames.is_empty() && first {
                    self.frames.push(Frame {
                        indent: col,
                        path: vec![],
                        next_item: None,
                    });
                }
            }
        }
        match self.frames.last() {
            Some(f) if f.indent == col && f.next_item.is_none() => Some(f.path.clone()),
            _ => None,
        }
    }

    fn seq_item(&mut self, col: usize) -> Option<Vec<Seg>> {
        let first = self.spots.is_empty();
        match self.pending.take() {
            Some(p) if col > p.indent || (p.same_indent_list && col == p.indent) => {
                self.frames.push(Frame {
                    indent: col,
                    path: p.path,
                    next_item: Some(0),
                })
            }
            _ => {
                while let Some(top) = self.frames.last() {
                    if top.indent > col || (top.indent == col && top.next_item.is_none()) {
                        self.frames.pop();
                    } else {
                        break;
                    }
                }
                if self.frames.is_empty() && first {
                    self.frames.push(Frame {
                        indent: col,
                        path: vec![],
                        next_item: Some(0),
                    });
                }
            }
        }
        let top = self.frames.last_mut()?;
        let index = top.next_item.filter(|_| top.indent == col)?;
        top.next_item = Some(index + 1);
        Some(child(&top.path, Seg::Index(index)))
    }

    /// `key: rest` at `col`: the key (unquoted) and the column where its value starts.
    fn split_key(&self, line: usize, col: usize, end: usize) -> Option<(String, usize)> {
        let chars = &self.lines[line][..end];
        let first = *chars.get(col)?;
        let (key, after) = if first == '"' || first == '\'' {
            let close = (col + 1..end).find(|&i| chars[i] == first)?;
            let key: String = chars[col + 1..close].iter().collect();
            let colon = (close + 1..end).find(|&i| chars[i] != ' ')?;
            (chars[colon] == ':').then_some((key, colon + 1))?
        } else {
            if "[{#|>!&*%@`?".contains(first) {
                return None;
            }
            let colon = (col..end)
                .find(|&i| chars[i] == ':' && chars.get(i + 1).is_none_or(|c| *c == ' '))?;
            let key: String = chars[col..colon].iter().collect();
            (key.trim_end().to_string(), colon + 1)
        };
        if after < end && chars[after] != ' ' {
            return None;
        }
        let value = (after..end).find(|&i| chars[i] != ' ').unwrap_or(end);
        Some((key, value))
    }

    /// A value starting at `col`; `parent` is the indent of its key or dash. Returns the next
    /// line to read, past any lines the value spans.
    fn value(&mut self, line: usize, col: usize, path: Vec<Seg>, parent: usize) -> usize {
        match self.lines[line][col] {
            '[' | '{' => {
                let mut cur = Cursor { line, col };
                self.flow(&mut cur, &path);
                cur.line + 1
            }
            '"' | '\'' => {
                let mut cur = Cursor { line, col };
                self.flow_scalar(&mut cur);
                cur.line + 1
            }
            // Block scalars and multi-line plain scalars: every deeper line belongs to them.
            _ => {
                let mut next = line + 1;
                while next < self.lines.len()
                    && (self.content_end(next) == 0 || self.indent(next) > parent)
                {
                    next += 1;
                }
                next
            }
        }
    }
}
