//! One conversation with git-annex: reads request lines, runs each job, writes replies.
//!
//! Without ASYNC there is one job and requests are handled one after another. With ASYNC
//! (negotiated in `EXTENSIONS`) every line carries `J <n>`; each job number gets its own task
//! and inbox, so jobs run at once over one shared [`Remote`] (one swarm, one runtime), while the
//! lines of one job stay in order (a job's query, then its `VALUE`). Every outgoing line goes
//! through one channel to one writer task, so lines are never interleaved or cut.
//!
//! Lines are read as bytes, at most [`MAX_LINE`] of them each: no line, whatever its bytes or
//! length, ends the session or grows memory without bound. A line that is not a message gets
//! an `ERROR` reply (tagged with its job when it has one) and the session goes on; only end of
//! input, a global `ERROR` from git-annex, or a failed read or write end it.
//!
//! The session never prints anything but protocol lines to its output.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use swarm_engine::credentials::Secret;

use crate::protocol::{self, Incoming, Message, ProtocolError, Request};
use crate::remote::{Negotiated, Remote};

/// The longest line read from git-annex, in bytes; the rest of a longer line is skipped and the
/// line answered with an error. Real lines are far shorter: a key is at most a few hundred
/// bytes, a TRANSFER line holds it three times, the embedded swarm definition is some KiB.
pub const MAX_LINE: usize = 1 << 20;

/// How this process speaks the protocol.
#[derive(Debug, Clone)]
pub struct Options {
    /// The VERSION line sent first (1 or 2).
    pub version: u8,
    /// Whether to accept ASYNC when git-annex offers it.
    pub allow_async: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            version: 1,
            allow_async: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("reading from git-annex: {0}")]
    Read(std::io::Error),
    #[error("writing to git-annex: {0}")]
    Write(std::io::Error),
    #[error("git-annex reported an error: {0}")]
    Annex(String),
}

/// A line git-annex sent to one job: a request, a reply to the job's query, or a malformed
/// line the job answers with an error.
type Routed = Result<Incoming, ProtocolError>;

/// What a job uses to talk to git-annex.
pub struct JobIo {
    job: Option<u64>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    inbox: mpsc::UnboundedReceiver<Routed>,
}

/// git-annex closed the conversation, or answered a query with something else than `VALUE`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl JobIo {
    /// Sends one message of this job.
    pub fn send(&self, msg: Message) {
        // A closed writer means git-annex is gone; the reader ends the session.
        let _ = self.out.send(msg.line(self.job));
    }

    /// A sender for progress lines of this job, usable from synchronous callbacks.
    pub fn sender(&self) -> LineSender {
        LineSender {
            job: self.job,
            out: self.out.clone(),
        }
    }

    /// Sends a query (GETCONFIG, GETGITREMOTENAME, ...) and waits for its `VALUE`.
    pub async fn ask(&mut self, msg: Message) -> Result<String, QueryError> {
        let what = msg.to_string();
        match self.query(msg).await? {
            Incoming::Value(v) => Ok(v),
            other => Err(QueryError(format!(
                "git-annex answered `{what}` with {}, not VALUE",
                reply_word(&other)
            ))),
        }
    }

    /// Sends `GETCREDS setting` and waits for its `CREDS`: (login, password), empty when
    /// git-annex holds none.
    pub async fn ask_creds(&mut self, setting: &str) -> Result<(Secret, Secret), QueryError> {
        let msg = Message::GetCreds(setting.to_owned());
        let what = msg.to_string();
        match self.query(msg).await? {
            Incoming::Creds { login, password } => Ok((login, password)),
            other => Err(QueryError(format!(
                "git-annex answered `{what}` with {}, not CREDS",
                reply_word(&other)
            ))),
        }
    }

    /// Sends a query answered by several `VALUE` lines, the last one empty (`GETURLS`).
    pub async fn ask_list(&mut self, msg: Message) -> Result<Vec<String>, QueryError> {
        let what = msg.to_string();
        let mut values = Vec::new();
        let mut next = self.query(msg).await?;
        loop {
            match next {
                Incoming::Value(v) if v.is_empty() => return Ok(values),
                Incoming::Value(v) => values.push(v),
                other => {
                    return Err(QueryError(format!(
                        "git-annex answered `{what}` with {}, not VALUE",
                        reply_word(&other)
                    )));
                }
            }
            next = match self.inbox.recv().await {
                Some(Ok(incoming)) => incoming,
                Some(Err(e)) => {
                    return Err(QueryError(format!(
                        "git-annex answered `{what}` with a malformed line: {e}"
                    )));
                }
                None => return Err(QueryError("git-annex closed the connection".into())),
            };
        }
    }

    /// Sends a query and waits for the job's next line.
    async fn query(&mut self, msg: Message) -> Result<Incoming, QueryError> {
        let what = msg.to_string();
        self.send(msg);
        match self.inbox.recv().await {
            Some(Ok(incoming)) => Ok(incoming),
            Some(Err(e)) => Err(QueryError(format!(
                "git-annex answered `{what}` with a malformed line: {e}"
            ))),
            None => Err(QueryError("git-annex closed the connection".into())),
        }
    }
}

/// What a reply was, for errors: never its content past the first word (it may be CREDS).
fn reply_word(incoming: &Incoming) -> String {
    match incoming {
        Incoming::Request(r) => format!("a request ({r:?})"),
        Incoming::Value(_) => "VALUE".into(),
        Incoming::Creds { .. } => "CREDS".into(),
        Incoming::Error(e) => format!("ERROR {e}"),
    }
}

/// Sends lines of one job from anywhere (the engine's progress callbacks are synchronous).
#[derive(Clone)]
pub struct LineSender {
    job: Option<u64>,
    out: mpsc::UnboundedSender<Vec<u8>>,
}

impl LineSender {
    pub fn send(&self, msg: Message) {
        let _ = self.out.send(msg.line(self.job));
    }
}

/// Runs the conversation until git-annex closes its end (or sends a global `ERROR`).
///
/// Each job is a task of the runtime, so jobs run at once on every worker thread; the engine
/// does its hashing and coding on its CPU pool and its file I/O on tokio's blocking pool.
pub async fn run<R, W>(
    mut input: R,
    output: W,
    remote: Arc<Remote>,
    options: Options,
) -> Result<(), SessionError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, lines) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(write_lines(output, lines));
    let _ = out.send(Message::Version(options.version).line(None));

    let mut jobs: HashMap<Option<u64>, Job> = HashMap::new();
    let mut async_mode = false;
    let outcome = loop {
        let line = match read_line(&mut input, MAX_LINE).await {
            Ok(Some(line)) => line,
            Ok(None) => break Ok(()),
            Err(e) => break Err(SessionError::Read(e)),
        };
        tracing::trace!("< {}", protocol::loggable(&line.bytes));
        let too_long = line.cut.then_some(ProtocolError::TooLong(MAX_LINE));
        let (job, body) = if async_mode {
            match protocol::split_job(&line.bytes) {
                Ok((n, body)) => (Some(n), body),
                // Untagged lines under ASYNC: git-annex's global ERROR, or garbage.
                Err(e) => {
                    if too_long.is_none()
                        && let Ok(Incoming::Error(msg)) = protocol::parse(&line.bytes)
                    {
                        break Err(SessionError::Annex(msg));
                    }
                    let why = too_long.unwrap_or(e);
                    let _ = out.send(Message::Error(why.to_string()).line(None));
                    continue;
                }
            }
        } else {
            (None, &line.bytes[..])
        };
        let parsed = match too_long {
            Some(e) => Err(e),
            None => protocol::parse(body),
        };
        match &parsed {
            Ok(Incoming::Error(msg)) if job.is_none() => {
                break Err(SessionError::Annex(msg.clone()));
            }
            Ok(Incoming::Request(Request::Extensions(offered))) => {
                let chosen = negotiate(offered, &options);
                async_mode = chosen.asynchronous;
                remote.set_extensions(chosen.clone());
                let _ = out.send(Message::Extensions(chosen.names()).line(job));
                continue;
            }
            _ => {}
        }
        let entry = jobs
            .entry(job)
            .or_insert_with(|| Job::spawn(job, out.clone(), remote.clone()));
        if let Err(returned) = entry.inbox.send(parsed) {
            // A job's task only ends when its inbox closes; start a new one all the same.
            tracing::warn!("job {job:?} had stopped; starting it again");
            let fresh = Job::spawn(job, out.clone(), remote.clone());
            let _ = fresh.inbox.send(returned.0);
            jobs.insert(job, fresh);
        }
    };
    drop(out);
    let mut writer = writer;
    let aborts: Vec<_> = jobs.values().map(|j| j.task.abort_handle()).collect();
    let stop = |aborts: &[tokio::task::AbortHandle]| aborts.iter().for_each(|a| a.abort());
    let written = if outcome.is_err() {
        // git-annex gave up: stop every job (a put or get in progress cleans up after itself
        // when dropped), then let the writer flush what is queued.
        stop(&aborts);
        writer.await
    } else {
        // End of input: answer what was asked, unless the output is gone too (the writer only
        // ends early when a write fails), in which case nobody is listening.
        let tasks: Vec<_> = jobs.into_values().map(|j| j.task).collect();
        tokio::select! {
            _ = futures::future::join_all(tasks) => writer.await,
            w = &mut writer => { stop(&aborts); w }
        }
    };
    outcome?;
    written.unwrap_or(Ok(())).map_err(SessionError::Write)
}

struct Job {
    inbox: mpsc::UnboundedSender<Routed>,
    task: tokio::task::JoinHandle<()>,
}

impl Job {
    fn spawn(job: Option<u64>, out: mpsc::UnboundedSender<Vec<u8>>, remote: Arc<Remote>) -> Job {
        let (inbox_tx, inbox) = mpsc::unbounded_channel();
        let mut io = JobIo { job, out, inbox };
        let task = tokio::spawn(async move {
            while let Some(routed) = io.inbox.recv().await {
                match routed {
                    Ok(Incoming::Request(req)) => {
                        // A bug must not leave git-annex waiting for a reply forever.
                        let fallback = Remote::failure(
                            &req,
                            "internal error in git-annex-remote-swarm (see its stderr)",
                        );
                        let handled = AssertUnwindSafe(remote.handle(req, &mut io))
                            .catch_unwind()
                            .await;
                        if handled.is_err() {
                            tracing::error!("a request handler panicked");
                            io.send(fallback);
                        }
                    }
                    Ok(Incoming::Value(v)) => io.send(Message::Error(format!(
                        "unexpected VALUE {v}: no question was asked"
                    ))),
                    Ok(Incoming::Creds { .. }) => io.send(Message::Error(
                        "unexpected CREDS: no question was asked".into(),
                    )),
                    Ok(Incoming::Error(msg)) => {
                        tracing::warn!("git-annex reported an error for job {job:?}: {msg}")
                    }
                    Err(e) => io.send(Message::Error(e.to_string())),
                }
            }
        });
        Job {
            inbox: inbox_tx,
            task,
        }
    }
}

/// The extensions to use: those offered that this remote knows (unknown names are ignored).
fn negotiate(offered: &[String], options: &Options) -> Negotiated {
    let has = |name: &str| offered.iter().any(|o| o == name);
    Negotiated {
        info: has("INFO"),
        asynchronous: options.allow_async && has("ASYNC"),
        git_remote_name: has("GETGITREMOTENAME"),
        unavailable_response: has("UNAVAILABLERESPONSE"),
    }
}

/// One line from git-annex, without its newline: at most `max` bytes of it, and whether more
/// were skipped.
struct Line {
    bytes: Vec<u8>,
    cut: bool,
}

/// Reads up to the next newline (or the end of input), keeping at most `max` bytes; `None` at
/// the end of input. A last line without its newline still counts.
async fn read_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    max: usize,
) -> std::io::Result<Option<Line>> {
    let mut line = Line {
        bytes: Vec::new(),
        cut: false,
    };
    let mut seen = false;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok(seen.then_some(line));
        }
        seen = true;
        let (used, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, Some(i)),
            None => (buf.len(), None),
        };
        let content = &buf[..end.unwrap_or(used)];
        let room = max.saturating_sub(line.bytes.len());
        line.cut |= content.len() > room;
        line.bytes
            .extend_from_slice(&content[..content.len().min(room)]);
        input.consume(used);
        if end.is_some() {
            return Ok(Some(line));
        }
    }
}

/// Writes whole lines, flushing whenever no more are queued.
async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut lines: mpsc::UnboundedReceiver<Vec<u8>>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    while let Some(first) = lines.recv().await {
        buf.clear();
        push_line(&mut buf, &first);
        while let Ok(more) = lines.try_recv() {
            push_line(&mut buf, &more);
        }
        output.write_all(&buf).await?;
        output.flush().await?;
    }
    output.shutdown().await
}

fn push_line(buf: &mut Vec<u8>, line: &[u8]) {
    tracing::trace!("> {}", protocol::loggable(line));
    buf.extend_from_slice(line);
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<(Vec<u8>, bool)> {
        let mut input = input;
        let mut out = Vec::new();
        while let Some(l) = read_line(&mut input, max).await.unwrap() {
            out.push((l.bytes, l.cut));
        }
        out
    }

    #[tokio::test]
    async fn lines_are_bytes_cut_at_the_limit_and_skipped_to_their_end() {
        assert_eq!(
            lines(b"a\n\xe9\n\nlast", 10).await,
            [
                (b"a".to_vec(), false),
                (b"\xe9".to_vec(), false),
                (b"".to_vec(), false),
                (b"last".to_vec(), false)
            ]
        );
        assert_eq!(
            lines(b"0123456789\n0123456789abc\nnext\n", 10).await,
            [
                (b"0123456789".to_vec(), false),
                (b"0123456789".to_vec(), true),
                (b"next".to_vec(), false)
            ]
        );
        assert!(lines(b"", 10).await.is_empty());
        // Larger than any read buffer: still cut, and what follows is read normally.
        let mut big = vec![b'x'; 3 * MAX_LINE];
        big.extend_from_slice(b"\nPREPARE\n");
        let got = lines(&big, MAX_LINE).await;
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.len(), got[0].1), (MAX_LINE, true));
        assert_eq!(got[1], (b"PREPARE".to_vec(), false));
    }
}
