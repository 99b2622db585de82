//! Turning a sandbox's byte streams into [`OutputLine`]s without ever letting the receiver stall
//! the sandbox.
//!
//! Both executors read the agent's output continuously (a pipe the agent blocks on when full, or
//! Docker's log follow) and hand lines to a bounded channel. A receiver that keeps up gets every
//! line; one that stalls for longer than [`SEND_PATIENCE`] makes the sink *lossy*: lines are then
//! dropped and counted until the channel has room again. A receiver that is gone is not an error —
//! the run goes on and its lines are counted as dropped.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{SendTimeoutError, TrySendError};

use super::{OutputLine, Stream};

/// Lines longer than this are cut here (an agent printing a minified bundle must not make the
/// worker buffer megabytes per line).
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;

/// Appended to a line that was cut at [`MAX_LINE_BYTES`].
const TRUNCATED_MARK: &str = " [fleet: line truncated]";

/// How long one line may wait for room in the channel before the sink turns lossy. Long enough
/// for a receiver's hiccup (a Redis round trip), short enough that a stuck receiver costs seconds,
/// not the run.
const SEND_PATIENCE: Duration = Duration::from_secs(2);

/// Splits one stream's bytes into lines; keeps the partial last line between chunks.
pub(crate) struct LineSplitter {
    stream: Stream,
    buf: Vec<u8>,
    /// The current line already hit the cap; its remaining bytes are skipped up to the newline.
    truncated: bool,
}

impl LineSplitter {
    pub(crate) fn new(stream: Stream) -> Self {
        LineSplitter {
            stream,
            buf: Vec::new(),
            truncated: false,
        }
    }

    /// Feeds a chunk and returns the lines it completed.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<OutputLine> {
        let mut lines = Vec::new();
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            let (body, complete) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.buf.len());
            if body.len() > room {
                self.truncated = true;
            }
            self.buf.extend_from_slice(&body[..body.len().min(room)]);
            if complete {
                lines.push(self.take());
            }
        }
        lines
    }

    /// The unterminated last line, if any, once the stream has ended.
    pub(crate) fn finish(&mut self) -> Option<OutputLine> {
        (!self.buf.is_empty() || self.truncated).then(|| self.take())
    }

    fn take(&mut self) -> OutputLine {
        let bytes = std::mem::take(&mut self.buf);
        let body = bytes.strip_suffix(b"\r").unwrap_or(&bytes);
        let mut line = String::from_utf8_lossy(body).into_owned();
        if std::mem::take(&mut self.truncated) {
            line.push_str(TRUNCATED_MARK);
        }
        OutputLine {
            stream: self.stream,
            line,
        }
    }
}

/// The sending end of an output channel that never blocks for long and never fails.
pub(crate) struct LineSink {
    tx: mpsc::Sender<OutputLine>,
    dropped: u64,
    /// Set after a send ran out of patience; cleared as soon as a line fits again.
    lossy: bool,
}

impl LineSink {
    pub(crate) fn new(tx: mpsc::Sender<OutputLine>) -> Self {
        LineSink {
            tx,
            dropped: 0,
            lossy: false,
        }
    }

    pub(crate) async fn send(&mut self, line: OutputLine) {
        if self.tx.is_closed() {
            self.dropped += 1;
            return;
        }
        if self.lossy {
            match self.tx.try_send(line) {
                Ok(()) => self.lossy = false,
                Err(TrySendError::Full(_) | TrySendError::Closed(_)) => self.dropped += 1,
            }
            return;
        }
        match self.tx.send_timeout(line, SEND_PATIENCE).await {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => {
                self.lossy = true;
                self.dropped += 1;
            }
            Err(SendTimeoutError::Closed(_)) => self.dropped += 1,
        }
    }

    /// Lines that were not delivered (receiver too slow or gone).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Reads `reader` to its end, forwarding its lines as `stream`. Returns how many lines the
/// receiver did not take. Reading never stops early, so the writer never blocks on a full pipe.
pub(crate) async fn forward_reader<R: AsyncRead + Unpin>(
    mut reader: R,
    stream: Stream,
    output: mpsc::Sender<OutputLine>,
) -> u64 {
    let mut splitter = LineSplitter::new(stream);
    let mut sink = LineSink::new(output);
    let mut buf = vec![0; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                for line in splitter.push(&buf[..n]) {
                    sink.send(line).await;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(?stream, error = %e, "reading the sandbox's output failed");
                break;
            }
        }
    }
    if let Some(line) = splitter.finish() {
        sink.send(line).await;
    }
    sink.dropped()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: Vec<OutputLine>) -> Vec<String> {
        lines.into_iter().map(|l| l.line).collect()
    }

    #[test]
    fn lines_split_across_chunks_are_joined() {
        let mut s = LineSplitter::new(Stream::Stdout);
        assert_eq!(texts(s.push(b"a\nb")), ["a"]);
        assert_eq!(texts(s.push(b"c\r\n\nd")), ["bc", ""]);
        assert_eq!(s.finish().map(|l| l.line), Some("d".to_string()));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn overlong_lines_are_cut_and_marked() {
        let mut s = LineSplitter::new(Stream::Stderr);
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        assert!(s.push(&long).is_empty());
        assert!(s.push(&long).is_empty());
        let lines = s.push(b"yy\nnext\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line.len(), MAX_LINE_BYTES + TRUNCATED_MARK.len());
        assert!(lines[0].line.ends_with(TRUNCATED_MARK));
        assert_eq!(lines[1].line, "next");
    }

    #[tokio::test]
    async fn a_gone_receiver_only_counts_drops() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut sink = LineSink::new(tx);
        let line = OutputLine {
            stream: Stream::Stdout,
            line: "x".into(),
        };
        sink.send(line.clone()).await;
        sink.send(line).await;
        assert_eq!(sink.dropped(), 2);
    }
}
