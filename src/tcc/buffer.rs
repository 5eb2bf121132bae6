//! The per-trace buffer of the TCC exporter: a pure state machine with no I/O.
//!
//! Semantics of `@contextcompany/mastra` 2.0.0:
//! - a trace buffer holds spans in `span_started` arrival order; updates and ends replace a span by `id` in place;
//! - the run id (`tcc.runId` or a v4 UUID) and a copy of the root metadata are frozen when the root starts;
//! - the root's end exports the trace, dequeuing it before anything is sent, so nothing is ever sent twice;
//! - `flush` exports every remaining trace.
//!
//! Where the reference loses data, this buffer does better (each case is logged once with a `[TCC]` line):
//! - spans that end without a start (Mastra event spans, rebuilt spans) are kept, in arrival order, unless
//!   `include_event_spans` is off;
//! - spans that arrive after their trace was exported still get that trace's run id and metadata;
//! - the buffer is bounded in traces and bytes: at the bound the oldest trace is sent early rather than dropped;
//! - a trace that sees no event for `trace_ttl` is sent instead of being held forever.

use super::span::{SpanHead, has_run_id, tcc_run_id, with_run_id};
use crate::log::Logger;
pub use crate::pipeline::EventKind;
use crate::text::Id;
use foldhash::HashMap;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Limits and switches of the buffer.
#[derive(Debug, Clone)]
pub struct BufferLimits {
  pub max_traces: usize,
  pub max_bytes: usize,
  pub trace_ttl: Duration,
  pub include_event_spans: bool,
}

/// Default number of traces held at once.
pub const DEFAULT_MAX_BUFFERED_TRACES: usize = 1_000;
/// Default bytes of span JSON held at once.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;
/// Default idle time after which a trace whose root never ended is sent.
pub const DEFAULT_TRACE_TTL: Duration = Duration::from_secs(10 * 60);
/// How many exported traces are remembered, so late spans still get their run id.
const RECENT_RUNS: usize = 1_024;

impl Default for BufferLimits {
  fn default() -> Self {
    Self {
      max_traces: DEFAULT_MAX_BUFFERED_TRACES,
      max_bytes: DEFAULT_MAX_BUFFERED_BYTES,
      trace_ttl: DEFAULT_TRACE_TTL,
      include_event_spans: true,
    }
  }
}

/// Why a trace was exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportReason {
  RootEnded,
  Flush,
  Ttl,
  BufferFull,
}

/// One run, ready to POST.
#[derive(Debug, Clone)]
pub struct TraceExport {
  /// Raw JSON of the run id, when the trace had a root start.
  pub run_id: Option<String>,
  /// The request body, exactly as the reference's `JSON.stringify(payload)`.
  pub body: String,
  pub span_count: usize,
  pub reason: ExportReason,
}

impl TraceExport {
  /// The run id as the reference prints it in log lines.
  pub fn run_id_text(&self) -> String {
    match &self.run_id {
      Some(r) => serde_json::from_str::<String>(r).unwrap_or_else(|_| r.clone()),
      None => "undefined".to_string(),
    }
  }
}

/// What the buffer takes from one span, owned so the span's JSON can move into the buffer.
struct SpanInfo {
  trace_id: Option<String>,
  span_id: Option<String>,
  is_root: bool,
  tcc_run_id: Option<String>,
  metadata: Option<String>,
  /// `<type> span: <name>`, only built when debug logging is on.
  label: String,
}

/// The ids of a span that is not a root, as the JavaScript thread read them from the span object. With them the span's
/// JSON need not be read at all (a span's text is most of what the worker handles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanKeys {
  pub id: Id,
  pub trace: Id,
}

impl SpanKeys {
  /// The ids as the raw JSON `JSON.stringify` writes (id, trace id), when that is just the text in quotes (ids are
  /// hex in practice).
  pub fn raw(&self) -> Option<(String, String)> {
    let plain = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    let quoted = |s: &str| {
      let mut q = String::with_capacity(s.len() + 2);
      q.push('"');
      q.push_str(s);
      q.push('"');
      q
    };
    (plain(&self.id) && plain(&self.trace)).then(|| (quoted(&self.id), quoted(&self.trace)))
  }
}

impl SpanInfo {
  /// What the buffer needs of a span: from its keys when they were read already and nothing else is needed (not a
  /// root, no debug label), otherwise from its JSON.
  fn read(json: &str, kind: EventKind, debug: bool, keys: Option<&SpanKeys>) -> Result<Self, super::span::SpanError> {
    // Text from `JSON.stringify` is valid JSON, so one that opens and closes with braces is an object; anything
    // else (a span whose `toJSON` gave something odd) is read, and refused, below.
    let object = json.starts_with('{') && json.ends_with('}');
    if !debug
      && object
      && let Some((span_id, trace_id)) = keys.and_then(SpanKeys::raw)
    {
      return Ok(Self {
        trace_id: Some(trace_id),
        span_id: Some(span_id),
        is_root: false,
        tcc_run_id: None,
        metadata: None,
        label: String::new(),
      });
    }
    let head = SpanHead::parse(json)?;
    let root_start = kind != EventKind::Updated && head.is_root();
    Ok(Self {
      trace_id: head.trace_id.map(str::to_string),
      span_id: head.id.map(str::to_string),
      is_root: head.is_root(),
      tcc_run_id: if root_start { head.tcc_run_id() } else { None },
      metadata: if root_start {
        head.metadata_object().map(str::to_string)
      } else {
        None
      },
      label: if debug {
        format!("{} span: {}", head.type_text(), head.name_text())
      } else {
        String::new()
      },
    })
  }
}

/// One span held in a trace.
#[derive(Debug)]
struct Buffered {
  /// Its place in the start order.
  seq: u64,
  /// Raw JSON of its id.
  id: Option<String>,
  json: String,
  /// Whether the JSON has a top-level `runId` key (rare: the payload then rewrites that key in place).
  has_run_id: bool,
}

#[derive(Debug)]
struct Trace {
  /// Raw JSON of `traceId` (None when the span had none).
  trace_id: Option<String>,
  run_id: Option<String>,
  metadata: Option<String>,
  /// Spans in start order.
  spans: Vec<Buffered>,
  index: HashMap<String, usize>,
  bytes: usize,
  last_event: Instant,
  seq: u64,
}

/// Counters the buffer keeps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BufferCounters {
  pub invalid_spans: u64,
  pub event_spans_kept: u64,
  pub event_spans_dropped: u64,
  pub late_spans: u64,
  pub early_exports: u64,
  pub ttl_exports: u64,
}

/// The buffer of all traces of one exporter.
#[derive(Debug)]
pub struct TraceBuffer {
  limits: BufferLimits,
  traces: HashMap<String, Trace>,
  recent: HashMap<String, (Option<String>, Option<String>)>,
  recent_order: VecDeque<String>,
  bytes: usize,
  seq: u64,
  log: Logger,
  pub counters: BufferCounters,
  new_run_id: fn() -> String,
  /// Numbers the events of callers that do not number them (`on_event`).
  arrivals: u64,
}

/// Where an event stands in the order of span starts, which is the order spans are sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
  /// The span's place: its start for a started span, its arrival for a span that never started.
  pub seq: u64,
  /// An `Ended` event of a span whose start was seen but not sent over (it ended before it had to be serialised).
  pub started_earlier: bool,
}

fn uuid_v4_json() -> String {
  format!("\"{}\"", uuid::Uuid::new_v4())
}

impl TraceBuffer {
  pub fn new(limits: BufferLimits, log: Logger) -> Self {
    Self {
      limits,
      traces: HashMap::default(),
      recent: HashMap::default(),
      recent_order: VecDeque::new(),
      bytes: 0,
      seq: 0,
      log,
      counters: BufferCounters::default(),
      new_run_id: uuid_v4_json,
      arrivals: 0,
    }
  }

  pub fn trace_count(&self) -> usize {
    self.traces.len()
  }

  pub fn buffered_bytes(&self) -> usize {
    self.bytes
  }

  /// Applies one event in arrival order. Returns the runs that became ready to send.
  pub fn on_event(&mut self, kind: EventKind, json: String, now: Instant) -> Vec<TraceExport> {
    self.arrivals += 1;
    let arrival = Arrival {
      seq: self.arrivals,
      started_earlier: false,
    };
    self.on_event_at(kind, json, now, arrival)
  }

  /// Applies one event at its place in the start order. Returns the runs that became ready to send.
  pub fn on_event_at(&mut self, kind: EventKind, json: String, now: Instant, at: Arrival) -> Vec<TraceExport> {
    self.on_event_keyed(kind, json, now, at, None)
  }

  /// As [`TraceBuffer::on_event_at`], for a span whose keys were read already (see [`SpanKeys`]).
  pub fn on_event_keyed(
    &mut self,
    kind: EventKind,
    json: String,
    now: Instant,
    at: Arrival,
    keys: Option<&SpanKeys>,
  ) -> Vec<TraceExport> {
    let info = match SpanInfo::read(&json, kind, self.log.debug_enabled(), keys) {
      Ok(i) => i,
      Err(e) => {
        self.counters.invalid_spans += 1;
        self.log.error(format!("[TCC] Dropped a malformed span event: {e}"));
        return Vec::new();
      }
    };
    let key = info.trace_id.clone().unwrap_or_default();
    let mut out = Vec::new();
    match kind {
      EventKind::Started => {
        self.trace_entry(&key, info.trace_id.as_deref(), now);
        if info.is_root {
          self.begin_run(&key, info.tcc_run_id.clone(), info.metadata.clone());
        }
        self.log.debug(|| format!("[TCC] Started {}", info.label));
        // A repeated start of a span already buffered replaces it in place (the reference would send it twice).
        if let Err(json) = self.replace(&key, info.span_id.as_deref(), json, now) {
          self.append(&key, at.seq, info.span_id, json, now);
        }
      }
      EventKind::Updated => {
        let _ = self.replace(&key, info.span_id.as_deref(), json, now);
      }
      EventKind::Ended => {
        self.log.debug(|| format!("[TCC] Ended {}", info.label));
        if let Err(json) = self.replace(&key, info.span_id.as_deref(), json, now) {
          if at.started_earlier {
            self.trace_entry(&key, info.trace_id.as_deref(), now);
            self.append(&key, at.seq, info.span_id.clone(), json, now);
          } else {
            self.keep_unstarted(&key, info.trace_id.as_deref(), at.seq, info.span_id.clone(), json, now);
          }
        }
        // A root that ends without having started (a rebuilt or resumed run) still names its run.
        if info.is_root
          && let Some(trace) = self.traces.get_mut(&key)
          && trace.run_id.is_none()
        {
          trace.run_id = Some(info.tcc_run_id.clone().unwrap_or_else(self.new_run_id));
          trace.metadata = info.metadata.clone();
        }
        if info.is_root
          && let Some(export) = self.take(&key, ExportReason::RootEnded)
        {
          out.push(export);
        }
      }
    }
    out.extend(self.enforce_limits());
    out
  }

  /// A root span started and its start is held back until it ends: the trace takes its run id and metadata now,
  /// from the root's metadata (raw JSON, as `JSON.stringify(span.metadata)` wrote it), as at a root's start.
  /// `trace_id` is raw JSON.
  pub fn on_root_started(&mut self, trace_id: &str, metadata: Option<&str>, now: Instant) -> Vec<TraceExport> {
    self.trace_entry(trace_id, Some(trace_id), now);
    let metadata = metadata.filter(|m| m.starts_with('{'));
    self.begin_run(trace_id, metadata.and_then(tcc_run_id), metadata.map(str::to_string));
    self.enforce_limits()
  }

  /// The trace's run id (`tcc.runId`, else a new UUID) and metadata, frozen at its first root start.
  fn begin_run(&mut self, key: &str, tcc_run_id: Option<String>, metadata: Option<String>) {
    let new_run_id = self.new_run_id;
    let Some(trace) = self.traces.get_mut(key) else { return };
    if trace.run_id.is_some() {
      return;
    }
    let run = trace.run_id.insert(tcc_run_id.unwrap_or_else(new_run_id));
    if self.log.debug_enabled() {
      self
        .log
        .debug(|| format!("[TCC] Run ID {} for trace {}", run_text(Some(run)), key_text(key)));
      if let Some(meta) = &metadata {
        self.log.debug_with("[TCC] Metadata:", || pretty(meta));
      }
    }
    trace.metadata = metadata;
  }

  /// Exports every buffered trace (`flush()` / `shutdown()`).
  pub fn drain(&mut self) -> Vec<TraceExport> {
    let mut keys: Vec<(u64, String)> = self.traces.iter().map(|(k, t)| (t.seq, k.clone())).collect();
    keys.sort();
    keys
      .into_iter()
      .filter_map(|(_, k)| self.take(&k, ExportReason::Flush))
      .collect()
  }

  /// Exports traces idle for longer than the TTL.
  pub fn expire(&mut self, now: Instant) -> Vec<TraceExport> {
    let ttl = self.limits.trace_ttl;
    let mut idle: Vec<(u64, String)> = self
      .traces
      .iter()
      .filter(|(_, t)| now.saturating_duration_since(t.last_event) >= ttl)
      .map(|(k, t)| (t.seq, k.clone()))
      .collect();
    idle.sort();
    let mut out = Vec::new();
    for (_, key) in idle {
      if let Some(export) = self.take(&key, ExportReason::Ttl) {
        self.counters.ttl_exports += 1;
        self.log.warn(format!(
          "[TCC] Trace {} saw no event for {} s and its root never ended; sending its {} spans now (traceTtlMs)",
          key_text(&key),
          ttl.as_secs(),
          export.span_count
        ));
        out.push(export);
      }
    }
    out
  }

  /// When the oldest trace will expire, if any.
  pub fn next_expiry(&self) -> Option<Instant> {
    self.traces.values().map(|t| t.last_event + self.limits.trace_ttl).min()
  }

  fn trace_entry(&mut self, key: &str, trace_id: Option<&str>, now: Instant) -> &mut Trace {
    if !self.traces.contains_key(key) {
      self.seq += 1;
      let (run_id, metadata) = match self.recent.get(key) {
        Some((run, meta)) => {
          self.counters.late_spans += 1;
          self
            .log
            .debug(|| format!("[TCC] Late span for already exported trace {}", key_text(key)));
          (run.clone(), meta.clone())
        }
        None => (None, None),
      };
      let trace = Trace {
        trace_id: trace_id.map(str::to_string),
        run_id,
        metadata,
        spans: Vec::new(),
        index: HashMap::default(),
        bytes: 0,
        last_event: now,
        seq: self.seq,
      };
      self.traces.insert(key.to_string(), trace);
    }
    self.traces.get_mut(key).expect("inserted above")
  }

  fn append(&mut self, key: &str, seq: u64, span_id: Option<String>, json: String, now: Instant) {
    let trace = self.traces.get_mut(key).expect("trace exists");
    trace.last_event = now;
    trace.bytes += json.len();
    self.bytes += json.len();
    // Spans arrive in start order, except a span whose start was held back: it goes to its start's place.
    let pos = trace.spans.partition_point(|s| s.seq <= seq);
    if pos < trace.spans.len() {
      for Buffered { id, .. } in &trace.spans[pos..] {
        if let Some(id) = id
          && let Some(i) = trace.index.get_mut(id)
        {
          *i += 1;
        }
      }
    }
    if let Some(id) = &span_id {
      trace.index.insert(id.clone(), pos);
    }
    let has_run_id = has_run_id(&json);
    trace.spans.insert(
      pos,
      Buffered {
        seq,
        id: span_id,
        json,
        has_run_id,
      },
    );
  }

  /// Replaces a buffered span by id. Hands the JSON back when the span is not buffered.
  fn replace(&mut self, key: &str, span_id: Option<&str>, json: String, now: Instant) -> Result<(), String> {
    let Some(trace) = self.traces.get_mut(key) else {
      return Err(json);
    };
    let Some(&pos) = span_id.and_then(|id| trace.index.get(id)) else {
      return Err(json);
    };
    let slot = &mut trace.spans[pos];
    trace.bytes = trace.bytes + json.len() - slot.json.len();
    self.bytes = self.bytes + json.len() - slot.json.len();
    slot.has_run_id = has_run_id(&json);
    slot.json = json;
    trace.last_event = now;
    Ok(())
  }

  fn keep_unstarted(
    &mut self,
    key: &str,
    trace_id: Option<&str>,
    seq: u64,
    span_id: Option<String>,
    json: String,
    now: Instant,
  ) {
    if !self.limits.include_event_spans {
      self.counters.event_spans_dropped += 1;
      return;
    }
    self.counters.event_spans_kept += 1;
    self.trace_entry(key, trace_id, now);
    self.append(key, seq, span_id, json, now);
  }

  fn take(&mut self, key: &str, reason: ExportReason) -> Option<TraceExport> {
    let trace = self.traces.remove(key)?;
    self.bytes -= trace.bytes;
    self.remember(key, &trace);
    if trace.spans.is_empty() {
      return None;
    }
    let export = build_payload(&trace, reason);
    self.log.debug(|| {
      format!(
        "[TCC] Exporting {} spans for run {}",
        export.span_count,
        export.run_id_text()
      )
    });
    self.log.debug_with("[TCC] Payload:", || pretty(&export.body));
    Some(export)
  }

  fn remember(&mut self, key: &str, trace: &Trace) {
    if self
      .recent
      .insert(key.to_string(), (trace.run_id.clone(), trace.metadata.clone()))
      .is_none()
    {
      self.recent_order.push_back(key.to_string());
    }
    while self.recent_order.len() > RECENT_RUNS {
      if let Some(old) = self.recent_order.pop_front() {
        self.recent.remove(&old);
      }
    }
  }

  fn enforce_limits(&mut self) -> Vec<TraceExport> {
    let mut out = Vec::new();
    while self.traces.len() > self.limits.max_traces || self.bytes > self.limits.max_bytes {
      let Some(oldest) = self.traces.iter().min_by_key(|(_, t)| t.seq).map(|(k, _)| k.clone()) else {
        break;
      };
      self.counters.early_exports += 1;
      self.log.warn(format!(
        "[TCC] Buffer limit reached ({} traces, {} bytes); sending trace {} before its root ended. \
         Raise maxBufferedTraces / maxBufferedBytes to hold more.",
        self.traces.len(),
        self.bytes,
        key_text(&oldest)
      ));
      if let Some(export) = self.take(&oldest, ExportReason::BufferFull) {
        out.push(export);
      }
    }
    out
  }

  #[cfg(test)]
  fn with_run_ids(mut self, f: fn() -> String) -> Self {
    self.new_run_id = f;
    self
  }
}

/// `{ runId, traceId, framework: "mastra", metadata, spans }` with `runId` appended to every span.
fn build_payload(trace: &Trace, reason: ExportReason) -> TraceExport {
  let size = trace.bytes + trace.spans.len() * 64 + trace.metadata.as_ref().map_or(2, String::len) + 128;
  let mut body = String::with_capacity(size);
  body.push('{');
  let mut first = true;
  let mut member = |body: &mut String, name: &str, value: &str| {
    if !first {
      body.push(',');
    }
    first = false;
    body.push('"');
    body.push_str(name);
    body.push_str("\":");
    body.push_str(value);
  };
  if let Some(run) = &trace.run_id {
    member(&mut body, "runId", run);
  }
  if let Some(tid) = &trace.trace_id {
    member(&mut body, "traceId", tid);
  }
  member(&mut body, "framework", "\"mastra\"");
  member(&mut body, "metadata", trace.metadata.as_deref().unwrap_or("{}"));
  member(&mut body, "spans", "[");
  for (i, span) in trace.spans.iter().enumerate() {
    if i > 0 {
      body.push(',');
    }
    with_run_id(&span.json, span.has_run_id, trace.run_id.as_deref(), &mut body);
  }
  body.push_str("]}");
  TraceExport {
    run_id: trace.run_id.clone(),
    body,
    span_count: trace.spans.len(),
    reason,
  }
}

fn run_text(raw: Option<&str>) -> String {
  raw.map_or_else(
    || "undefined".into(),
    |r| serde_json::from_str::<String>(r).unwrap_or_else(|_| r.to_string()),
  )
}

fn key_text(key: &str) -> String {
  if key.is_empty() {
    "undefined".into()
  } else {
    run_text(Some(key))
  }
}

/// 2-space indented JSON, as `JSON.stringify(x, null, 2)` prints it. Falls back to the raw text when the JSON holds
/// something serde cannot represent (a lone surrogate).
fn pretty(json: &str) -> String {
  match serde_json::from_str::<serde_json::Value>(json) {
    Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| json.to_string()),
    Err(_) => json.to_string(),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::log::capture;

  const RUN: &str = "11111111-1111-4111-8111-111111111111";

  fn span(id: &str, trace: &str, root: bool, extra: &str) -> String {
    let parent = if root {
      String::new()
    } else {
      ",\"parentSpanId\":\"root\"".to_string()
    };
    format!(
      r#"{{"id":"{id}","traceId":"{trace}","name":"span","type":"agent_run"{extra},"isEvent":false,"isRootSpan":{root}{parent}}}"#
    )
  }

  fn buffer(limits: BufferLimits) -> TraceBuffer {
    let (log, _) = capture::logger(false);
    TraceBuffer::new(limits, log).with_run_ids(|| "\"generated\"".to_string())
  }

  fn body(e: &TraceExport) -> serde_json::Value {
    serde_json::from_str(&e.body).expect("valid JSON body")
  }

  #[test]
  fn ids_read_on_the_javascript_thread_give_the_same_payload_as_reading_the_json() {
    let at = |seq, started_earlier| Arrival { seq, started_earlier };
    let bodies: Vec<String> = [false, true]
      .into_iter()
      .map(|keyed| {
        let mut b = buffer(BufferLimits::default());
        let t = Instant::now();
        let keys = |id: &str| {
          keyed.then(|| SpanKeys {
            id: id.into(),
            trace: "t1".into(),
          })
        };
        b.on_event_at(EventKind::Started, span("root", "t1", true, ""), t, at(1, false));
        let with_run_id = span("c", "t1", false, ",\"runId\":\"old\",\"metadata\":{\"runId\":\"m\"}");
        b.on_event_keyed(EventKind::Ended, with_run_id, t, at(2, true), keys("c").as_ref());
        b.on_event_keyed(
          EventKind::Started,
          span("d", "t1", false, ""),
          t,
          at(3, false),
          keys("d").as_ref(),
        );
        b.on_event_keyed(
          EventKind::Ended,
          span("d", "t1", false, ",\"output\":2"),
          t,
          at(3, true),
          keys("d").as_ref(),
        );
        let out = b.on_event_at(
          EventKind::Ended,
          span("root", "t1", true, ",\"output\":1"),
          t,
          at(1, true),
        );
        assert_eq!(out.len(), 1);
        out[0].body.clone()
      })
      .collect();
    assert_eq!(bodies[0], bodies[1]);
    let v: serde_json::Value = serde_json::from_str(&bodies[1]).unwrap();
    let spans = v["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3, "{v}");
    assert_eq!(
      spans[1]["runId"], "generated",
      "a span's own runId key takes the run's id"
    );
    assert_eq!(spans[1]["metadata"]["runId"], "m", "a nested runId is left alone");
    assert_eq!(spans[2]["output"], 2, "the end replaced the start");
  }

  #[test]
  fn a_held_root_start_freezes_the_run_id_and_metadata_of_its_trace() {
    let mut b = buffer(BufferLimits::default());
    let t = Instant::now();
    let at = |seq| Arrival {
      seq,
      started_earlier: true,
    };
    b.on_root_started("\"t1\"", Some(r#"{"tcc.runId":"r1","a":1}"#), t);
    b.on_root_started("\"t1\"", Some(r#"{"tcc.runId":"r2"}"#), t);
    b.on_root_started("\"t2\"", Some("\"not an object\""), t);
    b.on_root_started("\"t3\"", None, t);
    let end = |id: &str, trace: &str| span(id, trace, true, r#","metadata":{"tcc.runId":"late"}"#);
    let ends: Vec<TraceExport> = [("r", "t1"), ("r", "t2"), ("r", "t3")]
      .into_iter()
      .flat_map(|(id, trace)| b.on_event_at(EventKind::Ended, end(id, trace), t, at(1)))
      .collect();
    let bodies: Vec<serde_json::Value> = ends.iter().map(body).collect();
    assert_eq!(bodies[0]["runId"], "r1", "the first root start wins");
    assert_eq!(bodies[0]["metadata"], serde_json::json!({"tcc.runId": "r1", "a": 1}));
    assert_eq!(
      bodies[0]["spans"][0]["metadata"]["tcc.runId"], "late",
      "the root's entry is its end"
    );
    for v in &bodies[1..] {
      assert_eq!(v["runId"], "generated");
      assert_eq!(v["metadata"], serde_json::json!({}));
    }
  }

  #[test]
  fn a_keyed_span_whose_text_is_not_an_object_is_still_refused() {
    let mut b = buffer(BufferLimits::default());
    let keys = SpanKeys {
      id: "c".into(),
      trace: "t1".into(),
    };
    let at = Arrival {
      seq: 1,
      started_earlier: true,
    };
    for text in ["\"[Unreadable]\"", "null", "[1]"] {
      b.on_event_keyed(EventKind::Ended, text.into(), Instant::now(), at, Some(&keys));
    }
    assert_eq!(b.counters.invalid_spans, 3);
    assert_eq!(b.trace_count(), 0);
  }

  #[test]
  fn ids_that_json_would_escape_are_read_from_the_json_instead() {
    let keys = |id: &str| SpanKeys {
      id: id.into(),
      trace: "t".into(),
    };
    assert_eq!(keys("ab12").raw(), Some(("\"ab12\"".into(), "\"t\"".into())));
    for id in ["a\"b", "a\\b", "a\nb", "é"] {
      assert_eq!(keys(id).raw(), None, "{id:?}");
    }
  }

  #[test]
  fn a_span_whose_start_was_held_back_goes_to_its_start_place_and_is_not_an_event_span() {
    let mut b = buffer(BufferLimits {
      include_event_spans: false,
      ..BufferLimits::default()
    });
    let t = Instant::now();
    let at = |seq, started_earlier| Arrival { seq, started_earlier };
    b.on_event_at(EventKind::Started, span("root", "t1", true, ""), t, at(1, false));
    // `held` started at place 2 but only its end is handed over, after `b` (place 3) started and ended.
    b.on_event_at(EventKind::Started, span("b", "t1", false, ""), t, at(3, false));
    b.on_event_at(
      EventKind::Ended,
      span("b", "t1", false, ",\"output\":1"),
      t,
      at(5, false),
    );
    b.on_event_at(
      EventKind::Ended,
      span("held", "t1", false, ",\"output\":2"),
      t,
      at(2, true),
    );
    // A real event span (no start at all) is still dropped with includeEventSpans: false.
    b.on_event_at(EventKind::Ended, span("event", "t1", false, ""), t, at(6, false));
    let out = b.on_event_at(EventKind::Ended, span("root", "t1", true, ""), t, at(7, false));
    let ids: Vec<_> = body(&out[0])["spans"]
      .as_array()
      .unwrap()
      .iter()
      .map(|s| s["id"].as_str().unwrap().to_string())
      .collect();
    assert_eq!(ids, ["root", "held", "b"]);
    assert_eq!(body(&out[0])["spans"][1]["output"], 2);
    assert_eq!(b.counters.event_spans_dropped, 1);
    assert_eq!(b.counters.event_spans_kept, 0);
  }

  #[test]
  fn one_payload_per_trace_on_root_end_with_tcc_run_id() {
    let mut b = buffer(BufferLimits::default());
    let t = Instant::now();
    let meta = format!(r#","metadata":{{"tcc.runId":"{RUN}","tcc.sessionId":"s1","custom":"x"}}"#);
    assert!(
      b.on_event(EventKind::Started, span("root", "t1", true, &meta), t)
        .is_empty()
    );
    assert!(
      b.on_event(EventKind::Started, span("child", "t1", false, ""), t)
        .is_empty()
    );
    assert!(
      b.on_event(EventKind::Ended, span("child", "t1", false, ",\"endTime\":\"e\""), t)
        .is_empty()
    );
    let out = b.on_event(EventKind::Ended, span("root", "t1", true, &meta), t);
    assert_eq!(out.len(), 1, "one export on root end");
    let v = body(&out[0]);
    assert_eq!(v["runId"], RUN);
    assert_eq!(v["traceId"], "t1");
    assert_eq!(v["framework"], "mastra");
    assert_eq!(
      v["metadata"],
      serde_json::json!({"tcc.runId": RUN, "tcc.sessionId": "s1", "custom": "x"})
    );
    let ids: Vec<_> = v["spans"]
      .as_array()
      .unwrap()
      .iter()
      .map(|s| s["id"].as_str().unwrap())
      .collect();
    assert_eq!(ids, ["root", "child"], "start order");
    assert_eq!(v["spans"][1]["endTime"], "e", "ended version replaced the started one");
    for s in v["spans"].as_array().unwrap() {
      assert_eq!(s["runId"], RUN);
    }
    assert_eq!(b.trace_count(), 0, "dequeued");
    assert_eq!(b.buffered_bytes(), 0);
  }

  #[test]
  fn payload_keys_are_in_reference_order_and_compact() {
    let mut b = buffer(BufferLimits::default());
    let t = Instant::now();
    b.on_event(EventKind::Started, span("r", "t", true, r#","metadata":{"a":1}"#), t);
    let out = b.on_event(
      EventKind::Ended,
      span("r", "t", true, r#","metadata":{"a":1,"b":2}"#),
      t,
    );
    assert_eq!(
      out[0].body,
      r#"{"runId":"generated","traceId":"t","framework":"mastra","metadata":{"a":1},"spans":[{"id":"r","traceId":"t","name":"span","type":"agent_run","metadata":{"a":1,"b":2},"isEvent":false,"isRootSpan":true,"runId":"generated"}]}"#
    );
  }

  #[test]
  fn updates_replace_in_place_and_never_add() {
    let mut b = buffer(BufferLimits::default());
    let t = Instant::now();
    b.on_event(EventKind::Started, span("r", "t", true, ""), t);
    b.on_event(EventKind::Started, span("a", "t", false, ""), t);
    b.on_event(EventKind::Updated, span("a", "t", false, r#","input":"upd""#), t);
    b.on_event(EventKind::Updated, span("ghost", "t", false, ""), t);
    let out = b.on_event(EventKind::Ended, span("r", "t", true, ""), t);
    let v = body(&out[0]);
    assert_eq!(v["spans"].as_array().unwrap().len(), 2);
    assert_eq!(v["spans"][1]["input"], "upd");
  }

  #[test]
  fn event_spans_are_kept_in_arrival_order_unless_disabled() {
    for include in [true, false] {
      let mut b = buffer(BufferLimits {
        include_event_spans: include,
        ..Default::default()
      });
      let t = Instant::now();
      b.on_event(EventKind::Started, span("r", "t", true, ""), t);
      b.on_event(EventKind::Ended, span("ev", "t", false, ""), t);
      let out = b.on_event(EventKind::Ended, span("r", "t", true, ""), t);
      let n = body(&out[0])["spans"].as_array().unwrap().len();
      assert_eq!(n, if include { 2 } else { 1 }, "include_event_spans={include}");
    }
  }

  #[test]
  fn run_id_and_metadata_freeze_at_the_first_root_start() {
    let mut b = buffer(BufferLimits::default());
    let t = Instant::now();
    b.on_event(
      EventKind::Started,
      span("r", "t", true, r#","metadata":{"tcc.runId":"one"}"#),
      t,
    );
    b.on_event(
      EventKind::Started,
      span("r2", "t", true, r#","metadata":{"tcc.runId":"two"}"#),
      t,
    );
    let out = b.on_event(EventKind::Ended, span("r", "t", true, ""), t);
    let v = body(&out[0]);
    assert_eq!(v["runId"], "one");
    assert_eq!(v["metadata"]["tcc.runId"], "one");
  }

  #[test]
  fn a_generated_run_id_is_a_v4_uuid() {
    let (log, _) = capture::logger(false);
    let mut b = TraceBuffer::new(BufferLimits::default(), log);
    let t = Instant::now();
    b.on_event(EventKind::Started, span("r", "t", true, ""), t);
    let out = b.on_event(EventKind::Ended, span("r", "t", true, ""), t);
    let run = body(&out[0])["runId"].as_str().unwrap().to_string();
    let parsed = uuid::Uuid::parse_str(&run).expect("uuid");
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(run, run.to_lowercase());
    assert_eq!(run.len(), 36);
  }

  #[test]
  fn drain_exports_every_trace_once_and_late_spans_keep_the_run_id() {
    let mut b = buffer(BufferLimits::default());
    let t = Instant::now();
    b.on_event(
      EventKind::Started,
      span("r1", "t1", true, r#","metadata":{"tcc.runId":"run1"}"#),
      t,
    );
    b.on_event(EventKind::Started, span("r2", "t2", true, ""), t);
    let out = b.drain();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|e| e.reason == ExportReason::Flush));
    assert!(b.drain().is_empty(), "nothing is sent twice");
    b.on_event(EventKind::Started, span("late", "t1", false, ""), t);
    let out = b.drain();
    let v = body(&out[0]);
    assert_eq!(v["runId"], "run1", "late span inherits the run id");
    assert_eq!(v["spans"][0]["runId"], "run1");
    assert_eq!(b.counters.late_spans, 1);
  }

  #[test]
  fn a_root_that_ends_without_a_start_names_its_run() {
    let mut b = buffer(BufferLimits::default());
    let out = b.on_event(
      EventKind::Ended,
      span("r", "t", true, r#","metadata":{"tcc.runId":"x"}"#),
      Instant::now(),
    );
    let v = body(&out[0]);
    assert_eq!(v["runId"], "x");
    assert_eq!(v["metadata"]["tcc.runId"], "x");
    assert_eq!(v["spans"][0]["runId"], "x");
  }

  #[test]
  fn a_trace_without_root_start_omits_run_id() {
    let mut b = buffer(BufferLimits::default());
    b.on_event(EventKind::Started, span("c", "t", false, ""), Instant::now());
    let v = body(&b.drain()[0]);
    assert!(v.get("runId").is_none());
    assert!(v["spans"][0].get("runId").is_none());
    assert_eq!(v["metadata"], serde_json::json!({}));
  }

  #[test]
  fn idle_traces_expire_after_the_ttl() {
    let ttl = Duration::from_secs(5);
    let mut b = buffer(BufferLimits {
      trace_ttl: ttl,
      ..Default::default()
    });
    let t = Instant::now();
    b.on_event(EventKind::Started, span("r", "old", true, ""), t);
    b.on_event(
      EventKind::Started,
      span("r", "new", true, ""),
      t + Duration::from_secs(4),
    );
    assert_eq!(b.next_expiry(), Some(t + ttl));
    assert!(b.expire(t + Duration::from_secs(4)).is_empty());
    let out = b.expire(t + ttl);
    assert_eq!(out.len(), 1);
    assert_eq!(body(&out[0])["traceId"], "old");
    assert_eq!(out[0].reason, ExportReason::Ttl);
    assert_eq!(b.trace_count(), 1);
  }

  #[test]
  fn at_the_trace_bound_the_oldest_trace_is_sent_early() {
    let mut b = buffer(BufferLimits {
      max_traces: 2,
      ..Default::default()
    });
    let t = Instant::now();
    b.on_event(EventKind::Started, span("r", "a", true, ""), t);
    b.on_event(EventKind::Started, span("r", "b", true, ""), t);
    let out = b.on_event(EventKind::Started, span("r", "c", true, ""), t);
    assert_eq!(out.len(), 1);
    assert_eq!(body(&out[0])["traceId"], "a");
    assert_eq!(out[0].reason, ExportReason::BufferFull);
    assert_eq!(b.trace_count(), 2);
    assert_eq!(b.counters.early_exports, 1);
  }

  #[test]
  fn at_the_byte_bound_the_oldest_trace_is_sent_early() {
    let mut b = buffer(BufferLimits {
      max_bytes: 500,
      ..Default::default()
    });
    let t = Instant::now();
    b.on_event(
      EventKind::Started,
      span("r", "a", true, &format!(r#","input":"{}""#, "x".repeat(200))),
      t,
    );
    let out = b.on_event(
      EventKind::Started,
      span("r", "b", true, &format!(r#","input":"{}""#, "y".repeat(200))),
      t,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(body(&out[0])["traceId"], "a");
    assert!(b.buffered_bytes() <= 500, "bytes {}", b.buffered_bytes());
    assert_eq!(b.trace_count(), 1);
  }

  #[test]
  fn malformed_events_are_counted_and_logged_without_harming_others() {
    let (log, lines) = capture::logger(false);
    let mut b = TraceBuffer::new(BufferLimits::default(), log);
    let t = Instant::now();
    b.on_event(EventKind::Started, span("r", "t", true, ""), t);
    b.on_event(EventKind::Started, "[1,2]".into(), t);
    b.on_event(EventKind::Started, "{broken".into(), t);
    let out = b.on_event(EventKind::Ended, span("r", "t", true, ""), t);
    assert_eq!(out.len(), 1);
    assert_eq!(b.counters.invalid_spans, 2);
    let lines = lines.lock();
    assert_eq!(
      lines
        .iter()
        .filter(|l| l.1.starts_with("[TCC] Dropped a malformed span event"))
        .count(),
      2
    );
  }

  #[test]
  fn debug_lines_follow_the_reference_texts() {
    let (log, lines) = capture::logger(true);
    let mut b = TraceBuffer::new(BufferLimits::default(), log).with_run_ids(|| "\"gen\"".into());
    let t = Instant::now();
    b.on_event(EventKind::Started, span("r", "t", true, r#","metadata":{"k":1}"#), t);
    b.on_event(EventKind::Ended, span("r", "t", true, ""), t);
    let texts: Vec<String> = lines.lock().iter().map(|l| l.1.clone()).collect();
    assert_eq!(
      texts,
      [
        "[TCC] Run ID gen for trace t",
        "[TCC] Metadata:",
        "[TCC] Started agent_run span: span",
        "[TCC] Ended agent_run span: span",
        "[TCC] Exporting 1 spans for run gen",
        "[TCC] Payload:",
      ]
    );
  }
}
