//! The OpenTelemetry span the mapping produces, and its OTLP encodings (protobuf and JSON) built with the official
//! `opentelemetry-proto` definitions.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use std::borrow::Cow;

/// An attribute value; OTLP has no nested objects, so those become JSON strings in the mapping. Strings borrow from the
/// parsed span they were mapped from where they can (its text, or the reader's unescaped copy of a string with
/// escapes, or a compact object's text), so a span written as soon as it is mapped copies them once, into the request.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue<'a> {
  Str(Cow<'a, str>),
  Int(i64),
  Double(f64),
  Bool(bool),
  StrArray(Vec<String>),
}

impl<'a> From<&'a str> for AttrValue<'a> {
  fn from(s: &'a str) -> Self {
    AttrValue::Str(Cow::Borrowed(s))
  }
}

impl From<String> for AttrValue<'_> {
  fn from(s: String) -> Self {
    AttrValue::Str(Cow::Owned(s))
  }
}

impl<'a> From<Cow<'a, str>> for AttrValue<'a> {
  fn from(s: Cow<'a, str>) -> Self {
    AttrValue::Str(s)
  }
}

impl AttrValue<'_> {
  /// The value with every string owned.
  pub fn into_owned(self) -> AttrValue<'static> {
    match self {
      AttrValue::Str(s) => AttrValue::Str(Cow::Owned(s.into_owned())),
      AttrValue::Int(i) => AttrValue::Int(i),
      AttrValue::Double(d) => AttrValue::Double(d),
      AttrValue::Bool(b) => AttrValue::Bool(b),
      AttrValue::StrArray(a) => AttrValue::StrArray(a),
    }
  }
}

/// An attribute's key: the mapping's constants, or text borrowed from the span or built for it.
pub type AttrKey<'a> = Cow<'a, str>;

/// Attributes in order.
pub type AttrList<'a> = Vec<(AttrKey<'a>, AttrValue<'a>)>;

fn owned_list(list: AttrList<'_>) -> AttrList<'static> {
  list
    .into_iter()
    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
    .collect()
}

/// Span kinds, with their OTLP numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
  Internal = 1,
  Server = 2,
  Client = 3,
  Producer = 4,
  Consumer = 5,
}

/// Status codes, with their OTLP numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
  Unset = 0,
  Ok = 1,
  Error = 2,
}

/// An event on a span (`exception`).
#[derive(Debug, Clone, PartialEq)]
pub struct OtelEvent<'a> {
  pub name: String,
  pub time_ns: u64,
  pub attributes: AttrList<'a>,
}

/// One mapped span. Ids are lower-case hex, already padded. It may borrow from the Mastra span it was mapped from;
/// [`OtelSpan::into_owned`] makes one that outlives it.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelSpan<'a> {
  pub trace_id: Cow<'a, str>,
  pub span_id: Cow<'a, str>,
  pub parent_span_id: Option<Cow<'a, str>>,
  pub name: String,
  pub kind: Kind,
  pub start_ns: u64,
  pub end_ns: u64,
  pub attributes: AttrList<'a>,
  pub events: Vec<OtelEvent<'a>>,
  pub status: StatusCode,
  pub status_message: String,
}

impl OtelSpan<'_> {
  pub fn attr(&self, key: &str) -> Option<&AttrValue<'_>> {
    self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
  }

  /// The span with every string owned (for a batch that keeps spans after their text is gone).
  pub fn into_owned(self) -> OtelSpan<'static> {
    let own = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
    OtelSpan {
      trace_id: own(self.trace_id),
      span_id: own(self.span_id),
      parent_span_id: self.parent_span_id.map(own),
      name: self.name,
      kind: self.kind,
      start_ns: self.start_ns,
      end_ns: self.end_ns,
      attributes: owned_list(self.attributes),
      events: self
        .events
        .into_iter()
        .map(|e| OtelEvent {
          name: e.name,
          time_ns: e.time_ns,
          attributes: owned_list(e.attributes),
        })
        .collect(),
      status: self.status,
      status_message: self.status_message,
    }
  }
}

/// Who produced the spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
  pub resource: AttrList<'static>,
  pub scope_name: String,
  pub scope_version: String,
}

fn any(v: &AttrValue) -> AnyValue {
  let value = match v {
    AttrValue::Str(s) => any_value::Value::StringValue(s.to_string()),
    AttrValue::Int(i) => any_value::Value::IntValue(*i),
    AttrValue::Double(d) => any_value::Value::DoubleValue(*d),
    AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
    AttrValue::StrArray(a) => any_value::Value::ArrayValue(ArrayValue {
      values: a
        .iter()
        .map(|s| AnyValue {
          value: Some(any_value::Value::StringValue(s.clone())),
        })
        .collect(),
    }),
  };
  AnyValue { value: Some(value) }
}

fn key_values(attrs: &[(AttrKey, AttrValue)]) -> Vec<KeyValue> {
  attrs
    .iter()
    .map(|(k, v)| KeyValue {
      key: k.to_string(),
      value: Some(any(v)),
      ..Default::default()
    })
    .collect()
}

fn hex_bytes(hex: &str) -> Vec<u8> {
  (0..hex.len() / 2)
    .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
    .collect()
}

/// W3C trace flags: sampled.
const FLAG_SAMPLED: u32 = 0x01;
/// OTLP span flags: the parent's remoteness is known (bit 8); remote is bit 9, left clear.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// The flags every span carries.
pub(super) const FLAGS: u32 = FLAG_SAMPLED | FLAG_HAS_IS_REMOTE;

fn proto_span(s: &OtelSpan) -> Span {
  Span {
    trace_id: hex_bytes(&s.trace_id),
    span_id: hex_bytes(&s.span_id),
    trace_state: String::new(),
    parent_span_id: s.parent_span_id.as_deref().map(hex_bytes).unwrap_or_default(),
    flags: FLAG_SAMPLED | FLAG_HAS_IS_REMOTE,
    name: s.name.clone(),
    kind: s.kind as i32,
    start_time_unix_nano: s.start_ns,
    end_time_unix_nano: s.end_ns,
    attributes: key_values(&s.attributes),
    dropped_attributes_count: 0,
    events: s
      .events
      .iter()
      .map(|e| span::Event {
        time_unix_nano: e.time_ns,
        name: e.name.clone(),
        attributes: key_values(&e.attributes),
        dropped_attributes_count: 0,
      })
      .collect(),
    dropped_events_count: 0,
    links: Vec::new(),
    dropped_links_count: 0,
    status: Some(Status {
      message: s.status_message.clone(),
      code: s.status as i32,
    }),
  }
}

/// One `ExportTraceServiceRequest` for a batch of spans of one origin.
pub fn request(origin: &Origin, spans: &[OtelSpan]) -> ExportTraceServiceRequest {
  ExportTraceServiceRequest {
    resource_spans: vec![ResourceSpans {
      resource: Some(Resource {
        attributes: key_values(&origin.resource),
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
      }),
      scope_spans: vec![ScopeSpans {
        scope: Some(InstrumentationScope {
          name: origin.scope_name.clone(),
          version: origin.scope_version.clone(),
          attributes: Vec::new(),
          dropped_attributes_count: 0,
        }),
        spans: spans.iter().map(proto_span).collect(),
        schema_url: String::new(),
      }],
      schema_url: String::new(),
    }],
  }
}

/// OTLP/protobuf bytes.
pub fn encode_protobuf(req: &ExportTraceServiceRequest) -> Vec<u8> {
  req.encode_to_vec()
}

/// OTLP/protobuf bytes written straight from the mapped spans: the bytes prost writes for [`request`], without
/// building (and copying every string into) the intermediate messages first.
pub fn encode_protobuf_direct(origin: &Origin, spans: &[OtelSpan]) -> Vec<u8> {
  let mut written = Vec::new();
  for s in spans {
    write_span(&mut written, s);
  }
  encode_written(origin, &written)
}

/// One span as it stands in a request's list of spans (its field tag and length, then its bytes), for
/// [`encode_written`].
pub fn write_span(w: &mut Vec<u8>, s: &OtelSpan) {
  pb::nested(w, 2, span_len(s));
  put_span(w, s);
}

/// OTLP/protobuf bytes around spans written one after another with [`write_span`]: the bytes prost writes for
/// [`request`] of those spans.
pub fn encode_written(origin: &Origin, spans: &[u8]) -> Vec<u8> {
  let resource_len = kvs_len(1, &origin.resource);
  let scope_len = str_len(1, &origin.scope_name) + str_len(2, &origin.scope_version);
  let scope_spans_len = nested_len(1, scope_len) + spans.len();
  let resource_spans_len = nested_len(1, resource_len) + nested_len(2, scope_spans_len);
  let mut w = Vec::with_capacity(nested_len(1, resource_spans_len));
  pb::nested(&mut w, 1, resource_spans_len);
  pb::nested(&mut w, 1, resource_len);
  put_kvs(&mut w, 1, &origin.resource);
  pb::nested(&mut w, 2, scope_spans_len);
  pb::nested(&mut w, 1, scope_len);
  pb::string(&mut w, 1, &origin.scope_name);
  pb::string(&mut w, 2, &origin.scope_version);
  w.extend_from_slice(spans);
  w
}

/// Protobuf wire primitives: sizes and writers. Fields at their default value are left out, as prost does.
mod pb {
  pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
  }

  pub fn varint(w: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
      w.push(v as u8 | 0x80);
      v >>= 7;
    }
    w.push(v as u8);
  }

  fn tag(w: &mut Vec<u8>, field: u32, wire: u32) {
    varint(w, u64::from(field << 3 | wire));
  }

  pub fn tag_len(field: u32) -> usize {
    varint_len(u64::from(field << 3))
  }

  /// A length-delimited field's tag and length; its bytes follow.
  pub fn nested(w: &mut Vec<u8>, field: u32, len: usize) {
    tag(w, field, 2);
    varint(w, len as u64);
  }

  pub fn string(w: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
      nested(w, field, s.len());
      w.extend_from_slice(s.as_bytes());
    }
  }

  pub fn uint(w: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
      tag(w, field, 0);
      varint(w, v);
    }
  }

  pub fn fixed64(w: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
      tag(w, field, 1);
      w.extend_from_slice(&v.to_le_bytes());
    }
  }

  pub fn fixed32(w: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
      tag(w, field, 5);
      w.extend_from_slice(&v.to_le_bytes());
    }
  }

  /// A oneof member: written even at its default value.
  pub fn oneof_varint(w: &mut Vec<u8>, field: u32, v: u64) {
    tag(w, field, 0);
    varint(w, v);
  }

  pub fn oneof_double(w: &mut Vec<u8>, field: u32, v: f64) {
    tag(w, field, 1);
    w.extend_from_slice(&v.to_le_bytes());
  }

  pub fn oneof_string(w: &mut Vec<u8>, field: u32, s: &str) {
    nested(w, field, s.len());
    w.extend_from_slice(s.as_bytes());
  }
}

fn nested_len(field: u32, len: usize) -> usize {
  pb::tag_len(field) + pb::varint_len(len as u64) + len
}

fn str_len(field: u32, s: &str) -> usize {
  if s.is_empty() { 0 } else { nested_len(field, s.len()) }
}

fn uint_len(field: u32, v: u64) -> usize {
  if v == 0 {
    0
  } else {
    pb::tag_len(field) + pb::varint_len(v)
  }
}

fn fixed_len(field: u32, v: u64, width: usize) -> usize {
  if v == 0 { 0 } else { pb::tag_len(field) + width }
}

/// Bytes of a hex id, as [`hex_bytes`] reads it (pairs that are not hex are skipped).
pub(super) fn hex_pairs(hex: &str) -> impl Iterator<Item = u8> + '_ {
  let nibble = |c: u8| match c {
    b'0'..=b'9' => Some(c - b'0'),
    b'a'..=b'f' => Some(c - b'a' + 10),
    b'A'..=b'F' => Some(c - b'A' + 10),
    _ => None,
  };
  hex
    .as_bytes()
    .chunks_exact(2)
    .filter_map(move |p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
}

/// How many bytes a hex id holds; mapped ids are always clean hex, so this is half their length.
fn hex_count(hex: &str) -> usize {
  if super::span::hex_classes(hex.as_bytes()) & super::span::NOT_HEX == 0 {
    hex.len() / 2
  } else {
    hex_pairs(hex).count()
  }
}

fn hex_len(field: u32, hex: &str) -> usize {
  match hex_count(hex) {
    0 => 0,
    n => nested_len(field, n),
  }
}

fn put_hex(w: &mut Vec<u8>, field: u32, hex: &str) {
  let n = hex_count(hex);
  if n > 0 {
    pb::nested(w, field, n);
    w.extend(hex_pairs(hex));
  }
}

/// Length of an `AnyValue` holding `v`.
fn any_len(v: &AttrValue) -> usize {
  match v {
    AttrValue::Str(s) => nested_len(1, s.len()),
    AttrValue::Bool(_) => pb::tag_len(2) + 1,
    AttrValue::Int(i) => pb::tag_len(3) + pb::varint_len(*i as u64),
    AttrValue::Double(_) => pb::tag_len(4) + 8,
    AttrValue::StrArray(a) => nested_len(5, array_len(a)),
  }
}

fn array_len(a: &[String]) -> usize {
  a.iter().map(|s| nested_len(1, nested_len(1, s.len()))).sum()
}

fn put_any(w: &mut Vec<u8>, v: &AttrValue) {
  match v {
    AttrValue::Str(s) => pb::oneof_string(w, 1, s),
    AttrValue::Bool(b) => pb::oneof_varint(w, 2, u64::from(*b)),
    AttrValue::Int(i) => pb::oneof_varint(w, 3, *i as u64),
    AttrValue::Double(d) => pb::oneof_double(w, 4, *d),
    AttrValue::StrArray(a) => {
      pb::nested(w, 5, array_len(a));
      for s in a {
        pb::nested(w, 1, nested_len(1, s.len()));
        pb::oneof_string(w, 1, s);
      }
    }
  }
}

fn kv_len(k: &str, v: &AttrValue) -> usize {
  str_len(1, k) + nested_len(2, any_len(v))
}

fn kvs_len(field: u32, attrs: &[(AttrKey, AttrValue)]) -> usize {
  attrs.iter().map(|(k, v)| nested_len(field, kv_len(k, v))).sum()
}

fn put_kvs(w: &mut Vec<u8>, field: u32, attrs: &[(AttrKey, AttrValue)]) {
  for (k, v) in attrs {
    pb::nested(w, field, kv_len(k, v));
    pb::string(w, 1, k);
    pb::nested(w, 2, any_len(v));
    put_any(w, v);
  }
}

fn event_len(e: &OtelEvent) -> usize {
  fixed_len(1, e.time_ns, 8) + str_len(2, &e.name) + kvs_len(3, &e.attributes)
}

fn status_len(s: &OtelSpan) -> usize {
  str_len(2, &s.status_message) + uint_len(3, s.status as u64)
}

fn span_len(s: &OtelSpan) -> usize {
  hex_len(1, &s.trace_id)
    + hex_len(2, &s.span_id)
    + s.parent_span_id.as_deref().map_or(0, |p| hex_len(4, p))
    + str_len(5, &s.name)
    + uint_len(6, s.kind as u64)
    + fixed_len(7, s.start_ns, 8)
    + fixed_len(8, s.end_ns, 8)
    + kvs_len(9, &s.attributes)
    + s.events.iter().map(|e| nested_len(11, event_len(e))).sum::<usize>()
    + nested_len(15, status_len(s))
    + fixed_len(16, u64::from(FLAG_SAMPLED | FLAG_HAS_IS_REMOTE), 4)
}

fn put_span(w: &mut Vec<u8>, s: &OtelSpan) {
  put_hex(w, 1, &s.trace_id);
  put_hex(w, 2, &s.span_id);
  if let Some(p) = &s.parent_span_id {
    put_hex(w, 4, p);
  }
  pb::string(w, 5, &s.name);
  pb::uint(w, 6, s.kind as u64);
  pb::fixed64(w, 7, s.start_ns);
  pb::fixed64(w, 8, s.end_ns);
  put_kvs(w, 9, &s.attributes);
  for e in &s.events {
    pb::nested(w, 11, event_len(e));
    pb::fixed64(w, 1, e.time_ns);
    pb::string(w, 2, &e.name);
    put_kvs(w, 3, &e.attributes);
  }
  pb::nested(w, 15, status_len(s));
  pb::string(w, 2, &s.status_message);
  pb::uint(w, 3, s.status as u64);
  pb::fixed32(w, 16, FLAG_SAMPLED | FLAG_HAS_IS_REMOTE);
}

/// OTLP/JSON bytes (hex ids, camelCase, 64-bit integers as strings) through the official serialisers; the exporter
/// writes the same bytes with [`super::otlp_json::encode`].
pub fn encode_json(req: &ExportTraceServiceRequest) -> Vec<u8> {
  serde_json::to_vec(req).expect("OTLP requests always serialise")
}

#[cfg(test)]
pub(crate) mod tests {
  use super::*;

  pub fn sample() -> (Origin, Vec<OtelSpan<'static>>) {
    let origin = Origin {
      resource: vec![("service.name".into(), "svc".into())],
      scope_name: "scope".into(),
      scope_version: "1.0.0".into(),
    };
    let span = OtelSpan {
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
      span_id: "00f067aa0ba902b7".into(),
      parent_span_id: Some("00000000000000aa".into()),
      name: "chat gpt".into(),
      kind: Kind::Client,
      start_ns: 1_000_000_500,
      end_ns: 2_000_000_000,
      attributes: vec![
        ("s".into(), "v".into()),
        ("i".into(), AttrValue::Int(1234)),
        ("d".into(), AttrValue::Double(0.5)),
        ("b".into(), AttrValue::Bool(true)),
        ("a".into(), AttrValue::StrArray(vec!["stop".into()])),
      ],
      events: vec![OtelEvent {
        name: "exception".into(),
        time_ns: 5,
        attributes: vec![("exception.message".into(), "x".into())],
      }],
      status: StatusCode::Error,
      status_message: "boom".into(),
    };
    (origin, vec![span])
  }

  #[test]
  fn protobuf_round_trips_through_the_official_definitions() {
    let (origin, spans) = sample();
    let bytes = encode_protobuf(&request(&origin, &spans));
    let back = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
    let s = &back.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.trace_id, hex_bytes("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(s.parent_span_id.len(), 8);
    assert_eq!((s.kind, s.start_time_unix_nano, s.flags), (3, 1_000_000_500, 0x101));
    assert_eq!(s.status.as_ref().unwrap().code, 2);
    assert_eq!(s.attributes.len(), 5);
    assert_eq!(
      back.resource_spans[0].scope_spans[0].scope.as_ref().unwrap().name,
      "scope"
    );
  }

  #[test]
  fn the_direct_encoder_writes_what_prost_writes() {
    let (origin, mut spans) = sample();
    let mut other = spans[0].clone();
    other.parent_span_id = None;
    other.name = String::new();
    other.status = StatusCode::Unset;
    other.status_message = String::new();
    other.events.clear();
    other.attributes = vec![
      ("neg".into(), AttrValue::Int(-5)),
      ("empty".into(), "".into()),
      ("no".into(), AttrValue::Bool(false)),
      ("zero".into(), AttrValue::Int(0)),
      ("empty list".into(), AttrValue::StrArray(vec![])),
      ("long".into(), "x".repeat(300).into()),
    ];
    spans.push(other);
    assert_eq!(
      encode_protobuf_direct(&origin, &spans),
      encode_protobuf(&request(&origin, &spans))
    );
    assert_eq!(
      encode_protobuf_direct(&origin, &[]),
      encode_protobuf(&request(&origin, &[]))
    );
  }

  #[test]
  fn json_uses_hex_ids_and_string_int64() {
    let (origin, spans) = sample();
    let v: serde_json::Value = serde_json::from_slice(&encode_json(&request(&origin, &spans))).unwrap();
    let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(s["spanId"], "00f067aa0ba902b7");
    assert_eq!(s["startTimeUnixNano"], "1000000500");
    assert_eq!(s["attributes"][1]["value"]["intValue"], "1234");
    assert_eq!(
      s["attributes"][4]["value"]["arrayValue"]["values"][0]["stringValue"],
      "stop"
    );
    let back: ExportTraceServiceRequest = serde_json::from_value(v).unwrap();
    assert_eq!(back.resource_spans[0].scope_spans[0].spans[0].name, "chat gpt");
  }
}
