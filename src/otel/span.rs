//! A finished Mastra span, read from the JSON the JavaScript thread produced, and the OpenTelemetry span it maps to.

use crate::json::{self, Json, Obj};
use std::borrow::Cow;

/// The Mastra span fields the mapping reads, borrowing from the span's JSON text. Types up to Mastra 0.22
/// (`llm_generation`, `llm_chunk`) are renamed to their current names.
#[derive(Debug, Clone, PartialEq)]
pub struct MastraSpan<'a> {
  pub id: Cow<'a, str>,
  pub trace_id: Cow<'a, str>,
  pub parent_span_id: Option<Cow<'a, str>>,
  pub external_parent_span_id: Option<Cow<'a, str>>,
  pub name: Cow<'a, str>,
  pub span_type: Cow<'a, str>,
  pub entity_type: Option<Cow<'a, str>>,
  pub entity_id: Option<Cow<'a, str>>,
  pub entity_name: Option<Cow<'a, str>>,
  pub attributes: Obj<'a>,
  pub metadata: Obj<'a>,
  pub input: Option<Json<'a>>,
  pub output: Option<Json<'a>>,
  pub error_info: Option<Obj<'a>>,
  pub start_ns: u64,
  pub end_ns: Option<u64>,
  pub is_event: bool,
  pub is_root: bool,
  pub tags: Option<Json<'a>>,
}

/// Why a span could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
  #[error("span JSON does not parse: {0}")]
  Json(String),
  #[error("span has no {0}")]
  Missing(&'static str),
}

/// A string or number field as text, borrowed from the span's JSON unless it had escapes.
fn string<'a>(v: Option<&Json<'a>>) -> Option<Cow<'a, str>> {
  match v? {
    Json::String(s) => Some(s.clone()),
    Json::Number(n) => Some(Cow::Borrowed(n.as_str())),
    _ => None,
  }
}

/// [`string`], taking the value.
fn text(v: Option<Json<'_>>) -> Option<Cow<'_, str>> {
  match v? {
    Json::String(s) => Some(s),
    Json::Number(n) => Some(Cow::Borrowed(n.as_str())),
    _ => None,
  }
}

/// The members of a span object the mapping reads, as found.
#[derive(Default)]
struct Members<'a> {
  id: Option<Json<'a>>,
  trace_id: Option<Json<'a>>,
  parent_span_id: Option<Json<'a>>,
  external_parent_span_id: Option<Json<'a>>,
  name: Option<Json<'a>>,
  span_type: Option<Json<'a>>,
  entity_type: Option<Json<'a>>,
  entity_id: Option<Json<'a>>,
  entity_name: Option<Json<'a>>,
  start_time: Option<Json<'a>>,
  end_time: Option<Json<'a>>,
  is_event: Option<Json<'a>>,
  is_root: Option<Json<'a>>,
  tags: Option<Json<'a>>,
  attributes: Option<Json<'a>>,
  metadata: Option<Json<'a>>,
  input: Option<Json<'a>>,
  output: Option<Json<'a>>,
  error_info: Option<Json<'a>>,
}

impl<'a> Members<'a> {
  /// Keeps a member the mapping reads (the last of a repeated key wins, as in `JSON.parse`).
  fn take(&mut self, key: &str, v: Json<'a>) {
    let slot = match key {
      "id" => &mut self.id,
      "traceId" => &mut self.trace_id,
      "parentSpanId" => &mut self.parent_span_id,
      "externalParentSpanId" => &mut self.external_parent_span_id,
      "name" => &mut self.name,
      "type" => &mut self.span_type,
      "entityType" => &mut self.entity_type,
      "entityId" => &mut self.entity_id,
      "entityName" => &mut self.entity_name,
      "startTime" => &mut self.start_time,
      "endTime" => &mut self.end_time,
      "isEvent" => &mut self.is_event,
      "isRootSpan" => &mut self.is_root,
      "tags" => &mut self.tags,
      "attributes" => &mut self.attributes,
      "metadata" => &mut self.metadata,
      "input" => &mut self.input,
      "output" => &mut self.output,
      "errorInfo" => &mut self.error_info,
      _ => return,
    };
    *slot = Some(v);
  }

  /// The span, from the members found.
  fn span(self) -> Result<MastraSpan<'a>, SpanError> {
    let id = text(self.id).ok_or(SpanError::Missing("id"))?;
    let trace_id = text(self.trace_id).ok_or(SpanError::Missing("traceId"))?;
    let start_ns = self
      .start_time
      .as_ref()
      .and_then(time_ns)
      .ok_or(SpanError::Missing("startTime"))?;
    let span_type = match text(self.span_type) {
      Some(t) if t == "llm_generation" => Cow::Borrowed("model_generation"),
      Some(t) if t == "llm_chunk" => Cow::Borrowed("model_chunk"),
      Some(t) => t,
      None => Cow::Borrowed(""),
    };
    let object = |v: Option<Json<'a>>| match v {
      Some(Json::Object(m)) => m,
      _ => Obj::default(),
    };
    let present = |v: Option<Json<'a>>| v.filter(|v| !v.is_null());
    let attributes = object(self.attributes);
    // Mastra 0.24 has no entity fields: its ids live in the attributes.
    let entity_id = text(self.entity_id).or_else(|| {
      ["agentId", "toolId", "workflowId", "stepId"]
        .iter()
        .find_map(|k| string(attributes.get(k)))
    });
    Ok(MastraSpan {
      id,
      trace_id,
      parent_span_id: text(self.parent_span_id),
      external_parent_span_id: text(self.external_parent_span_id),
      name: text(self.name).unwrap_or_default(),
      span_type,
      entity_type: text(self.entity_type),
      entity_id,
      entity_name: text(self.entity_name),
      start_ns,
      end_ns: self.end_time.as_ref().and_then(time_ns),
      is_event: self.is_event.as_ref().and_then(Json::as_bool).unwrap_or(false),
      is_root: self.is_root.as_ref().and_then(Json::as_bool).unwrap_or(false),
      tags: self.tags.filter(|t| t.as_array().is_some_and(|a| !a.is_empty())),
      attributes,
      metadata: object(self.metadata),
      input: present(self.input),
      output: present(self.output),
      error_info: match self.error_info {
        Some(Json::Object(m)) => Some(m),
        _ => None,
      },
    })
  }
}

impl<'a> MastraSpan<'a> {
  /// Parses the JSON text of one span. Lone UTF-16 surrogates (which `JSON.stringify` writes as `\udXXX` escapes and a
  /// Rust string cannot hold) become U+FFFD.
  /// A repeated member reads as its last occurrence, as in `JSON.parse`.
  pub fn parse(text: &'a str) -> Result<Self, SpanError> {
    // The members are taken as they are read, in one pass: the span's own object is never built.
    let mut f = Members::default();
    match json::parse_members(text, |k, v| f.take(&k, v)) {
      Ok(true) => f.span(),
      Ok(false) => Err(SpanError::Json("not an object".into())),
      Err(e) => Err(SpanError::Json(e.to_string())),
    }
  }

  /// The entity the span belongs to, as the reference names it: `entityName ?? entityId`.
  pub fn entity(&self) -> Option<&str> {
    self.entity_name.as_deref().or(self.entity_id.as_deref())
  }

  pub fn attr(&self, key: &str) -> Option<&Json<'a>> {
    self.attributes.get(key).filter(|v| !v.is_null())
  }

  pub fn attr_str(&self, key: &str) -> Option<&str> {
    self.attr(key).and_then(Json::as_str)
  }
}

/// Deepest nesting accepted. serde_json's default of 128 would drop legitimate but deep data; far deeper input is
/// refused before parsing, so recursion stays well inside a worker thread's stack.
pub const MAX_DEPTH: usize = json::MAX_DEPTH;

/// Parses span JSON into a `serde_json::Value` (for redaction and the TCC exporter), replacing lone UTF-16 surrogate escapes with U+FFFD when plain parsing fails.
pub fn parse_value(json: &str) -> Result<serde_json::Value, SpanError> {
  match deep_parse(json) {
    Ok(v) => Ok(v),
    Err(_) => deep_parse(&replace_lone_surrogates(json)).map_err(|e| SpanError::Json(e.to_string())),
  }
}

fn deep_parse(json: &str) -> Result<serde_json::Value, serde_json::Error> {
  let depth = nesting_depth(json);
  if depth <= 127 {
    return serde_json::from_str(json);
  }
  if depth > MAX_DEPTH {
    return Err(serde::de::Error::custom(format!(
      "nested deeper than {MAX_DEPTH} levels"
    )));
  }
  let mut de = serde_json::Deserializer::from_str(json);
  de.disable_recursion_limit();
  let v = serde::Deserialize::deserialize(&mut de)?;
  de.end()?;
  Ok(v)
}

/// The deepest `{`/`[` nesting outside strings.
fn nesting_depth(json: &str) -> usize {
  let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
  for b in json.bytes() {
    if in_str {
      match (escaped, b) {
        (true, _) => escaped = false,
        (false, b'\\') => escaped = true,
        (false, b'"') => in_str = false,
        _ => {}
      }
      continue;
    }
    match b {
      b'"' => in_str = true,
      b'{' | b'[' => {
        depth += 1;
        max = max.max(depth);
      }
      b'}' | b']' => depth = depth.saturating_sub(1),
      _ => {}
    }
  }
  max
}

/// An ISO-8601 date (what `Date.prototype.toJSON` writes) or epoch milliseconds (what the entry points' wrappers send
/// a `Date` as, see [`crate::dates`]), as Unix nanoseconds. Whole milliseconds convert exactly.
pub fn time_ns(v: &Json) -> Option<u64> {
  match v {
    Json::String(s) => parse_iso_ns(s),
    Json::Number(n) => {
      if let Some(ms) = n.as_i64() {
        return u64::try_from(ms).ok()?.checked_mul(1_000_000);
      }
      n.as_f64()
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| (ms * 1e6).round() as u64)
    }
    _ => None,
  }
}

/// A time as `Date.prototype.toISOString()` writes it: an ISO string as it is, epoch milliseconds (a `Date` the
/// wrapper sent as its time value) converted.
pub fn iso_text(v: &Json) -> Option<String> {
  match v {
    Json::Number(n) => crate::dates::iso(n.as_str()),
    Json::String(s) => Some(s.to_string()),
    _ => None,
  }
}

/// Parses `YYYY-MM-DDTHH:MM:SS(.fraction)?(Z|±HH:MM)`.
pub fn parse_iso_ns(s: &str) -> Option<u64> {
  let b = s.as_bytes();
  let num = |r: std::ops::Range<usize>| -> Option<i64> {
    b.get(r)?
      .iter()
      .try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
  };
  if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
    return None;
  }
  let (y, mo, d, h, mi, sec) = (
    num(0..4)?,
    num(5..7)?,
    num(8..10)?,
    num(11..13)?,
    num(14..16)?,
    num(17..19)?,
  );
  if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
    return None;
  }
  let mut i = 19;
  let mut frac_ns: i64 = 0;
  if b.get(i) == Some(&b'.') {
    i += 1;
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
      i += 1;
    }
    // Nanoseconds: the first nine digits, padded with zeros.
    frac_ns = b[start..i]
      .iter()
      .chain(std::iter::repeat(&b'0'))
      .take(9)
      .fold(0i64, |n, &c| n * 10 + i64::from(c - b'0'));
  }
  let offset_s = match &s[i..] {
    "Z" | "z" => 0,
    tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
      let sign = if tz.starts_with('-') { -1 } else { 1 };
      sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
    }
    _ => return None,
  };
  let days = days_from_civil(y, mo, d);
  let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
  u64::try_from(secs).ok().map(|s| s * 1_000_000_000 + frac_ns as u64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
  let y = if m <= 2 { y - 1 } else { y };
  let era = if y >= 0 { y } else { y - 399 } / 400;
  let yoe = y - era * 400;
  let mp = (m + 9) % 12;
  let doy = (153 * mp + 2) / 5 + d - 1;
  let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  era * 146_097 + doe - 719_468
}

/// [`hex_classes`]: a byte that is not a hex digit.
pub const NOT_HEX: u8 = 1;
/// [`hex_classes`]: an upper-case hex digit.
pub const UPPER_HEX: u8 = 2;

/// What kinds of bytes `b` holds: [`NOT_HEX`] and [`UPPER_HEX`] or-ed together, 0 for lower-case hex only. Every byte
/// is looked at (no early exit), so the loop runs 16 or 32 bytes a step.
pub fn hex_classes(b: &[u8]) -> u8 {
  let (mut not_hex, mut upper) = (0u8, 0u8);
  for &c in b {
    let digit = c.wrapping_sub(b'0') < 10;
    let lower = c.wrapping_sub(b'a') < 6;
    let up = c.wrapping_sub(b'A') < 6;
    not_hex |= u8::from(!(digit | lower | up));
    upper |= u8::from(up);
  }
  (not_hex * NOT_HEX) | (upper * UPPER_HEX)
}

/// Lower-cases a hex id and left-pads it with zeros to `len` characters. `None` when it is not 1..=len hex digits.
/// An id already in that form (every id Mastra makes) is borrowed.
pub fn normalize_id(id: &str, len: usize) -> Option<Cow<'_, str>> {
  if id.is_empty() || id.len() > len {
    return None;
  }
  let classes = hex_classes(id.as_bytes());
  if classes & NOT_HEX != 0 {
    return None;
  }
  if id.len() == len {
    return Some(if classes & UPPER_HEX != 0 {
      Cow::Owned(id.to_ascii_lowercase())
    } else {
      Cow::Borrowed(id)
    });
  }
  let mut out = String::with_capacity(len);
  out.extend(std::iter::repeat_n('0', len - id.len()));
  out.push_str(&id.to_ascii_lowercase());
  Some(Cow::Owned(out))
}

/// Replaces `\uD800`-`\uDFFF` escapes that are not part of a surrogate pair with `\uFFFD`.
pub fn replace_lone_surrogates(json: &str) -> String {
  let b = json.as_bytes();
  let hex_at = |i: usize| -> Option<u16> {
    let h = std::str::from_utf8(b.get(i..i + 4)?).ok()?;
    u16::from_str_radix(h, 16).ok()
  };
  let mut out = String::with_capacity(json.len());
  let mut i = 0;
  let mut last = 0;
  while i + 1 < b.len() {
    if b[i] == b'\\' {
      if b[i + 1] == b'u'
        && let Some(unit) = hex_at(i + 2)
      {
        let high = (0xD800..0xDC00).contains(&unit);
        let low = (0xDC00..0xE000).contains(&unit);
        let paired = high
          && b.get(i + 6) == Some(&b'\\')
          && b.get(i + 7) == Some(&b'u')
          && hex_at(i + 8).is_some_and(|n| (0xDC00..0xE000).contains(&n));
        if paired {
          i += 12;
          continue;
        }
        if high || low {
          out.push_str(&json[last..i]);
          out.push_str("\\ufffd");
          i += 6;
          last = i;
          continue;
        }
      }
      i += 2;
      continue;
    }
    i += 1;
  }
  out.push_str(&json[last..]);
  out
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn iso_dates_parse_to_nanoseconds() {
    let cases = [
      ("1970-01-01T00:00:00.000Z", Some(0)),
      ("1970-01-01T00:00:01.5Z", Some(1_500_000_000)),
      ("2026-11-21T09:50:47.859Z", Some(1_795_254_647_859_000_000)),
      ("2000-02-29T12:00:00Z", Some(951_825_600_000_000_000)),
      ("2026-11-21T10:50:47.859+01:00", Some(1_795_254_647_859_000_000)),
      ("2026-13-01T00:00:00Z", None),
      ("yesterday", None),
      ("1969-12-31T23:59:59Z", None),
    ];
    for (s, want) in cases {
      assert_eq!(parse_iso_ns(s), want, "{s}");
    }
    assert_eq!(time_ns(&json::parse("1500").unwrap()), Some(1_500_000_000));
  }

  #[test]
  fn hex_classes_sees_every_byte() {
    for b in 0..=255u8 {
      let want = match b {
        b'0'..=b'9' | b'a'..=b'f' => 0,
        b'A'..=b'F' => UPPER_HEX,
        _ => NOT_HEX,
      };
      // Alone, and at every position of a long lower-case id (the loop's vector steps and its tail).
      assert_eq!(hex_classes(&[b]), want, "{b}");
      for at in 0..40 {
        let mut id = [b'a'; 40];
        id[at] = b;
        assert_eq!(hex_classes(&id), want, "{b} at {at}");
      }
    }
    assert_eq!(hex_classes(b"0aF-"), NOT_HEX | UPPER_HEX);
    assert_eq!(hex_classes(b""), 0);
  }

  #[test]
  fn ids_are_lower_cased_and_padded() {
    assert_eq!(normalize_id("ABC", 16).as_deref(), Some("0000000000000abc"));
    assert_eq!(
      normalize_id("5a51c44eff872896b826cbcf4fcae9e1", 32).as_deref(),
      Some("5a51c44eff872896b826cbcf4fcae9e1")
    );
    assert_eq!(
      normalize_id("00F067AA0BA902B7", 16).as_deref(),
      Some("00f067aa0ba902b7")
    );
    // Already in form: borrowed, not copied.
    assert!(matches!(normalize_id("00f067aa0ba902b7", 16), Some(Cow::Borrowed(_))));
    assert!(matches!(normalize_id("00F067aa0ba902b7", 16), Some(Cow::Owned(_))));
    assert_eq!(normalize_id("xyz", 16), None);
    assert_eq!(normalize_id("0123456789abcdeg", 16), None);
    assert_eq!(normalize_id("", 16), None);
    assert_eq!(normalize_id(&"a".repeat(17), 16), None);
  }

  #[test]
  fn lone_surrogates_are_replaced_and_pairs_kept() {
    assert_eq!(replace_lone_surrogates(r#""a\ud800b""#), r#""a\ufffdb""#);
    assert_eq!(replace_lone_surrogates(r#""\udfff""#), r#""\ufffd""#);
    assert_eq!(replace_lone_surrogates(r#""\ud83d\ude00""#), r#""\ud83d\ude00""#);
    assert_eq!(
      replace_lone_surrogates(r#""\\ud800""#),
      r#""\\ud800""#,
      "an escaped backslash is not an escape"
    );
    let s = MastraSpan::parse(r#"{"id":"a","traceId":"b","startTime":0,"name":"x\ud800"}"#).unwrap();
    assert_eq!(s.name, "x\u{fffd}");
  }

  #[test]
  fn old_type_names_are_renamed_and_fields_read() {
    let s = MastraSpan::parse(
      r#"{"id":"a","traceId":"b","type":"llm_generation","startTime":"1970-01-01T00:00:00.001Z","attributes":{"model":"m"},"tags":[],"input":null,"isRootSpan":true}"#,
    )
    .unwrap();
    assert_eq!(s.span_type, "model_generation");
    assert_eq!(s.start_ns, 1_000_000);
    assert_eq!(s.end_ns, None);
    assert_eq!(s.attr_str("model"), Some("m"));
    assert!(s.is_root && s.tags.is_none() && s.input.is_none());
    assert_eq!(
      MastraSpan::parse(r#"{"traceId":"b","startTime":0}"#),
      Err(SpanError::Missing("id"))
    );
  }

  #[test]
  fn text_that_is_not_one_span_object_is_refused() {
    assert_eq!(MastraSpan::parse("[1]"), Err(SpanError::Json("not an object".into())));
    for text in [r#"{"id":"a","traceId":"b","startTime":0} x"#, r#"{"id":"a","#, ""] {
      assert!(matches!(MastraSpan::parse(text), Err(SpanError::Json(_))), "{text}");
    }
  }

  #[test]
  fn a_repeated_member_reads_as_its_last_occurrence() {
    let s = MastraSpan::parse(
      r#"{"id":"a","name":"first","traceId":"b","startTime":0,"attributes":{"model":"m1"},"name":"second","attributes":{"model":"m2"},"id":"c","entityId":7}"#,
    )
    .unwrap();
    assert_eq!((s.id.as_ref(), s.name.as_ref()), ("c", "second"));
    assert_eq!(s.attr_str("model"), Some("m2"));
    assert_eq!(s.entity_id.as_deref(), Some("7"), "a number reads as its text");
    assert_eq!(
      MastraSpan::parse(r#"{"id":true,"traceId":"b","startTime":0}"#),
      Err(SpanError::Missing("id"))
    );
  }

  #[test]
  fn mastra_0_24_ids_come_from_the_attributes() {
    let old =
      MastraSpan::parse(r#"{"id":"a","traceId":"b","startTime":0,"type":"tool_call","attributes":{"toolId":"calc"}}"#);
    assert_eq!(old.unwrap().entity(), Some("calc"));
  }

  #[test]
  fn deep_nesting_parses_up_to_the_bound_and_is_refused_beyond() {
    // On a thread with the workers' stack size, as in production.
    let run = std::thread::Builder::new()
      .stack_size(crate::runtime::WORKER_STACK)
      .spawn(|| {
        let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        for n in [10, 127, 128, 1000, 1024] {
          assert!(parse_value(&nest(n)).is_ok(), "depth {n}");
        }
        assert!(parse_value(&nest(1025)).is_err());
      });
    run.unwrap().join().unwrap();
    assert_eq!(
      nesting_depth(r#"{"a":"[[[[","b":[{}]}"#),
      3,
      "brackets inside strings do not count"
    );
  }
}
