//! The TCC exporter's worker: receives span events from the JavaScript thread, keeps the trace buffer and sends each
//! finished run, all on the runtime's threads.
//!
//! ```text
//!  JS thread                    worker task (tokio)                      request tasks
//!  push(kind, json) ──channel──▶ TraceBuffer::on_event ──TraceExport──▶ HttpSender::send (timeout, retries)
//!  flush() ──────────channel──▶ drain + wait for in-flight ◀──────────── finished
//! ```

use super::buffer::{BufferCounters, EventKind, TraceBuffer, TraceExport};
use super::config::TccConfig;
use crate::log::Logger;
use crate::pipeline::{Busy, Inflight};
use crate::runtime;
use crate::transport::{HttpRequest, HttpSender, Outcome};
use bytes::Bytes;
use parking_lot::Mutex;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

enum Msg {
  Event(EventKind, String),
  Flush(oneshot::Sender<()>),
}

/// Counters of one exporter, readable at any time.
#[derive(Debug, Default)]
pub struct Counters {
  pub events: AtomicU64,
  pub invalid_events: AtomicU64,
  pub runs_exported: AtomicU64,
  pub spans_exported: AtomicU64,
  pub runs_failed: AtomicU64,
  pub requests: AtomicU64,
  pub retries: AtomicU64,
  pub bytes_sent: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TccStats {
  pub events: u64,
  pub invalid_events: u64,
  pub runs_exported: u64,
  pub spans_exported: u64,
  pub runs_failed: u64,
  pub requests: u64,
  pub retries: u64,
  pub bytes_sent: u64,
  pub pending: u64,
  pub buffer: BufferCounters,
}

struct Shared {
  busy: Arc<Busy>,
  counters: Counters,
  buffer_counters: Mutex<BufferCounters>,
}

/// A running TCC exporter. Cheap to call from the JavaScript thread; everything else happens on the runtime.
pub struct TccExporter {
  tx: mpsc::UnboundedSender<Msg>,
  shared: Arc<Shared>,
  log: Logger,
  endpoint: String,
}

impl TccExporter {
  /// Starts the worker. `busy` counts queued events and in-flight requests; its idle hook runs on a runtime thread.
  pub fn start(config: TccConfig, log: Logger, busy: Arc<Busy>) -> Self {
    let shared = Arc::new(Shared {
      busy,
      counters: Counters::default(),
      buffer_counters: Mutex::new(BufferCounters::default()),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let endpoint = config.endpoint.clone();
    let worker = Worker::new(config, log.clone(), shared.clone());
    runtime::handle().spawn(worker.run(rx));
    Self {
      tx,
      shared,
      log,
      endpoint,
    }
  }

  pub fn endpoint(&self) -> &str {
    &self.endpoint
  }

  pub fn logger(&self) -> &Logger {
    &self.log
  }

  /// Hands one event over. Returns true when the exporter was idle before (the host should hold its event loop).
  pub fn push(&self, kind: EventKind, span_json: String) -> bool {
    self.shared.counters.events.fetch_add(1, Ordering::Relaxed);
    let was_idle = self.shared.busy.enter();
    if self.tx.send(Msg::Event(kind, span_json)).is_err() {
      self.shared.busy.leave();
    }
    was_idle
  }

  /// Counts an event the binding could not read (not an object, unknown type, unserialisable span).
  pub fn count_invalid(&self) {
    self.shared.counters.invalid_events.fetch_add(1, Ordering::Relaxed);
  }

  /// Exports every buffered trace and waits until all requests started so far have finished (delivered or given up).
  pub async fn flush(&self) {
    let (tx, rx) = oneshot::channel();
    if self.tx.send(Msg::Flush(tx)).is_ok() {
      let _ = rx.await;
    }
  }

  /// Units of work queued or in flight.
  pub fn pending(&self) -> usize {
    self.shared.busy.get()
  }

  pub fn stats(&self) -> TccStats {
    let c = &self.shared.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let buffer = *self.shared.buffer_counters.lock();
    TccStats {
      events: get(&c.events),
      invalid_events: get(&c.invalid_events) + buffer.invalid_spans,
      runs_exported: get(&c.runs_exported),
      spans_exported: get(&c.spans_exported),
      runs_failed: get(&c.runs_failed),
      requests: get(&c.requests),
      retries: get(&c.retries),
      bytes_sent: get(&c.bytes_sent),
      pending: self.pending() as u64,
      buffer,
    }
  }
}

struct Worker {
  buffer: TraceBuffer,
  sender: Arc<HttpSender>,
  headers: HeaderMap,
  endpoint: String,
  log: Logger,
  shared: Arc<Shared>,
  inflight: Inflight,
  tasks: JoinSet<()>,
  task_seqs: HashMap<tokio::task::Id, u64>,
}

impl Worker {
  fn new(config: TccConfig, log: Logger, shared: Arc<Shared>) -> Self {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match HeaderValue::from_str(&format!("Bearer {}", config.api_key)) {
      Ok(mut v) => {
        v.set_sensitive(true);
        headers.insert(AUTHORIZATION, v);
      }
      Err(_) => log.error("[TCC] The API key contains characters that cannot be sent in a header; requests will fail"),
    }
    Self {
      buffer: TraceBuffer::new(config.limits.clone(), log.clone()),
      sender: Arc::new(HttpSender {
        timeout: config.timeout,
        policy: config.retry,
      }),
      headers,
      endpoint: config.endpoint,
      log,
      shared,
      inflight: Inflight::default(),
      tasks: JoinSet::new(),
      task_seqs: HashMap::new(),
    }
  }

  async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
    loop {
      let expiry = self.buffer.next_expiry();
      tokio::select! {
        msg = rx.recv() => match msg {
          Some(Msg::Event(kind, json)) => {
            let exports = self.buffer.on_event(kind, json, Instant::now());
            self.send_all(exports);
            self.publish_counters();
            self.shared.busy.leave();
          }
          Some(Msg::Flush(tx)) => {
            let exports = self.buffer.drain();
            self.send_all(exports);
            self.inflight.wait_all(tx);
          }
          None => break,
        },
        Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
          let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => {
              self.log.error(format!("[TCC] Internal error while sending a run: {e}"));
              e.id()
            }
          };
          self.shared.busy.leave();
          if let Some(seq) = self.task_seqs.remove(&id) {
            self.inflight.finish(seq);
          }
        }
        _ = sleep_until(expiry), if expiry.is_some() => {
          let exports = self.buffer.expire(Instant::now());
          self.send_all(exports);
          self.publish_counters();
        }
      }
    }
    // The exporter was dropped: finish what is in flight.
    while self.tasks.join_next().await.is_some() {}
  }

  /// Publishes the buffer's counters for `stats()`.
  fn publish_counters(&self) {
    *self.shared.buffer_counters.lock() = self.buffer.counters;
  }

  fn send_all(&mut self, exports: Vec<TraceExport>) {
    for export in exports {
      self.shared.busy.enter();
      let seq = self.inflight.start();
      let req = HttpRequest {
        url: self.endpoint.clone(),
        headers: self.headers.clone(),
        body: Bytes::from(export.body.clone()),
      };
      let sender = self.sender.clone();
      let log = self.log.clone();
      let shared = self.shared.clone();
      let task = self
        .tasks
        .spawn(async move { deliver(&sender, &req, &export, &log, &shared).await });
      self.task_seqs.insert(task.id(), seq);
    }
  }
}

async fn sleep_until(at: Option<Instant>) {
  match at {
    Some(at) => tokio::time::sleep_until(at.into()).await,
    None => std::future::pending().await,
  }
}

async fn deliver(sender: &HttpSender, req: &HttpRequest, export: &TraceExport, log: &Logger, shared: &Shared) {
  let c = &shared.counters;
  let run = export.run_id_text();
  let outcome = sender
    .send(req, |n| {
      c.retries.fetch_add(1, Ordering::Relaxed);
      log.warn(format!(
        "[TCC] Export of run {run} failed ({}); retry {} of {} in {} ms",
        n.reason,
        n.retry,
        n.max_retries,
        n.delay.as_millis()
      ));
    })
    .await;
  c.requests.fetch_add(u64::from(outcome.attempts()), Ordering::Relaxed);
  match outcome {
    Outcome::Delivered { .. } => {
      c.runs_exported.fetch_add(1, Ordering::Relaxed);
      c.spans_exported.fetch_add(export.span_count as u64, Ordering::Relaxed);
      c.bytes_sent.fetch_add(req.body.len() as u64, Ordering::Relaxed);
      log.debug(|| format!("[TCC] Successfully exported run {run}"));
    }
    Outcome::Rejected {
      status,
      status_text,
      body,
      ..
    } => {
      c.runs_failed.fetch_add(1, Ordering::Relaxed);
      log.error_with(format!("[TCC] Failed to export: {status} {status_text}"), body);
    }
    Outcome::Failed { error, .. } => {
      c.runs_failed.fetch_add(1, Ordering::Relaxed);
      log.error_with("[TCC] Export error:", error);
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;
  use crate::log::capture;
  use crate::tcc::TccOptions;
  use crate::test_support::server;
  use std::time::Duration;

  fn exporter(url: &str) -> (TccExporter, capture::Lines) {
    let env = MapEnv::from_pairs(&[("TCC_API_KEY", "tcc_test")]);
    let opts = TccOptions {
      endpoint: Some(url.into()),
      ..Default::default()
    };
    let mut config = opts.resolve(&env).unwrap();
    config.retry.initial_backoff = Duration::from_millis(10);
    let (log, lines) = capture::logger(false);
    (
      TccExporter::start(config, log, Arc::new(Busy::new(Arc::new(|| {})))),
      lines,
    )
  }

  const ROOT: &str = r#"{"id":"r","traceId":"t","isRootSpan":true,"metadata":{"tcc.runId":"run-1"}}"#;

  #[tokio::test]
  async fn root_end_sends_and_flush_waits_for_delivery() {
    let (url, bodies) = server(vec![]).await;
    let (ex, _) = exporter(&url);
    ex.push(EventKind::Started, ROOT.into());
    ex.push(EventKind::Ended, ROOT.into());
    tokio::time::timeout(Duration::from_secs(5), ex.flush())
      .await
      .expect("flush resolves");
    assert_eq!(bodies.lock().len(), 1);
    assert_eq!(ex.stats().runs_exported, 1);
    assert_eq!(ex.pending(), 0);
  }

  #[tokio::test]
  async fn a_503_is_retried_and_delivered_exactly_once() {
    let (url, bodies) = server(vec![503, 503]).await;
    let (ex, lines) = exporter(&url);
    ex.push(EventKind::Started, ROOT.into());
    ex.push(EventKind::Ended, ROOT.into());
    tokio::time::timeout(Duration::from_secs(5), ex.flush())
      .await
      .expect("flush resolves");
    assert_eq!(bodies.lock().len(), 1);
    let s = ex.stats();
    assert_eq!((s.retries, s.requests, s.runs_exported), (2, 3, 1));
    assert!(
      lines
        .lock()
        .iter()
        .any(|l| l.1.starts_with("[TCC] Export of run run-1 failed (503"))
    );
  }
}
