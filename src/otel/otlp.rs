//! The OpenTelemetry span the mapping produces, and its OTLP encodings (protobuf and JSON) built with the official
//! `opentelemetry-proto` definitions.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;

/// An attribute value; OTLP has no nested objects, so those become JSON strings in the mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
  Str(String),
  Int(i64),
  Double(f64),
  Bool(bool),
  StrArray(Vec<String>),
}

impl From<&str> for AttrValue {
  fn from(s: &str) -> Self {
    AttrValue::Str(s.to_string())
  }
}

impl From<String> for AttrValue {
  fn from(s: String) -> Self {
    AttrValue::Str(s)
  }
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
pub struct OtelEvent {
  pub name: String,
  pub time_ns: u64,
  pub attributes: Vec<(String, AttrValue)>,
}

/// One mapped span. Ids are lower-case hex, already padded.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelSpan {
  pub trace_id: String,
  pub span_id: String,
  pub parent_span_id: Option<String>,
  pub name: String,
  pub kind: Kind,
  pub start_ns: u64,
  pub end_ns: u64,
  pub attributes: Vec<(String, AttrValue)>,
  pub events: Vec<OtelEvent>,
  pub status: StatusCode,
  pub status_message: String,
}

impl OtelSpan {
  pub fn attr(&self, key: &str) -> Option<&AttrValue> {
    self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
  }
}

/// Who produced the spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
  pub resource: Vec<(String, AttrValue)>,
  pub scope_name: String,
  pub scope_version: String,
}

fn any(v: &AttrValue) -> AnyValue {
  let value = match v {
    AttrValue::Str(s) => any_value::Value::StringValue(s.clone()),
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

fn key_values(attrs: &[(String, AttrValue)]) -> Vec<KeyValue> {
  attrs
    .iter()
    .map(|(k, v)| KeyValue {
      key: k.clone(),
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

/// OTLP/JSON bytes (hex ids, camelCase, 64-bit integers as strings).
pub fn encode_json(req: &ExportTraceServiceRequest) -> Vec<u8> {
  serde_json::to_vec(req).expect("OTLP requests always serialise")
}

#[cfg(test)]
pub(crate) mod tests {
  use super::*;

  pub fn sample() -> (Origin, Vec<OtelSpan>) {
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
