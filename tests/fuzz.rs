//! Property tests ("fuzzing" with a bounded budget) of the event intake and the mapping: arbitrary event sequences and
//! arbitrary span data never panic, never corrupt other traces, and always leave valid output.
//!
//! Run longer with `PROPTEST_CASES=100000 cargo test --no-default-features --test fuzz --release`.

use mastra_native_exporters::log::Logger;
use mastra_native_exporters::otel::mapping::{MapOptions, Semconv, TraceFacts, map_span};
use mastra_native_exporters::otel::otlp::{
  AttrKey, AttrValue, Kind, Origin, OtelEvent, OtelSpan, StatusCode, encode_json, encode_protobuf,
  encode_protobuf_direct, request,
};
use mastra_native_exporters::otel::otlp_json;
use mastra_native_exporters::otel::span::MastraSpan;
use mastra_native_exporters::tcc::buffer::{BufferLimits, EventKind, TraceBuffer};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn quiet() -> Logger {
  Logger::new(Arc::new(|_, _, _| {}), false)
}

fn any_json() -> impl Strategy<Value = Value> {
  let leaf = prop_oneof![
    Just(Value::Null),
    any::<bool>().prop_map(Value::Bool),
    any::<i64>().prop_map(|n| json!(n)),
    any::<f64>()
      .prop_filter("finite", |f| f.is_finite())
      .prop_map(|f| json!(f)),
    "[a-zA-Z0-9 _.:'\"\\\\/{}\\[\\]-]{0,24}".prop_map(Value::String),
  ];
  leaf.prop_recursive(6, 64, 8, |inner| {
    prop_oneof![
      prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
      prop::collection::btree_map("[a-zA-Z_.]{1,10}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
  })
}

#[derive(Debug, Clone)]
enum Ev {
  Span {
    kind: u8,
    trace: u8,
    id: u8,
    root: bool,
    extra: Value,
  },
  Junk(String),
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
  let span = (0u8..3, 0u8..3, 0u8..6, any::<bool>(), any_json()).prop_map(|(kind, trace, id, root, extra)| Ev::Span {
    kind,
    trace,
    id,
    root,
    extra,
  });
  let junk = "\\PC{0,40}".prop_map(Ev::Junk);
  prop::collection::vec(prop_oneof![9 => span, 1 => junk], 0..60)
}

proptest! {
    // 200 cases in the test suite; PROPTEST_CASES runs more.
  #![proptest_config(ProptestConfig {
    cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200),
    ..ProptestConfig::default()
  })]

  #[test]
  fn the_trace_buffer_survives_any_event_sequence(evs in events(), max_traces in 1usize..5) {
    let limits = BufferLimits { max_traces, max_bytes: 20_000, trace_ttl: Duration::from_secs(60), include_event_spans: true };
    let mut buffer = TraceBuffer::new(limits, quiet());
    let t0 = Instant::now();
    let mut exported = Vec::new();
    for (i, ev) in evs.iter().enumerate() {
      let (kind, json) = match ev {
        Ev::Span { kind, trace, id, root, extra } => {
          let kind = [EventKind::Started, EventKind::Updated, EventKind::Ended][*kind as usize];
          let span = json!({"id": format!("s{id}"), "traceId": format!("t{trace}"), "isRootSpan": root,
            "metadata": {"tcc.runId": format!("run-{trace}")}, "attributes": extra});
          (kind, span.to_string())
        }
        Ev::Junk(s) => (EventKind::Started, s.clone()),
      };
      exported.extend(buffer.on_event(kind, json, t0 + Duration::from_millis(i as u64)));
    }
    exported.extend(buffer.expire(t0 + Duration::from_secs(3600)));
    exported.extend(buffer.drain());
    prop_assert_eq!(buffer.trace_count(), 0);
    prop_assert_eq!(buffer.buffered_bytes(), 0);
    for e in exported {
      let body: Value = serde_json::from_str(&e.body).expect("every body is valid JSON");
      prop_assert_eq!(&body["framework"], "mastra");
      let spans = body["spans"].as_array().expect("spans");
      prop_assert_eq!(spans.len(), e.span_count);
      let mut ids: Vec<&str> = spans.iter().filter_map(|s| s["id"].as_str()).collect();
      let n = ids.len();
      ids.sort();
      ids.dedup();
      prop_assert_eq!(ids.len(), n, "a span appears once per payload");
      for s in spans {
        prop_assert_eq!(&s["traceId"], &body["traceId"], "no span leaks into another trace");
      }
    }
  }

  #[test]
  fn the_mapping_survives_any_span_data(
    attributes in any_json(),
    metadata in any_json(),
    input in any_json(),
    output in any_json(),
    ty in prop::sample::select(vec!["agent_run", "model_generation", "model_inference", "model_step", "model_chunk",
      "tool_call", "mcp_tool_call", "workflow_run", "workflow_step", "workflow_loop", "processor_run", "generic", "llm_generation", "x"]),
    error in any::<bool>(),
    semconv in prop::sample::select(vec![Semconv::Mastra, Semconv::Legacy, Semconv::Latest]),
    capture_content in any::<bool>(),
  ) {
    let mut span = json!({"id": "00f067aa0ba902b7", "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "type": ty,
      "name": "n", "startTime": "2026-01-01T00:00:00.000Z", "endTime": "2026-01-01T00:00:01.000Z",
      "attributes": attributes, "metadata": metadata, "input": input, "output": output, "isRootSpan": true});
    if error {
      span["errorInfo"] = json!({"message": "boom", "details": {"stack": "x"}});
    }
    let text = span.to_string();
    let parsed = MastraSpan::parse(&text).expect("a well-formed span parses");
    for facts in [TraceFacts::default(), TraceFacts { has_model_inference: true, provider: Some("openai.chat".into()) }] {
      let out = map_span(&parsed, MapOptions { semconv, capture_content }, &facts).expect("maps");
      prop_assert_eq!(out.trace_id.len(), 32);
      prop_assert_eq!(out.span_id.len(), 16);
      prop_assert!(out.end_ns >= out.start_ns);
      prop_assert!(out.attributes.iter().any(|(k, _)| k == "gen_ai.operation.name"));
      // The direct protobuf writer gives exactly prost's bytes for whatever the mapping produced.
      let origin = Origin { resource: out.clone().into_owned().attributes, scope_name: "s".into(), scope_version: String::new() };
      let spans = [out];
      prop_assert_eq!(encode_protobuf_direct(&origin, &spans), encode_protobuf(&request(&origin, &spans)));
      // And the direct OTLP/JSON writer exactly what serde_json writes for the official messages.
      prop_assert_eq!(otlp_json::encode(&origin, &spans), encode_json(&request(&origin, &spans)));
    }
  }

  #[test]
  fn the_direct_otlp_json_writer_agrees_with_the_official_serialisers(
    name in any::<String>(),
    message in any::<String>(),
    ids in ("[0-9a-fA-F]{0,34}", "[0-9a-fxz]{0,18}", prop::option::of("[0-9a-f]{16}")),
    times in (any::<u64>(), any::<u64>()),
    attrs in prop::collection::vec((any::<String>(), prop_oneof![
      any::<String>().prop_map(AttrValue::from),
      any::<i64>().prop_map(AttrValue::Int),
      any::<f64>().prop_map(AttrValue::Double),
      any::<bool>().prop_map(AttrValue::Bool),
      prop::collection::vec(any::<String>(), 0..4).prop_map(AttrValue::StrArray),
    ]), 0..8),
    event in prop::option::of((any::<String>(), any::<u64>())),
  ) {
    let attrs: Vec<(AttrKey<'static>, AttrValue<'static>)> = attrs.into_iter().map(|(k, v)| (k.into(), v)).collect();
    let span = OtelSpan {
      trace_id: ids.0.into(), span_id: ids.1.into(), parent_span_id: ids.2.map(Into::into), name, kind: Kind::Client, start_ns: times.0,
      end_ns: times.1, attributes: attrs.clone(),
      events: event.into_iter().map(|(name, time_ns)| OtelEvent { name, time_ns, attributes: attrs.clone() }).collect(),
      status: StatusCode::Error, status_message: message,
    };
    let origin = Origin { resource: attrs, scope_name: "s".into(), scope_version: "1".into() };
    let spans = [span.clone(), span];
    prop_assert_eq!(otlp_json::encode(&origin, &spans), encode_json(&request(&origin, &spans)));
  }

  #[test]
  fn span_parsing_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
    let _ = MastraSpan::parse(&text);
    let _ = mastra_native_exporters::tcc::span::SpanHead::parse(&text);
  }
}

proptest! {
  /// The TCC worker's top-level reader finds exactly the members serde_json finds, each as written, and never panics
  /// on other text.
  #[test]
  fn the_top_level_reader_agrees_with_serde_json(v in any_json(), junk in "\\PC{0,60}") {
    let object = json!({ "id": "x", "v": v, "after": [v] });
    let text = object.to_string();
    let mut members = Vec::new();
    mastra_native_exporters::json::top_level(&text, |k, v| members.push((k.to_string(), v.to_string())))
      .expect("serde_json's output reads");
    let keys: Vec<String> = members.iter().map(|(k, _)| serde_json::from_str(k).unwrap()).collect();
    prop_assert_eq!(keys, vec!["id".to_string(), "v".to_string(), "after".to_string()]);
    for (k, raw) in &members {
      let key: String = serde_json::from_str(k).unwrap();
      prop_assert_eq!(raw, &object[&key].to_string());
    }
    let rebuilt = format!("{{{}}}", members.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(","));
    prop_assert_eq!(rebuilt, text);
    let _ = mastra_native_exporters::json::top_level(&junk, |_, _| {});
  }

  /// The TCC worker's check for a top-level `runId` key, which stops reading early, answers as a full read does, for
  /// spans with run ids at any depth and place, and for text cut anywhere.
  #[test]
  fn the_run_id_check_agrees_with_a_full_read(v in any_json(), at in 0usize..4, top in any::<bool>(), cut in any::<prop::sample::Index>()) {
    use mastra_native_exporters::tcc::span::{SpanHead, has_run_id};
    let mut members = vec![("metadata", json!({ "runId": "m" })), ("input", v.clone()), ("output", json!([{ "runId": v }]))];
    if top {
      members.insert(at.min(members.len()), ("runId", json!("top")));
    }
    let text = format!("{{{}}}", members.iter().map(|(k, v)| format!("{:?}:{v}", k)).collect::<Vec<_>>().join(","));
    let full = |t: &str| t.contains("\"runId\"") && SpanHead::parse(t).is_ok_and(|h| h.run_id.is_some());
    prop_assert_eq!(has_run_id(&text), top);
    prop_assert_eq!(has_run_id(&text), full(&text));
    let end = cut.index(text.len() + 1);
    if text.is_char_boundary(end) {
      prop_assert_eq!(has_run_id(&text[..end]), full(&text[..end]));
    }
  }
}

proptest! {
  /// The worker's JSON reader agrees with serde_json on every value, keeps key order, and gives back exactly the
  /// compact text it read, which is what `JSON.stringify` of the value writes.
  #[test]
  fn the_span_json_reader_agrees_with_serde_json(v in any_json(), junk in "\\PC{0,40}") {
    let text = v.to_string();
    let parsed = mastra_native_exporters::json::parse(&text).expect("serde_json's output parses");
    prop_assert_eq!(parsed.to_value(), v);
    prop_assert_eq!(parsed.to_json(), text);
    prop_assert_eq!(
      mastra_native_exporters::json::parse(&junk).is_ok(),
      serde_json::from_str::<Value>(&junk).is_ok(),
      "{:?}", junk
    );
  }
}
