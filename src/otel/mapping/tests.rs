use super::*;
use serde_json::json;

/// [`super::map_span`], the result owned: the tests map spans they build in place.
fn map_span(span: &MastraSpan, opts: MapOptions, facts: &TraceFacts) -> Result<OtelSpan<'static>, MapError> {
  super::map_span(span, opts, facts).map(OtelSpan::into_owned)
}

fn span(v: serde_json::Value) -> MastraSpan<'static> {
  let mut base = json!({
    "id": "00000000000000b1", "traceId": "000000000000000000000000000000a1", "name": "x", "type": "generic",
    "startTime": "2026-01-01T00:00:00.000Z", "endTime": "2026-01-01T00:00:01.000Z", "attributes": {},
    "isEvent": false, "isRootSpan": false, "parentSpanId": "00000000000000c1"
  });
  for (k, val) in v.as_object().unwrap() {
    base[k] = val.clone();
  }
  // The span borrows from its text, as in the worker; a test keeps the text for good.
  MastraSpan::parse(Box::leak(base.to_string().into_boxed_str())).unwrap()
}

fn opts(semconv: Semconv) -> MapOptions {
  MapOptions {
    semconv,
    capture_content: true,
  }
}

fn str_attr<'a>(s: &'a OtelSpan, k: &str) -> Option<&'a str> {
  match s.attr(k)? {
    AttrValue::Str(v) => Some(v),
    _ => None,
  }
}

#[test]
fn names_kinds_and_operations_per_type_and_mode() {
  let agent = json!({"type": "agent_run", "entityType": "agent", "entityId": "support", "entityName": "Support Agent", "isRootSpan": true, "attributes": {"agentId": "support"}});
  let inference = json!({"type": "model_inference", "entityType": "agent", "entityName": "Support Agent", "attributes": {"model": "gpt-4o", "provider": "openai.chat"}});
  let generation =
    json!({"type": "model_generation", "attributes": {"model": "gpt-4o", "resultType": "tool_selection"}});
  let tool = json!({"type": "tool_call", "entityId": "getWeather", "entityName": "getWeather", "attributes": {}});
  let mcp = json!({"type": "mcp_tool_call", "entityName": "search", "attributes": {"mcpServer": "docs"}});
  let workflow = json!({"type": "workflow_run", "entityId": "wf", "entityName": "wf", "attributes": {}});
  let step =
    json!({"type": "workflow_step", "entityId": "double", "entityName": "wf", "name": "workflow step: 'double'"});
  let cond = json!({"type": "workflow_conditional", "name": "condition: 0", "entityName": "wf"});
  let model_step = json!({"type": "model_step", "name": "step: 0", "entityName": "Support Agent"});
  let no_entity = json!({"type": "processor_run", "name": "processor: 'x'"});
  let with_inf = TraceFacts {
    has_model_inference: true,
    provider: None,
  };
  let without = TraceFacts::default();
  type Case = (serde_json::Value, Semconv, TraceFacts, &'static str, Kind, &'static str);
  let cases: Vec<Case> = vec![
    (
      agent.clone(),
      Semconv::Mastra,
      with_inf.clone(),
      "invoke_agent Support Agent",
      Kind::Internal,
      "invoke_agent",
    ),
    (
      inference.clone(),
      Semconv::Mastra,
      with_inf.clone(),
      "chat gpt-4o",
      Kind::Client,
      "chat",
    ),
    (
      generation.clone(),
      Semconv::Mastra,
      with_inf.clone(),
      "model_generation gpt-4o",
      Kind::Internal,
      "model_generation",
    ),
    (
      generation.clone(),
      Semconv::Mastra,
      without.clone(),
      "chat gpt-4o",
      Kind::Client,
      "chat",
    ),
    (
      tool.clone(),
      Semconv::Mastra,
      without.clone(),
      "execute_tool getWeather",
      Kind::Internal,
      "execute_tool",
    ),
    (
      mcp.clone(),
      Semconv::Mastra,
      without.clone(),
      "execute_tool search",
      Kind::Client,
      "execute_tool",
    ),
    (
      mcp.clone(),
      Semconv::Latest,
      without.clone(),
      "tools/call search",
      Kind::Client,
      "execute_tool",
    ),
    (
      workflow.clone(),
      Semconv::Mastra,
      without.clone(),
      "invoke_workflow wf",
      Kind::Internal,
      "invoke_workflow",
    ),
    (
      step.clone(),
      Semconv::Mastra,
      without.clone(),
      "workflow_step double",
      Kind::Internal,
      "workflow_step",
    ),
    (
      cond.clone(),
      Semconv::Mastra,
      without.clone(),
      "condition 0",
      Kind::Internal,
      "workflow_conditional",
    ),
    (
      model_step.clone(),
      Semconv::Mastra,
      without.clone(),
      "agent_step Support Agent",
      Kind::Internal,
      "agent_step",
    ),
    (
      no_entity.clone(),
      Semconv::Mastra,
      without.clone(),
      "processor x",
      Kind::Internal,
      "processor_run",
    ),
    (
      agent.clone(),
      Semconv::Legacy,
      without.clone(),
      "agent.support",
      Kind::Server,
      "agent.run",
    ),
    (
      generation.clone(),
      Semconv::Legacy,
      without.clone(),
      "tool_selection gpt-4o",
      Kind::Client,
      "tool_selection",
    ),
    (
      json!({"type": "llm_generation", "attributes": {"model": "m"}}),
      Semconv::Legacy,
      without.clone(),
      "chat m",
      Kind::Client,
      "chat",
    ),
    (
      json!({"type": "tool_call", "attributes": {"toolId": "calc"}}),
      Semconv::Legacy,
      without.clone(),
      "tool.execute calc",
      Kind::Internal,
      "tool.execute",
    ),
    (
      json!({"type": "workflow_run", "attributes": {"workflowId": "wf"}}),
      Semconv::Legacy,
      without.clone(),
      "workflow.wf",
      Kind::Server,
      "workflow.run",
    ),
    (
      mcp.clone(),
      Semconv::Legacy,
      without.clone(),
      "tool.execute ",
      Kind::Client,
      "tool.execute",
    ),
    (
      step.clone(),
      Semconv::Legacy,
      without.clone(),
      "workflow step: 'double'",
      Kind::Internal,
      "workflow.step",
    ),
  ];
  for (input, mode, facts, name, kind, op) in cases {
    let s = map_span(&span(input.clone()), opts(mode), &facts).unwrap();
    assert_eq!((s.name.as_str(), s.kind), (name, kind), "{mode:?} {input}");
    assert_eq!(
      str_attr(&s, semconv::GEN_AI_OPERATION_NAME),
      Some(op),
      "{mode:?} {input}"
    );
  }
}

#[test]
fn usage_is_only_on_the_model_call_span() {
  let usage =
    json!({"inputTokens": 30, "outputTokens": 13, "inputDetails": {"cacheRead": 4}, "outputDetails": {"reasoning": 2}});
  let facts = TraceFacts {
    has_model_inference: true,
    provider: None,
  };
  let gen_span = span(json!({"type": "model_generation", "attributes": {"model": "m", "usage": usage}}));
  let inf = span(json!({"type": "model_inference", "attributes": {"model": "m", "usage": usage}}));
  let step = span(json!({"type": "model_step", "attributes": {"usage": usage, "stepIndex": 0}}));
  for mode in [Semconv::Mastra, Semconv::Latest, Semconv::Legacy] {
    assert!(
      map_span(&gen_span, opts(mode), &facts)
        .unwrap()
        .attr(semconv::GEN_AI_USAGE_INPUT_TOKENS)
        .is_none(),
      "{mode:?}"
    );
    assert!(
      map_span(&step, opts(mode), &facts)
        .unwrap()
        .attr(semconv::GEN_AI_USAGE_INPUT_TOKENS)
        .is_none(),
      "{mode:?}"
    );
    let s = map_span(&inf, opts(mode), &facts).unwrap();
    assert_eq!(
      s.attr(semconv::GEN_AI_USAGE_INPUT_TOKENS),
      Some(&AttrValue::Int(30)),
      "{mode:?}"
    );
  }
  let m = map_span(&inf, opts(Semconv::Mastra), &facts).unwrap();
  assert_eq!(m.attr("gen_ai.usage.reasoning_tokens"), Some(&AttrValue::Int(2)));
  assert_eq!(
    m.attr(semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    Some(&AttrValue::Int(4))
  );
  let l = map_span(&inf, opts(Semconv::Latest), &facts).unwrap();
  assert_eq!(
    l.attr(semconv::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
    Some(&AttrValue::Int(2))
  );
  assert!(
    l.attr("gen_ai.usage.reasoning_tokens").is_none(),
    "no non-standard key in latest mode"
  );
  let legacy = map_span(&inf, opts(Semconv::Legacy), &facts).unwrap();
  assert_eq!(legacy.attr("gen_ai.usage.total_tokens"), Some(&AttrValue::Int(43)));
}

#[test]
fn latest_mode_fixes_the_reference_deviations() {
  let inf = span(
    json!({"type": "model_inference", "entityType": "agent", "entityId": "a", "entityName": "A",
    "attributes": {"model": "gpt-4o", "provider": "openai.chat", "finishReason": "stop", "streaming": true,
      "completionStartTime": "2026-01-01T00:00:00.250Z", "parameters": {"seed": 0, "stopSequences": ["END"], "temperature": 0.2}},
    "output": {"text": "hi"}}),
  );
  let facts = TraceFacts {
    has_model_inference: true,
    provider: None,
  };
  let m = map_span(&inf, opts(Semconv::Mastra), &facts).unwrap();
  let l = map_span(&inf, opts(Semconv::Latest), &facts).unwrap();
  assert_eq!(m.status, StatusCode::Ok);
  assert_eq!(l.status, StatusCode::Unset, "success leaves the status unset");
  assert_eq!(str_attr(&m, semconv::GEN_AI_PROVIDER_NAME), Some("openai.chat"));
  assert_eq!(str_attr(&l, semconv::GEN_AI_PROVIDER_NAME), Some("openai"));
  assert_eq!(
    str_attr(&m, semconv::GEN_AI_RESPONSE_FINISH_REASONS),
    Some("[\"stop\"]")
  );
  assert_eq!(
    l.attr(semconv::GEN_AI_RESPONSE_FINISH_REASONS),
    Some(&AttrValue::StrArray(vec!["stop".into()]))
  );
  assert_eq!(
    l.attr(semconv::GEN_AI_REQUEST_STOP_SEQUENCES),
    Some(&AttrValue::StrArray(vec!["END".into()]))
  );
  assert!(
    m.attr(semconv::GEN_AI_REQUEST_SEED).is_none(),
    "1.4.0 drops a zero seed"
  );
  assert_eq!(l.attr(semconv::GEN_AI_REQUEST_SEED), Some(&AttrValue::Int(0)));
  assert_eq!(l.attr(semconv::GEN_AI_REQUEST_STREAM), Some(&AttrValue::Bool(true)));
  assert_eq!(
    l.attr(semconv::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK),
    Some(&AttrValue::Double(0.25))
  );
  assert_eq!(
    l.attr(semconv::GEN_AI_REQUEST_TEMPERATURE),
    Some(&AttrValue::Double(0.2))
  );
  let out: serde_json::Value = serde_json::from_str(str_attr(&l, semconv::GEN_AI_OUTPUT_MESSAGES).unwrap()).unwrap();
  assert_eq!(out[0]["finish_reason"], "stop");
  let wf = map_span(
    &span(json!({"type": "workflow_run", "entityId": "wf", "attributes": {"status": "success"}})),
    opts(Semconv::Latest),
    &facts,
  )
  .unwrap();
  assert_eq!(str_attr(&wf, semconv::GEN_AI_WORKFLOW_NAME), Some("wf"));
}

#[test]
fn errors_set_status_attributes_and_an_exception_event() {
  let s = span(
    json!({"type": "tool_call", "entityName": "t", "errorInfo": {"message": "down", "name": "Error", "stack": "Error: down\n at x", "id": "TOOL_FAILED", "domain": "TOOL", "category": "USER"}}),
  );
  let m = map_span(&s, opts(Semconv::Mastra), &TraceFacts::default()).unwrap();
  assert_eq!((m.status, m.status_message.as_str()), (StatusCode::Error, "down"));
  assert_eq!(str_attr(&m, semconv::ERROR_TYPE), Some("TOOL_FAILED"));
  assert_eq!(str_attr(&m, "error.domain"), Some("TOOL"));
  assert_eq!(m.events.len(), 1);
  assert_eq!(
    m.events[0].time_ns, s.start_ns,
    "1.4.0 stamps the event at the span start"
  );
  assert!(
    m.events[0].attributes.iter().all(|(k, _)| k != "exception.stacktrace"),
    "1.4.0 reads details.stack only"
  );
  let l = map_span(&s, opts(Semconv::Latest), &TraceFacts::default()).unwrap();
  assert_eq!(l.events[0].time_ns, s.end_ns.unwrap());
  assert!(l.events[0].attributes.iter().any(|(k, _)| k == "exception.stacktrace"));
  let legacy = map_span(&s, opts(Semconv::Legacy), &TraceFacts::default()).unwrap();
  assert_eq!(legacy.attr("error"), Some(&AttrValue::Bool(true)));
}

#[test]
fn ids_parents_and_event_spans() {
  let s = span(
    json!({"id": "AB", "traceId": "ABC", "parentSpanId": null, "externalParentSpanId": "F", "endTime": null, "isEvent": true}),
  );
  let m = map_span(&s, opts(Semconv::Mastra), &TraceFacts::default()).unwrap();
  assert_eq!(m.trace_id, "00000000000000000000000000000abc");
  assert_eq!(m.span_id, "00000000000000ab");
  assert_eq!(m.parent_span_id.as_deref(), Some("000000000000000f"));
  assert_eq!(m.end_ns, m.start_ns);
  assert_eq!(m.status, StatusCode::Unset);
  assert_eq!(
    map_span(
      &span(json!({"id": "zz"})),
      opts(Semconv::Mastra),
      &TraceFacts::default()
    ),
    Err(MapError::SpanId("zz".into()))
  );
}

#[test]
fn capture_content_false_drops_input_output_messages_and_instructions() {
  let agent = span(
    json!({"type": "agent_run", "entityId": "a", "attributes": {"instructions": "secret prompt"}, "input": "hi", "output": {"text": "yo"}}),
  );
  let inf = span(
    json!({"type": "model_inference", "attributes": {"model": "m"}, "input": {"messages": []}, "output": {"text": "yo"}}),
  );
  let tool = span(json!({"type": "tool_call", "entityName": "t", "input": {"q": 1}, "output": {"r": 2}}));
  for mode in [Semconv::Mastra, Semconv::Latest, Semconv::Legacy] {
    for s in [&agent, &inf, &tool] {
      let m = map_span(
        s,
        MapOptions {
          semconv: mode,
          capture_content: false,
        },
        &TraceFacts::default(),
      )
      .unwrap();
      let leaked: Vec<&str> = m
        .attributes
        .iter()
        .map(|(k, _)| k.as_ref())
        .filter(|k| {
          k.ends_with(".input")
            || k.ends_with(".output")
            || k.contains("messages")
            || k.contains("instructions")
            || k.contains("arguments")
            || k.contains("result")
            || *k == "input"
            || *k == "output"
            || k.contains("prompt")
            || k.contains("completion")
        })
        .collect();
      assert!(leaked.is_empty(), "{mode:?} {}: {leaked:?}", s.span_type);
    }
  }
}

#[test]
fn metadata_becomes_prefixed_attributes_and_thread_id_the_conversation() {
  let s = span(
    json!({"metadata": {"threadId": "t-1", "n": 3, "nested": {"a": 1}, "gone": null}, "isRootSpan": true, "tags": ["a", "b"]}),
  );
  let m = map_span(&s, opts(Semconv::Mastra), &TraceFacts::default()).unwrap();
  assert_eq!(str_attr(&m, semconv::GEN_AI_CONVERSATION_ID), Some("t-1"));
  assert_eq!(m.attr("mastra.metadata.n"), Some(&AttrValue::Int(3)));
  assert_eq!(str_attr(&m, "mastra.metadata.nested"), Some("{\"a\":1}"));
  assert!(m.attr("mastra.metadata.gone").is_none());
  assert_eq!(str_attr(&m, "mastra.tags"), Some("[\"a\",\"b\"]"));
  let legacy = map_span(&s, opts(Semconv::Legacy), &TraceFacts::default()).unwrap();
  assert_eq!(str_attr(&legacy, "threadId"), Some("t-1"), "0.x flattened metadata");
}

#[test]
fn dates_sent_as_epoch_milliseconds_map_as_their_iso_strings() {
  // The entry points' wrappers send a span's Dates as their time values (crate::dates); the mapping must not tell.
  let fields = |start: serde_json::Value, end: serde_json::Value, first: serde_json::Value| {
    json!({"type": "model_inference", "entityType": "agent", "entityId": "a", "startTime": start, "endTime": end,
      "attributes": {"model": "m", "streaming": true, "completionStartTime": first}})
  };
  let iso = span(fields(
    json!("2026-01-01T00:00:00.001Z"),
    json!("2026-01-01T00:00:01.999Z"),
    json!("2026-01-01T00:00:00.250Z"),
  ));
  let ms = span(fields(
    json!(1767225600001u64),
    json!(1767225601999u64),
    json!(1767225600250u64),
  ));
  assert_eq!((ms.start_ns, ms.end_ns), (iso.start_ns, iso.end_ns));
  assert_eq!(
    ms.start_ns, 1_767_225_600_001_000_000,
    "whole milliseconds convert exactly"
  );
  let facts = TraceFacts {
    has_model_inference: true,
    provider: None,
  };
  for semconv in [Semconv::Mastra, Semconv::Latest] {
    let (a, b) = (
      map_span(&iso, opts(semconv), &facts).unwrap(),
      map_span(&ms, opts(semconv), &facts).unwrap(),
    );
    assert_eq!(a, b, "{semconv:?}");
    assert_eq!(
      str_attr(&b, "mastra.completion_start_time"),
      Some("2026-01-01T00:00:00.250Z")
    );
  }
}

#[test]
fn string_values_are_borrowed_from_the_parsed_span() {
  let s = span(json!({
    "type": "tool_call", "entityId": "weather",
    "metadata": {"userId": "u-1", "note": "line\nbreak", "n": 3},
    "input": {"city": "Paris"}, "output": "sunny"
  }));
  let out = super::map_span(&s, opts(Semconv::Mastra), &TraceFacts::default()).unwrap();
  let value = |k: &str| match out.attr(k) {
    Some(AttrValue::Str(v)) => v.clone(),
    other => panic!("{k}: {other:?}"),
  };
  // Borrowed from the parsed span: from its text, from the unescaped copy the reader made of a string with escapes,
  // and a compact object (the input) as its text.
  assert!(matches!(value("mastra.metadata.userId"), Cow::Borrowed("u-1")));
  assert!(matches!(value("mastra.metadata.note"), Cow::Borrowed("line\nbreak")));
  assert!(matches!(
    value(semconv::GEN_AI_TOOL_CALL_ARGUMENTS),
    Cow::Borrowed(r#"{"city":"Paris"}"#)
  ));
  assert!(matches!(
    value(semconv::GEN_AI_TOOL_CALL_RESULT),
    Cow::Borrowed("sunny")
  ));
  assert!(matches!(out.trace_id, Cow::Borrowed(_)) && matches!(out.span_id, Cow::Borrowed(_)));
  // And the owned copy is the same span.
  assert_eq!(out.clone().into_owned(), out);
}
