//! The `legacy` mapping: what `@mastra/otel-exporter` 0.x emitted and the original product docs describe.
//! LLM generations `chat {model}` / `tool_selection {model}`, tools `tool.execute {tool}`, agents `agent.{id}`,
//! workflows `workflow.{id}`; agent and workflow runs SERVER, LLM calls CLIENT, MCP tool calls CLIENT, everything else
//! INTERNAL; `gen_ai.system` for the provider and flattened metadata.

use super::semconv::*;
use super::{Attrs, MapOptions, Role, Shape, TraceFacts, primitive, role};
use crate::json::Json;
use crate::otel::otlp::{AttrValue, Kind};
use crate::otel::span::MastraSpan;

/// The id of the agent, tool or workflow: the 1.x entity id, or the 0.24 attribute.
fn id_of(span: &MastraSpan, attr: &str) -> Option<String> {
  span.entity_id.as_deref().or(span.attr_str(attr)).map(String::from)
}

pub(crate) fn map<'s>(span: &'s MastraSpan<'_>, opts: MapOptions, facts: &TraceFacts) -> Shape<'s> {
  let ty = span.span_type.as_ref();
  let model_call = role(span, facts) == Role::ModelCall;
  let model = span.attr_str("model").unwrap_or("unknown");
  let (name, kind, operation) = if model_call {
    let op = if span.attr_str("resultType") == Some("tool_selection") {
      "tool_selection"
    } else {
      "chat"
    };
    (format!("{op} {model}"), Kind::Client, op.to_string())
  } else {
    match ty {
      "agent_run" => (
        format!("agent.{}", id_of(span, "agentId").unwrap_or_default()),
        Kind::Server,
        "agent.run".into(),
      ),
      "workflow_run" => (
        format!("workflow.{}", id_of(span, "workflowId").unwrap_or_default()),
        Kind::Server,
        "workflow.run".into(),
      ),
      "tool_call" => (
        format!("tool.execute {}", id_of(span, "toolId").unwrap_or_default()),
        Kind::Internal,
        "tool.execute".into(),
      ),
      "mcp_tool_call" => (
        format!("tool.execute {}", id_of(span, "toolId").unwrap_or_default()),
        Kind::Client,
        "tool.execute".into(),
      ),
      "model_chunk" => (span.name.to_string(), Kind::Client, ty.replace('_', ".")),
      _ => (span.name.to_string(), Kind::Internal, ty.replace('_', ".")),
    }
  };
  let mut a = Attrs::default();
  a.str(GEN_AI_OPERATION_NAME, operation.clone());
  a.str(
    "span.kind",
    match kind {
      Kind::Server => "server",
      Kind::Client => "client",
      _ => "internal",
    },
  );
  if model_call {
    a.opt_str(GEN_AI_REQUEST_MODEL, span.attr_str("model"));
    a.opt_str(GEN_AI_SYSTEM, span.attr_str("provider"));
    if let Some(Json::Object(u)) = span.attr("usage") {
      a.num(
        GEN_AI_USAGE_INPUT_TOKENS,
        u.get("inputTokens").or(u.get("promptTokens")),
      );
      a.num(
        GEN_AI_USAGE_OUTPUT_TOKENS,
        u.get("outputTokens").or(u.get("completionTokens")),
      );
      let total = u
        .get("totalTokens")
        .and_then(Json::as_i64)
        .or_else(|| Some(u.get("inputTokens").and_then(Json::as_i64)? + u.get("outputTokens").and_then(Json::as_i64)?));
      if let Some(t) = total {
        a.set("gen_ai.usage.total_tokens", AttrValue::Int(t));
      }
      a.num(
        "gen_ai.usage.reasoning_tokens",
        u.get("reasoningTokens")
          .or(u.get("outputDetails").and_then(|d| d.get("reasoning"))),
      );
      a.num(
        "gen_ai.usage.cached_input_tokens",
        u.get("cachedInputTokens")
          .or(u.get("inputDetails").and_then(|d| d.get("cacheRead"))),
      );
    }
    if let Some(Json::Object(p)) = span.attr("parameters") {
      a.request_numbers(p);
      a.text(GEN_AI_REQUEST_STOP_SEQUENCES, p.get("stopSequences"));
    }
    a.text(GEN_AI_RESPONSE_FINISH_REASONS, span.attr("finishReason"));
    if opts.capture_content {
      a.text("gen_ai.prompt", span.input.as_ref());
      a.text("gen_ai.completion", span.output.as_ref());
    }
  }
  match ty {
    "tool_call" | "mcp_tool_call" => {
      a.opt_str(GEN_AI_TOOL_NAME, id_of(span, "toolId"));
      a.text(GEN_AI_TOOL_DESCRIPTION, span.attr("toolDescription"));
      a.bool("gen_ai.tool.success", span.attr("success"));
      if ty == "mcp_tool_call" {
        a.text("mcp.server", span.attr("mcpServer"));
        a.text("mcp.server.version", span.attr("serverVersion"));
      }
      if opts.capture_content {
        a.text("gen_ai.tool.input", span.input.as_ref());
        a.text("gen_ai.tool.output", span.output.as_ref());
      }
    }
    "agent_run" => {
      let id = id_of(span, "agentId");
      a.opt_str("agent.id", id.clone());
      a.opt_str(GEN_AI_AGENT_ID, id);
      a.num("agent.max_steps", span.attr("maxSteps"));
      a.text("agent.available_tools", span.attr("availableTools"));
    }
    "workflow_run" => {
      a.opt_str("workflow.id", id_of(span, "workflowId"));
      a.text("workflow.status", span.attr("status"));
    }
    _ => {}
  }
  if opts.capture_content {
    a.text("input", span.input.as_ref());
    a.text("output", span.output.as_ref());
  }
  if let Some(err) = &span.error_info {
    a.set("error", AttrValue::Bool(true));
    a.text(ERROR_TYPE, err.get("id").or(err.get("name")));
    a.text("error.message", err.get("message"));
    a.text("error.domain", err.get("domain"));
    a.text("error.category", err.get("category"));
  }
  a.str("mastra.trace_id", span.trace_id.as_ref());
  a.str("mastra.span_id", span.id.as_ref());
  a.opt_str("mastra.parent_span_id", span.parent_span_id.as_deref());
  a.set("mastra.start_time", AttrValue::Int((span.start_ns / 1_000_000) as i64));
  if let Some(end) = span.end_ns {
    a.set("mastra.end_time", AttrValue::Int((end / 1_000_000) as i64));
    a.set(
      "mastra.duration_ms",
      AttrValue::Int(((end.saturating_sub(span.start_ns)) / 1_000_000) as i64),
    );
  }
  // 0.x flattened metadata at the top level, never overriding a key already set.
  for (k, v) in &span.metadata {
    if a.get(k).is_none()
      && let Some(v) = primitive(v)
    {
      a.set(k.to_string(), v);
    }
  }
  Shape {
    name,
    kind,
    attributes: a,
  }
}
