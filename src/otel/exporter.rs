//! The OTel exporter's worker: finished spans come in from the JavaScript thread as JSON, are mapped, batched,
//! encoded (protobuf, JSON or Zipkin; gzip when asked) and sent, all on the runtime's threads.
//!
//! ```text
//!  JS thread                   worker task                                          request tasks
//!  push(json, mode) ─channel─▶ parse → map → batch (batchSize or scheduledDelay) ─▶ HttpSender (timeout, retries)
//!  flush() ──────────channel─▶ send the open batch, wait for in-flight requests ◀── finished
//! ```

use super::config::{Compression, Destination, Protocol};
use super::mapping::{MapOptions, Semconv, TraceFacts, map_span};
use super::otlp::{self, Origin, OtelSpan};
use super::resource::{self, ResourceInputs};
use super::span::MastraSpan;
use super::zipkin;
use crate::env::ProcessEnv;
use crate::log::Logger;
use crate::pipeline::{Busy, Inflight};
use crate::runtime;
use crate::transport::grpc::GrpcSender;
use crate::transport::{HttpRequest, HttpSender, Outcome, RetryNotice, RetryPolicy};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Spans per request. The reference's default.
pub const DEFAULT_BATCH_SIZE: usize = 512;
/// How long a partial batch waits before it is sent. The reference's default.
pub const DEFAULT_SCHEDULED_DELAY: Duration = Duration::from_secs(5);
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
}

/// Counters, readable at any time.
#[derive(Debug, Default)]
pub struct Counters {
  pub spans_received: AtomicU64,
  pub spans_exported: AtomicU64,
  pub spans_failed: AtomicU64,
  pub spans_rejected: AtomicU64,
  pub spans_invalid: AtomicU64,
  pub requests: AtomicU64,
  pub retries: AtomicU64,
  pub bytes_uncompressed: AtomicU64,
  pub bytes_sent: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OtelStats {
  pub spans_received: u64,
  pub spans_exported: u64,
  pub spans_failed: u64,
  pub spans_rejected: u64,
  pub spans_invalid: u64,
  pub requests: u64,
  pub retries: u64,
  pub bytes_uncompressed: u64,
  pub bytes_sent: u64,
  pub pending: u64,
}

enum Msg {
  Span(String, Semconv),
  Init(Option<String>, Option<String>),
  Flush(oneshot::Sender<()>),
}

struct Shared {
  busy: Arc<Busy>,
  counters: Counters,
}

/// A running OTel exporter.
pub struct OtelExporter {
  tx: mpsc::UnboundedSender<Msg>,
  shared: Arc<Shared>,
  log: Logger,
  destination: Destination,
}

impl OtelExporter {
  pub fn start(settings: OtelSettings, log: Logger, busy: Arc<Busy>) -> Self {
    let shared = Arc::new(Shared {
      busy,
      counters: Counters::default(),
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
    }
  }

  pub fn destination(&self) -> &Destination {
    &self.destination
  }

  pub fn logger(&self) -> &Logger {
    &self.log
  }

  /// Hands one finished span over. `mode` is the mapping the calling Mastra version implies (overridden by the
  /// `semconv` option). Returns true when the exporter was idle.
  pub fn push(&self, span_json: String, mode: Semconv) -> bool {
    self.shared.counters.spans_received.fetch_add(1, Ordering::Relaxed);
    let was_idle = self.shared.busy.enter();
    if self.tx.send(Msg::Span(span_json, mode)).is_err() {
      self.shared.busy.leave();
    }
    was_idle
  }

  /// The service name from Mastra's config and the installed `@mastra/core` version.
  pub fn init(&self, service_name: Option<String>, mastra_version: Option<String>) {
    let _ = self.tx.send(Msg::Init(service_name, mastra_version));
  }

  pub fn count_invalid(&self) {
    self.shared.counters.spans_invalid.fetch_add(1, Ordering::Relaxed);
  }

  /// Sends the open batch and waits for every request started so far.
  pub async fn flush(&self) {
    let (tx, rx) = oneshot::channel();
    if self.tx.send(Msg::Flush(tx)).is_ok() {
      let _ = rx.await;
    }
  }

  pub fn pending(&self) -> usize {
    self.shared.busy.get()
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
      requests: get(&c.requests),
      retries: get(&c.retries),
      bytes_uncompressed: get(&c.bytes_uncompressed),
      bytes_sent: get(&c.bytes_sent),
      pending: self.pending() as u64,
    }
  }
}

struct Worker {
  settings: OtelSettings,
  sender: Arc<HttpSender>,
  headers: HeaderMap,
  log: Logger,
  shared: Arc<Shared>,
  batch: Vec<OtelSpan>,
  batch_mode: Semconv,
  deadline: Option<Instant>,
  facts: HashMap<String, TraceFacts>,
  facts_order: VecDeque<String>,
  inflight: Inflight,
  tasks: JoinSet<()>,
  task_seqs: HashMap<tokio::task::Id, u64>,
  grpc: Option<GrpcSender>,
}

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
    let sender = Arc::new(HttpSender {
      timeout: settings.destination.timeout,
      policy: settings.retry,
    });
    Self {
      batch: Vec::with_capacity(settings.batch_size.min(4096)),
      batch_mode: Semconv::Mastra,
      settings,
      sender,
      headers,
      log,
      shared,
      deadline: None,
      facts: HashMap::new(),
      facts_order: VecDeque::new(),
      inflight: Inflight::default(),
      tasks: JoinSet::new(),
      task_seqs: HashMap::new(),
      grpc: None,
    }
  }

  async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
    loop {
      tokio::select! {
        msg = rx.recv() => match msg {
          Some(Msg::Span(json, mode)) => {
            self.on_span(&json, mode);
            self.shared.busy.leave();
          }
          Some(Msg::Init(service, version)) => {
            if service.is_some() {
              self.settings.resource.service_name = service;
            }
            if version.is_some() {
              self.settings.resource.mastra_version = version;
            }
          }
          Some(Msg::Flush(tx)) => {
            self.send_batch();
            self.inflight.wait_all(tx);
          }
          None => break,
        },
        Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
          let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => {
              self.log.error(format!("[OtelExporter] Internal error while sending spans: {e}"));
              e.id()
            }
          };
          self.shared.busy.leave();
          if let Some(seq) = self.task_seqs.remove(&id) {
            self.inflight.finish(seq);
          }
        }
        _ = sleep_until(self.deadline), if self.deadline.is_some() => self.send_batch(),
      }
    }
    self.send_batch();
    while self.tasks.join_next().await.is_some() {}
  }

  fn on_span(&mut self, json: &str, call_mode: Semconv) {
    let mode = self.settings.semconv.unwrap_or(call_mode);
    let span = match MastraSpan::parse(json) {
      Ok(s) => s,
      Err(e) => return self.invalid(&e.to_string()),
    };
    let facts = self.note(&span);
    let opts = MapOptions {
      semconv: mode,
      capture_content: self.settings.capture_content,
    };
    let mapped = match map_span(&span, opts, &facts) {
      Ok(m) => m,
      Err(e) => return self.invalid(&e.to_string()),
    };
    if span.is_root {
      // The root ends last: its trace's facts are no longer needed.
      self.facts.remove(&span.trace_id);
    }
    if !self.batch.is_empty() && mode != self.batch_mode {
      self.send_batch();
    }
    self.batch_mode = mode;
    self.batch.push(mapped);
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
    if !self.facts.contains_key(&span.trace_id) {
      if self.facts_order.len() >= MAX_TRACE_FACTS
        && let Some(old) = self.facts_order.pop_front()
      {
        self.facts.remove(&old);
      }
      self.facts_order.push_back(span.trace_id.clone());
    }
    let facts = self.facts.entry(span.trace_id.clone()).or_default();
    if span.span_type == "model_inference" {
      facts.has_model_inference = true;
    }
    if matches!(span.span_type.as_str(), "model_inference" | "model_generation")
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
    let spans = std::mem::take(&mut self.batch);
    let origin = resource::origin(&self.settings.resource, self.batch_mode, &ProcessEnv);
    let protocol = self.settings.destination.protocol;
    let gzip_on = self.settings.destination.compression == Compression::Gzip;
    let c = self.shared.clone();
    let c = &c.counters;
    let transport = if protocol == Protocol::Grpc {
      let Some(grpc) = self.grpc() else {
        c.spans_failed.fetch_add(spans.len() as u64, Ordering::Relaxed);
        return;
      };
      let req = otlp::request(&origin, &spans);
      c.bytes_uncompressed
        .fetch_add(req.encoded_len() as u64, Ordering::Relaxed);
      Transport::Grpc(grpc, Box::new(req))
    } else {
      let (body, content_type) = encode(protocol, &origin, &spans);
      c.bytes_uncompressed.fetch_add(body.len() as u64, Ordering::Relaxed);
      let mut headers = self.headers.clone();
      headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
      let body = if gzip_on {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        gzip(&body)
      } else {
        body
      };
      let req = HttpRequest {
        url: self.settings.destination.url.clone(),
        headers,
        body: Bytes::from(body),
      };
      Transport::Http(self.sender.clone(), req)
    };
    let job = Delivery {
      transport,
      url: self.settings.destination.url.clone(),
      count: spans.len() as u64,
      protocol,
      log: self.log.clone(),
      shared: self.shared.clone(),
    };
    self.shared.busy.enter();
    let seq = self.inflight.start();
    let task = self.tasks.spawn(job.run());
    self.task_seqs.insert(task.id(), seq);
  }
}

/// The request body and its content type.
pub fn encode(protocol: Protocol, origin: &Origin, spans: &[OtelSpan]) -> (Vec<u8>, &'static str) {
  match protocol {
    Protocol::Zipkin => (zipkin::encode(spans, &origin.resource), "application/json"),
    Protocol::HttpJson => (otlp::encode_json(&otlp::request(origin, spans)), "application/json"),
    Protocol::HttpProtobuf | Protocol::Grpc => (
      otlp::encode_protobuf(&otlp::request(origin, spans)),
      "application/x-protobuf",
    ),
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

enum Transport {
  Http(Arc<HttpSender>, HttpRequest),
  Grpc(GrpcSender, Box<ExportTraceServiceRequest>),
}

struct Delivery {
  transport: Transport,
  url: String,
  count: u64,
  protocol: Protocol,
  log: Logger,
  shared: Arc<Shared>,
}

impl Delivery {
  async fn run(self) {
    let c = &self.shared.counters;
    let (n, url) = (self.count, &self.url);
    let on_retry = |r: RetryNotice| {
      c.retries.fetch_add(1, Ordering::Relaxed);
      self.log.warn(format!(
        "[OtelExporter] Export of {n} spans failed ({}); retry {} of {} in {} ms",
        r.reason,
        r.retry,
        r.max_retries,
        r.delay.as_millis()
      ));
    };
    let (outcome, sent_bytes) = match &self.transport {
      Transport::Http(sender, req) => (sender.send(req, on_retry).await, req.body.len() as u64),
      Transport::Grpc(sender, req) => (sender.send(req, on_retry).await, req.encoded_len() as u64),
    };
    c.requests.fetch_add(u64::from(outcome.attempts()), Ordering::Relaxed);
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
      Outcome::Rejected {
        status,
        status_text,
        body,
        ..
      } => {
        c.spans_failed.fetch_add(n, Ordering::Relaxed);
        self.log.error_with(
          format!("[OtelExporter] Failed to export {n} spans to {url}: {status} {status_text}"),
          body,
        );
      }
      Outcome::Failed { error, .. } => {
        c.spans_failed.fetch_add(n, Ordering::Relaxed);
        self
          .log
          .error_with(format!("[OtelExporter] Failed to export {n} spans to {url}:"), error);
      }
    }
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
      ex.flush().await;
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
    ex.flush().await;
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
    ex.flush().await;
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
    ex.push("{not json".into(), Semconv::Mastra);
    ex.push(r#"{"id":"zz","traceId":"ab","startTime":0}"#.into(), Semconv::Mastra);
    for s in fixture_spans("d-workflow") {
      ex.push(s, Semconv::Mastra);
    }
    ex.flush().await;
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
