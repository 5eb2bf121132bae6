//! OTLP/JSON written straight from the mapped spans: the bytes `serde_json` writes for the official
//! `opentelemetry-proto` messages ([`super::otlp::request`]), without building those messages (a copy of every string)
//! and without serde's generic value path for attributes. Hex ids, camelCase names, 64-bit integers as strings, every
//! field in the messages' order, defaults included, as the official serialisers write them.

use super::otlp::{AttrKey, AttrValue, FLAGS, Origin, OtelEvent, OtelSpan, hex_pairs};
use crate::json::byte_marks;

/// The request body for a batch of spans of one origin.
pub fn encode(origin: &Origin, spans: &[OtelSpan]) -> Vec<u8> {
  let mut w = Vec::with_capacity(estimate(origin, spans));
  open(&mut w, origin);
  list(&mut w, spans, span);
  close(&mut w);
  w
}

/// A body around spans written one after another with [`write_span`] (`ends`: where each one ends in `spans`): the
/// same bytes as [`encode`] of those spans.
pub fn encode_written(origin: &Origin, spans: &[u8], ends: &[usize]) -> Vec<u8> {
  // Exactly enough for the spans and their commas, and room for the rest: a body that had to grow would hold
  // twice its size.
  let mut w = Vec::with_capacity(around_room(origin) + spans.len() + ends.len());
  open(&mut w, origin);
  let mut start = 0;
  for (i, &end) in ends.iter().enumerate() {
    if i > 0 {
      w.push(b',');
    }
    w.extend_from_slice(&spans[start..end]);
    start = end;
  }
  close(&mut w);
  w
}

/// One span's JSON object, as [`encode`] writes it in the body.
pub fn write_span(w: &mut Vec<u8>, s: &OtelSpan) {
  span(w, s);
}

/// The body up to its first span.
fn open(w: &mut Vec<u8>, origin: &Origin) {
  w.extend_from_slice(b"{\"resourceSpans\":[{\"resource\":{\"attributes\":");
  key_values(w, &origin.resource);
  w.extend_from_slice(b",\"droppedAttributesCount\":0,\"entityRefs\":[]},\"scopeSpans\":[{\"scope\":{\"name\":");
  string(w, &origin.scope_name);
  w.extend_from_slice(b",\"version\":");
  string(w, &origin.scope_version);
  w.extend_from_slice(b",\"attributes\":[],\"droppedAttributesCount\":0},\"spans\":[");
}

/// The body after its last span.
fn close(w: &mut Vec<u8>) {
  w.extend_from_slice(b"],\"schemaUrl\":\"\"}],\"schemaUrl\":\"\"}]}");
}

/// Room for the body: the fixed text of each message, and every string with an eighth more for escapes. A body that
/// needs more grows once or twice.
fn estimate(origin: &Origin, spans: &[OtelSpan]) -> usize {
  let span = |s: &OtelSpan| -> usize {
    420
      + room(&s.name)
      + room(&s.status_message)
      + attrs_room(&s.attributes)
      + s
        .events
        .iter()
        .map(|e| 100 + room(&e.name) + attrs_room(&e.attributes))
        .sum::<usize>()
  };
  around_room(origin) + spans.iter().map(span).sum::<usize>()
}

/// Room for the body's text before and after its spans.
fn around_room(origin: &Origin) -> usize {
  250 + attrs_room(&origin.resource) + room(&origin.scope_name) + room(&origin.scope_version)
}

fn attrs_room(a: &[(AttrKey, AttrValue)]) -> usize {
  a.iter().map(|(k, v)| 40 + room(k) + value_room(v)).sum()
}

fn room(s: &str) -> usize {
  s.len() + s.len() / 8 + 2
}

fn value_room(v: &AttrValue) -> usize {
  match v {
    AttrValue::Str(s) => room(s),
    AttrValue::StrArray(a) => 30 + a.iter().map(|s| 20 + room(s)).sum::<usize>(),
    _ => 30,
  }
}

fn span(w: &mut Vec<u8>, s: &OtelSpan) {
  w.extend_from_slice(b"{\"traceId\":");
  hex(w, &s.trace_id);
  w.extend_from_slice(b",\"spanId\":");
  hex(w, &s.span_id);
  w.extend_from_slice(b",\"traceState\":\"\",\"parentSpanId\":");
  hex(w, s.parent_span_id.as_deref().unwrap_or(""));
  w.extend_from_slice(b",\"flags\":");
  number(w, FLAGS);
  w.extend_from_slice(b",\"name\":");
  string(w, &s.name);
  w.extend_from_slice(b",\"kind\":");
  number(w, s.kind as i32);
  w.extend_from_slice(b",\"startTimeUnixNano\":");
  quoted_number(w, s.start_ns);
  w.extend_from_slice(b",\"endTimeUnixNano\":");
  quoted_number(w, s.end_ns);
  w.extend_from_slice(b",\"attributes\":");
  key_values(w, &s.attributes);
  w.extend_from_slice(b",\"droppedAttributesCount\":0,\"events\":[");
  list(w, &s.events, event);
  w.extend_from_slice(b"],\"droppedEventsCount\":0,\"links\":[],\"droppedLinksCount\":0,\"status\":{\"message\":");
  string(w, &s.status_message);
  w.extend_from_slice(b",\"code\":");
  number(w, s.status as i32);
  w.extend_from_slice(b"}}");
}

fn event(w: &mut Vec<u8>, e: &OtelEvent) {
  w.extend_from_slice(b"{\"timeUnixNano\":");
  quoted_number(w, e.time_ns);
  w.extend_from_slice(b",\"name\":");
  string(w, &e.name);
  w.extend_from_slice(b",\"attributes\":");
  key_values(w, &e.attributes);
  w.extend_from_slice(b",\"droppedAttributesCount\":0}");
}

fn key_values(w: &mut Vec<u8>, attrs: &[(AttrKey, AttrValue)]) {
  w.push(b'[');
  list(w, attrs, |w, (k, v)| {
    w.extend_from_slice(b"{\"key\":");
    string(w, k);
    w.extend_from_slice(b",\"value\":");
    any_value(w, v);
    w.push(b'}');
  });
  w.push(b']');
}

fn any_value(w: &mut Vec<u8>, v: &AttrValue) {
  match v {
    AttrValue::Str(s) => {
      w.extend_from_slice(b"{\"stringValue\":");
      string(w, s);
    }
    AttrValue::Bool(b) => w.extend_from_slice(if *b {
      b"{\"boolValue\":true"
    } else {
      b"{\"boolValue\":false"
    }),
    AttrValue::Int(i) => {
      w.extend_from_slice(b"{\"intValue\":");
      quoted_number(w, *i);
    }
    AttrValue::Double(d) => {
      w.extend_from_slice(b"{\"doubleValue\":");
      number(w, *d);
    }
    AttrValue::StrArray(a) => {
      w.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
      list(w, a, |w, s| {
        w.extend_from_slice(b"{\"stringValue\":");
        string(w, s);
        w.push(b'}');
      });
      w.extend_from_slice(b"]}");
    }
  }
  w.push(b'}');
}

/// The items of a JSON array, comma-separated, each written by `item`.
fn list<T>(w: &mut Vec<u8>, items: &[T], item: impl Fn(&mut Vec<u8>, &T)) {
  for (i, x) in items.iter().enumerate() {
    if i > 0 {
      w.push(b',');
    }
    item(w, x);
  }
}

/// A number as `serde_json` writes it (a double that is not finite becomes `null`).
fn number(w: &mut Vec<u8>, n: impl serde::Serialize) {
  serde_json::to_writer(&mut *w, &n).expect("writing a number to a Vec cannot fail");
}

/// A 64-bit integer as a string, as OTLP/JSON asks.
fn quoted_number(w: &mut Vec<u8>, n: impl serde::Serialize) {
  w.push(b'"');
  number(w, n);
  w.push(b'"');
}

/// An id as the hex of the bytes the protobuf encoding carries (mapped ids are clean lower-case hex already).
fn hex(w: &mut Vec<u8>, id: &str) {
  const DIGITS: &[u8; 16] = b"0123456789abcdef";
  w.push(b'"');
  if super::span::hex_classes(id.as_bytes()) == 0 {
    w.extend_from_slice(&id.as_bytes()[..id.len() & !1]);
  } else {
    for b in hex_pairs(id) {
      w.extend_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
    }
  }
  w.push(b'"');
}

/// How `serde_json` escapes a byte: 0 for none, `u` for `\u00XX`, else the letter after the backslash.
const ESCAPE: [u8; 256] = {
  let mut t = [0u8; 256];
  let mut i = 0;
  while i < 0x20 {
    t[i] = b'u';
    i += 1;
  }
  t[0x08] = b'b';
  t[0x09] = b't';
  t[0x0a] = b'n';
  t[0x0c] = b'f';
  t[0x0d] = b'r';
  t[b'"' as usize] = b'"';
  t[b'\\' as usize] = b'\\';
  t
};

/// The bytes of 8 (little-endian) that need an escape, a control character, a quote or a backslash, each marked by
/// its high bit. Bytes above the first marked one may be marked wrongly (a borrow carries into them); the lowest mark
/// is always right.
fn escape_marks(chunk: u64) -> u64 {
  const ONES: u64 = 0x0101_0101_0101_0101;
  const HIGH: u64 = 0x8080_8080_8080_8080;
  let control = chunk.wrapping_sub(ONES * 0x20) & !chunk & HIGH;
  control | byte_marks(chunk, b'"') | byte_marks(chunk, b'\\')
}

/// A JSON string, escaped as `serde_json` escapes it. Eight bytes are checked at a time, and the first one that needs
/// an escape is found from the marks at once.
pub(crate) fn string(w: &mut Vec<u8>, s: &str) {
  let bytes = s.as_bytes();
  w.reserve(bytes.len() + 2);
  w.push(b'"');
  let mut start = 0;
  let mut i = 0;
  while let Some(chunk) = bytes.get(i..i + 8) {
    let marks = escape_marks(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
    if marks == 0 {
      i += 8;
      continue;
    }
    i += (marks.trailing_zeros() / 8) as usize;
    w.extend_from_slice(&bytes[start..i]);
    escape(w, bytes[i]);
    i += 1;
    start = i;
  }
  // The last bytes, fewer than 8, one at a time.
  for (j, &b) in (i..).zip(&bytes[i..]) {
    if ESCAPE[usize::from(b)] != 0 {
      w.extend_from_slice(&bytes[start..j]);
      escape(w, b);
      start = j + 1;
    }
  }
  w.extend_from_slice(&bytes[start..]);
  w.push(b'"');
}

/// The escape of a byte that needs one.
fn escape(w: &mut Vec<u8>, b: u8) {
  const HEX: &[u8; 16] = b"0123456789abcdef";
  match ESCAPE[usize::from(b)] {
    b'u' => w.extend_from_slice(&[
      b'\\',
      b'u',
      b'0',
      b'0',
      HEX[usize::from(b >> 4)],
      HEX[usize::from(b & 15)],
    ]),
    e => w.extend_from_slice(&[b'\\', e]),
  }
}

#[cfg(test)]
mod tests {
  use super::super::otlp::{self, AttrValue, Kind, OtelSpan, StatusCode, tests::sample};
  use super::*;

  fn serde(origin: &Origin, spans: &[OtelSpan]) -> String {
    String::from_utf8(otlp::encode_json(&otlp::request(origin, spans))).unwrap()
  }

  fn direct(origin: &Origin, spans: &[OtelSpan]) -> String {
    String::from_utf8(encode(origin, spans)).unwrap()
  }

  #[test]
  fn writes_what_the_official_serialisers_write() {
    let (origin, mut spans) = sample();
    let mut other = spans[0].clone();
    other.parent_span_id = None;
    other.name = String::new();
    other.kind = Kind::Internal;
    other.status = StatusCode::Unset;
    other.status_message = String::new();
    other.events.clear();
    other.span_id = "00F067AA0BA902B7".into();
    other.attributes = vec![
      ("neg".into(), AttrValue::Int(i64::MIN)),
      ("max".into(), AttrValue::Int(i64::MAX)),
      ("empty".into(), "".into()),
      ("no".into(), AttrValue::Bool(false)),
      ("one".into(), AttrValue::Double(1.0)),
      ("big".into(), AttrValue::Double(1e21)),
      ("tiny".into(), AttrValue::Double(-1.5e-7)),
      ("nan".into(), AttrValue::Double(f64::NAN)),
      ("inf".into(), AttrValue::Double(f64::NEG_INFINITY)),
      ("empty list".into(), AttrValue::StrArray(vec![])),
      ("list".into(), AttrValue::StrArray(vec!["a\"b".into(), "".into()])),
      (
        "k\"ey\\".into(),
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\\n\"}]}".into(),
      ),
      (
        "controls".into(),
        "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}/".into(),
      ),
      ("unicode".into(), "café ✓ 😀 \u{2028}".into()),
      ("long".into(), "0123456789abcdef\"".repeat(40).into()),
    ];
    other.end_ns = 0;
    spans.push(other);
    assert_eq!(direct(&origin, &spans), serde(&origin, &spans));
    assert_eq!(direct(&origin, &[]), serde(&origin, &[]));
  }

  #[test]
  fn dense_escapes_write_as_serde_json_does() {
    // Several escapes in one 8-byte chunk, and across chunks and the tail: every string of up to 6 of these pieces.
    let pieces = ["\"", "\\", "\n", "\u{1}", "a", "é", "{\"k\":", "0123456"];
    let mut strings = vec![String::new()];
    for _ in 0..6 {
      let longer: Vec<String> = strings
        .iter()
        .filter(|s| s.len() < 40)
        .flat_map(|s| pieces.iter().map(move |p| format!("{s}{p}")))
        .collect();
      strings.extend(longer);
      strings.sort();
      strings.dedup();
    }
    for s in strings {
      assert_escapes_as_serde_json(&s, &format!("{s:?}"));
    }
  }

  fn assert_escapes_as_serde_json(s: &str, what: &str) {
    let mut w = Vec::new();
    string(&mut w, s);
    assert_eq!(
      String::from_utf8(w).unwrap(),
      serde_json::to_string(s).unwrap(),
      "{what}"
    );
  }

  #[test]
  fn every_string_escapes_as_serde_json_does() {
    // Each escape at every offset of an 8-byte chunk, and runs of plain bytes around it.
    for c in (0u8..0x80).chain([b'"', b'\\']) {
      for at in 0..17 {
        let mut s = "x".repeat(at);
        s.push(char::from(c));
        s.push_str(&"y".repeat(19 - at));
        assert_escapes_as_serde_json(&s, &format!("byte {c:#x} at {at}"));
      }
    }
  }
}
