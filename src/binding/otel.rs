//! `OtelExporter` for JavaScript.

use super::fast;
use super::host::{self, Host, JsFlushReport};
use crate::env::ProcessEnv;
use crate::log::Logger;
use crate::otel::exporter::OtelExporter;
use crate::otel::mapping::Semconv;
use crate::otel::options::{OptionsError, OtelOptions};
use crate::pipeline::{Busy, EventKind};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Extra TLS material. Each value is PEM text or the path of a PEM file. Verification is always on.
#[napi(object, object_to_js = false, js_name = "OtelExporterTls")]
pub struct JsTls {
  /// CA certificate(s) to trust besides the built-in roots.
  /// @default OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE or OTEL_EXPORTER_OTLP_CERTIFICATE
  pub ca: Option<String>,
  /// Client certificate for mutual TLS.
  /// @default OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE or OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE
  pub cert: Option<String>,
  /// Client private key for mutual TLS.
  /// @default OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY or OTEL_EXPORTER_OTLP_CLIENT_KEY
  pub key: Option<String>,
}

/// Which signals to export.
#[napi(object, object_to_js = false, js_name = "OtelExporterSignals")]
pub struct JsSignals {
  /// @default true
  pub traces: Option<bool>,
  /// Accepted for compatibility; log export is not implemented.
  /// @default true
  pub logs: Option<bool>,
}

/// Options of `new OtelExporter(options)`, those of `@mastra/otel-exporter` 1.4.0 plus `semconv`, `captureContent`,
/// `compression`, `maxRetries` and `scheduledDelayMs`.
#[napi(object, object_to_js = false, js_name = "OtelExporterConfig")]
pub struct JsOtelOptions {
  /// One provider preset. Each field falls back to the provider's environment variable (`config ?? env`).
  /// Without a provider the standard `OTEL_EXPORTER_OTLP_*` variables are used (default `http://localhost:4318`,
  /// http/protobuf) instead of disabling the exporter.
  #[napi(
    ts_type = "{ dash0?: { apiKey?: string; endpoint?: string; dataset?: string } } | { signoz?: { apiKey?: string; region?: 'us' | 'eu' | 'in'; endpoint?: string } } | { newrelic?: { apiKey?: string; endpoint?: string } } | { traceloop?: { apiKey?: string; destinationId?: string; endpoint?: string } } | { laminar?: { apiKey?: string; endpoint?: string } } | { custom?: { endpoint: string; headers?: Record<string, string>; protocol?: 'http/json' | 'http/protobuf' | 'grpc' | 'zipkin' } }"
  )]
  pub provider: Option<serde_json::Value>,
  /// Time one export request may take, in milliseconds, retries excluded.
  /// @default OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT or 10000
  pub timeout: Option<f64>,
  /// Spans per request.
  /// @default 512
  pub batch_size: Option<u32>,
  /// `'debug'` prints one line per exported batch.
  /// @default 'info'
  #[napi(ts_type = "'debug' | 'info' | 'warn' | 'error'")]
  pub log_level: Option<String>,
  /// Merged over the default resource (`service.name`, `service.version`, `telemetry.sdk.*`).
  #[napi(ts_type = "Record<string, string | number | boolean>")]
  pub resource_attributes: Option<serde_json::Value>,
  /// `{ traces: false }` turns the exporter off.
  pub signals: Option<JsSignals>,
  /// Attribute conventions: `'mastra'` (what `@mastra/otel-exporter` 1.4.0 emits), `'legacy'` (the 0.x mapping) or
  /// `'latest'` (the current GenAI semantic conventions). Also `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`.
  /// @default 'mastra' on Mastra 1.x, 'legacy' on Mastra 0.24
  #[napi(ts_type = "'mastra' | 'legacy' | 'latest'")]
  pub semconv: Option<String>,
  /// `false` drops inputs, outputs, messages and instructions before anything leaves the process.
  /// @default true
  pub capture_content: Option<bool>,
  /// Body compression for every protocol.
  /// @default OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION or 'none'
  #[napi(ts_type = "'gzip' | 'none'")]
  pub compression: Option<String>,
  /// Retries of a failed request (connection errors, timeouts, 429, 502, 503, 504).
  /// @default 5
  pub max_retries: Option<u32>,
  /// How long a partial batch waits before it is sent, in milliseconds.
  /// @default 5000
  pub scheduled_delay_ms: Option<u32>,
  /// Largest request body; bigger batches are split (as are batches the server answers with 413).
  /// @default 4194304
  pub max_request_bytes: Option<f64>,
  /// Spans queued for the worker at once; beyond it spans are dropped (counted, warned).
  /// @default 1000000
  pub max_queue_size: Option<f64>,
  /// Bytes of span JSON queued for the worker at once.
  /// @default 1073741824
  pub max_queue_bytes: Option<f64>,
  /// Requests in flight at once.
  /// @default 8
  pub max_concurrent_exports: Option<u32>,
  /// Bytes of batches waiting behind the requests in flight; the oldest is dropped beyond it.
  /// @default 1073741824
  pub max_export_backlog_bytes: Option<f64>,
  /// How long `flush()` and `shutdown()` wait by default, in milliseconds.
  /// @default 30000
  pub flush_timeout_ms: Option<f64>,
  /// Key names (case-insensitive, `*` wildcards) whose values are replaced with `"[REDACTED]"` anywhere in span
  /// attributes, metadata, input, output and request context, before mapping.
  pub redact: Option<Vec<String>>,
  /// Longest string attribute, in characters; JSON values are shortened inside so they stay valid JSON.
  /// @default OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT or none
  pub attribute_value_length_limit: Option<f64>,
  /// Largest total size of one span's attributes, in bytes; the largest values are shortened to fit.
  /// @default none
  pub max_span_bytes: Option<f64>,
  /// A custom CA and client certificate for https and gRPC over TLS.
  pub tls: Option<JsTls>,
}

impl From<JsOtelOptions> for OtelOptions {
  fn from(js: JsOtelOptions) -> Self {
    let ms = |v: Option<f64>| v.filter(|n| n.is_finite() && *n > 0.0).map(|n| n as u64);
    OtelOptions {
      provider: js.provider,
      timeout_ms: ms(js.timeout),
      batch_size: js.batch_size,
      log_level: js.log_level,
      resource_attributes: js.resource_attributes,
      traces: js.signals.and_then(|s| s.traces),
      semconv: js.semconv,
      capture_content: js.capture_content,
      compression: js.compression,
      max_retries: js.max_retries,
      scheduled_delay_ms: js.scheduled_delay_ms.map(u64::from),
      max_request_bytes: host::count(js.max_request_bytes),
      pipeline: host::pipeline_options(
        js.max_queue_size,
        js.max_queue_bytes,
        js.max_concurrent_exports,
        js.max_export_backlog_bytes,
        js.flush_timeout_ms,
      ),
      redact: js.redact.unwrap_or_default(),
      attribute_value_length_limit: host::count(js.attribute_value_length_limit),
      max_span_bytes: host::count(js.max_span_bytes),
      tls: js
        .tls
        .map(|t| crate::otel::config::TlsOptions {
          ca: t.ca,
          cert: t.cert,
          key: t.key,
        })
        .unwrap_or_default(),
    }
  }
}

/// Counters of one exporter.
#[napi(object, object_from_js = false, js_name = "OtelExporterStats")]
pub struct JsOtelStats {
  /// Finished spans handed to the exporter.
  pub spans_received: f64,
  /// Spans the collector accepted.
  pub spans_exported: f64,
  /// Spans in requests given up on.
  pub spans_failed: f64,
  /// Spans the collector refused in an OTLP partial success.
  pub spans_rejected: f64,
  /// Events or spans that could not be read or mapped.
  pub spans_invalid: f64,
  /// HTTP attempts, retries included.
  pub requests: f64,
  /// Retries.
  pub retries: f64,
  /// Encoded bytes before compression.
  pub bytes_uncompressed: f64,
  /// Bytes of delivered request bodies, after compression.
  pub bytes_sent: f64,
  /// Spans queued plus requests in flight.
  pub pending: f64,
  /// Spans dropped because the queue to the worker was full.
  pub dropped_queue_full: f64,
  /// Spans of batches dropped because too many were waiting to be sent.
  pub dropped_backlog_full: f64,
  /// Requests given up on after a non-2xx answer or a final gRPC status.
  pub failed_status: f64,
  /// Requests given up on after connection errors or timeouts.
  pub failed_network: f64,
  /// Batches split because they were too large.
  pub splits: f64,
  /// Spans whose attributes were shortened by `attributeValueLengthLimit` or `maxSpanBytes`.
  pub spans_truncated: f64,
  /// Internal errors contained (the exporter carried on).
  pub panics: f64,
  /// Spans waiting for the worker.
  pub queue_depth: f64,
  /// Requests in flight.
  pub in_flight: f64,
}

/// A drop-in for `@mastra/otel-exporter`: maps Mastra spans to OpenTelemetry spans with GenAI semantic conventions
/// and exports them over OTLP (http/protobuf, http/json) or Zipkin, with the Dash0, SigNoz, New Relic, Traceloop,
/// Laminar and custom presets. Mapping, batching, encoding, compression and retries run on Rust threads.
#[napi(js_name = "OtelExporter")]
pub struct JsOtelExporter {
  core: Arc<Core>,
  inner: Option<Arc<OtelExporter>>,
  _busy: Arc<Busy>,
  /// The direct entry points are defined on the instance (after the first call through the class methods).
  direct: host::DirectState,
}

/// What an event needs, shared with the direct entry points.
struct Core {
  inner: Option<Arc<OtelExporter>>,
  host: Arc<Host>,
  invalid_events: AtomicU64,
}

/// How often one exporter flushes at `beforeExit`.
const MAX_EXIT_FLUSHES: u64 = 3;

#[napi]
impl JsOtelExporter {
  /// Never throws for a bad configuration: it prints one `[OtelExporter] ...` line and disables itself
  /// (`isDisabled`), as the reference does.
  #[napi(constructor)]
  pub fn new(env: &Env, options: Option<JsOtelOptions>) -> Result<Self> {
    let (host, busy, sink) = Host::new(env)?;
    let options = options.map(OtelOptions::from).unwrap_or_default();
    let inner = match options.resolve(&ProcessEnv) {
      Ok(settings) => {
        let log = Logger::new(sink, settings.debug);
        let inner = Arc::new(OtelExporter::start(settings, log, busy.clone()));
        let weak = Arc::downgrade(&inner);
        let rounds = AtomicU64::new(0);
        host::on_before_exit(
          env,
          Box::new(move |_env| {
            // A few rounds at most: `beforeExit` fires again after each flush.
            let exporter = weak.upgrade().filter(|e| e.has_unsent())?;
            if rounds.fetch_add(1, Ordering::Relaxed) >= MAX_EXIT_FLUSHES {
              return None;
            }
            Some(Box::pin(async move {
              exporter.flush(None).await;
            }))
          }),
        )?;
        Some(inner)
      }
      Err(e) => {
        let log = Logger::new(sink, false);
        match e {
          OptionsError::TracesOff => log.warn(e.to_string()),
          _ => log.error(e.to_string()),
        }
        None
      }
    };
    Ok(Self {
      core: Arc::new(Core {
        inner: inner.clone(),
        host,
        invalid_events: AtomicU64::new(0),
      }),
      inner,
      _busy: busy,
      direct: host::DirectState::default(),
    })
  }

  /// `"opentelemetry"`.
  #[napi(getter)]
  pub fn name(&self) -> &'static str {
    "opentelemetry"
  }

  /// True when the configuration was unusable (a line saying why was printed).
  #[napi(getter)]
  pub fn is_disabled(&self) -> bool {
    self.inner.is_none()
  }

  /// The trace URL spans are sent to (`null` when disabled).
  #[napi(getter)]
  pub fn endpoint(&self) -> Option<String> {
    self.inner.as_ref().map(|i| i.destination().url.clone())
  }

  /// The wire protocol: `http/protobuf`, `http/json`, `grpc` or `zipkin` (`null` when disabled).
  #[napi(getter)]
  pub fn protocol(&self) -> Option<&'static str> {
    self.inner.as_ref().map(|i| i.destination().protocol.as_str())
  }

  /// Called by Mastra with `{ mastra, config }` (1.x) or the tracing config (0.24): takes the service name, and the
  /// installed `@mastra/core` version for `service.version`.
  #[napi(ts_args_type = "options?: { config?: { serviceName?: string } } | { serviceName?: string }")]
  pub fn init(&self, env: &Env, options: Option<Unknown<'_>>) {
    let Some(inner) = &self.inner else { return };
    let name = options.and_then(host::service_name);
    inner.init(name, host::mastra_core_version(env));
  }

  /// Mastra 1.x entry point: only `span_ended` is exported; other events cost a type check.
  #[napi(
    ts_args_type = "event: { type: string; exportedSpan: object }",
    ts_return_type = "Promise<void>"
  )]
  pub fn export_tracing_event<'env>(
    &self,
    env: &'env Env,
    this: This<'_>,
    event: Unknown<'_>,
  ) -> Result<Unknown<'env>> {
    if let Some(done) = self
      .direct
      .enter(env, &this, c"exportTracingEvent", event, || self.go_direct(env, &this))
    {
      return Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), done) });
    }
    self.core.guarded(env, event, Semconv::Mastra);
    host::resolved(env)
  }

  /// Mastra 0.24 entry point; maps with the legacy conventions unless `semconv` says otherwise.
  #[napi(
    ts_args_type = "event: { type: string; exportedSpan: object }",
    ts_return_type = "Promise<void>"
  )]
  pub fn export_event<'env>(&self, env: &'env Env, this: This<'_>, event: Unknown<'_>) -> Result<Unknown<'env>> {
    if let Some(done) = self
      .direct
      .enter(env, &this, c"exportEvent", event, || self.go_direct(env, &this))
    {
      return Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), done) });
    }
    self.core.guarded(env, event, Semconv::Legacy);
    host::resolved(env)
  }

  /// The same handler as `exportTracingEvent`, returning nothing. Mastra 1.x calls it in preference to
  /// `exportTracingEvent` (as it does the reference's), and then has no promise to track for the event. When
  /// `exportTracingEvent` is overridden (a subclass), it calls the override instead, as the reference does.
  #[napi(ts_args_type = "event: { type: string; exportedSpan: object }")]
  pub fn on_tracing_event(&self, env: &Env, this: This<'_>, event: Unknown<'_>) {
    if self
      .direct
      .enter(env, &this, c"onTracingEvent", event, || self.go_direct(env, &this))
      .is_some()
    {
      return;
    }
    host::on_tracing_event(env, &this, &self.direct, event, || {
      self.core.guarded(env, event, Semconv::Mastra)
    });
  }

  /// Sends every queued span and resolves once all requests started so far are delivered or have definitively
  /// failed, or after `timeoutMs` (default `flushTimeoutMs`). Never rejects.
  // Typed `Promise<any>` so the class stays assignable to Mastra's `flush(): Promise<void>`; it resolves with a
  // `FlushResult`.
  #[napi(ts_return_type = "Promise<any>")]
  pub async fn flush(&self, timeout_ms: Option<f64>) -> JsFlushReport {
    match &self.inner {
      Some(inner) => inner.flush(host::millis(timeout_ms)).await.into(),
      None => crate::pipeline::FlushReport::default().into(),
    }
  }

  /// Flushes. Harmless to call twice; the exporter stays usable.
  // Typed `Promise<any>` so the class stays assignable to Mastra's `flush(): Promise<void>`; it resolves with a
  // `FlushResult`.
  #[napi(ts_return_type = "Promise<any>")]
  pub async fn shutdown(&self, timeout_ms: Option<f64>) -> JsFlushReport {
    self.flush(timeout_ms).await
  }

  /// Counters since construction.
  #[napi]
  pub fn stats(&self) -> JsOtelStats {
    let s = self.inner.as_ref().map(|i| i.stats()).unwrap_or_default();
    let n = |v: u64| v as f64;
    JsOtelStats {
      spans_received: n(s.spans_received),
      spans_exported: n(s.spans_exported),
      spans_failed: n(s.spans_failed),
      spans_rejected: n(s.spans_rejected),
      spans_invalid: n(s.spans_invalid) + n(self.core.invalid_events.load(Ordering::Relaxed)),
      requests: n(s.requests),
      retries: n(s.retries),
      bytes_uncompressed: n(s.bytes_uncompressed),
      bytes_sent: n(s.bytes_sent),
      pending: n(s.pending),
      dropped_queue_full: n(s.dropped_queue_full),
      dropped_backlog_full: n(s.dropped_backlog_full),
      failed_status: n(s.failed_status),
      failed_network: n(s.failed_network),
      splits: n(s.splits),
      spans_truncated: n(s.spans_truncated),
      panics: n(s.panics),
      queue_depth: n(s.queue_depth),
      in_flight: n(s.in_flight),
    }
  }

  /// Mastra hands exporters its logger; this exporter prints to the console.
  #[napi(js_name = "__setLogger", ts_args_type = "logger: unknown")]
  pub fn set_logger(&self, _logger: Unknown<'_>) {}
}

impl JsOtelExporter {
  /// Defines `exportTracingEvent`, `exportEvent` and `onTracingEvent` on this instance as direct entry points, once.
  fn go_direct(&self, env: &Env, this: &This<'_>) {
    let failures = host::go_direct(env, this, &self.direct, || {
      [
        (c"exportTracingEvent", Semconv::Mastra, true),
        (c"exportEvent", Semconv::Legacy, true),
        (c"onTracingEvent", Semconv::Mastra, false),
      ]
      .into_iter()
      .map(|(name, mode, promise)| {
        let core = self.core.clone();
        let ended: fast::Entry = {
          let core = self.core.clone();
          Box::new(move |env, args| {
            core.ended(env, args[0], args[1], mode);
            std::ptr::null_mut()
          })
        };
        host::Direct {
          name,
          promise,
          handle: move |env: &Env, event: Unknown<'_>| core.guarded(env, event, mode),
          wrapper: Some((ENTRY_WRAPPER, vec![ended])),
        }
      })
      .collect()
    });
    if let Some(inner) = &self.inner {
      for e in failures {
        inner
          .logger()
          .debug(|| format!("[OtelExporter:debug] Kept the class method {e}"));
      }
    }
  }
}

/// The JavaScript side of the entry points: see the file.
const ENTRY_WRAPPER: &str = include_str!("otel_entry.js");

impl Core {
  /// The text of an ended span, from the entry point's JavaScript wrapper.
  fn ended(
    &self,
    raw_env: napi::sys::napi_env,
    json: napi::sys::napi_value,
    narrow: napi::sys::napi_value,
    mode: Semconv,
  ) {
    let Some(inner) = &self.inner else { return };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
      if let Some(text) = fast::span_text(raw_env, json, narrow)
        && inner.push(text, mode)
      {
        self.host.hold(&Env::from_raw(raw_env));
      }
    }));
    if caught.is_err() {
      inner.count_panic();
    }
  }

  /// A panic never unwinds into Node: it is contained here and counted.
  fn guarded(&self, env: &Env, event: Unknown<'_>, mode: Semconv) {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(env, event, mode)));
    if caught.is_err()
      && let Some(inner) = &self.inner
    {
      inner.count_panic();
    }
  }

  fn handle(&self, env: &Env, event: Unknown<'_>, mode: Semconv) {
    let Some(inner) = &self.inner else { return };
    match host::read_event(env, event, |k| k == EventKind::Ended) {
      Ok(Some((_, json))) => {
        if inner.push(json, mode) {
          self.host.hold(env);
        }
      }
      Ok(None) => {}
      Err(problem) => {
        let n = self.invalid_events.fetch_add(1, Ordering::Relaxed);
        if n < 10 {
          inner
            .logger()
            .error(format!("[OtelExporter] Ignored a tracing event: {problem}"));
        }
      }
    }
  }
}
