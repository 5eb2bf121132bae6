//! Mastra model input and output as `gen_ai.input.messages` / `gen_ai.output.messages`.
//!
//! `mastra` mode converts as 1.4.0 does: `{ role, parts }` messages, tool arguments and responses as JSON strings,
//! unknown parts passed through, system messages left in place, no `finish_reason`. `latest` mode follows the schema:
//! system messages become `gen_ai.system_instructions`, tool arguments and responses stay objects, reasoning, image
//! and file parts are mapped, and output messages carry `finish_reason`.

use crate::json::Json;
use crate::otel::otlp_json;
use serde_json::{Map, Value, json};

fn parsed(v: &Value) -> Value {
  match v {
    Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
    other => other.clone(),
  }
}

fn text(v: &Value) -> String {
  super::attrs::value_text(v)
}

fn part(p: &Value, latest: bool) -> Option<Value> {
  let Value::Object(o) = p else { return Some(p.clone()) };
  let get = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
  let structured = |v: Value| if latest { v } else { Value::String(text(&v)) };
  Some(match o.get("type").and_then(Value::as_str) {
    Some("text") => json!({"type": "text", "content": get("text")}),
    Some("tool-call") => json!({
      "type": "tool_call",
      "id": get("toolCallId"),
      "name": get("toolName"),
      "arguments": structured(o.get("input").or(o.get("args")).map(parsed).unwrap_or(Value::Null)),
    }),
    Some("tool-result") => {
      let output = o
        .get("output")
        .map(|out| out.get("value").cloned().unwrap_or_else(|| out.clone()));
      let output = output.or_else(|| o.get("result").cloned()).unwrap_or(Value::Null);
      json!({"type": "tool_call_response", "id": get("toolCallId"), "name": get("toolName"), "response": structured(output)})
    }
    Some("reasoning") if latest => json!({"type": "reasoning", "content": get("text")}),
    Some("image") if latest => media(o, "image"),
    Some("file") if latest => {
      let mime = o
        .get("mediaType")
        .or(o.get("mimeType"))
        .and_then(Value::as_str)
        .unwrap_or("");
      let modality = mime
        .split('/')
        .next()
        .filter(|m| matches!(*m, "image" | "audio" | "video"))
        .unwrap_or("document");
      media(o, modality)
    }
    _ => p.clone(),
  })
}

fn media(o: &Map<String, Value>, modality: &str) -> Value {
  let data = o.get("image").or(o.get("data")).cloned().unwrap_or(Value::Null);
  let mime = o.get("mediaType").or(o.get("mimeType")).cloned().unwrap_or(Value::Null);
  match data.as_str() {
    Some(s) if s.starts_with("http://") || s.starts_with("https://") => {
      json!({"type": "uri", "modality": modality, "mime_type": mime, "uri": s})
    }
    _ => json!({"type": "blob", "modality": modality, "mime_type": mime, "content": data}),
  }
}

fn message(m: &Value, latest: bool) -> Value {
  let Value::Object(o) = m else { return m.clone() };
  let Some(role) = o.get("role") else { return m.clone() };
  let parts: Vec<Value> = match o.get("content") {
    Some(Value::String(s)) => vec![json!({"type": "text", "content": s})],
    Some(Value::Array(items)) => items.iter().filter_map(|p| part(p, latest)).collect(),
    _ => return m.clone(),
  };
  json!({"role": role, "parts": parts})
}

/// `(system instructions, input messages)` as JSON text. The first is only set in `latest` mode.
pub fn input_messages(input: &Json, latest: bool) -> (Option<String>, String) {
  if !latest && let Some(msgs) = plain_input(input) {
    return (None, msgs);
  }
  converted_input(input, latest)
}

/// `mastra` mode's input messages written directly for the usual shape: an array of messages (or an object with one
/// in `messages`), each with a string `role` and a string `content`. `None` for any other shape, which goes through
/// [`converted_input`]. The same text: `{"role":…,"parts":[{"type":"text","content":…}]}` per message, other members
/// dropped, strings escaped as `serde_json` escapes them.
fn plain_input(input: &Json) -> Option<String> {
  let msgs = match input {
    Json::Array(a) => a,
    Json::Object(o) => match o.get("messages")? {
      Json::Array(a) => a,
      _ => return None,
    },
    _ => return None,
  };
  let mut w = Vec::new();
  w.push(b'[');
  for (i, m) in msgs.iter().enumerate() {
    let Json::Object(o) = m else { return None };
    let (Some(Json::String(role)), Some(Json::String(content))) = (o.get("role"), o.get("content")) else {
      return None;
    };
    if i > 0 {
      w.push(b',');
    }
    w.extend_from_slice(b"{\"role\":");
    otlp_json::string(&mut w, role);
    text_parts(&mut w, content);
    w.push(b'}');
  }
  w.push(b']');
  String::from_utf8(w).ok()
}

/// `,"parts":[{"type":"text","content":…}]`.
fn text_parts(w: &mut Vec<u8>, content: &str) {
  w.extend_from_slice(b",\"parts\":[{\"type\":\"text\",\"content\":");
  otlp_json::string(w, content);
  w.extend_from_slice(b"}]");
}

/// [`input_messages`] through `serde_json` values: every shape, both modes.
fn converted_input(input: &Json, latest: bool) -> (Option<String>, String) {
  let input = &input.to_value();
  let v = parsed(input);
  let Some(Value::Array(msgs)) = v.get("messages").or_else(|| v.is_array().then_some(&v)) else {
    return (None, text(input));
  };
  let mut system = Vec::new();
  let mut out = Vec::new();
  for m in msgs {
    let converted = message(m, latest);
    if latest && m.get("role").and_then(Value::as_str) == Some("system") {
      system.extend(
        converted
          .get("parts")
          .and_then(Value::as_array)
          .cloned()
          .unwrap_or_default(),
      );
    } else {
      out.push(converted);
    }
  }
  let system = (!system.is_empty()).then(|| Value::Array(system).to_string());
  (system, Value::Array(out).to_string())
}

/// Output messages as JSON text: `{ text }` becomes one assistant message (plus its tool calls in `latest` mode).
pub fn output_messages(output: &Json, latest: bool, finish_reason: Option<&str>) -> String {
  // `mastra` mode's usual shape, a string `text`, written directly (the same text as the conversion below).
  if !latest
    && let Json::Object(o) = output
    && let Some(Json::String(text)) = o.get("text")
  {
    let mut w = Vec::with_capacity(text.len() + 64);
    w.extend_from_slice(b"[{\"role\":\"assistant\"");
    text_parts(&mut w, text);
    w.extend_from_slice(b"}]");
    if let Ok(msgs) = String::from_utf8(w) {
      return msgs;
    }
  }
  converted_output(output, latest, finish_reason)
}

/// [`output_messages`] through `serde_json` values: every shape, both modes.
fn converted_output(output: &Json, latest: bool, finish_reason: Option<&str>) -> String {
  let output = &output.to_value();
  let v = parsed(output);
  if let Some(t) = v.get("text").filter(|t| !t.is_null()) {
    let mut parts = vec![json!({"type": "text", "content": t})];
    if latest {
      parts.retain(|p| p["content"] != "");
      for call in v.get("toolCalls").and_then(Value::as_array).into_iter().flatten() {
        parts.push(json!({
          "type": "tool_call",
          "id": call.get("toolCallId").cloned().unwrap_or(Value::Null),
          "name": call.get("toolName").cloned().unwrap_or(Value::Null),
          "arguments": call.get("args").or(call.get("input")).map(parsed).unwrap_or(Value::Null),
        }));
      }
    }
    let mut msg = json!({"role": "assistant", "parts": parts});
    if latest {
      msg["finish_reason"] = json!(finish_reason.map(finish).unwrap_or("stop"));
    }
    return Value::Array(vec![msg]).to_string();
  }
  if let Some(Value::Array(msgs)) = v.get("messages") {
    return Value::Array(msgs.iter().map(|m| message(m, latest)).collect()).to_string();
  }
  text(output)
}

/// AI SDK finish reasons as the conventions name them.
fn finish(reason: &str) -> &str {
  match reason {
    "tool-calls" => "tool_call",
    "content-filter" => "content_filter",
    other => other,
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// The value as the worker sees it: parsed from its JSON text (leaked, as the tree borrows from it).
  fn j(v: &Value) -> Json<'static> {
    crate::json::parse(Box::leak(v.to_string().into_boxed_str())).unwrap()
  }

  #[test]
  fn mastra_mode_converts_like_1_4_0() {
    let input = json!({"messages": [
      {"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi"}]},
      {"role": "assistant", "content": [{"type": "tool-call", "toolCallId": "c1", "toolName": "w", "input": {"city": "P"}}]},
      {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "c1", "toolName": "w", "output": {"type": "json", "value": {"t": 1}}}]},
    ]});
    let (system, msgs) = input_messages(&j(&input), false);
    assert_eq!(system, None);
    let v: Value = serde_json::from_str(&msgs).unwrap();
    assert_eq!(
      v[0],
      json!({"role": "system", "parts": [{"type": "text", "content": "be brief"}]})
    );
    assert_eq!(v[2]["parts"][0]["arguments"], "{\"city\":\"P\"}");
    assert_eq!(
      v[3]["parts"][0],
      json!({"type": "tool_call_response", "id": "c1", "name": "w", "response": "{\"t\":1}"})
    );
    assert_eq!(
      output_messages(&j(&json!({"text": "Hello", "files": []})), false, Some("stop")),
      r#"[{"role":"assistant","parts":[{"type":"text","content":"Hello"}]}]"#
    );
  }

  #[test]
  fn latest_mode_follows_the_schema() {
    let input = json!({"messages": [
      {"role": "system", "content": "be brief"},
      {"role": "assistant", "content": [{"type": "tool-call", "toolCallId": "c1", "toolName": "w", "input": "{\"city\":\"P\"}"}]},
    ]});
    let (system, msgs) = input_messages(&j(&input), true);
    assert_eq!(system.as_deref(), Some(r#"[{"type":"text","content":"be brief"}]"#));
    let v: Value = serde_json::from_str(&msgs).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["parts"][0]["arguments"], json!({"city": "P"}));
    let out: Value = serde_json::from_str(&output_messages(
      &j(&json!({"text": "", "toolCalls": [{"toolCallId": "c1", "toolName": "w", "args": {"city": "P"}}]})),
      true,
      Some("tool-calls"),
    ))
    .unwrap();
    assert_eq!(out[0]["finish_reason"], "tool_call");
    assert_eq!(
      out[0]["parts"],
      json!([{"type": "tool_call", "id": "c1", "name": "w", "arguments": {"city": "P"}}])
    );
  }

  /// Inputs and outputs of every captured span, and shapes around the direct paths' edges.
  fn samples() -> Vec<Value> {
    let mut out = Vec::new();
    for dir in ["mastra-1.x", "mastra-0.24"] {
      let dir = format!("{}/__test__/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
      for f in std::fs::read_dir(dir).unwrap() {
        let path = f.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
          for line in std::fs::read_to_string(path).unwrap().lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            for k in ["input", "output"] {
              if let Some(v) = e["exportedSpan"].get(k) {
                out.push(v.clone());
              }
            }
          }
        }
      }
    }
    let odd = "q\"b\\s\n\u{1}\u{7f} é 😀 \u{2028}";
    out.extend([
      json!([]),
      json!([{"role": "user", "content": odd}]),
      json!([{"role": odd, "content": "", "extra": {"a": 1}, "id": 7}]),
      json!({"messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}], "other": 1}),
      json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]),
      json!([{"role": 1, "content": "x"}]),
      json!([{"content": "x"}]),
      json!(["x"]),
      json!({"messages": "x"}),
      json!({"text": odd, "files": [], "toolCalls": [{"toolCallId": "c"}]}),
      json!({"text": null, "messages": [{"role": "assistant", "content": "m"}]}),
      json!({"text": 5}),
      json!("[{\"role\":\"user\",\"content\":\"in a string\"}]"),
    ]);
    out
  }

  #[test]
  fn direct_paths_write_what_the_conversion_writes() {
    let mut direct = (0, 0);
    for v in samples() {
      let text = v.to_string();
      let x = j(&v);
      if let Some(fast) = plain_input(&x) {
        direct.0 += 1;
        assert_eq!(fast, converted_input(&x, false).1, "{text}");
      }
      assert_eq!(input_messages(&x, false), converted_input(&x, false), "{text}");
      assert_eq!(
        output_messages(&x, false, Some("stop")),
        converted_output(&x, false, Some("stop")),
        "{text}"
      );
      if matches!(&x, Json::Object(o) if matches!(o.get("text"), Some(Json::String(_)))) {
        direct.1 += 1;
      }
    }
    // Keys repeated in the text: the last one counts, in both.
    let dup = r#"[{"role":"a","content":"x","role":"b","content":"y"}]"#;
    let x = crate::json::parse(dup).unwrap();
    assert_eq!(
      plain_input(&x).unwrap(),
      r#"[{"role":"b","parts":[{"type":"text","content":"y"}]}]"#
    );
    assert_eq!(plain_input(&x).unwrap(), converted_input(&x, false).1);
    let dup = r#"{"text":"a","text":"b"}"#;
    let x = crate::json::parse(dup).unwrap();
    assert_eq!(output_messages(&x, false, None), converted_output(&x, false, None));
    assert!(
      direct.0 >= 10 && direct.1 >= 10,
      "the samples reach the direct paths: {direct:?}"
    );
  }

  #[test]
  fn unparseable_content_is_kept_as_it_was() {
    assert_eq!(
      input_messages(&j(&json!("plain prompt")), false),
      (None, "plain prompt".to_string())
    );
    assert_eq!(output_messages(&j(&json!(42)), false, None), "42");
  }
}
