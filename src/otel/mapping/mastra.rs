//! The `mastra` mapping (what `@mastra/otel-exporter` 1.4.0 emits) and, with `latest`, the same spans made strictly
//! conformant to the GenAI conventions: status UNSET on success, real string arrays, standard usage keys, normalised
//! provider names (also on `invoke_agent`), `finish_reason` in output messages, schema-form tool definitions,
//! `gen_ai.request.stream`, `gen_ai.response.time_to_first_chunk`, `gen_ai.workflow.name` and MCP naming.

use super::semconv::*;
use super::{Attrs, MapOptions, Role, Shape, TraceFacts, messages, op_name, primitive, provider, role};
use crate::json::Json;
use crate::otel::otlp::{AttrValue, Kind};
use crate::otel::span::MastraSpan;
use serde_json::Value;

pub(crate) fn map<'s>(span: &'s MastraSpan<'_>, opts: MapOptions, facts: &TraceFacts, latest: bool) -> Shape<'s> {
  let r = role(span, facts);
  let ty = span.span_type.as_ref();
  let (op, identifier, kind) = naming(span, r, latest);
  let name = match (latest, ty) {
    (true, "mcp_tool_call") => format!("tools/call {}", span.entity().unwrap_or_default())
      .trim_end()
      .to_string(),
    _ => op_name(op, identifier, span),
  };
  let mut a = Attrs::default();
  a.str(GEN_AI_OPERATION_NAME, op);
  a.str("mastra.span.type", ty);
  if opts.capture_content {
    content(span, r, latest, &mut a);
  }
  match (r, ty) {
    (Role::ModelCall, _) => model_call(span, latest, &mut a),
    (_, "rag_embedding") => model_call(span, latest, &mut a),
    (_, "model_step") => {
      a.num("mastra.model_step.step_index", span.attr("stepIndex"));
      a.bool("mastra.model_step.is_continued", span.attr("isContinued"));
    }
    (_, "tool_call" | "mcp_tool_call" | "provider_tool_call") => tool(span, latest, &mut a),
    (_, "mcp_server_request") => mcp_server(span, &mut a),
    (_, "agent_run") => {
      if latest && let Some(p) = &facts.provider {
        a.str(GEN_AI_PROVIDER_NAME, provider::normalize_latest(p));
      }
      agent(span, opts, latest, &mut a)
    }
    (_, "workflow_run") => {
      if latest {
        a.opt_str(
          GEN_AI_WORKFLOW_NAME,
          span.entity_id.as_deref().or(span.entity_name.as_deref()),
        );
      }
      a.text("mastra.workflow_run.status", span.attr("status"));
    }
    (_, "workflow_step") => {
      a.opt_str("mastra.workflow_step.step_id", span.entity_id.as_deref());
      a.text("mastra.workflow_step.status", span.attr("status"));
      entry(span, ty, &mut a);
    }
    (_, t) if t.starts_with("workflow_") => control_flow(span, t, &mut a),
    _ if latest => generic(span, ty, &mut a),
    _ => {}
  }
  if let Some(err) = &span.error_info {
    let id = err.get("id").and_then(Json::as_str);
    let error_type = if latest {
      id.or(err.get("name").and_then(Json::as_str)).unwrap_or("_OTHER")
    } else {
      id.unwrap_or("unknown")
    };
    a.str(ERROR_TYPE, error_type);
    a.text("error.message", err.get("message"));
    a.text("error.domain", err.get("domain"));
    a.text("error.category", err.get("category"));
  }
  if let Some(Json::String(thread)) = span.metadata.get("threadId") {
    a.str(GEN_AI_CONVERSATION_ID, thread.as_ref());
  }
  for (k, v) in &span.metadata {
    if let Some(v) = primitive(v) {
      a.set(["mastra.metadata.", k].concat(), v);
    }
  }
  if span.is_root
    && let Some(tags) = &span.tags
  {
    let strings: Option<Vec<String>> = tags
      .as_array()
      .and_then(|t| t.iter().map(|t| t.as_str().map(String::from)).collect());
    match (latest, strings) {
      (true, Some(s)) => a.str_array("mastra.tags", s),
      _ => a.str("mastra.tags", tags.json_text()),
    }
  }
  Shape {
    name,
    kind,
    attributes: a,
  }
}

/// Operation, identifier and kind per span type (1.4.0's table).
fn naming<'s>(span: &'s MastraSpan<'_>, r: Role, latest: bool) -> (&'s str, Option<&'s str>, Kind) {
  let entity = span.entity();
  let model = span.attr_str("model");
  let ty = span.span_type.as_ref();
  let (op, id, kind): (&str, Option<&str>, Kind) = match (r, ty) {
    (Role::ModelCall, _) => ("chat", model, Kind::Client),
    (Role::ModelContainer, _) => ("model_generation", model, Kind::Internal),
    (_, "agent_run") => ("invoke_agent", entity, Kind::Internal),
    (_, "model_step") => ("agent_step", entity, Kind::Internal),
    (_, "model_chunk") => ("model_chunk", entity, Kind::Internal),
    (_, "tool_call" | "provider_tool_call") => ("execute_tool", entity, Kind::Internal),
    (_, "mcp_tool_call") => ("execute_tool", entity, Kind::Client),
    (_, "mcp_server_request") => ("mcp_server_request", entity, Kind::Server),
    (_, "workflow_run") => ("invoke_workflow", entity, Kind::Internal),
    (_, "workflow_step") => ("workflow_step", span.entity_id.as_deref(), Kind::Internal),
    (_, t) if t.starts_with("workflow_") => (t, None, Kind::Internal),
    (_, "rag_embedding") => ("embeddings", model, Kind::Client),
    (_, t) => (t, entity, Kind::Internal),
  };
  let _ = latest;
  (op, id, kind)
}

fn content<'s>(span: &'s MastraSpan<'_>, r: Role, latest: bool, a: &mut Attrs<'s>) {
  let ty = span.span_type.as_ref();
  match (r, ty) {
    (Role::ModelCall, _) => {
      if let Some(input) = &span.input {
        let (system, msgs) = messages::input_messages(input, latest);
        if let Some(system) = system {
          a.str(GEN_AI_SYSTEM_INSTRUCTIONS, system);
        }
        a.str(GEN_AI_INPUT_MESSAGES, msgs);
      }
      if let Some(output) = &span.output {
        let finish = if latest { span.attr_str("finishReason") } else { None };
        a.str(
          GEN_AI_OUTPUT_MESSAGES,
          messages::output_messages(output, latest, finish),
        );
      }
    }
    (_, "tool_call" | "mcp_tool_call" | "provider_tool_call") => {
      a.text(GEN_AI_TOOL_CALL_ARGUMENTS, span.input.as_ref());
      a.text(GEN_AI_TOOL_CALL_RESULT, span.output.as_ref());
    }
    _ => {
      a.text(["mastra.", ty, ".input"].concat(), span.input.as_ref());
      a.text(["mastra.", ty, ".output"].concat(), span.output.as_ref());
    }
  }
}

fn model_call<'s>(span: &'s MastraSpan<'_>, latest: bool, a: &mut Attrs<'s>) {
  a.opt_str(GEN_AI_REQUEST_MODEL, span.attr_str("model"));
  if let Some(p) = span.attr_str("provider") {
    let normalized = if latest {
      provider::normalize_latest(p)
    } else {
      provider::normalize_mastra(p)
    };
    a.str(GEN_AI_PROVIDER_NAME, normalized);
  }
  if let Some(Json::Object(params)) = span.attr("parameters") {
    a.request_numbers(params);
    if let Some(Json::Array(stops)) = params.get("stopSequences") {
      if latest {
        a.str_array(
          GEN_AI_REQUEST_STOP_SEQUENCES,
          stops.iter().map(super::attrs::text).collect(),
        );
      } else {
        a.text(GEN_AI_REQUEST_STOP_SEQUENCES, params.get("stopSequences"));
      }
    }
    // 1.4.0 drops a seed of 0 (a truthiness check); the conventions want any seed that was sent.
    let seed = params
      .get("seed")
      .filter(|s| latest || s.as_f64().is_some_and(|n| n != 0.0));
    a.num(GEN_AI_REQUEST_SEED, seed);
  }
  if latest {
    a.bool(GEN_AI_REQUEST_STREAM, span.attr("streaming"));
  }
  usage(span, latest, a);
  a.opt_str(
    GEN_AI_AGENT_ID,
    span
      .entity_id
      .as_deref()
      .filter(|_| span.entity_type.as_deref() == Some("agent")),
  );
  a.opt_str(
    GEN_AI_AGENT_NAME,
    span
      .entity_name
      .as_deref()
      .filter(|_| span.entity_type.as_deref() == Some("agent")),
  );
  if let Some(first) = span.attr("completionStartTime").and_then(crate::otel::span::time_ns) {
    if let Some(iso) = span.attr("completionStartTime").and_then(crate::otel::span::iso_text) {
      a.set("mastra.completion_start_time", iso.into());
    }
    if latest && matches!(span.attr("streaming"), Some(Json::Bool(true))) {
      let secs = first.saturating_sub(span.start_ns) as f64 / 1e9;
      a.set(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, AttrValue::Double(secs));
    }
  }
  if let Some(reason) = span.attr_str("finishReason") {
    if latest {
      a.str_array(GEN_AI_RESPONSE_FINISH_REASONS, vec![reason.to_string()]);
    } else {
      a.str(
        GEN_AI_RESPONSE_FINISH_REASONS,
        serde_json::to_string(&[reason]).unwrap_or_default(),
      );
    }
  }
  a.opt_str(GEN_AI_RESPONSE_MODEL, span.attr_str("responseModel"));
  a.opt_str(GEN_AI_RESPONSE_ID, span.attr_str("responseId"));
  a.opt_str(SERVER_ADDRESS, span.attr_str("serverAddress"));
  a.num(SERVER_PORT, span.attr("serverPort"));
  if span.span_type == "rag_embedding" {
    a.num("gen_ai.embeddings.dimension.count", span.attr("dimensions"));
    a.num("mastra.rag_embedding.dimensions", span.attr("dimensions"));
    a.text("mastra.rag_embedding.mode", span.attr("mode"));
    a.num("mastra.rag_embedding.input_count", span.attr("inputCount"));
  }
}

fn usage<'s>(span: &'s MastraSpan<'_>, latest: bool, a: &mut Attrs<'s>) {
  let Some(Json::Object(u)) = span.attr("usage") else {
    return;
  };
  let detail = |group: &str, key: &str| u.get(group).and_then(|g| g.get(key)).filter(|v| v.is_number());
  a.num(
    GEN_AI_USAGE_INPUT_TOKENS,
    u.get("inputTokens").or(u.get("promptTokens")),
  );
  a.num(
    GEN_AI_USAGE_OUTPUT_TOKENS,
    u.get("outputTokens").or(u.get("completionTokens")),
  );
  a.num(
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    detail("inputDetails", "cacheRead").or(u.get("cachedInputTokens")),
  );
  a.num(
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    detail("inputDetails", "cacheWrite"),
  );
  let reasoning = detail("outputDetails", "reasoning").or(u.get("reasoningTokens"));
  if latest {
    a.num(GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, reasoning);
    a.num("gen_ai.usage.audio.input_tokens", detail("inputDetails", "audio"));
    a.num("gen_ai.usage.audio.output_tokens", detail("outputDetails", "audio"));
    a.num("gen_ai.usage.image.input_tokens", detail("inputDetails", "image"));
    a.num("gen_ai.usage.text.input_tokens", detail("inputDetails", "text"));
    a.num("gen_ai.usage.text.output_tokens", detail("outputDetails", "text"));
  } else {
    a.num("gen_ai.usage.reasoning_tokens", reasoning);
    a.num(
      "gen_ai.usage.cache_creation.5m_input_tokens",
      detail("inputDetails", "cacheWrite5m"),
    );
    a.num(
      "gen_ai.usage.cache_creation.1h_input_tokens",
      detail("inputDetails", "cacheWrite1h"),
    );
    a.num("gen_ai.usage.audio_input_tokens", detail("inputDetails", "audio"));
    a.num("gen_ai.usage.audio_output_tokens", detail("outputDetails", "audio"));
  }
}

fn tool<'s>(span: &'s MastraSpan<'_>, latest: bool, a: &mut Attrs<'s>) {
  a.opt_str(GEN_AI_TOOL_NAME, span.entity());
  let call_id = span
    .attr("toolCallId")
    .or_else(|| span.metadata.get("toolCallId").filter(|v| !v.is_null()));
  a.text(GEN_AI_TOOL_CALL_ID, call_id);
  a.text(GEN_AI_TOOL_DESCRIPTION, span.attr("toolDescription"));
  a.text(GEN_AI_TOOL_TYPE, span.attr("toolType"));
  if span.span_type == "mcp_tool_call" {
    if latest {
      a.str(MCP_METHOD_NAME, "tools/call");
    } else {
      a.text(SERVER_ADDRESS, span.attr("mcpServer"));
    }
    a.text("mastra.mcp_tool_call.server_name", span.attr("mcpServer"));
    a.text("mastra.mcp_tool_call.server_version", span.attr("serverVersion"));
  }
}

fn mcp_server<'s>(span: &'s MastraSpan<'_>, a: &mut Attrs<'s>) {
  a.text(MCP_METHOD_NAME, span.attr("method").or(span.attr("methodName")));
  a.text("mcp.protocol.version", span.attr("protocolVersion"));
  for (key, field) in [
    ("server_name", "serverName"),
    ("target_name", "targetName"),
    ("server_version", "serverVersion"),
    ("client_name", "clientName"),
    ("client_version", "clientVersion"),
  ] {
    a.text(["mastra.mcp_server_request.", key].concat(), span.attr(field));
  }
}

fn agent<'s>(span: &'s MastraSpan<'_>, opts: MapOptions, latest: bool, a: &mut Attrs<'s>) {
  a.opt_str(GEN_AI_AGENT_ID, span.entity_id.as_deref());
  a.opt_str(GEN_AI_AGENT_NAME, span.entity_name.as_deref());
  a.text(GEN_AI_CONVERSATION_ID, span.attr("conversationId"));
  a.num("mastra.agent_run.max_steps", span.attr("maxSteps"));
  if let Some(Json::Array(tools)) = span.attr("availableTools") {
    let names: Vec<Value> = tools.iter().map(|t| t.get("name").unwrap_or(t).to_value()).collect();
    let value = if latest {
      Value::Array(
        names
          .into_iter()
          .map(|n| serde_json::json!({"type": "function", "name": n}))
          .collect(),
      )
    } else {
      Value::Array(names)
    };
    a.str(GEN_AI_TOOL_DEFINITIONS, value.to_string());
  }
  if opts.capture_content
    && let Some(instructions) = span.attr("instructions")
  {
    if latest {
      let parts = serde_json::json!([{"type": "text", "content": super::attrs::text(instructions)}]);
      a.str(GEN_AI_SYSTEM_INSTRUCTIONS, parts.to_string());
    } else {
      a.text(GEN_AI_SYSTEM_INSTRUCTIONS, Some(instructions));
    }
  }
}

fn entry<'s>(span: &'s MastraSpan<'_>, ty: &str, a: &mut Attrs<'s>) {
  a.text(["mastra.", ty, ".entry_id"].concat(), span.attr("entryId"));
  a.text(
    ["mastra.", ty, ".entry_description"].concat(),
    span.attr("entryDescription"),
  );
  a.text(["mastra.", ty, ".entry_metadata"].concat(), span.attr("entryMetadata"));
}

/// Workflow control-flow spans: each known attribute as `mastra.<type>.<snake_case>`, typed.
fn control_flow<'s>(span: &'s MastraSpan<'_>, ty: &str, a: &mut Attrs<'s>) {
  let fields: &[&str] = match ty {
    "workflow_conditional" => &["conditionCount", "truthyIndexes", "selectedSteps"],
    "workflow_conditional_eval" => &["conditionIndex", "result"],
    "workflow_parallel" => &["branchCount", "parallelSteps"],
    "workflow_loop" => &["loopType", "iteration", "totalIterations", "concurrency"],
    "workflow_sleep" => &["durationMs", "untilDate", "sleepType"],
    "workflow_wait_event" => &["eventName", "timeoutMs", "eventReceived", "waitDurationMs"],
    _ => &[],
  };
  for f in fields {
    if let Some(v) = span.attr(f).and_then(primitive) {
      a.set(["mastra.", ty, ".", &snake(f)].concat(), v);
    }
  }
  if ty != "workflow_conditional_eval" && ty != "workflow_wait_event" {
    entry(span, ty, a);
  }
}

/// `latest` only: any other span type keeps its attributes as `mastra.<type>.<snake_case>`, so new Mastra
/// attributes never vanish silently.
fn generic<'s>(span: &'s MastraSpan<'_>, ty: &str, a: &mut Attrs<'s>) {
  for (k, v) in &span.attributes {
    if let Some(v) = primitive(v) {
      a.set(["mastra.", ty, ".", &snake(k)].concat(), v);
    }
  }
}

fn snake(camel: &str) -> String {
  let mut out = String::with_capacity(camel.len() + 4);
  for c in camel.chars() {
    if c.is_ascii_uppercase() {
      out.push('_');
      out.push(c.to_ascii_lowercase());
    } else {
      out.push(c);
    }
  }
  out
}
