//! The OTel exporter's worker: finished spans come in from the JavaScript thread as JSON, are mapped, batched,
//! encoded (protobuf, JSON or Zipkin; gzip when asked) and sent, all on the runtime's threads.
//!
//! ```text
//!  JS thread                   worker task                                          Dispatcher (bounded)
//!  push(json, mode) ─channel─▶ parse → map → batch (batchSize or scheduledDelay) ─▶ send: split > maxRequestBytes or
//!                                                                                   on 413, retries, partial success
//!  flush() ──────────channel─▶ send the open batch, wait for in-flight ◀─────────── finished
//! ```

use super::batch::Batch;
use super::config::{Compression, Destination, Protocol};
use super::mapping::{MapOptions, Semconv, TraceFacts, map_span};
use super::otlp::{self, Origin, OtelSpan};
use super::otlp_json;
use super::resource::{self, ResourceInputs};
use super::span::MastraSpan;
use super::zipkin;
use crate::env::ProcessEnv;
use crate::log::Logger;
use crate::pipeline::{
  Busy, Dispatcher, Dropped, FlushReport, IntakeLimit, Job, Linger, PipelineLimits, Queued, RateLimited, drain,
  enqueue, request_flush,
};
use crate::runtime;
use crate::text::SpanText;
use crate::transport::grpc::GrpcSender;
use crate::transport::{HttpRequest, HttpSender, Outcome, RetryNotice, RetryPolicy, Target};
use bytes::Bytes;
use foldhash::HashMap;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::collections::VecDeque;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Spans per request. The reference's default.
pub const DEFAULT_BATCH_SIZE: usize = 512;
/// How long a partial batch waits before it is sent. The reference's default.
pub const DEFAULT_SCHEDULED_DELAY: Duration = Duration::from_secs(5);
/// Largest request body before a batch is split: 4 MiB, the default receive limit of OTLP collectors.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Traces whose facts (model-inference pairing, provider) are remembered at once.
const MAX_TRACE_FACTS: usize = 10_000;
/// OpenTelemetry's opt-in for the latest GenAI conventions.
pub const OTEL_SEMCONV_STABILITY_OPT_IN: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

/// Everything the worker needs.
#[derive(Debug, Clone)]
pub struct OtelSettings {
  pub destination: Destination,
  /// The `semconv` option, or the environment's opt-in; `None` lets the calling Mastra version decide.
  pub semconv: Option<Semconv>,
  pub capture_content: bool,
  pub batch_size: usize,
  pub scheduled_delay: Duration,
  pub retry: RetryPolicy,
  pub resource: ResourceInputs,
  /// `logLevel: 'debug'`: one line per batch.
  pub debug: bool,
  pub pipeline: PipelineLimits,
  pub max_request_bytes: usize,
  /// Keys removed from span data before mapping.
  pub redact: crate::redact::Redactor,
  /// Attribute value length limit and per-span size cap.
  pub attr_limits: super::limits::AttrLimits,
}

/// Counters, readable at any time.
#[derive(Debug, Default)]
pub struct Counters {
  pub spans_received: AtomicU64,
  pub spans_exported: AtomicU64,
  pub spans_failed: AtomicU64,
  pub spans_rejected: AtomicU64,
  pub spans_invalid: AtomicU64,
  pub dropped_queue_full: AtomicU64,
  pub dropped_backlog_full: AtomicU64,
  pub failed_status: AtomicU64,
  pub failed_network: AtomicU64,
  pub requests: AtomicU64,
  pub retries: AtomicU64,
  pub splits: AtomicU64,
  pub spans_truncated: AtomicU64,
  pub bytes_uncompressed: AtomicU64,
  pub bytes_sent: AtomicU64,
  pub panics: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OtelStats {
  pub spans_received: u64,
  pub spans_exported: u64,
  pub spans_failed: u64,
  pub spans_rejected: u64,
  pub spans_invalid: u64,
  pub dropped_queue_full: u64,
  pub dropped_backlog_full: u64,
  /// Requests given up on after a non-2xx answer (or a final gRPC status).
  pub failed_status: u64,
  /// Requests given up on after connection errors or timeouts.
  pub failed_network: u64,
  pub requests: u64,
  pub retries: u64,
  /// Batches split because they were too large (413 or over `maxRequestBytes`).
  pub splits: u64,
  /// Spans whose attributes were shortened by the length limit or the span cap.
  pub spans_truncated: u64,
  pub bytes_uncompressed: u64,
  pub bytes_sent: u64,
  pub panics: u64,
  pub pending: u64,
  pub queue_depth: u64,
  pub in_flight: u64,
}

enum Msg {
  Span(SpanText, Semconv),
  Init(Option<String>, Option<String>),
  Flush(oneshot::Sender<()>),
}

struct Shared {
  busy: Arc<Busy>,
  counters: Counters,
  intake: IntakeLimit,
  in_flight: AtomicU64,
  /// Spans in the open batch.
  batched: AtomicU64,
  full_warning: RateLimited,
  failure_warning: RateLimited,
  retry_warning: RateLimited,
}

/// A running OTel exporter.
pub struct OtelExporter {
  tx: mpsc::UnboundedSender<Msg>,
  shared: Arc<Shared>,
  log: Logger,
  destination: Destination,
  flush_timeout: Duration,
}

impl OtelExporter {
  pub fn start(settings: OtelSettings, log: Logger, busy: Arc<Busy>) -> Self {
    let limits = settings.pipeline;
    let shared = Arc::new(Shared {
      busy,
      counters: Counters::default(),
      intake: IntakeLimit::new(limits.max_queue_items, limits.max_queue_bytes),
      in_flight: AtomicU64::new(0),
      batched: AtomicU64::new(0),
      full_warning: RateLimited::new(Duration::from_secs(10)),
      failure_warning: RateLimited::new(Duration::from_secs(10)),
      retry_warning: RateLimited::new(Duration::from_secs(10)),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let destination = settings.destination.clone();
    let worker = Worker::new(settings, log.clone(), shared.clone());
    runtime::handle().spawn(worker.run(rx));
    Self {
      tx,
      shared,
      log,
      destination,
      flush_timeout: limits.flush_timeout,
    }
  }

  pub fn destination(&self) -> &Destination {
    &self.destination
  }

  pub fn logger(&self) -> &Logger {
    &self.log
  }

  /// Hands one finished span over. `mode` is the mapping the calling Mastra version implies (overridden by the
  /// `semconv` option). Returns true when the exporter was idle. A full queue drops the span (counted, warned).
  pub fn push(&self, span_json: impl Into<SpanText>, mode: Semconv) -> bool {
    let span_json = span_json.into();
    let c = &self.shared.counters;
    c.spans_received.fetch_add(1, Ordering::Relaxed);
    let bytes = span_json.size();
    let sh = &self.shared;
    match enqueue(&self.tx, &sh.busy, &sh.intake, bytes, Msg::Span(span_json, mode)) {
      Queued::WasIdle => true,
      Queued::Behind => false,
      Queued::Full => {
        c.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        self.shared.full_warning.hit(|n| {
          self.log.warn(format!(
            "[OtelExporter] The export queue is full; dropped {n} span(s). Raise maxQueueSize / maxQueueBytes."
          ))
        });
        false
      }
    }
  }

  /// The service name from Mastra's config and the installed `@mastra/core` version.
  pub fn init(&self, service_name: Option<String>, mastra_version: Option<String>) {
    let _ = self.tx.send(Msg::Init(service_name, mastra_version));
  }

  /// Counts an internal error contained at the JavaScript boundary, and says so once per occurrence.
  pub fn count_panic(&self) {
    self.shared.counters.panics.fetch_add(1, Ordering::Relaxed);
    self
      .log
      .error("[OtelExporter] Internal error while reading an event; the event was dropped and the exporter carries on");
  }

  pub fn count_invalid(&self) {
    self.shared.counters.spans_invalid.fetch_add(1, Ordering::Relaxed);
  }

  /// Sends the open batch and waits for every request started so far, or until `timeout` (default
  /// `flushTimeoutMs`). Reports what happened meanwhile, in spans.
  pub async fn flush(&self, timeout: Option<Duration>) -> FlushReport {
    let before = self.stats();
    let timed_out = request_flush(&self.tx, Msg::Flush, timeout.unwrap_or(self.flush_timeout)).await;
    let after = self.stats();
    let dropped = |s: &OtelStats| s.dropped_queue_full + s.dropped_backlog_full + s.spans_invalid;
    FlushReport {
      delivered: after.spans_exported - before.spans_exported,
      failed: (after.spans_failed + after.spans_rejected) - (before.spans_failed + before.spans_rejected),
      dropped: dropped(&after) - dropped(&before),
      timed_out,
      pending: after.pending,
    }
  }

  pub fn pending(&self) -> usize {
    self.shared.busy.get()
  }

  /// True when spans wait in the open batch (or the queue) for the batch timer.
  pub fn has_unsent(&self) -> bool {
    self.shared.batched.load(Ordering::Relaxed) > 0 || self.shared.intake.depth().0 > 0
  }

  pub fn stats(&self) -> OtelStats {
    let c = &self.shared.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    OtelStats {
      spans_received: get(&c.spans_received),
      spans_exported: get(&c.spans_exported),
      spans_failed: get(&c.spans_failed),
      spans_rejected: get(&c.spans_rejected),
      spans_invalid: get(&c.spans_invalid),
      dropped_queue_full: get(&c.dropped_queue_full),
      dropped_backlog_full: get(&c.dropped_backlog_full),
      failed_status: get(&c.failed_status),
      failed_network: get(&c.failed_network),
      requests: get(&c.requests),
      retries: get(&c.retries),
      splits: get(&c.splits),
      spans_truncated: get(&c.spans_truncated),
      bytes_uncompressed: get(&c.bytes_uncompressed),
      bytes_sent: get(&c.bytes_sent),
      panics: get(&c.panics),
      pending: self.pending() as u64,
      queue_depth: self.shared.intake.depth().0 as u64,
      in_flight: get(&self.shared.in_flight),
    }
  }
}

struct Worker {
  settings: OtelSettings,
  sender: Arc<HttpSender>,
  headers: HeaderMap,
  log: Logger,
  shared: Arc<Shared>,
  batch: Batch,
  batch_mode: Semconv,
  deadline: Option<Instant>,
  facts: HashMap<String, TraceFacts>,
  facts_order: VecDeque<String>,
  dispatcher: Dispatcher,
  grpc: Option<GrpcSender>,
  /// The span text being read, kept between spans.
  text: String,
}

/// The largest span text buffer the worker keeps for the next span.
const MAX_KEPT_TEXT: usize = 1 << 20;

impl Worker {
  fn new(settings: OtelSettings, log: Logger, shared: Arc<Shared>) -> Self {
    let mut headers = HeaderMap::new();
    for (k, v) in &settings.destination.headers {
      match (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
        (Ok(name), Ok(mut value)) => {
          value.set_sensitive(true);
          headers.append(name, value);
        }
        _ => log.error(format!("[OtelExporter] Ignored header {k:?}: not a valid HTTP header")),
      }
    }
    let client = match &settings.destination.tls {
      Some(tls) if tls.is_set() => match tls.http_client() {
        Ok(c) => Some(c),
        Err(e) => {
          log.error(format!(
            "[OtelExporter] TLS setup failed ({e}); using the default trust store"
          ));
          None
        }
      },
      _ => None,
    };
    let sender = Arc::new(HttpSender {
      timeout: settings.destination.timeout,
      policy: settings.retry,
      client,
    });
    let p = settings.pipeline;
    Self {
      batch: Batch::new(settings.destination.protocol, settings.batch_size.min(4096)),
      batch_mode: Semconv::Mastra,
      dispatcher: Dispatcher::new(p.max_concurrent_exports, p.max_backlog_bytes, shared.busy.clone()),
      settings,
      sender,
      headers,
      log,
      shared,
      deadline: None,
      facts: HashMap::default(),
      facts_order: VecDeque::new(),
      grpc: None,
      text: String::new(),
    }
  }

  async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut linger = Linger::default();
    loop {
      let linger_until = linger.until();
      tokio::select! {
        // While a batch waits for a connection, spans stay in the queue as their text (about as compact as written
        // protobuf, a third smaller than OTLP/JSON) and this thread sends what is written first: in a burst the
        // JavaScript thread can hand spans over faster than they are sent, and batches built only to wait held
        // the burst's memory.
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
            self.panicked("sending spans");
          }
        }
        _ = sleep_until(self.deadline), if self.deadline.is_some() => self.send_batch(),
        _ = sleep_until(linger_until), if linger_until.is_some() => linger.lapse(&rx),
      }
    }
    self.send_batch();
    self.dispatcher.drain().await;
  }

  /// Handles one message from the JavaScript thread. True for a span.
  fn on_msg(&mut self, msg: Msg) -> bool {
    match msg {
      Msg::Span(json, mode) => {
        self.shared.intake.release(json.size());
        let mut text = std::mem::take(&mut self.text);
        json.read_into(&mut text);
        if catch_unwind(AssertUnwindSafe(|| self.on_span(&text, mode))).is_err() {
          self.panicked("mapping a span");
        }
        // One span's text buffer is reused for the next (a huge one is let go).
        if text.capacity() <= MAX_KEPT_TEXT {
          self.text = text;
        }
        self.shared.busy.leave();
        return true;
      }
      Msg::Init(service, version) => {
        if service.is_some() {
          self.settings.resource.service_name = service;
        }
        if version.is_some() {
          self.settings.resource.mastra_version = version;
        }
      }
      Msg::Flush(tx) => {
        self.send_batch();
        self.dispatcher.wait_all(tx);
      }
    }
    false
  }

  fn panicked(&self, what: &str) {
    self.shared.counters.panics.fetch_add(1, Ordering::Relaxed);
    self.log.error(format!(
      "[OtelExporter] Internal error while {what}; the exporter carries on (counted in stats().panics)"
    ));
  }

  fn on_span(&mut self, json: &str, call_mode: Semconv) {
    let mode = self.settings.semconv.unwrap_or(call_mode);
    let redacted;
    let json = if self.settings.redact.is_empty() {
      json
    } else {
      match super::span::parse_value(json) {
        Ok(mut v) => {
          self.settings.redact.redact_span(&mut v);
          redacted = v.to_string();
          &redacted
        }
        Err(e) => return self.invalid(&e.to_string()),
      }
    };
    let parsed = MastraSpan::parse(json);
    let span = match parsed {
      Ok(s) => s,
      Err(e) => return self.invalid(&e.to_string()),
    };
    let facts = self.note(&span);
    let opts = MapOptions {
      semconv: mode,
      capture_content: self.settings.capture_content,
    };
    let mut mapped = match map_span(&span, opts, &facts) {
      Ok(m) => m,
      Err(e) => return self.invalid(&e.to_string()),
    };
    if !self.settings.attr_limits.is_none() && super::limits::apply(&mut mapped, self.settings.attr_limits) {
      self.shared.counters.spans_truncated.fetch_add(1, Ordering::Relaxed);
    }
    if span.is_root {
      // The root ends last: its trace's facts are no longer needed.
      self.facts.remove(span.trace_id.as_ref());
    }
    if !self.batch.is_empty() && mode != self.batch_mode {
      self.send_batch();
    }
    self.batch_mode = mode;
    self.batch.push(mapped);
    self.shared.batched.store(self.batch.len() as u64, Ordering::Relaxed);
    if self.batch.len() >= self.settings.batch_size {
      self.send_batch();
    } else if self.deadline.is_none() {
      self.deadline = Some(Instant::now() + self.settings.scheduled_delay);
    }
  }

  /// The gRPC client, built on first use (it needs the runtime). `None` after logging when the endpoint is unusable.
  fn grpc(&mut self) -> Option<GrpcSender> {
    if self.grpc.is_none() {
      let d = &self.settings.destination;
      match GrpcSender::new(
        &d.url,
        &d.headers,
        d.timeout,
        self.settings.retry,
        d.compression == Compression::Gzip,
        d.tls.as_ref(),
      ) {
        Ok((sender, skipped)) => {
          for k in skipped {
            self
              .log
              .error(format!("[OtelExporter] Ignored header {k:?}: not valid gRPC metadata"));
          }
          self.grpc = Some(sender);
        }
        Err(e) => self.log.error(format!("[OtelExporter] {e}; spans are dropped")),
      }
    }
    self.grpc.clone()
  }

  fn invalid(&self, why: &str) {
    let n = self.shared.counters.spans_invalid.fetch_add(1, Ordering::Relaxed);
    if n < 10 {
      self
        .log
        .error(format!("[OtelExporter] Dropped a span that cannot be exported: {why}"));
    }
  }

  /// Records what this span tells about its trace and returns the trace's facts so far.
  fn note(&mut self, span: &MastraSpan) -> TraceFacts {
    let key = span.trace_id.as_ref();
    if !self.facts.contains_key(key) {
      if self.facts_order.len() >= MAX_TRACE_FACTS
        && let Some(old) = self.facts_order.pop_front()
      {
        self.facts.remove(&old);
      }
      self.facts_order.push_back(key.to_string());
      self.facts.insert(key.to_string(), TraceFacts::default());
    }
    // The trace id is copied once per trace, not per span.
    let Some(facts) = self.facts.get_mut(key) else {
      return TraceFacts::default();
    };
    if span.span_type == "model_inference" {
      facts.has_model_inference = true;
    }
    if matches!(span.span_type.as_ref(), "model_inference" | "model_generation")
      && let Some(p) = span.attr_str("provider")
    {
      facts.provider = Some(p.to_string());
    }
    facts.clone()
  }

  fn send_batch(&mut self) {
    self.deadline = None;
    if self.batch.is_empty() {
      return;
    }
    let spans = self.batch.take();
    self.shared.batched.store(0, Ordering::Relaxed);
    let protocol = self.settings.destination.protocol;
    let grpc = if protocol == Protocol::Grpc {
      match self.grpc() {
        Some(g) => Some(g),
        None => {
          self
            .shared
            .counters
            .spans_failed
            .fetch_add(spans.len() as u64, Ordering::Relaxed);
          return;
        }
      }
    } else {
      None
    };
    let delivery = Arc::new(Delivery {
      origin: resource::origin(&self.settings.resource, self.batch_mode, &ProcessEnv),
      protocol,
      url: self.settings.destination.url.clone(),
      target: Target::new(&self.settings.destination.url),
      headers: self.headers.clone(),
      gzip: self.settings.destination.compression == Compression::Gzip,
      max_request_bytes: self.settings.max_request_bytes,
      http: self.sender.clone(),
      grpc,
      log: self.log.clone(),
      shared: self.shared.clone(),
    });
    let items = spans.len() as u64;
    let bytes = spans.approx_size();
    let run = Box::pin(async move { delivery.send(spans).await });
    if let Some(Dropped { items, .. }) = self.dispatcher.submit(Job { run, bytes, items }) {
      self
        .shared
        .counters
        .dropped_backlog_full
        .fetch_add(items, Ordering::Relaxed);
      self.shared.full_warning.hit(|n| {
        self.log.warn(format!(
          "[OtelExporter] Too many batches are waiting to be sent (the collector is slow or down); dropped the \
           oldest ({n} time(s)). Raise maxConcurrentExports / maxExportBacklogBytes to hold more."
        ))
      });
    }
    self
      .shared
      .in_flight
      .store(self.dispatcher.depth().0 as u64, Ordering::Relaxed);
  }
}

/// The request body and its content type.
pub fn encode(protocol: Protocol, origin: &Origin, spans: &[OtelSpan]) -> (Vec<u8>, &'static str) {
  let body = match protocol {
    Protocol::Zipkin => zipkin::encode(spans, &origin.resource),
    Protocol::HttpJson => otlp_json::encode(origin, spans),
    Protocol::HttpProtobuf | Protocol::Grpc => otlp::encode_protobuf_direct(origin, spans),
  };
  (body, content_type(protocol))
}

fn content_type(protocol: Protocol) -> &'static str {
  match protocol {
    Protocol::Zipkin | Protocol::HttpJson => "application/json",
    Protocol::HttpProtobuf | Protocol::Grpc => "application/x-protobuf",
  }
}

fn gzip(body: &[u8]) -> Vec<u8> {
  let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
  enc.write_all(body).expect("writing to a Vec cannot fail");
  enc.finish().expect("writing to a Vec cannot fail")
}

async fn sleep_until(at: Option<Instant>) {
  match at {
    Some(at) => tokio::time::sleep_until(at.into()).await,
    None => std::future::pending().await,
  }
}

/// Sends one batch: encodes it, splits it when it is over the byte cap or the server answers 413, sends each part
/// with retries, and accounts for the outcome.
struct Delivery {
  origin: Origin,
  protocol: Protocol,
  /// The URL as configured, for log lines.
  url: String,
  target: Target,
  headers: HeaderMap,
  gzip: bool,
  max_request_bytes: usize,
  http: Arc<HttpSender>,
  grpc: Option<GrpcSender>,
  log: Logger,
  shared: Arc<Shared>,
}

impl Delivery {
  async fn send(self: Arc<Self>, spans: Batch) {
    let mut parts = vec![spans];
    while let Some(part) = parts.pop() {
      if let Some((a, b)) = self.attempt(part).await {
        // Too large: send both halves (first half first).
        self.shared.counters.splits.fetch_add(1, Ordering::Relaxed);
        parts.push(b);
        parts.push(a);
      }
    }
  }

  /// Sends one part. Returns its two halves when it must be split.
  async fn attempt(&self, spans: Batch) -> Option<(Batch, Batch)> {
    let c = &self.shared.counters;
    let n = spans.len() as u64;
    let (outcome, sent_bytes) = match (&self.grpc, &spans) {
      (Some(grpc), Batch::Mapped(mapped)) => {
        let req = otlp::request(&self.origin, mapped);
        let len = req.encoded_len();
        c.bytes_uncompressed.fetch_add(len as u64, Ordering::Relaxed);
        if len > self.max_request_bytes && spans.len() > 1 {
          return Some(spans.halves());
        }
        (grpc.send(&req, |r| self.retry_line(n, r)).await, len as u64)
      }
      _ => {
        let (body, content_type) = match &spans {
          Batch::Written(written) => (written.body(&self.origin), content_type(self.protocol)),
          Batch::Mapped(mapped) => encode(self.protocol, &self.origin, mapped),
        };
        c.bytes_uncompressed.fetch_add(body.len() as u64, Ordering::Relaxed);
        if body.len() > self.max_request_bytes && spans.len() > 1 {
          return Some(spans.halves());
        }
        let mut headers = self.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let body = if self.gzip {
          headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
          gzip(&body)
        } else {
          body
        };
        let req = HttpRequest {
          url: self.target.clone(),
          headers,
          body: Bytes::from(body),
        };
        let len = req.body.len() as u64;
        (self.http.send(&req, |r| self.retry_line(n, r)).await, len)
      }
    };
    c.requests.fetch_add(u64::from(outcome.attempts()), Ordering::Relaxed);
    let url = &self.url;
    match outcome {
      Outcome::Delivered { body, .. } => {
        let rejected = rejected_spans(self.protocol, &body);
        c.spans_exported
          .fetch_add(n - rejected.as_ref().map_or(0, |r| r.0.min(n)), Ordering::Relaxed);
        c.bytes_sent.fetch_add(sent_bytes, Ordering::Relaxed);
        if let Some((count, message)) = rejected {
          c.spans_rejected.fetch_add(count, Ordering::Relaxed);
          self.log.warn(format!(
            "[OtelExporter] The collector rejected {count} of {n} spans: {message}"
          ));
        }
        self
          .log
          .debug(|| format!("[OtelExporter:debug] Exported {n} spans to {url}"));
      }
      Outcome::Rejected { status: 413, .. } if spans.len() > 1 => return Some(spans.halves()),
      Outcome::Rejected {
        status,
        status_text,
        body,
        ..
      } => {
        c.spans_failed.fetch_add(n, Ordering::Relaxed);
        c.failed_status.fetch_add(1, Ordering::Relaxed);
        self.shared.failure_warning.hit(|times| {
          self.log.error_with(
            format!("[OtelExporter] Failed to export {n} spans to {url}: {status} {status_text} ({times} failed request(s) since the last report)"),
            body,
          )
        });
      }
      Outcome::Failed { error, .. } => {
        c.spans_failed.fetch_add(n, Ordering::Relaxed);
        c.failed_network.fetch_add(1, Ordering::Relaxed);
        self.shared.failure_warning.hit(|times| {
          self.log.error_with(
            format!(
              "[OtelExporter] Failed to export {n} spans to {url} ({times} failed request(s) since the last report):"
            ),
            error,
          )
        });
      }
    }
    None
  }

  fn retry_line(&self, n: u64, r: RetryNotice) {
    self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
    // One line per 10 s at most while a collector is down, with the count it stands for.
    self.shared.retry_warning.hit(|times| {
      let more = if times > 1 {
        format!(" ({times} retries since the last report)")
      } else {
        String::new()
      };
      self.log.warn(format!(
        "[OtelExporter] Export of {n} spans failed ({}); retry {} of {} in {} ms{more}",
        r.reason,
        r.retry,
        r.max_retries,
        r.delay.as_millis()
      ))
    });
  }
}

/// OTLP partial success: how many spans the collector rejected, and why.
fn rejected_spans(protocol: Protocol, body: &[u8]) -> Option<(u64, String)> {
  let resp = match protocol {
    Protocol::HttpProtobuf | Protocol::Grpc => ExportTraceServiceResponse::decode(body).ok()?,
    Protocol::HttpJson => serde_json::from_slice::<ExportTraceServiceResponse>(body).ok()?,
    _ => return None,
  };
  let partial = resp.partial_success?;
  (partial.rejected_spans > 0).then_some((partial.rejected_spans as u64, partial.error_message))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::log::capture;
  use crate::otel::config::{DEFAULT_TIMEOUT, Destination};
  use crate::test_support::recorder;
  use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
  use std::io::Read;

  fn fixture_spans(scenario: &str) -> Vec<String> {
    let path = format!(
      "{}/__test__/fixtures/mastra-1.x/{scenario}.jsonl",
      env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
      .unwrap()
      .lines()
      .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
      .filter(|v| v["type"] == "span_ended")
      .map(|v| v["exportedSpan"].to_string())
      .collect()
  }

  fn settings(base: &str, protocol: Protocol, compression: Compression, batch_size: usize) -> OtelSettings {
    let url = match protocol {
      Protocol::Zipkin => format!("{base}/api/v2/spans"),
      _ => format!("{base}/v1/traces"),
    };
    OtelSettings {
      destination: Destination {
        provider: "custom",
        protocol,
        url,
        headers: vec![("x-api-key".into(), "secret".into())],
        compression,
        timeout: DEFAULT_TIMEOUT,
        tls: None,
      },
      semconv: None,
      capture_content: true,
      batch_size,
      scheduled_delay: Duration::from_millis(100),
      retry: RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        ..RetryPolicy::default()
      },
      resource: ResourceInputs::default(),
      debug: false,
      pipeline: PipelineLimits::default(),
      max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
      redact: crate::redact::Redactor::default(),
      attr_limits: Default::default(),
    }
  }

  fn start(s: OtelSettings) -> (OtelExporter, capture::Lines) {
    let (log, lines) = capture::logger(false);
    (OtelExporter::start(s, log, Arc::new(Busy::new(Arc::new(|| {})))), lines)
  }

  fn decode(r: &crate::test_support::Received) -> ExportTraceServiceRequest {
    let mut body = r.body.clone();
    if r.header("content-encoding") == Some("gzip") {
      let mut out = Vec::new();
      flate2::read::GzDecoder::new(body.as_slice())
        .read_to_end(&mut out)
        .unwrap();
      body = out;
    }
    match r.header("content-type") {
      Some("application/x-protobuf") => ExportTraceServiceRequest::decode(body.as_slice()).unwrap(),
      Some("application/json") => serde_json::from_slice(&body).unwrap(),
      other => panic!("content type {other:?}"),
    }
  }

  #[tokio::test]
  async fn protobuf_gzip_json_batches_decode_with_the_official_definitions() {
    for (protocol, compression) in [
      (Protocol::HttpProtobuf, Compression::None),
      (Protocol::HttpProtobuf, Compression::Gzip),
      (Protocol::HttpJson, Compression::Gzip),
    ] {
      let (base, got) = recorder(vec![]).await;
      let (ex, _) = start(settings(&base, protocol, compression, 4));
      let spans = fixture_spans("b-tool-call");
      for s in &spans {
        ex.push(s.clone(), Semconv::Mastra);
      }
      ex.flush(None).await;
      let got = got.lock();
      assert_eq!(got.len(), 3, "{protocol:?}: 10 spans in batches of 4");
      let mut names = Vec::new();
      for r in got.iter() {
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(r.header("x-api-key"), Some("secret"));
        let req = decode(r);
        let rs = &req.resource_spans[0];
        assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "@mastra/otel-exporter");
        names.extend(rs.scope_spans[0].spans.iter().map(|s| s.name.clone()));
      }
      assert_eq!(names.len(), spans.len());
      assert!(names.contains(&"invoke_agent Tool Agent".to_string()), "{names:?}");
      assert!(names.contains(&"chat mock-tool-model".to_string()));
      let s = ex.stats();
      assert_eq!(
        (s.spans_received, s.spans_exported, s.spans_failed, s.pending),
        (10, 10, 0, 0)
      );
      if compression == Compression::Gzip {
        assert!(s.bytes_sent < s.bytes_uncompressed, "{s:?}");
      }
    }
  }

  #[tokio::test]
  async fn a_partial_batch_is_sent_after_the_scheduled_delay() {
    let (base, got) = recorder(vec![]).await;
    let (ex, _) = start(settings(&base, Protocol::HttpJson, Compression::None, 512));
    for s in fixture_spans("a-generate") {
      ex.push(s, Semconv::Mastra);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(got.lock().len(), 1, "sent by the timer, without a flush");
  }

  #[tokio::test]
  async fn zipkin_batches_decode_strictly() {
    let (base, got) = recorder(vec![]).await;
    let (ex, _) = start(settings(&base, Protocol::Zipkin, Compression::None, 512));
    for s in fixture_spans("f-tool-error") {
      ex.push(s, Semconv::Latest);
    }
    ex.flush(None).await;
    let got = got.lock();
    assert_eq!(got[0].path, "/api/v2/spans");
    let spans: Vec<zipkin_types::Span> = serde_json::from_slice(&got[0].body).expect("strict zipkin v2");
    assert_eq!(spans.len(), 9);
    let tool = spans
      .iter()
      .find(|s| s.name() == Some("execute_tool failingTool"))
      .unwrap();
    assert_eq!(tool.tags()["otel.status_code"], "ERROR");
  }

  #[tokio::test]
  async fn failures_are_retried_then_counted_and_logged_once() {
    let (base, got) = recorder(vec![503, 400]).await;
    let (ex, lines) = start(settings(&base, Protocol::HttpProtobuf, Compression::None, 512));
    for s in fixture_spans("a-generate") {
      ex.push(s, Semconv::Mastra);
    }
    ex.flush(None).await;
    assert!(got.lock().is_empty(), "503 retried, then 400 is final");
    let s = ex.stats();
    assert_eq!((s.spans_failed, s.retries, s.requests), (5, 1, 2));
    let errors: Vec<String> = lines
      .lock()
      .iter()
      .filter(|l| l.0 == crate::log::Level::Error)
      .map(|l| l.1.clone())
      .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
      errors[0].starts_with("[OtelExporter] Failed to export 5 spans to http://127.0.0.1:"),
      "{}",
      errors[0]
    );
    assert!(!errors[0].contains("secret"));
  }

  #[tokio::test]
  async fn malformed_spans_are_counted_and_others_still_sent() {
    let (base, got) = recorder(vec![]).await;
    let (ex, lines) = start(settings(&base, Protocol::HttpJson, Compression::None, 512));
    ex.push("{not json", Semconv::Mastra);
    ex.push(r#"{"id":"zz","traceId":"ab","startTime":0}"#, Semconv::Mastra);
    for s in fixture_spans("d-workflow") {
      ex.push(s, Semconv::Mastra);
    }
    ex.flush(None).await;
    assert_eq!(ex.stats().spans_invalid, 2);
    assert_eq!(ex.stats().spans_exported, 3);
    assert_eq!(got.lock().len(), 1);
    assert_eq!(
      lines
        .lock()
        .iter()
        .filter(|l| l.1.starts_with("[OtelExporter] Dropped a span"))
        .count(),
      2
    );
  }
}
