//! The TCC exporter's worker: receives span events from the JavaScript thread, keeps the trace buffer and sends each
//! finished run, all on the runtime's threads.
//!
//! ```text
//!  JS thread                    worker task (tokio)                      Dispatcher (bounded)
//!  push(kind, json) ──channel──▶ TraceBuffer::on_event ──TraceExport──▶ HttpSender::send (timeout, retries)
//!  flush() ──────────channel──▶ drain + wait for in-flight ◀──────────── finished
//! ```

use super::buffer::{Arrival, BufferCounters, EventKind, SpanKeys, TraceBuffer, TraceExport};
use super::config::TccConfig;
use super::span::with_iso_dates;
use crate::dates::Dates;
use crate::log::Logger;
use crate::pipeline::{
  Busy, Dispatcher, Dropped, FlushReport, IntakeLimit, Job, Linger, PipelineLimits, Queued, RateLimited, drain,
  enqueue, request_flush,
};
use crate::runtime;
use crate::text::SpanText;
use crate::transport::{HttpRequest, HttpSender, Outcome, Target};
use bytes::Bytes;
use parking_lot::Mutex;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Bytes a root's start holds in the queue, for its bounds.
fn root_size(trace_id: &str, metadata: Option<&SpanText>) -> usize {
  trace_id.len() + metadata.map_or(0, SpanText::size)
}

enum Msg {
  Event(EventKind, SpanText, Dates, Arrival, Option<SpanKeys>),
  /// A root started and its start is held back: its trace id (raw JSON) and its metadata's JSON.
  RootStarted(String, Option<SpanText>),
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
  pub spans_failed: AtomicU64,
  pub failed_status: AtomicU64,
  pub failed_network: AtomicU64,
  pub dropped_queue_full: AtomicU64,
  pub dropped_backlog_full: AtomicU64,
  pub requests: AtomicU64,
  pub retries: AtomicU64,
  pub bytes_sent: AtomicU64,
  pub panics: AtomicU64,
  pub splits: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TccStats {
  pub events: u64,
  pub invalid_events: u64,
  pub runs_exported: u64,
  pub spans_exported: u64,
  pub runs_failed: u64,
  pub spans_failed: u64,
  /// Runs given up on after a non-2xx answer.
  pub failed_status: u64,
  /// Runs given up on after connection errors or timeouts.
  pub failed_network: u64,
  /// Events dropped because the queue to the worker was full.
  pub dropped_queue_full: u64,
  /// Spans of runs dropped because too many requests were waiting.
  pub dropped_backlog_full: u64,
  pub requests: u64,
  pub retries: u64,
  pub bytes_sent: u64,
  pub panics: u64,
  /// Runs sent in parts because they were too large (413 or over `maxRequestBytes`).
  pub splits: u64,
  pub pending: u64,
  pub queue_depth: u64,
  pub in_flight: u64,
  pub buffered_traces: u64,
  pub buffer: BufferCounters,
}

struct Shared {
  busy: Arc<Busy>,
  counters: Counters,
  buffer_counters: Mutex<BufferCounters>,
  intake: IntakeLimit,
  in_flight: AtomicU64,
  buffered_traces: AtomicU64,
  full_warning: RateLimited,
  retry_warning: RateLimited,
  max_request_bytes: usize,
}

/// A running TCC exporter. Cheap to call from the JavaScript thread; everything else happens on the runtime.
pub struct TccExporter {
  tx: mpsc::UnboundedSender<Msg>,
  shared: Arc<Shared>,
  log: Logger,
  endpoint: String,
  flush_timeout: Duration,
  /// Places in the start order, handed out on the JavaScript thread.
  seq: AtomicU64,
}

impl TccExporter {
  /// Starts the worker. `busy` counts queued events and in-flight requests; its idle hook runs on a runtime thread.
  pub fn start(config: TccConfig, log: Logger, busy: Arc<Busy>) -> Self {
    let limits = config.pipeline;
    let shared = Arc::new(Shared {
      busy,
      counters: Counters::default(),
      buffer_counters: Mutex::new(BufferCounters::default()),
      intake: IntakeLimit::new(limits.max_queue_items, limits.max_queue_bytes),
      in_flight: AtomicU64::new(0),
      buffered_traces: AtomicU64::new(0),
      full_warning: RateLimited::new(Duration::from_secs(10)),
      retry_warning: RateLimited::new(Duration::from_secs(10)),
      max_request_bytes: config.max_request_bytes,
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
      flush_timeout: limits.flush_timeout,
      seq: AtomicU64::new(1),
    }
  }

  pub fn endpoint(&self) -> &str {
    &self.endpoint
  }

  pub fn logger(&self) -> &Logger {
    &self.log
  }

  /// Hands one event over, in arrival order. Returns true when the exporter was idle before (the host should hold
  /// its event loop). When the queue is full the event is dropped, counted, and a warning is printed at most every
  /// 10 s.
  pub fn push(&self, kind: EventKind, span_json: impl Into<SpanText>) -> bool {
    self.push_dated(kind, span_json.into(), Dates::NONE)
  }

  /// As `push`, for text that carries `dates` as epoch milliseconds (see [`crate::dates`]).
  pub fn push_dated(&self, kind: EventKind, span_json: SpanText, dates: Dates) -> bool {
    self.count_event();
    let at = Arrival {
      seq: self.next_seq(),
      started_earlier: false,
    };
    self.push_keyed(kind, span_json, dates, at, None)
  }

  /// The next place in the start order. A caller that holds a span's start back takes its place here when the span
  /// starts, and hands it over later with `push_at`.
  pub fn next_seq(&self) -> u64 {
    self.seq.fetch_add(1, Ordering::Relaxed)
  }

  /// Counts an event handed to the exporter (`push` counts its own).
  pub fn count_event(&self) {
    self.shared.counters.events.fetch_add(1, Ordering::Relaxed);
  }

  /// Hands one event over at its place in the start order (see `next_seq`). Not counted as an event; otherwise as
  /// `push`.
  pub fn push_at(&self, kind: EventKind, span_json: impl Into<SpanText>, at: Arrival) -> bool {
    self.push_keyed(kind, span_json.into(), Dates::NONE, at, None)
  }

  /// As `push_at`, for text that carries `dates` as epoch milliseconds (see [`crate::dates`]), with the ids of a span
  /// that is not a root when the caller read them already (the worker then need not read the span's JSON).
  pub fn push_keyed(
    &self,
    kind: EventKind,
    span_json: SpanText,
    dates: Dates,
    at: Arrival,
    keys: Option<SpanKeys>,
  ) -> bool {
    let bytes = span_json.size();
    let sh = &self.shared;
    self.queued(enqueue(
      &self.tx,
      &sh.busy,
      &sh.intake,
      bytes,
      Msg::Event(kind, span_json, dates, at, keys),
    ))
  }

  /// True when the exporter was idle; a full queue drops the event, counted and reported.
  fn queued(&self, queued: Queued) -> bool {
    let c = &self.shared.counters;
    match queued {
      Queued::WasIdle => true,
      Queued::Behind => false,
      Queued::Full => {
        c.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        self.shared.full_warning.hit(|n| {
          self.log.warn(format!(
            "[TCC] The export queue is full; dropped {n} event(s). Raise maxQueueSize / maxQueueBytes, or check why \
           the worker is not keeping up."
          ))
        });
        false
      }
    }
  }

  /// A root span started and the caller holds its start back (handing it over later with `push_at`, or its end):
  /// the trace takes its run id and metadata from `metadata`, `JSON.stringify(span.metadata)`. `trace_id` is raw
  /// JSON. Not counted as an event; otherwise as `push`.
  pub fn push_root(&self, trace_id: String, metadata: Option<SpanText>) -> bool {
    let bytes = root_size(&trace_id, metadata.as_ref());
    let msg = Msg::RootStarted(trace_id, metadata);
    self.queued(enqueue(&self.tx, &self.shared.busy, &self.shared.intake, bytes, msg))
  }

  /// Counts an internal error contained at the JavaScript boundary, and says so once per occurrence.
  pub fn count_panic(&self) {
    self.shared.counters.panics.fetch_add(1, Ordering::Relaxed);
    self
      .log
      .error("[TCC] Internal error while reading an event; the event was dropped and the exporter carries on");
  }

  /// Counts an event the binding could not read (not an object, unknown type, unserialisable span).
  pub fn count_invalid(&self) {
    self.shared.counters.invalid_events.fetch_add(1, Ordering::Relaxed);
  }

  /// Exports every buffered trace and waits until all requests started so far have finished (delivered or given
  /// up), or until `timeout` (default `flushTimeoutMs`) passes. Reports what happened meanwhile, in spans.
  pub async fn flush(&self, timeout: Option<Duration>) -> FlushReport {
    let before = self.stats();
    let timed_out = request_flush(&self.tx, Msg::Flush, timeout.unwrap_or(self.flush_timeout)).await;
    let after = self.stats();
    FlushReport {
      delivered: after.spans_exported - before.spans_exported,
      failed: after.spans_failed - before.spans_failed,
      dropped: (after.dropped_queue_full + after.dropped_backlog_full)
        - (before.dropped_queue_full + before.dropped_backlog_full),
      timed_out,
      pending: after.pending,
    }
  }

  /// True when traces are buffered that only a flush (or their root's end) would send.
  pub fn has_unsent(&self) -> bool {
    self.shared.buffered_traces.load(Ordering::Relaxed) > 0 || self.shared.intake.depth().0 > 0
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
      spans_failed: get(&c.spans_failed),
      failed_status: get(&c.failed_status),
      failed_network: get(&c.failed_network),
      dropped_queue_full: get(&c.dropped_queue_full),
      dropped_backlog_full: get(&c.dropped_backlog_full),
      requests: get(&c.requests),
      retries: get(&c.retries),
      bytes_sent: get(&c.bytes_sent),
      panics: get(&c.panics),
      splits: get(&c.splits),
      pending: self.pending() as u64,
      queue_depth: self.shared.intake.depth().0 as u64,
      in_flight: get(&self.shared.in_flight),
      buffered_traces: get(&self.shared.buffered_traces),
      buffer,
    }
  }
}

struct Worker {
  buffer: TraceBuffer,
  sender: Arc<HttpSender>,
  headers: HeaderMap,
  target: Target,
  log: Logger,
  shared: Arc<Shared>,
  dispatcher: Dispatcher,
  redact: crate::redact::Redactor,
  capture_content: bool,
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
    let PipelineLimits {
      max_concurrent_exports,
      max_backlog_bytes,
      ..
    } = config.pipeline;
    Self {
      buffer: TraceBuffer::new(config.limits.clone(), log.clone()),
      sender: Arc::new(HttpSender {
        timeout: config.timeout,
        policy: config.retry,
        client: None,
      }),
      headers,
      target: Target::new(&config.endpoint),
      log,
      dispatcher: Dispatcher::new(max_concurrent_exports, max_backlog_bytes, shared.busy.clone()),
      shared,
      capture_content: config.capture_content,
      redact: config.redact,
    }
  }

  async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut linger = Linger::default();
    loop {
      let expiry = self.buffer.next_expiry();
      let linger_until = linger.until();
      tokio::select! {
        // While a run waits for a connection, events stay in the queue as their text and this thread sends first
        // (as OtelExporter does; see there).
        msg = rx.recv(), if linger.listening() && self.dispatcher.depth().1 == 0 => {
          let Some(msg) = msg else { break };
          // What else is queued is taken now, without a trip through `select!` (which sets up its timers again).
          if drain(&mut rx, msg, |m| self.on_msg(m)) {
            linger.after_event(&rx);
          }
        }
        panic = self.dispatcher.join_next(), if self.dispatcher.has_running() => {
          self.shared.in_flight.store(self.dispatcher.depth().0 as u64, Ordering::Relaxed);
          if panic.is_some() {
            self.panicked("sending a run");
          }
        }
        _ = sleep_until(linger_until), if linger_until.is_some() => linger.lapse(&rx),
        _ = sleep_until(expiry), if expiry.is_some() => {
          let exports = self.buffer.expire(Instant::now());
          self.send_all(exports);
          self.publish_counters();
        }
      }
    }
    // The exporter was dropped: finish what is in flight.
    self.dispatcher.drain().await;
  }

  /// Handles one message from the JavaScript thread. True for an event.
  fn on_msg(&mut self, msg: Msg) -> bool {
    match msg {
      Msg::Event(kind, json, dates, at, keys) => {
        self.shared.intake.release(json.size());
        let json = self.redacted(with_iso_dates(json.into_string(), dates));
        self.apply(|buffer| buffer.on_event_keyed(kind, json, Instant::now(), at, keys.as_ref()));
        true
      }
      Msg::RootStarted(trace_id, metadata) => {
        self.shared.intake.release(root_size(&trace_id, metadata.as_ref()));
        let metadata = metadata.map(|m| self.redacted_metadata(m.into_string()));
        self.apply(|buffer| buffer.on_root_started(&trace_id, metadata.as_deref(), Instant::now()));
        true
      }
      Msg::Flush(tx) => {
        let exports = self.buffer.drain();
        self.send_all(exports);
        self.publish_counters();
        self.dispatcher.wait_all(tx);
        false
      }
    }
  }

  /// The span JSON with the `redact` keys replaced and, with `captureContent: false`, without content (re-encoded only
  /// when either is configured).
  fn redacted(&self, json: String) -> String {
    if self.redact.is_empty() && self.capture_content {
      return json;
    }
    match crate::otel::span::parse_value(&json) {
      Ok(mut v) => {
        self.redact.redact_span(&mut v);
        if !self.capture_content
          && let serde_json::Value::Object(span) = &mut v
        {
          span.remove("input");
          span.remove("output");
          if let Some(serde_json::Value::Object(attrs)) = span.get_mut("attributes") {
            for key in ["instructions", "prompt", "messages", "tools", "availableTools"] {
              attrs.remove(key);
            }
          }
        }
        v.to_string()
      }
      Err(_) => json,
    }
  }

  /// Applies one queued event to the buffer (a panic is contained and counted), sends the runs it completed, and
  /// marks the event done.
  fn apply(&mut self, step: impl FnOnce(&mut TraceBuffer) -> Vec<TraceExport>) {
    let buffer = &mut self.buffer;
    match catch_unwind(AssertUnwindSafe(|| step(buffer))) {
      Ok(exports) => self.send_all(exports),
      Err(_) => self.panicked("processing an event"),
    }
    self.publish_counters();
    self.shared.busy.leave();
  }

  /// A root's metadata JSON with the `redact` keys replaced, as they are in the root span's own metadata.
  fn redacted_metadata(&self, json: String) -> String {
    if self.redact.is_empty() {
      return json;
    }
    match crate::otel::span::parse_value(&json) {
      Ok(mut v) => {
        self.redact.redact(&mut v);
        v.to_string()
      }
      Err(_) => json,
    }
  }

  fn panicked(&self, what: &str) {
    self.shared.counters.panics.fetch_add(1, Ordering::Relaxed);
    self.log.error(format!(
      "[TCC] Internal error while {what}; the exporter carries on (counted in stats().panics)"
    ));
  }

  /// Publishes the buffer's counters for `stats()`.
  fn publish_counters(&self) {
    *self.shared.buffer_counters.lock() = self.buffer.counters;
    self
      .shared
      .buffered_traces
      .store(self.buffer.trace_count() as u64, Ordering::Relaxed);
  }

  fn send_all(&mut self, exports: Vec<TraceExport>) {
    for export in exports {
      let bytes = export.body.len();
      let spans = export.span_count as u64;
      let mut export = export;
      let req = HttpRequest {
        url: self.target.clone(),
        headers: self.headers.clone(),
        body: Bytes::from(std::mem::take(&mut export.body)),
      };
      let (sender, log, shared) = (self.sender.clone(), self.log.clone(), self.shared.clone());
      let run = Box::pin(async move { deliver(&sender, &req, &export, &log, &shared).await });
      if let Some(Dropped { items, .. }) = self.dispatcher.submit(Job {
        run,
        bytes,
        items: spans,
      }) {
        let c = &self.shared.counters;
        c.dropped_backlog_full.fetch_add(items, Ordering::Relaxed);
        self.shared.full_warning.hit(|n| {
          self.log.warn(format!(
            "[TCC] Too many runs are waiting to be sent (the endpoint is slow or down); dropped the oldest ({n} \
             time(s)). Raise maxConcurrentExports / maxExportBacklogBytes to hold more."
          ))
        });
      }
      self
        .shared
        .in_flight
        .store(self.dispatcher.depth().0 as u64, Ordering::Relaxed);
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
  // A run too large for the server (413, or over maxRequestBytes) goes out as several payloads of the same run.
  let mut parts = vec![(req.body.clone(), export.span_count)];
  while let Some((body, spans)) = parts.pop() {
    if body.len() > shared.max_request_bytes
      && let Some([a, b]) = split(&body)
    {
      c.splits.fetch_add(1, Ordering::Relaxed);
      parts.extend([b, a]);
      continue;
    }
    let part = HttpRequest {
      url: req.url.clone(),
      headers: req.headers.clone(),
      body: body.clone(),
    };
    let outcome = sender
      .send(&part, |n| {
        c.retries.fetch_add(1, Ordering::Relaxed);
        // One line per 10 s at most while an endpoint is down, with the count it stands for.
        shared.retry_warning.hit(|times| {
          let more = if times > 1 {
            format!(" ({times} retries since the last report)")
          } else {
            String::new()
          };
          log.warn(format!(
            "[TCC] Export of run {run} failed ({}); retry {} of {} in {} ms{more}",
            n.reason,
            n.retry,
            n.max_retries,
            n.delay.as_millis()
          ))
        });
      })
      .await;
    c.requests.fetch_add(u64::from(outcome.attempts()), Ordering::Relaxed);
    let spans = spans as u64;
    match outcome {
      Outcome::Delivered { .. } => {
        c.runs_exported.fetch_add(1, Ordering::Relaxed);
        c.spans_exported.fetch_add(spans, Ordering::Relaxed);
        c.bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
        log.debug(|| format!("[TCC] Successfully exported run {run}"));
      }
      Outcome::Rejected { status: 413, .. } if split(&body).is_some() => {
        let [a, b] = split(&body).expect("checked above");
        c.splits.fetch_add(1, Ordering::Relaxed);
        log.warn(format!(
          "[TCC] Run {run} was too large for the server (413); sending it in two parts"
        ));
        parts.extend([b, a]);
      }
      Outcome::Rejected {
        status,
        status_text,
        body,
        ..
      } => {
        c.runs_failed.fetch_add(1, Ordering::Relaxed);
        c.spans_failed.fetch_add(spans, Ordering::Relaxed);
        c.failed_status.fetch_add(1, Ordering::Relaxed);
        log.error_with(format!("[TCC] Failed to export: {status} {status_text}"), body);
      }
      Outcome::Failed { error, .. } => {
        c.runs_failed.fetch_add(1, Ordering::Relaxed);
        c.spans_failed.fetch_add(spans, Ordering::Relaxed);
        c.failed_network.fetch_add(1, Ordering::Relaxed);
        log.error_with("[TCC] Export error:", error);
      }
    }
  }
}

/// The two halves of a run payload, as bodies with their span counts.
fn split(body: &Bytes) -> Option<[(Bytes, usize); 2]> {
  let text = std::str::from_utf8(body).ok()?;
  let [(a, na), (b, nb)] = super::span::split_payload(text)?;
  Some([(Bytes::from(a), na), (Bytes::from(b), nb)])
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
    ex.push(EventKind::Started, ROOT);
    ex.push(EventKind::Ended, ROOT);
    tokio::time::timeout(Duration::from_secs(5), ex.flush(None))
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
    ex.push(EventKind::Started, ROOT);
    ex.push(EventKind::Ended, ROOT);
    tokio::time::timeout(Duration::from_secs(5), ex.flush(None))
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
