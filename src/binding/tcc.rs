//! `TCCMastraExporter` and `submitFeedback` for JavaScript.

use super::fast::{self, Key};
use super::host::{self, Host, JsFlushReport};
use crate::dates::Dates;
use crate::env::ProcessEnv;
use crate::log::Logger;
use crate::pipeline::Busy;
use crate::runtime;
use crate::tcc::Arrival;
use crate::tcc::buffer::SpanKeys;
use crate::tcc::feedback::{self, FeedbackResponse, Refusal};
use crate::tcc::{EventKind, TccExporter, TccOptions};
use crate::text::{Id, SpanText};
use foldhash::HashMap;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Options of `new TCCMastraExporter(options)`. Every field is optional; empty strings count as missing, as with the
/// reference's `||` fallbacks.
#[napi(object, object_to_js = false, js_name = "TCCMastraExporterConfig")]
#[derive(Default)]
pub struct JsTccOptions {
  /// The Observatory API key. Falls back to the `TCC_API_KEY` environment variable; without either the constructor
  /// throws `Missing API key: ...`. Keys starting with `dev_` are sent to the dev origin.
  pub api_key: Option<String>,
  /// Full ingestion URL, used verbatim. Refused (thrown) when its origin is not `https://api.thecontext.company`,
  /// `https://dev.thecontext.company` or loopback, unless `TCC_ALLOW_UNSAFE_BASE_URL=1`.
  /// @default `${TCC_BASE_URL or the key's origin}/v1/mastra`
  pub endpoint: Option<String>,
  /// Log every span, the run ids and the payload with `console.log`.
  /// @default false
  pub debug: Option<bool>,
  /// Keep spans that end without having started (Mastra event spans such as `chunk: 'tool-result'`). The reference
  /// drops them; `false` restores its payload exactly.
  /// @default true
  pub include_event_spans: Option<bool>,
  /// Time one HTTP attempt may take, in milliseconds.
  /// @default 30000
  pub timeout_ms: Option<u32>,
  /// Retries after a failed attempt (connection errors, timeouts, 429, 502, 503, 504).
  /// @default 5
  pub max_retries: Option<u32>,
  /// No retry starts later than this many milliseconds after the first attempt.
  /// @default 60000
  pub retry_budget_ms: Option<u32>,
  /// Traces buffered at once. At the bound the oldest trace is sent before its root ends.
  /// @default 1000
  pub max_buffered_traces: Option<u32>,
  /// Bytes of span JSON buffered at once. At the bound the oldest trace is sent before its root ends.
  /// @default 67108864
  pub max_buffered_bytes: Option<f64>,
  /// A trace that sees no event for this many milliseconds is sent even though its root never ended.
  /// @default 600000
  pub trace_ttl_ms: Option<u32>,
  /// Events queued for the worker at once; beyond it events are dropped (counted, warned).
  /// @default 1000000
  pub max_queue_size: Option<f64>,
  /// Bytes of span JSON queued for the worker at once.
  /// @default 1073741824
  pub max_queue_bytes: Option<f64>,
  /// Requests in flight at once.
  /// @default 8
  pub max_concurrent_exports: Option<u32>,
  /// Bytes of runs waiting behind the requests in flight; the oldest is dropped beyond it.
  /// @default 1073741824
  pub max_export_backlog_bytes: Option<f64>,
  /// How long `flush()` and `shutdown()` wait by default, in milliseconds.
  /// @default 30000
  pub flush_timeout_ms: Option<f64>,
  /// Key names (case-insensitive, `*` wildcards) whose values are replaced with `"[REDACTED]"` anywhere in span
  /// attributes, metadata, input, output and request context, before anything leaves the process.
  pub redact: Option<Vec<String>>,
  /// `false` removes span inputs, outputs and agent instructions before anything leaves the process.
  /// @default true
  pub capture_content: Option<bool>,
  /// Largest request body; a bigger run (or one the server answers with 413) is sent in parts with the same run id.
  /// @default 16777216
  pub max_request_bytes: Option<f64>,
}

impl From<JsTccOptions> for TccOptions {
  fn from(js: JsTccOptions) -> Self {
    TccOptions {
      api_key: js.api_key,
      endpoint: js.endpoint,
      debug: js.debug,
      include_event_spans: js.include_event_spans,
      timeout_ms: js.timeout_ms.map(u64::from),
      max_retries: js.max_retries,
      retry_budget_ms: js.retry_budget_ms.map(u64::from),
      max_buffered_traces: js.max_buffered_traces,
      max_buffered_bytes: js
        .max_buffered_bytes
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n as u64),
      trace_ttl_ms: js.trace_ttl_ms.map(u64::from),
      pipeline: host::pipeline_options(
        js.max_queue_size,
        js.max_queue_bytes,
        js.max_concurrent_exports,
        js.max_export_backlog_bytes,
        js.flush_timeout_ms,
      ),
      redact: js.redact.unwrap_or_default(),
      capture_content: js.capture_content,
      max_request_bytes: host::count(js.max_request_bytes),
    }
  }
}

/// Counters of one exporter.
#[napi(object, object_from_js = false, js_name = "TCCMastraExporterStats")]
pub struct JsTccStats {
  /// Tracing events handed to the exporter.
  pub events: f64,
  /// Events that could not be read (not an object, unknown type, no span, malformed span).
  pub invalid_events: f64,
  /// Run payloads delivered (2xx); a run sent in parts counts once per part.
  pub runs_exported: f64,
  /// Spans in delivered runs.
  pub spans_exported: f64,
  /// Runs given up on after a final error or the last retry.
  pub runs_failed: f64,
  /// HTTP attempts, retries included.
  pub requests: f64,
  /// Retries.
  pub retries: f64,
  /// Body bytes of delivered runs.
  pub bytes_sent: f64,
  /// Events queued plus requests in flight.
  pub pending: f64,
  /// Spans that ended without a start and were kept.
  pub event_spans_kept: f64,
  /// Spans that arrived after their trace was sent and went out with its run id.
  pub late_spans: f64,
  /// Traces sent before their root ended because the buffer was full.
  pub early_exports: f64,
  /// Traces sent because they idled past `traceTtlMs`.
  pub ttl_exports: f64,
  /// Spans in runs given up on.
  pub spans_failed: f64,
  /// Runs given up on after a non-2xx answer.
  pub failed_status: f64,
  /// Runs given up on after connection errors or timeouts.
  pub failed_network: f64,
  /// Events dropped because the queue to the worker was full.
  pub dropped_queue_full: f64,
  /// Spans of runs dropped because too many were waiting to be sent.
  pub dropped_backlog_full: f64,
  /// Spans that ended without a start and were dropped (`includeEventSpans: false`).
  pub dropped_event_spans: f64,
  /// Internal errors contained (the exporter carried on).
  pub panics: f64,
  /// Events waiting for the worker.
  pub queue_depth: f64,
  /// Requests in flight.
  pub in_flight: f64,
  /// Traces held in the buffer.
  pub buffered_traces: f64,
  /// Runs sent in parts because they were too large.
  pub splits: f64,
}

/// A drop-in for `@contextcompany/mastra`'s exporter: buffers every span of an agent run and, when the root span ends,
/// sends the whole run to The Context Company in one request. All of that happens on Rust threads; the call Mastra
/// makes only serialises the span once and hands it over.
///
/// Mastra 1.x: `new Observability({ configs: { default: { serviceName, exporters: [new TCCMastraExporter()] } } })`.
/// Mastra 0.24: `observability: { configs: { default: { serviceName, exporters: [new TCCMastraExporter()] } } }`.
#[napi(js_name = "TCCMastraExporter", custom_finalize)]
pub struct JsTccMastraExporter {
  core: Rc<Core>,
  _busy: Arc<Busy>,
  /// The direct entry points are defined on the instance (after the first call through the class methods).
  direct: host::DirectState,
}

/// What an event needs, shared with the direct entry points.
struct Core {
  inner: Arc<TccExporter>,
  host: Arc<Host>,
  warned: AtomicU64,
  /// Starts held back; `None` with `debug` on, which logs every start as it happens.
  held: Option<Rc<RefCell<HeldSpans>>>,
}

/// Starts of spans that have not ended yet, on the JavaScript thread. Most spans end within milliseconds, and then
/// only their end is serialised: the start is a reference to Mastra's span object and a place in the start order.
/// A span still open when its root ends, after `HOLD_FOR`, beyond `MAX_HELD`, or at `flush()` is serialised as it
/// stands and handed over as its start, as the reference does with the object it buffered.
///
/// Holding a start costs two hash-map insertions (hashed with foldhash, as in the workers: SipHash was an eighth of
/// the native time per event) and no clock read: a span's age is counted in ticks of the exporter's timer (see
/// [`HoldClock`]), and the spans held too long are found by a walk over those held, which the timer asks for every
/// `SWEEP_EVERY`.
#[derive(Default)]
struct HeldSpans {
  by_id: HashMap<Id, HeldSpan>,
  /// Spans held per trace, so that a root's end looks for its trace's open spans only when there are any.
  open_in_trace: HashMap<Id, u32>,
  clock: Arc<HoldClock>,
  /// The key of this exporter's entry in `HELD`.
  id: u64,
}

struct HeldSpan {
  span: fast::Held,
  trace: Id,
  seq: u64,
  root: bool,
  /// The clock's tick when the span started.
  born: u32,
}

/// The exporter's timer, shared with the JavaScript thread: it counts ticks of `SWEEP_EVERY` and says when the held
/// starts should be checked (when the thread is busy with events and does not get to the timer's own sweep).
#[derive(Default)]
struct HoldClock {
  ticks: AtomicU32,
  sweep: AtomicBool,
  /// Spans held, for the timer to skip an exporter holding none without a trip to the JavaScript thread.
  count: AtomicUsize,
}

/// A held start taken back, with the span's id: its ids go over with its text, so the worker need not read them.
type Taken = (Id, HeldSpan);

/// A span open this long is handed over as it stands.
const HOLD_FOR: Duration = Duration::from_secs(1);
/// How often the held starts are checked for spans open longer than `HOLD_FOR`.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// Ticks of `SWEEP_EVERY` after which a span has been open longer than `HOLD_FOR` (its start may fall anywhere
/// within its first tick).
const HOLD_TICKS: u32 = (HOLD_FOR.as_millis() / SWEEP_EVERY.as_millis()) as u32 + 1;
/// At most this many starts are held; beyond it the oldest are handed over, a tenth of the bound at a time.
const MAX_HELD: usize = 10_000;

impl HeldSpans {
  fn hold(&mut self, id: Id, trace: Id, seq: u64, span: fast::Held, root: bool) -> Option<Taken> {
    let born = self.clock.ticks.load(Ordering::Relaxed);
    let held = HeldSpan {
      span,
      trace,
      seq,
      root,
      born,
    };
    *self.open_in_trace.entry(held.trace.clone()).or_default() += 1;
    let again = match self.by_id.entry(id) {
      Entry::Occupied(mut e) => {
        let old = std::mem::replace(e.get_mut(), held);
        Some((e.key().clone(), old))
      }
      Entry::Vacant(e) => {
        e.insert(held);
        None
      }
    };
    if let Some((_, old)) = &again {
      self.closed(&old.trace.clone());
    }
    self.publish();
    again
  }

  fn publish(&self) {
    self.clock.count.store(self.by_id.len(), Ordering::Relaxed);
  }

  /// One span of `trace` is no longer held.
  fn closed(&mut self, trace: &str) {
    if let Some(n) = self.open_in_trace.get_mut(trace) {
      *n -= 1;
      if *n == 0 {
        self.open_in_trace.remove(trace);
      }
    }
  }

  fn take(&mut self, id: &str) -> Option<Taken> {
    let (id, held) = self.by_id.remove_entry(id)?;
    self.closed(&held.trace);
    self.publish();
    Some((id, held))
  }

  /// The spans of `trace` still held, in start order.
  fn take_trace(&mut self, trace: &str) -> Vec<Taken> {
    if !self.open_in_trace.contains_key(trace) {
      return Vec::new();
    }
    self.take_where(|h| *h.trace == *trace)
  }

  /// The held spans `pick` chooses, in start order.
  fn take_where(&mut self, pick: impl Fn(&HeldSpan) -> bool) -> Vec<Taken> {
    let ids: Vec<Id> = self
      .by_id
      .iter()
      .filter(|(_, h)| pick(h))
      .map(|(id, _)| id.clone())
      .collect();
    let mut out: Vec<Taken> = ids.iter().filter_map(|id| self.take(id)).collect();
    out.sort_by_key(|(_, h)| h.seq);
    out
  }

  /// True when the held starts should be checked now: the timer asked, or more than `MAX_HELD` are held.
  fn due(&self) -> bool {
    self.by_id.len() > MAX_HELD || self.clock.sweep.load(Ordering::Relaxed)
  }

  /// Spans held longer than `HOLD_FOR` (all with `all`), and the oldest beyond `MAX_HELD`, in start order.
  fn take_due(&mut self, all: bool) -> Vec<Taken> {
    self.clock.sweep.store(false, Ordering::Relaxed);
    if all {
      return self.take_where(|_| true);
    }
    let now = self.clock.ticks.load(Ordering::Relaxed);
    let mut out = self.take_where(|h| now.wrapping_sub(h.born) >= HOLD_TICKS);
    if self.by_id.len() > MAX_HELD {
      // The oldest, down to nine tenths of the bound, so that the next ones held do not each pay for a walk.
      let mut seqs: Vec<u64> = self.by_id.values().map(|h| h.seq).collect();
      let n = self.by_id.len() - MAX_HELD * 9 / 10;
      let (_, last, _) = seqs.select_nth_unstable(n - 1);
      let last = *last;
      out.extend(self.take_where(|h| h.seq <= last));
      out.sort_by_key(|(_, h)| h.seq);
    }
    out
  }
}

thread_local! {
  /// The held starts of every exporter on this thread, for the periodic sweep that runs through the host.
  static HELD: RefCell<HashMap<u64, Registered>> = RefCell::new(HashMap::default());
}

type Registered = (
  Weak<RefCell<HeldSpans>>,
  std::sync::Weak<TccExporter>,
  std::sync::Weak<Host>,
);

static NEXT_EXPORTER_ID: AtomicU64 = AtomicU64::new(1);

/// How many bad-input lines are printed before the exporter goes quiet (the counter keeps counting).
const MAX_INPUT_WARNINGS: u64 = 10;

/// How often one exporter flushes at `beforeExit`.
const MAX_EXIT_FLUSHES: u64 = 3;

#[napi]
impl JsTccMastraExporter {
  /// Throws `Missing API key: ...` without a key, and `[TCC] Refusing ...` / `[TCC] Invalid ...` for a URL that may
  /// not receive the key.
  #[napi(constructor)]
  pub fn new(env: &Env, options: Option<JsTccOptions>) -> Result<Self> {
    let config = TccOptions::from(options.unwrap_or_default())
      .resolve(&ProcessEnv)
      .map_err(|e| Error::new(Status::InvalidArg, e.to_string()))?;
    let (host, busy, sink) = Host::new(env)?;
    let debug = config.debug;
    let log = Logger::new(sink, debug);
    let inner = Arc::new(TccExporter::start(config, log, busy.clone()));
    let id = NEXT_EXPORTER_ID.fetch_add(1, Ordering::Relaxed);
    let clock = Arc::new(HoldClock::default());
    let held = (!debug).then(|| {
      Rc::new(RefCell::new(HeldSpans {
        id,
        clock: clock.clone(),
        ..HeldSpans::default()
      }))
    });
    if let Some(held) = &held {
      let entry = (Rc::downgrade(held), Arc::downgrade(&inner), Arc::downgrade(&host));
      HELD.with(|h| h.borrow_mut().insert(id, entry));
      // The clock ticks; spans open past `HOLD_FOR` are handed over even when no further event arrives to notice
      // them.
      let host = Arc::downgrade(&host);
      runtime::handle().spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
          tick.tick().await;
          let Some(host) = host.upgrade() else { break };
          clock.ticks.fetch_add(1, Ordering::Relaxed);
          if clock.count.load(Ordering::Relaxed) > 0 {
            clock.sweep.store(true, Ordering::Relaxed);
            host.run_on_js(Box::new(move |env| sweep(env, id)));
          }
        }
      });
    }
    let weak = Arc::downgrade(&inner);
    let held_weak = held.as_ref().map(Rc::downgrade);
    let rounds = AtomicU64::new(0);
    host::on_before_exit(
      env,
      Box::new(move |env| {
        let exporter = weak.upgrade()?;
        if let Some(held) = held_weak.as_ref().and_then(Weak::upgrade) {
          hand_over(env, &exporter, held.borrow_mut().take_due(true));
        }
        // A few rounds at most: `beforeExit` fires again after each flush.
        let exporter = Some(exporter).filter(|e| e.has_unsent())?;
        if rounds.fetch_add(1, Ordering::Relaxed) >= MAX_EXIT_FLUSHES {
          return None;
        }
        Some(Box::pin(async move {
          exporter.flush(None).await;
        }))
      }),
    )?;
    Ok(Self {
      core: Rc::new(Core {
        inner,
        host,
        warned: AtomicU64::new(0),
        held,
      }),
      _busy: busy,
      direct: host::DirectState::default(),
    })
  }

  /// `"tcc-mastra-exporter"`.
  #[napi(getter)]
  pub fn name(&self) -> &'static str {
    "tcc-mastra-exporter"
  }

  /// The URL runs are sent to.
  #[napi(getter)]
  pub fn endpoint(&self) -> String {
    self.core.inner.endpoint().to_string()
  }

  /// Called by Mastra with `{ mastra, config }` (1.x) or the tracing config itself (0.24). Only reads the service name,
  /// for the debug log.
  #[napi(ts_args_type = "options?: { config?: { serviceName?: string } } | { serviceName?: string }")]
  pub fn init(&self, options: Option<Unknown<'_>>) {
    let log = self.core.inner.logger();
    if !log.debug_enabled() {
      return;
    }
    let name = options
      .and_then(host::service_name)
      .unwrap_or_else(|| "unknown".to_string());
    log.debug(|| format!("[TCC] Initialized for service: {name}"));
    log.debug(|| format!("[TCC] Endpoint: {}", self.core.inner.endpoint()));
  }

  /// Mastra 1.x entry point. Serialises the span once and queues it; never throws, never waits. Returns an
  /// already-resolved promise.
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
    self.core.guarded(env, event);
    host::resolved(env)
  }

  /// Mastra 0.24 entry point; the same handler as `exportTracingEvent`.
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
    self.core.guarded(env, event);
    host::resolved(env)
  }

  /// The same handler as `exportTracingEvent`, returning nothing. Mastra 1.x calls it in preference to
  /// `exportTracingEvent`, and then has no promise to track for the event. When `exportTracingEvent` is overridden
  /// (a subclass), it calls the override instead.
  #[napi(ts_args_type = "event: { type: string; exportedSpan: object }")]
  pub fn on_tracing_event(&self, env: &Env, this: This<'_>, event: Unknown<'_>) {
    if self
      .direct
      .enter(env, &this, c"onTracingEvent", event, || self.go_direct(env, &this))
      .is_some()
    {
      return;
    }
    host::on_tracing_event(env, &this, &self.direct, event, || self.core.guarded(env, event));
  }

  /// Sends every buffered run (also those whose root has not ended) and resolves once every request started so far
  /// has been delivered or given up, or after `timeoutMs` (default `flushTimeoutMs`). Never rejects.
  // Typed `Promise<any>` so the class stays assignable to Mastra's `flush(): Promise<void>`; it resolves with a
  // `FlushResult`.
  #[napi(ts_return_type = "Promise<any>")]
  pub fn flush<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> Result<PromiseRaw<'env, JsFlushReport>> {
    if let Some(held) = &self.core.held {
      let all = held.borrow_mut().take_due(true);
      self.core.hand_over(env, all);
    }
    let inner = self.core.inner.clone();
    let timeout = host::millis(timeout_ms);
    env.spawn_future(async move { Ok(JsFlushReport::from(inner.flush(timeout).await)) })
  }

  /// Same as `flush()`: Mastra 0.24 never calls `flush`, so shutting down drains. Harmless to call twice; the
  /// exporter stays usable.
  // Typed `Promise<any>` so the class stays assignable to Mastra's `flush(): Promise<void>`; it resolves with a
  // `FlushResult`.
  #[napi(ts_return_type = "Promise<any>")]
  pub fn shutdown<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> Result<PromiseRaw<'env, JsFlushReport>> {
    self.flush(env, timeout_ms)
  }

  /// Counters since construction.
  #[napi]
  pub fn stats(&self) -> JsTccStats {
    let s = self.core.inner.stats();
    let n = |v: u64| v as f64;
    JsTccStats {
      events: n(s.events),
      invalid_events: n(s.invalid_events),
      runs_exported: n(s.runs_exported),
      spans_exported: n(s.spans_exported),
      runs_failed: n(s.runs_failed),
      requests: n(s.requests),
      retries: n(s.retries),
      bytes_sent: n(s.bytes_sent),
      pending: n(s.pending),
      event_spans_kept: n(s.buffer.event_spans_kept),
      late_spans: n(s.buffer.late_spans),
      early_exports: n(s.buffer.early_exports),
      ttl_exports: n(s.buffer.ttl_exports),
      spans_failed: n(s.spans_failed),
      failed_status: n(s.failed_status),
      failed_network: n(s.failed_network),
      dropped_queue_full: n(s.dropped_queue_full),
      dropped_backlog_full: n(s.dropped_backlog_full),
      dropped_event_spans: n(s.buffer.event_spans_dropped),
      panics: n(s.panics),
      queue_depth: n(s.queue_depth),
      in_flight: n(s.in_flight),
      buffered_traces: n(s.buffered_traces),
      splits: n(s.splits),
    }
  }

  /// Mastra hands exporters its logger; this exporter prints to the console like the reference, so it is ignored.
  #[napi(js_name = "__setLogger", ts_args_type = "logger: unknown")]
  pub fn set_logger(&self, _logger: Unknown<'_>) {}
}

impl JsTccMastraExporter {
  /// Defines `exportTracingEvent`, `exportEvent` and `onTracingEvent` on this instance as direct entry points, once.
  fn go_direct(&self, env: &Env, this: &This<'_>) {
    let failures = host::go_direct(env, this, &self.direct, || {
      [
        (c"exportTracingEvent", true),
        (c"exportEvent", true),
        (c"onTracingEvent", false),
      ]
      .into_iter()
      .map(|(name, promise)| {
        let core = self.core.clone();
        // Debug mode logs every event as it comes, in the native handler.
        let wrapper = core.held.is_some().then(|| (ENTRY_WRAPPER, core.wrapper_natives()));
        host::Direct {
          name,
          promise,
          handle: move |env: &Env, event: Unknown<'_>| core.guarded(env, event),
          wrapper,
        }
      })
      .collect()
    });
    for e in failures {
      self
        .core
        .inner
        .logger()
        .debug(|| format!("[TCC] Kept the class method {e}"));
    }
  }
}

impl Core {
  /// A panic never unwinds into Node: it is contained here and counted.
  fn guarded(&self, env: &Env, event: Unknown<'_>) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(env, event))).is_err() {
      self.inner.count_panic();
    }
  }

  fn handle(&self, env: &Env, event: Unknown<'_>) {
    let Some(held) = &self.held else {
      // Debug mode logs every start as it happens: nothing is held back.
      match host::read_event(env, event, |_| true) {
        Ok(Some((kind, json))) => self.push(env, kind, json),
        Ok(None) => {}
        Err(problem) => self.invalid(problem),
      }
      return;
    };
    let result = host::read_kind(env, event).and_then(|(kind, span)| {
      let raw = env.raw();
      let id = || Ok::<_, String>(fast::id(raw, fast::get(raw, span, Key::Id)?));
      let root = || Ok::<_, String>(fast::is_true(raw, fast::get(raw, span, Key::IsRootSpan)?));
      let trace = || Ok::<_, String>(fast::id(raw, fast::get(raw, span, Key::TraceId)?));
      match kind {
        EventKind::Started => {
          let root = root()?;
          self.on_start(env, held, span, root, id()?, trace()?)
        }
        EventKind::Updated => self.on_update(env, held, span, id()?),
        EventKind::Ended => {
          let id = id()?;
          let root = root()?;
          let trace = if root { trace()? } else { None };
          let json = host::span_json(env, span).map(|json| (json, Dates::NONE));
          self.on_end(env, held, json, root, id, trace)
        }
      }
    });
    self.after(env, held, result);
  }

  /// What every event ends with: a problem reported, and the starts held too long handed over.
  fn after(&self, env: &Env, held: &RefCell<HeldSpans>, result: StdResult<(), String>) {
    if let Err(problem) = result {
      self.invalid(problem);
    }
    let due = {
      let mut h = held.borrow_mut();
      if h.due() { h.take_due(false) } else { Vec::new() }
    };
    self.hand_over(env, due);
  }

  /// The native functions the entry point's JavaScript wrapper calls: `hold(span, id, traceId)`, `update(span, id)`,
  /// `end(json, span, isRoot, narrow, dates)` (`dates`: which Dates the text carries as epoch milliseconds, see
  /// [`crate::dates`]), `begin(json, narrow)` (a start handed over at once) and
  /// `rooted(span, id, traceId, metadataJson, narrow)` (a root's start).
  fn wrapper_natives(self: &Rc<Self>) -> Vec<fast::Entry> {
    vec![
      self.native(|core, env, held, a| {
        core.on_start(
          env,
          held,
          a[0],
          false,
          fast::id(env.raw(), a[1]),
          fast::id(env.raw(), a[2]),
        )
      }),
      self.native(|core, env, held, a| core.on_update(env, held, a[0], fast::id(env.raw(), a[1]))),
      self.native(|core, env, held, a| {
        let raw = env.raw();
        let json = text(raw, a[0], a[3]);
        let root = fast::is_true(raw, a[2]);
        // The ids from the text's opening, as Mastra's spans serialise; else from the span.
        let (id, trace) = match json.as_ref().ok().and_then(SpanText::leading_ids) {
          Some((id, trace)) => (Some(id), root.then_some(trace)),
          None => {
            let id = fast::id(raw, fast::get(raw, a[1], Key::Id)?);
            let trace = if root {
              fast::id(raw, fast::get(raw, a[1], Key::TraceId)?)
            } else {
              None
            };
            (id, trace)
          }
        };
        let json = json.map(|json| (json, Dates::from_bits(fast::uint(raw, a[4]))));
        core.on_end(env, held, json, root, id, trace)
      }),
      self.native(|core, env, _, a| {
        core.push(env, EventKind::Started, text(env.raw(), a[0], a[1])?);
        Ok(())
      }),
      self.native(|core, env, held, a| {
        let raw = env.raw();
        let (id, trace) = (fast::id(raw, a[1]), fast::id(raw, a[2]));
        core.on_root_start(env, held, a[0], id, trace, a[3], a[4])
      }),
    ]
  }

  /// A native function for the wrapper that runs `step` with its arguments (see [`Core::wrapped`]).
  fn native(self: &Rc<Self>, step: WrappedStep) -> fast::Entry {
    let core = self.clone();
    Box::new(move |raw, args| {
      core.wrapped(raw, |env, held| step(&core, env, held, args));
      std::ptr::null_mut()
    })
  }

  /// The entry point's JavaScript wrapper read the event: runs the step its kind calls for, with the fields it read.
  /// A panic is contained and counted.
  fn wrapped(&self, env: napi::sys::napi_env, step: impl FnOnce(&Env, &RefCell<HeldSpans>) -> StdResult<(), String>) {
    let Some(held) = &self.held else { return };
    let env = Env::from_raw(env);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
      let result = step(&env, held);
      self.after(&env, held, result);
    }));
    if caught.is_err() {
      self.inner.count_panic();
    }
  }

  /// A span starts: a root is handed over at once (its run id and metadata are read at its start); any other span
  /// is held until it ends.
  fn on_start(
    &self,
    env: &Env,
    held: &RefCell<HeldSpans>,
    span: napi::sys::napi_value,
    root: bool,
    id: Option<Id>,
    trace: Option<Id>,
  ) -> StdResult<(), String> {
    let raw = env.raw();
    match (root, id, trace) {
      (false, Some(id), Some(trace)) => {
        self.inner.count_event();
        let seq = self.inner.next_seq();
        let reference = fast::Held::new(raw, span)?;
        let again = held.borrow_mut().hold(id, trace, seq, reference, false);
        // The same span started twice: the first start goes over as it stands.
        self.hand_over(env, again.into_iter().collect());
        Ok(())
      }
      _ => self.push_span(env, EventKind::Started, span),
    }
  }

  /// A root starts: its start is held like any other, and the trace takes its run id and metadata now, from the
  /// metadata's JSON the wrapper made (`metadata`, not a string when the root has none). A root whose ids JSON would
  /// escape is handed over whole instead.
  #[allow(clippy::too_many_arguments)]
  fn on_root_start(
    &self,
    env: &Env,
    held: &RefCell<HeldSpans>,
    span: napi::sys::napi_value,
    id: Option<Id>,
    trace: Option<Id>,
    metadata: napi::sys::napi_value,
    narrow: napi::sys::napi_value,
  ) -> StdResult<(), String> {
    let raw = env.raw();
    let keys = id.zip(trace).map(|(id, trace)| SpanKeys { id, trace });
    let Some((keys, (_, trace_json))) = keys.and_then(|k| k.raw().map(|r| (k, r))) else {
      return self.push_span(env, EventKind::Started, span);
    };
    let metadata = match fast::type_of(raw, metadata)? {
      napi::sys::ValueType::napi_string => fast::span_text(raw, metadata, narrow),
      _ => None,
    };
    self.inner.count_event();
    let seq = self.inner.next_seq();
    let reference = fast::Held::new(raw, span)?;
    let again = held.borrow_mut().hold(keys.id, keys.trace, seq, reference, true);
    self.hand_over(env, again.into_iter().collect());
    if self.inner.push_root(trace_json, metadata) {
      self.host.hold(env);
    }
    Ok(())
  }

  /// A held span's update replaces the object held; any other update is handed over.
  fn on_update(
    &self,
    env: &Env,
    held: &RefCell<HeldSpans>,
    span: napi::sys::napi_value,
    id: Option<Id>,
  ) -> StdResult<(), String> {
    let raw = env.raw();
    if let Some(id) = id
      && held.borrow().by_id.contains_key(&id)
    {
      self.inner.count_event();
      let reference = fast::Held::new(raw, span)?;
      let old = held
        .borrow_mut()
        .by_id
        .get_mut(&id)
        .map(|h| std::mem::replace(&mut h.span, reference));
      if let Some(old) = old {
        old.release(raw);
      }
      return Ok(());
    }
    self.push_span(env, EventKind::Updated, span)
  }

  /// A span ends: serialised once (with the Dates its text carries as epoch milliseconds), and handed over at its
  /// start's place. A root's end first hands over the spans of its trace still open.
  fn on_end(
    &self,
    env: &Env,
    held: &RefCell<HeldSpans>,
    json: StdResult<(SpanText, Dates), String>,
    root: bool,
    id: Option<Id>,
    trace: Option<Id>,
  ) -> StdResult<(), String> {
    let start = id.and_then(|id| held.borrow_mut().take(&id));
    if root && let Some(trace) = trace {
      let open = held.borrow_mut().take_trace(&trace);
      self.hand_over(env, open);
    }
    let Some((id, start)) = start else {
      let (json, dates) = json?;
      if self.inner.push_dated(EventKind::Ended, json, dates) {
        self.host.hold(env);
      }
      return Ok(());
    };
    self.inner.count_event();
    start.span.release(env.raw());
    let at = Arrival {
      seq: start.seq,
      started_earlier: true,
    };
    // A root (by its start or its end) is read from its JSON: the worker needs more of it than its ids.
    let keys = (!root && !start.root).then_some(SpanKeys { id, trace: start.trace });
    let (json, dates) = json?;
    if self.inner.push_keyed(EventKind::Ended, json, dates, at, keys) {
      self.host.hold(env);
    }
    Ok(())
  }

  fn push_span(&self, env: &Env, kind: EventKind, span: napi::sys::napi_value) -> StdResult<(), String> {
    let json = host::span_json(env, span)?;
    self.push(env, kind, json);
    Ok(())
  }

  fn push(&self, env: &Env, kind: EventKind, json: SpanText) {
    if self.inner.push(kind, json) {
      self.host.hold(env);
    }
  }

  fn hand_over(&self, env: &Env, spans: Vec<Taken>) {
    if hand_over(env, &self.inner, spans) {
      self.host.hold(env);
    }
  }

  fn invalid(&self, problem: String) {
    self.inner.count_invalid();
    let n = self.warned.fetch_add(1, Ordering::Relaxed);
    if n < MAX_INPUT_WARNINGS {
      let more = if n + 1 == MAX_INPUT_WARNINGS {
        " (further such events are counted in stats())"
      } else {
        ""
      };
      self
        .inner
        .logger()
        .error(format!("[TCC] Ignored a tracing event: {problem}{more}"));
    }
  }
}

type StdResult<T, E> = std::result::Result<T, E>;

/// One step of the entry point's JavaScript wrapper, with the arguments it passed.
type WrappedStep =
  fn(&Core, &Env, &RefCell<HeldSpans>, &[napi::sys::napi_value; fast::MAX_ARGS]) -> StdResult<(), String>;

/// Span JSON the entry point's JavaScript wrapper made.
fn text(
  env: napi::sys::napi_env,
  json: napi::sys::napi_value,
  narrow: napi::sys::napi_value,
) -> StdResult<SpanText, String> {
  fast::span_text(env, json, narrow).ok_or_else(|| "the span text is not a string".to_string())
}

/// The JavaScript side of the entry points (outside debug mode): see the file.
const ENTRY_WRAPPER: &str = include_str!("tcc_entry.js");

/// Serialises held spans as they stand now and hands them over as their starts. True when the exporter was idle.
fn hand_over(env: &Env, exporter: &TccExporter, spans: Vec<Taken>) -> bool {
  let mut was_idle = false;
  for (id, held) in spans {
    let json = held.span.value(env.raw()).and_then(|span| host::span_json(env, span));
    held.span.release(env.raw());
    match json {
      Ok(json) => {
        let at = Arrival {
          seq: held.seq,
          started_earlier: false,
        };
        let keys = (!held.root).then_some(SpanKeys { id, trace: held.trace });
        was_idle |= exporter.push_keyed(EventKind::Started, json, Dates::NONE, at, keys);
      }
      Err(problem) => {
        exporter.count_invalid();
        exporter.logger().error(format!(
          "[TCC] Ignored the start of a span that is still open: {problem}"
        ));
      }
    }
  }
  was_idle
}

/// The periodic check of one exporter's held starts, on the JavaScript thread.
fn sweep(env: &Env, id: u64) {
  let Some((held, exporter, host)) = HELD.with(|h| {
    let h = h.borrow();
    let (held, exporter, host) = h.get(&id)?;
    Some((held.upgrade()?, exporter.upgrade()?, host.upgrade()?))
  }) else {
    return;
  };
  let due = {
    let mut h = held.borrow_mut();
    // Events may have done it already.
    if h.due() { h.take_due(false) } else { Vec::new() }
  };
  if hand_over(env, &exporter, due) {
    host.hold(env);
  }
}

impl ObjectFinalize for JsTccMastraExporter {
  /// Lets go of the span objects still held when the exporter itself is collected.
  fn finalize(self, env: Env) -> Result<()> {
    if let Some(held) = &self.core.held {
      let mut h = held.borrow_mut();
      for (_, span) in h.by_id.drain() {
        span.span.release(env.raw());
      }
      h.open_in_trace.clear();
      h.publish();
      let _ = HELD.try_with(|registry| registry.borrow_mut().remove(&h.id));
    }
    Ok(())
  }
}

/// What `submitFeedback` resolves with: a real `Response` built from the server's answer, or `undefined`.
pub struct JsFeedbackResponse(Option<FeedbackResponse>);

impl ToNapiValue for JsFeedbackResponse {
  unsafe fn to_napi_value(raw_env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
    let Some(val) = val.0 else {
      return unsafe { ToNapiValue::to_napi_value(raw_env, ()) };
    };
    let env = Env::from_raw(raw_env);
    let global = env.get_global()?;
    let ctor: Function<FnArgs<(Option<String>, Object)>, Unknown> = global.get_named_property("Response")?;
    let mut init = Object::new(&env)?;
    init.set("status", val.status)?;
    init.set("statusText", val.status_text)?;
    // 204, 205 and 304 must not carry a body.
    let body = (!matches!(val.status, 204 | 205 | 304)).then_some(val.body);
    let response = ctor.new_instance(FnArgs::from((body, init)))?;
    unsafe { ToNapiValue::to_napi_value(env.raw(), response) }
  }
}

/// Sends user feedback for a run: `{ runId, score?: 'thumbs_up' | 'thumbs_down', text? }`. The key comes from
/// `TCC_API_KEY`, the URL from `TCC_FEEDBACK_URL`, `TCC_BASE_URL` or the key's origin, plus `/v1/feedback`.
/// Resolves with the `Response`, or `undefined` after logging why nothing was sent. Rejects only for an unsafe or
/// invalid `TCC_FEEDBACK_URL`.
#[napi(
  ts_args_type = "args: { runId: string; score?: 'thumbs_up' | 'thumbs_down'; text?: string }",
  ts_return_type = "Promise<Response | undefined>"
)]
pub fn submit_feedback<'env>(env: &'env Env, args: Unknown<'env>) -> Result<PromiseRaw<'env, JsFeedbackResponse>> {
  let json = host::stringify(env, args)
    .ok()
    .flatten()
    .map_or_else(|| "{}".to_string(), SpanText::into_string);
  let log = Logger::new(Host::console_only(env)?, false);
  let prepared = feedback::prepare(&json, &ProcessEnv, &log);
  env.spawn_future(async move {
    match prepared {
      Ok(req) => Ok(JsFeedbackResponse(feedback::send(req, &log).await)),
      Err(Refusal::Logged) => Ok(JsFeedbackResponse(None)),
      Err(Refusal::Url(e)) => Err(Error::new(Status::InvalidArg, e.to_string())),
    }
  })
}
