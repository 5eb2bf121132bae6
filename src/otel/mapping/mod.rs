//! Mastra span → OpenTelemetry span, in three modes (option `semconv`):
//! - `mastra`: exactly what `@mastra/otel-exporter` 1.4.0 emits (the default for Mastra 1.x);
//! - `legacy`: the 0.x mapping of the original product docs (the default for Mastra 0.24);
//! - `latest`: strictly the current GenAI semantic conventions.
//!
//! Every mode: parent = `parentSpanId`, else `externalParentSpanId`; ids lower-cased and left-padded to 32/16 hex;
//! an event span (no end time) ends at its start; `captureContent: false` drops input, output, messages and
//! instructions.

mod attrs;
mod legacy;
mod mastra;
pub mod messages;
pub mod provider;
pub mod semconv;

pub use attrs::Attrs;

use super::otlp::{AttrValue, Kind, OtelEvent, OtelSpan, StatusCode};
use super::span::{MastraSpan, normalize_id};
use crate::json::Json;
use std::borrow::Cow;

/// Which conventions the attributes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semconv {
  Mastra,
  Legacy,
  Latest,
}

impl Semconv {
  pub fn parse(s: &str) -> Option<Self> {
    match s {
      "mastra" => Some(Self::Mastra),
      "legacy" => Some(Self::Legacy),
      "latest" => Some(Self::Latest),
      _ => None,
    }
  }
}

/// Switches of the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
  pub semconv: Semconv,
  pub capture_content: bool,
}

/// Facts about the trace that one span cannot tell by itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceFacts {
  /// A `model_inference` span was seen in this trace: it is the model-call (`chat`) span, and `model_generation` is a
  /// plain container (Mastra 1.x with `@mastra/observability` advertising `model-inference-span`).
  pub has_model_inference: bool,
  /// The provider of the trace's last model call (`latest` mode puts it on `invoke_agent`, which Mastra ends last).
  pub provider: Option<String>,
}

/// Why a span could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
  #[error("invalid trace id {0:?}")]
  TraceId(String),
  #[error("invalid span id {0:?}")]
  SpanId(String),
}

/// The role a span plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
  ModelCall,
  ModelContainer,
  Other,
}

pub(crate) fn role(span: &MastraSpan, facts: &TraceFacts) -> Role {
  match span.span_type.as_ref() {
    "model_inference" => Role::ModelCall,
    "model_generation" if facts.has_model_inference => Role::ModelContainer,
    "model_generation" => Role::ModelCall,
    _ => Role::Other,
  }
}

/// Maps one span.
pub fn map_span<'s>(span: &'s MastraSpan<'_>, opts: MapOptions, facts: &TraceFacts) -> Result<OtelSpan<'s>, MapError> {
  let trace_id = normalize_id(&span.trace_id, 32).ok_or_else(|| MapError::TraceId(span.trace_id.to_string()))?;
  let span_id = normalize_id(&span.id, 16).ok_or_else(|| MapError::SpanId(span.id.to_string()))?;
  let parent_span_id = span
    .parent_span_id
    .as_deref()
    .or(span.external_parent_span_id.as_deref())
    .and_then(|p| normalize_id(p, 16));
  let shape = match opts.semconv {
    Semconv::Mastra => mastra::map(span, opts, facts, false),
    Semconv::Latest => mastra::map(span, opts, facts, true),
    Semconv::Legacy => legacy::map(span, opts, facts),
  };
  let end_ns = span.end_ns.unwrap_or(span.start_ns).max(span.start_ns);
  let (status, status_message, mut events) = status_and_events(span, opts.semconv);
  if opts.semconv == Semconv::Legacy && span.is_event {
    // 0.x marked event spans with an `instant_event` event.
    events.push(OtelEvent {
      name: "instant_event".into(),
      time_ns: span.start_ns,
      attributes: Vec::new(),
    });
  }
  Ok(OtelSpan {
    trace_id,
    span_id,
    parent_span_id,
    name: shape.name,
    kind: shape.kind,
    start_ns: span.start_ns,
    end_ns,
    attributes: shape.attributes.into_vec(),
    events,
    status,
    status_message,
  })
}

/// What a mode decides: name, kind and attributes.
pub(crate) struct Shape<'a> {
  pub name: String,
  pub kind: Kind,
  pub attributes: Attrs<'a>,
}

fn status_and_events<'s>(span: &'s MastraSpan<'_>, semconv: Semconv) -> (StatusCode, String, Vec<OtelEvent<'s>>) {
  let Some(err) = &span.error_info else {
    let ok = span.end_ns.is_some() && semconv == Semconv::Mastra;
    return (
      if ok { StatusCode::Ok } else { StatusCode::Unset },
      String::new(),
      Vec::new(),
    );
  };
  let message = err.get("message").map(attrs::text).unwrap_or_default();
  let mut a = Attrs::default();
  a.str("exception.message", message.clone());
  let (exception_type, time_ns) = match semconv {
    // 1.4.0: the type is always "Error" and the event is stamped at the span start.
    Semconv::Mastra | Semconv::Legacy => ("Error".to_string(), span.start_ns),
    Semconv::Latest => (
      err.get("name").and_then(Json::as_str).unwrap_or("Error").to_string(),
      span.end_ns.unwrap_or(span.start_ns),
    ),
  };
  a.str("exception.type", exception_type);
  let stack = match semconv {
    Semconv::Mastra => err.get("details").and_then(|d| d.get("stack")),
    _ => err
      .get("stack")
      .or_else(|| err.get("details").and_then(|d| d.get("stack"))),
  };
  if let Some(stack) = stack.filter(|s| !s.is_null()) {
    a.str("exception.stacktrace", attrs::text_of(stack));
  }
  let event = OtelEvent {
    name: "exception".into(),
    time_ns,
    attributes: a.into_vec(),
  };
  (StatusCode::Error, message, vec![event])
}

/// Keeps letters, digits, `.`, `_`, space and `-`, as 1.4.0 does for names without an identifier.
pub(crate) fn sanitize_name(name: &str) -> String {
  name
    .chars()
    .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | ' ' | '-'))
    .collect()
}

/// `"<operation> <identifier>"`, or the sanitised Mastra name when there is no identifier.
pub(crate) fn op_name(op: &str, identifier: Option<&str>, span: &MastraSpan) -> String {
  match identifier.filter(|i| !i.is_empty()) {
    Some(id) => [op, " ", id].concat(),
    None => sanitize_name(&span.name),
  }
}

/// The value as an attribute: strings as they are, numbers and booleans typed, anything else as JSON text.
pub(crate) fn primitive<'a>(v: &'a Json<'_>) -> Option<AttrValue<'a>> {
  Some(match v {
    Json::Null => return None,
    Json::String(s) => AttrValue::Str(Cow::Borrowed(s)),
    Json::Bool(b) => AttrValue::Bool(*b),
    Json::Number(n) => attrs::number(n),
    other => AttrValue::Str(other.json_text()),
  })
}

#[cfg(test)]
mod tests;

/// [`primitive`] for other modules.
pub fn primitive_value(v: &serde_json::Value) -> Option<AttrValue<'static>> {
  let text = v.to_string();
  primitive(&crate::json::parse(&text).ok()?).map(AttrValue::into_owned)
}
