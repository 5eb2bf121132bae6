//! Zipkin v2 JSON (`POST /api/v2/spans`), encoded by hand: the `opentelemetry-zipkin` crate is deprecated. Follows the
//! OpenTelemetry Zipkin exporter's mapping: kinds CLIENT/SERVER/PRODUCER/CONSUMER (none for INTERNAL), microsecond
//! timestamps, resource and span attributes as string tags, status as `otel.status_code` (+ `error` when there is a
//! message), events as annotations holding the event name.

use super::otlp::{AttrKey, AttrValue, Kind, OtelSpan, StatusCode};
use serde_json::{Map, Value, json};

fn tag_value(v: &AttrValue) -> String {
  match v {
    AttrValue::Str(s) => s.to_string(),
    AttrValue::Int(i) => i.to_string(),
    AttrValue::Double(d) if d.is_infinite() => if *d > 0.0 { "Infinity" } else { "-Infinity" }.to_string(),
    AttrValue::Double(d) if d.is_nan() => "NaN".to_string(),
    AttrValue::Double(d) => d.to_string(),
    AttrValue::Bool(b) => b.to_string(),
    // JavaScript's String(array), as the official exporter writes it.
    AttrValue::StrArray(a) => a.join(","),
  }
}

fn span(s: &OtelSpan, service: &str, resource: &[(AttrKey, AttrValue)]) -> Value {
  let mut tags = Map::new();
  for (k, v) in resource.iter().chain(&s.attributes) {
    tags.insert(k.to_string(), Value::String(tag_value(v)));
  }
  match s.status {
    StatusCode::Error => {
      tags.insert("otel.status_code".into(), "ERROR".into());
      if !s.status_message.is_empty() {
        tags.insert("error".into(), Value::String(s.status_message.clone()));
      }
    }
    StatusCode::Ok => {
      tags.insert("otel.status_code".into(), "OK".into());
    }
    StatusCode::Unset => {}
  }
  let mut out = json!({
    "traceId": s.trace_id,
    "id": s.span_id,
    "name": s.name,
    "timestamp": s.start_ns / 1000,
    "duration": s.end_ns.saturating_sub(s.start_ns) / 1000,
    "localEndpoint": { "serviceName": service },
    "tags": tags,
  });
  if let Some(p) = &s.parent_span_id {
    out["parentId"] = json!(p);
  }
  let kind = match s.kind {
    Kind::Client => Some("CLIENT"),
    Kind::Server => Some("SERVER"),
    Kind::Producer => Some("PRODUCER"),
    Kind::Consumer => Some("CONSUMER"),
    Kind::Internal => None,
  };
  if let Some(k) = kind {
    out["kind"] = json!(k);
  }
  if !s.events.is_empty() {
    // The official exporter writes an event as an annotation holding only its name.
    let annotations: Vec<Value> = s
      .events
      .iter()
      .map(|e| json!({ "timestamp": e.time_ns / 1000, "value": e.name }))
      .collect();
    out["annotations"] = Value::Array(annotations);
  }
  out
}

/// The request body for a batch.
pub fn encode(spans: &[OtelSpan], resource: &[(AttrKey, AttrValue)]) -> Vec<u8> {
  let service = resource
    .iter()
    .find(|(k, _)| k == "service.name")
    .map(|(_, v)| tag_value(v))
    .unwrap_or_else(|| "mastra-service".into());
  let list: Vec<Value> = spans.iter().map(|s| span(s, &service, resource)).collect();
  serde_json::to_vec(&list).expect("zipkin JSON always serialises")
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::otel::otlp::tests::sample;

  #[test]
  fn spans_encode_as_strict_zipkin_v2() {
    let (origin, spans) = sample();
    let body = encode(&spans, &origin.resource);
    // zipkin-types (serde) is a strict Zipkin v2 model: typed ids, kinds and endpoints.
    let decoded: Vec<zipkin_types::Span> = serde_json::from_slice(&body).expect("strict zipkin v2");
    let s = &decoded[0];
    assert_eq!(s.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(s.id().to_string(), "00f067aa0ba902b7");
    assert_eq!(
      s.parent_id().map(|p| p.to_string()).as_deref(),
      Some("00000000000000aa")
    );
    assert!(matches!(s.kind(), Some(zipkin_types::Kind::Client)));
    assert_eq!(s.name(), Some("chat gpt"));
    assert_eq!(s.local_endpoint().and_then(|e| e.service_name()), Some("svc"));
    assert_eq!(
      s.timestamp()
        .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()),
      Some(1_000_000)
    );
    assert_eq!(s.tags()["otel.status_code"], "ERROR");
    assert_eq!(s.tags()["error"], "boom");
    assert_eq!(s.tags()["i"], "1234");
    assert_eq!(s.tags()["a"], "stop");
    assert_eq!(s.tags()["service.name"], "svc");
    assert_eq!(s.annotations()[0].value(), "exception");
  }

  #[test]
  fn the_strict_decoder_rejects_bad_ids() {
    let bad = br#"[{"traceId":"xyz","id":"00f067aa0ba902b7","name":"x"}]"#;
    assert!(serde_json::from_slice::<Vec<zipkin_types::Span>>(bad).is_err());
  }
}
