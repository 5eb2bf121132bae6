//! Reading what the TCC exporter needs from one span's JSON, without re-encoding the span.
//!
//! The span arrives as the exact text `JSON.stringify` produced on the JavaScript thread. The reference sends that
//! same text (plus a trailing `runId`), so the bytes are forwarded untouched: only the few top-level fields the
//! buffer needs are looked at, and everything else (including lone UTF-16 surrogates, which a Rust `String` could not
//! hold) passes through as raw JSON.

use crate::dates::Dates;
use crate::json;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of a span the buffer uses. Every field is raw JSON text, exactly as it appeared.
#[derive(Debug, Default)]
pub struct SpanHead<'a> {
  pub id: Option<&'a str>,
  pub trace_id: Option<&'a str>,
  pub name: Option<&'a str>,
  pub span_type: Option<&'a str>,
  pub metadata: Option<&'a str>,
  pub is_root_span: Option<&'a str>,
  pub run_id: Option<&'a str>,
}

/// Why a span's JSON was not usable.
#[derive(Debug, thiserror::Error)]
pub enum SpanError {
  #[error("span is not a JSON object: {0}")]
  NotAnObject(String),
}

impl<'a> SpanHead<'a> {
  /// Reads the top level only (see [`json::top_level`]). When a key repeats, the last one counts, as in
  /// `JSON.parse`.
  pub fn parse(json: &'a str) -> Result<Self, SpanError> {
    if !json.trim_start().starts_with('{') {
      return Err(SpanError::NotAnObject(json.chars().take(40).collect()));
    }
    let mut head = SpanHead::default();
    json::top_level(json, |key, value| {
      let field = match key {
        "\"id\"" => &mut head.id,
        "\"traceId\"" => &mut head.trace_id,
        "\"name\"" => &mut head.name,
        "\"type\"" => &mut head.span_type,
        "\"metadata\"" => &mut head.metadata,
        "\"isRootSpan\"" => &mut head.is_root_span,
        "\"runId\"" => &mut head.run_id,
        _ => return,
      };
      *field = Some(value);
    })
    .map_err(|e| SpanError::NotAnObject(e.to_string()))?;
    Ok(head)
  }

  /// `isRootSpan === true`, the only root test the reference makes.
  pub fn is_root(&self) -> bool {
    self.is_root_span == Some("true")
  }

  /// The metadata object's text, when metadata is a JSON object.
  pub fn metadata_object(&self) -> Option<&'a str> {
    self.metadata.filter(|m| m.starts_with('{'))
  }

  /// `metadata["tcc.runId"]` when it is truthy, as raw JSON.
  pub fn tcc_run_id(&self) -> Option<String> {
    tcc_run_id(self.metadata_object()?)
  }

  /// A readable form of the span's `type`, for log lines.
  pub fn type_text(&self) -> String {
    display(self.span_type)
  }

  /// A readable form of the span's `name`, for log lines.
  pub fn name_text(&self) -> String {
    display(self.name)
  }
}

/// `metadata["tcc.runId"]` of a metadata object's JSON when it is truthy, as raw JSON.
pub fn tcc_run_id(metadata: &str) -> Option<String> {
  let mut run_id = None;
  json::top_level(metadata, |key, value| {
    if key == "\"tcc.runId\"" {
      run_id = Some(value);
    }
  })
  .ok()?;
  run_id.filter(|v| is_truthy(v)).map(str::to_string)
}

/// JavaScript truthiness of a JSON value as `JSON.stringify` writes it. `NaN` has already become `null` and `-0`
/// has become `0`, so the falsy texts are exactly these.
pub fn is_truthy(raw: &str) -> bool {
  !matches!(raw, "false" | "null" | "0" | "\"\"")
}

/// How JavaScript would print a value in a template string: strings without quotes, everything else as JSON.
pub fn display(raw: Option<&str>) -> String {
  match raw {
    None => "undefined".to_string(),
    Some(v) => serde_json::from_str::<String>(v).unwrap_or_else(|_| v.to_string()),
  }
}

/// Whether the span object has a top-level `runId` key. The text is only read when `"runId"` occurs in it at all (a
/// substring search runs at memory speed), and only up to the member that holds its last occurrence: Mastra puts a
/// `runId` in every span's metadata, so every span has one, and the larger members (output, input) mostly follow.
/// The answer is that of a full read: `true` only for a well-formed object with the key.
pub fn has_run_id(span_json: &str) -> bool {
  use std::ops::ControlFlow::{Break, Continue};
  let Some(last) = memchr::memmem::rfind(span_json.as_bytes(), b"\"runId\"") else {
    return false;
  };
  let mut found = false;
  let read = json::top_level_until(span_json, |key, _, end| {
    found |= key == "\"runId\"";
    // Past the last occurrence no later member can be the key; once found, the rest is still read (checked).
    if !found && end > last { Break(()) } else { Continue(()) }
  });
  read.is_ok() && found
}

/// The span's text with the Dates its wrapper sent as epoch milliseconds (`dates`, see [`crate::dates`]) written back
/// as `JSON.stringify` writes a `Date`: the ISO string. Only the members the mask names are touched (the top-level
/// `startTime` and `endTime`, and `completionStartTime` in the top-level `attributes`), and only when they hold such a
/// number; the text is returned unchanged otherwise.
pub fn with_iso_dates(span_json: String, dates: Dates) -> String {
  use std::ops::ControlFlow::{Break, Continue};
  if dates.is_empty() {
    return span_json;
  }
  // `JSON.stringify` writes each key once, so the scan stops once it has met every member the mask names (they come
  // before the large members, input and output, in Mastra's spans).
  let mut left = [Dates::START, Dates::END, Dates::COMPLETION]
    .into_iter()
    .filter(|d| dates.contains(*d))
    .count();
  // Where each number is in the text, and its ISO string.
  let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::with_capacity(3);
  let at = |value: &str| value.as_ptr() as usize - span_json.as_ptr() as usize;
  let mut member = |key: &str, value: &str| {
    let wanted = match key {
      "\"startTime\"" => dates.contains(Dates::START),
      "\"endTime\"" => dates.contains(Dates::END),
      "\"attributes\"" if dates.contains(Dates::COMPLETION) => {
        left = left.saturating_sub(1);
        let _ = json::top_level_until(value, |key, first, _| {
          if key == "\"completionStartTime\""
            && let Some(iso) = crate::dates::iso(first)
          {
            edits.push((at(first)..at(first) + first.len(), iso));
          }
          Continue(())
        });
        false
      }
      _ => false,
    };
    if wanted {
      left = left.saturating_sub(1);
      if let Some(iso) = crate::dates::iso(value) {
        edits.push((at(value)..at(value) + value.len(), iso));
      }
    }
    if left == 0 { Break(()) } else { Continue(()) }
  };
  if json::top_level_until(&span_json, |key, value, _| member(key, value)).is_err() || edits.is_empty() {
    return span_json;
  }
  // In text order: the attributes' member may come before the top-level ones.
  edits.sort_by_key(|(range, _)| range.start);
  let mut out = String::with_capacity(span_json.len() + edits.len() * 16);
  let mut from = 0;
  for (range, iso) in edits {
    out.push_str(&span_json[from..range.start]);
    out.push('"');
    out.push_str(&iso);
    out.push('"');
    from = range.end;
  }
  out.push_str(&span_json[from..]);
  out
}

/// The span object with `runId` as its last key, as `{ ...span, runId }` serialises. When the span already has a
/// `runId` key (`has_run_id`), that key keeps its place and takes the new value; with no run id the key is removed.
pub fn with_run_id(span_json: &str, has_run_id: bool, run_id: Option<&str>, out: &mut String) {
  if has_run_id {
    rewrite_run_id(span_json, run_id, out);
    return;
  }
  let body = span_json.trim_end();
  let Some(run_id) = run_id else {
    out.push_str(body);
    return;
  };
  let inner = body.strip_suffix('}').unwrap_or(body);
  out.push_str(inner);
  if inner.trim_end() != "{" {
    out.push(',');
  }
  out.push_str("\"runId\":");
  out.push_str(run_id);
  out.push('}');
}

/// The slow path of [`with_run_id`]: rebuild the top level, keeping every other member's raw text.
fn rewrite_run_id(span_json: &str, run_id: Option<&str>, out: &mut String) {
  let Ok(members) = serde_json::from_str::<OrderedMembers>(span_json) else {
    out.push_str(span_json);
    return;
  };
  out.push('{');
  let mut first = true;
  for (key, value) in &members.0 {
    let value = if key.get() == "\"runId\"" {
      match run_id {
        Some(r) => r,
        None => continue,
      }
    } else {
      value.get()
    };
    if !first {
      out.push(',');
    }
    first = false;
    out.push_str(key.get());
    out.push(':');
    out.push_str(value);
  }
  out.push('}');
}

/// Top-level members in document order, keys kept as raw JSON strings.
struct OrderedMembers<'a>(Vec<(&'a RawValue, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for OrderedMembers<'a> {
  fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
    struct V<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
      type Value = OrderedMembers<'a>;
      fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
      }
      fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<RawKey<'de>>()? {
          out.push((k.0, map.next_value::<&'de RawValue>()?));
        }
        Ok(OrderedMembers(out))
      }
    }
    d.deserialize_map(V(std::marker::PhantomData))
  }
}

/// An object key kept as its raw JSON text, quotes and escapes included.
struct RawKey<'a>(&'a RawValue);

impl<'de: 'a, 'a> Deserialize<'de> for RawKey<'a> {
  fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
    // serde_json hands keys to a RawValue as the quoted key text.
    <&'de RawValue>::deserialize(d).map(RawKey)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn dates_sent_as_milliseconds_become_iso_strings_again() {
    let all = Dates::START | Dates::END | Dates::COMPLETION;
    let text = r#"{"id":"a","startTime":1764000000123,"endTime":1764000000124,"metadata":{"startTime":5},"attributes":{"x":[1,{"completionStartTime":7}],"completionStartTime":1764000000125},"z":0}"#;
    assert_eq!(
      with_iso_dates(text.to_string(), all),
      r#"{"id":"a","startTime":"2025-11-24T16:00:00.123Z","endTime":"2025-11-24T16:00:00.124Z","metadata":{"startTime":5},"attributes":{"x":[1,{"completionStartTime":7}],"completionStartTime":"2025-11-24T16:00:00.125Z"},"z":0}"#
    );
    // Only what the mask names.
    assert_eq!(
      with_iso_dates(text.to_string(), Dates::END),
      text.replace("1764000000124", "\"2025-11-24T16:00:00.124Z\"")
    );
    assert_eq!(with_iso_dates(text.to_string(), Dates::NONE), text);
    // An invalid Date is `null` either way; text that is not an object, or is cut short, is left as it is.
    for same in [
      r#"{"startTime":null,"endTime":"2025-11-24T16:00:00.124Z"}"#,
      r#"{"startTime":1764000000123,"endTime":"#,
      "[1764000000123]",
    ] {
      assert_eq!(with_iso_dates(same.to_string(), all), same);
    }
    // Members in any order; the scan stops once it has met them all (what follows is not read).
    assert_eq!(
      with_iso_dates(
        r#"{"attributes":{"completionStartTime":2},"endTime":1,"startTime":0,"rest":"#.to_string(),
        all
      ),
      r#"{"attributes":{"completionStartTime":"1970-01-01T00:00:00.002Z"},"endTime":"1970-01-01T00:00:00.001Z","startTime":"1970-01-01T00:00:00.000Z","rest":"#
    );
  }

  fn appended(json: &str, run_id: Option<&str>) -> String {
    let mut out = String::new();
    with_run_id(json, has_run_id(json), run_id, &mut out);
    out
  }

  #[test]
  fn run_id_is_appended_as_the_last_key() {
    assert_eq!(
      appended(r#"{"id":"a","x":1}"#, Some(r#""r1""#)),
      r#"{"id":"a","x":1,"runId":"r1"}"#
    );
    assert_eq!(appended("{}", Some(r#""r1""#)), r#"{"runId":"r1"}"#);
    assert_eq!(appended(r#"{"id":"a"}"#, None), r#"{"id":"a"}"#);
  }

  #[test]
  fn an_existing_run_id_keeps_its_position() {
    assert_eq!(
      appended(r#"{"id":"a","runId":"old","z":2}"#, Some(r#""new""#)),
      r#"{"id":"a","runId":"new","z":2}"#
    );
    assert_eq!(
      appended(r#"{"id":"a","runId":"old","z":2}"#, None),
      r#"{"id":"a","z":2}"#
    );
  }

  #[test]
  fn only_a_top_level_run_id_key_counts() {
    assert!(has_run_id(r#"{"id":"a","runId":"old"}"#));
    assert!(!has_run_id(r#"{"id":"a","name":"runId"}"#), "a value, not a key");
    assert!(!has_run_id(r#"{"id":"a","input":{"runId":"x"}}"#), "a nested key");
    assert!(
      !has_run_id(r#"{"id":"a","input":"say \"runId\": 1"}"#),
      "inside a string"
    );
    assert!(!has_run_id(r#"{"id":"a"}"#));
  }

  #[test]
  fn the_run_id_read_stops_early_with_the_answer_of_a_full_read() {
    // Mastra's spans: a run id in the metadata, the larger members after it.
    assert!(!has_run_id(
      r#"{"metadata":{"runId":"m"},"output":{"a":[1,2]},"input":"x"}"#
    ));
    assert!(has_run_id(r#"{"metadata":{"runId":"m"},"input":"x","runId":"top"}"#));
    assert!(has_run_id(r#"{"runId":"top","metadata":{"runId":"m"}}"#));
    // Malformed text: no key, as a full read says, whether or not the scan reached the damage.
    assert!(!has_run_id(r#"{"runId":"top","#));
    assert!(!has_run_id(r#"{"runId":1} junk"#));
    assert!(!has_run_id(r#"{"metadata":{"runId":"m"}} junk"#));
    assert!(!has_run_id(r#"["runId"]"#));
  }

  #[test]
  fn lone_surrogates_pass_through_untouched() {
    let json = r#"{"id":"a","name":"bad \ud800 name","input":"\udfff"}"#;
    let head = SpanHead::parse(json).unwrap();
    assert_eq!(head.id, Some(r#""a""#));
    assert_eq!(
      appended(json, Some(r#""r""#)),
      r#"{"id":"a","name":"bad \ud800 name","input":"\udfff","runId":"r"}"#
    );
  }

  #[test]
  fn tcc_run_id_uses_javascript_truthiness() {
    let cases = [
      (r#"{"metadata":{"tcc.runId":"abc"}}"#, Some(r#""abc""#)),
      (r#"{"metadata":{"tcc.runId":42}}"#, Some("42")),
      (r#"{"metadata":{"tcc.runId":{"a":1}}}"#, Some(r#"{"a":1}"#)),
      (r#"{"metadata":{"tcc.runId":""}}"#, None),
      (r#"{"metadata":{"tcc.runId":0}}"#, None),
      (r#"{"metadata":{"tcc.runId":false}}"#, None),
      (r#"{"metadata":{"tcc.runId":null}}"#, None),
      (r#"{"metadata":{"other":1}}"#, None),
      (r#"{"metadata":"str"}"#, None),
      (r#"{}"#, None),
    ];
    for (json, want) in cases {
      assert_eq!(SpanHead::parse(json).unwrap().tcc_run_id().as_deref(), want, "{json}");
    }
  }

  #[test]
  fn root_detection_uses_only_is_root_span_true() {
    assert!(SpanHead::parse(r#"{"isRootSpan":true}"#).unwrap().is_root());
    assert!(!SpanHead::parse(r#"{"isRootSpan":"true"}"#).unwrap().is_root());
    assert!(!SpanHead::parse(r#"{"isRootSpan":1}"#).unwrap().is_root());
    assert!(!SpanHead::parse(r#"{}"#).unwrap().is_root());
  }

  #[test]
  fn non_objects_are_rejected() {
    for json in ["[]", "1", "\"x\"", "null", "{", ""] {
      assert!(SpanHead::parse(json).is_err(), "{json}");
    }
  }

  #[test]
  fn display_unquotes_strings_like_a_template_literal() {
    assert_eq!(display(Some(r#""agent run: 'x'""#)), "agent run: 'x'");
    assert_eq!(display(None), "undefined");
  }
}

/// Splits a run payload in two: the same members (`runId`, `traceId`, `framework`, `metadata`), each half of the
/// spans. `None` when there is fewer than two spans or the body is not a payload.
pub fn split_payload(body: &str) -> Option<[(String, usize); 2]> {
  let members = serde_json::from_str::<OrderedMembers>(body).ok()?;
  let spans_at = members.0.iter().position(|(k, _)| k.get() == "\"spans\"")?;
  let spans: Vec<&RawValue> = serde_json::from_str(members.0[spans_at].1.get()).ok()?;
  if spans.len() < 2 {
    return None;
  }
  let (a, b) = spans.split_at(spans.len() / 2);
  let build = |part: &[&RawValue]| {
    let mut out = String::with_capacity(body.len() / 2 + 256);
    out.push('{');
    for (i, (k, v)) in members.0.iter().enumerate() {
      if i > 0 {
        out.push(',');
      }
      out.push_str(k.get());
      out.push(':');
      if i == spans_at {
        out.push('[');
        for (j, s) in part.iter().enumerate() {
          if j > 0 {
            out.push(',');
          }
          out.push_str(s.get());
        }
        out.push(']');
      } else {
        out.push_str(v.get());
      }
    }
    out.push('}');
    (out, part.len())
  };
  Some([build(a), build(b)])
}

#[cfg(test)]
mod split_tests {
  use super::*;

  #[test]
  fn a_payload_splits_into_two_runs_with_the_same_members() {
    let body = r#"{"runId":"r","traceId":"t","framework":"mastra","metadata":{"a":1},"spans":[{"id":"1"},{"id":"2"},{"id":"3"}]}"#;
    let [(a, na), (b, nb)] = split_payload(body).unwrap();
    assert_eq!(
      a,
      r#"{"runId":"r","traceId":"t","framework":"mastra","metadata":{"a":1},"spans":[{"id":"1"}]}"#
    );
    assert_eq!(
      b,
      r#"{"runId":"r","traceId":"t","framework":"mastra","metadata":{"a":1},"spans":[{"id":"2"},{"id":"3"}]}"#
    );
    assert_eq!((na, nb), (1, 2));
    assert!(split_payload(r#"{"spans":[{"id":"1"}]}"#).is_none());
  }
}
