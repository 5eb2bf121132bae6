//! A borrowed, order-keeping JSON tree for span data.
//!
//! The worker reads each span once and throws it away. `serde_json::Value` costs an allocation per key and string
//! and a hash per object entry; here strings without escapes borrow from the text, objects are plain vectors (span
//! objects are small, so a linear look-up beats hashing), numbers keep their text, and every object or array remembers
//! the text it was parsed from. `JSON.stringify` writes compact JSON, so that text is exactly what the JavaScript
//! reference puts in an attribute when it stringifies the value again; it is reused instead of re-serialising.

use std::borrow::Cow;

/// Deepest nesting accepted; deeper input is refused, so recursion stays well inside a worker thread's stack.
pub const MAX_DEPTH: usize = 1_024;

/// One JSON value, borrowing from the text it was parsed from.
///
/// The tag is a full word: with a one-byte tag, moving a value (out of a `Result`, into its object's entries) copied
/// the bytes after the tag with unaligned loads that failed store forwarding, the parser's costliest instructions.
#[derive(Debug, Clone, PartialEq)]
#[repr(u64)]
pub enum Json<'a> {
  Null,
  Bool(bool),
  Number(Num<'a>),
  String(Cow<'a, str>),
  Array(Arr<'a>),
  Object(Obj<'a>),
}

/// A number, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num<'a>(&'a str);

/// An array and, when it was written compactly, its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Arr<'a> {
  items: Vec<Json<'a>>,
  raw: Option<&'a str>,
}

/// An object's entries in order and, when it was written compactly, its text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj<'a> {
  entries: Vec<(Cow<'a, str>, Json<'a>)>,
  raw: Option<&'a str>,
}

/// Why text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct JsonError {
  pub what: &'static str,
  pub at: usize,
}

/// Parses one JSON document (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Json<'_>, JsonError> {
  let mut p = Parser::new(text);
  p.skip_ws();
  let v = p.value(0)?;
  p.end()?;
  Ok(v)
}

/// The members of the object `text` holds, each handed to `each` as it is read, in order; the object itself is not
/// built (for a reader that takes its members apart, as a span's are). `Ok(false)`, with no member handed over, when
/// the text holds another kind of value; errors as [`parse`].
pub fn parse_members<'a>(text: &'a str, mut each: impl FnMut(Cow<'a, str>, Json<'a>)) -> Result<bool, JsonError> {
  let mut p = Parser::new(text);
  p.skip_ws();
  if p.b.get(p.i) != Some(&b'{') {
    p.value(0)?;
    p.end()?;
    return Ok(false);
  }
  p.members(1, |_, key, v| each(key, v))?;
  p.end()?;
  Ok(true)
}

impl<'a> Num<'a> {
  /// The number as written.
  pub fn as_str(&self) -> &'a str {
    self.0
  }

  fn is_integer(&self) -> bool {
    !self.0.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
  }

  /// The value when it is an integer literal that fits an `i64` (as `serde_json::Number::as_i64`, except that `-0` is
  /// 0 here).
  pub fn as_i64(&self) -> Option<i64> {
    // Up to 18 digits cannot overflow: summed without the checks of `str::parse` (a 13-digit epoch time is most of
    // the numbers read).
    let b = self.0.as_bytes();
    let (negative, digits) = match b.split_first() {
      Some((b'-', rest)) => (true, rest),
      _ => (false, b),
    };
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
      let n = digits.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
      return Some(if negative { -n } else { n });
    }
    if self.is_integer() { self.0.parse().ok() } else { None }
  }

  /// The value as a double (always, for a valid number).
  pub fn as_f64(&self) -> Option<f64> {
    self.0.parse().ok()
  }
}

impl<'a> Arr<'a> {
  pub fn iter(&self) -> std::slice::Iter<'_, Json<'a>> {
    self.items.iter()
  }

  pub fn len(&self) -> usize {
    self.items.len()
  }

  pub fn is_empty(&self) -> bool {
    self.items.is_empty()
  }
}

impl<'a, 'b> IntoIterator for &'b Arr<'a> {
  type Item = &'b Json<'a>;
  type IntoIter = std::slice::Iter<'b, Json<'a>>;
  fn into_iter(self) -> Self::IntoIter {
    self.items.iter()
  }
}

impl<'a> Obj<'a> {
  /// The value of `key` (the last one, should the key repeat, as `JSON.parse` does).
  pub fn get(&self, key: &str) -> Option<&Json<'a>> {
    self.entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
  }

  /// Takes the value of `key` out.
  pub fn remove(&mut self, key: &str) -> Option<Json<'a>> {
    let i = self.entries.iter().rposition(|(k, _)| k == key)?;
    self.raw = None;
    Some(self.entries.remove(i).1)
  }

  pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
    self.entries.iter().map(|(k, v)| (k.as_ref(), v))
  }

  pub fn len(&self) -> usize {
    self.entries.len()
  }

  pub fn is_empty(&self) -> bool {
    self.entries.is_empty()
  }
}

impl<'a, 'b> IntoIterator for &'b Obj<'a> {
  type Item = (&'b str, &'b Json<'a>);
  type IntoIter = std::iter::Map<std::slice::Iter<'b, (Cow<'a, str>, Json<'a>)>, ObjEntry<'a, 'b>>;
  fn into_iter(self) -> Self::IntoIter {
    self.entries.iter().map(|(k, v)| (k.as_ref(), v))
  }
}

impl<'a> IntoIterator for Obj<'a> {
  type Item = (Cow<'a, str>, Json<'a>);
  type IntoIter = std::vec::IntoIter<(Cow<'a, str>, Json<'a>)>;
  fn into_iter(self) -> Self::IntoIter {
    self.entries.into_iter()
  }
}

type ObjEntry<'a, 'b> = fn(&'b (Cow<'a, str>, Json<'a>)) -> (&'b str, &'b Json<'a>);

impl<'a> Json<'a> {
  /// The member `key` of an object.
  pub fn get(&self, key: &str) -> Option<&Json<'a>> {
    match self {
      Json::Object(o) => o.get(key),
      _ => None,
    }
  }

  pub fn as_str(&self) -> Option<&str> {
    match self {
      Json::String(s) => Some(s),
      _ => None,
    }
  }

  pub fn as_bool(&self) -> Option<bool> {
    match self {
      Json::Bool(b) => Some(*b),
      _ => None,
    }
  }

  pub fn as_i64(&self) -> Option<i64> {
    match self {
      Json::Number(n) => n.as_i64(),
      _ => None,
    }
  }

  pub fn as_f64(&self) -> Option<f64> {
    match self {
      Json::Number(n) => n.as_f64(),
      _ => None,
    }
  }

  pub fn as_array(&self) -> Option<&Arr<'a>> {
    match self {
      Json::Array(a) => Some(a),
      _ => None,
    }
  }

  pub fn as_object(&self) -> Option<&Obj<'a>> {
    match self {
      Json::Object(o) => Some(o),
      _ => None,
    }
  }

  pub fn is_null(&self) -> bool {
    matches!(self, Json::Null)
  }

  pub fn is_number(&self) -> bool {
    matches!(self, Json::Number(_))
  }

  /// Compact JSON text, as `JSON.stringify` writes it.
  /// [`Json::to_json`], borrowing the text as it was read where it can: a container without whitespace inside.
  pub fn json_text(&self) -> Cow<'a, str> {
    match self {
      Json::Object(Obj { raw: Some(raw), .. }) | Json::Array(Arr { raw: Some(raw), .. }) => Cow::Borrowed(raw),
      Json::Number(n) => Cow::Borrowed(n.0),
      _ => Cow::Owned(self.to_json()),
    }
  }

  pub fn to_json(&self) -> String {
    match self {
      Json::Object(Obj { raw: Some(raw), .. }) | Json::Array(Arr { raw: Some(raw), .. }) => raw.to_string(),
      _ => {
        let mut out = String::new();
        self.write(&mut out);
        out
      }
    }
  }

  fn write(&self, out: &mut String) {
    match self {
      Json::Null => out.push_str("null"),
      Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
      Json::Number(n) => out.push_str(n.0),
      Json::String(s) => write_str(s, out),
      Json::Array(Arr { raw: Some(raw), .. }) | Json::Object(Obj { raw: Some(raw), .. }) => out.push_str(raw),
      Json::Array(a) => {
        out.push('[');
        for (i, v) in a.items.iter().enumerate() {
          if i > 0 {
            out.push(',');
          }
          v.write(out);
        }
        out.push(']');
      }
      Json::Object(o) => {
        out.push('{');
        for (i, (k, v)) in o.entries.iter().enumerate() {
          if i > 0 {
            out.push(',');
          }
          write_str(k, out);
          out.push(':');
          v.write(out);
        }
        out.push('}');
      }
    }
  }

  /// The same value as a `serde_json::Value`, for code that builds new JSON from it.
  pub fn to_value(&self) -> serde_json::Value {
    use serde_json::Value;
    match self {
      Json::Null => Value::Null,
      Json::Bool(b) => Value::Bool(*b),
      Json::Number(n) => n
        .as_i64()
        .map(Value::from)
        .or_else(|| {
          n.is_integer()
            .then(|| n.0.parse::<u64>().ok().map(Value::from))
            .flatten()
        })
        .or_else(|| n.as_f64().and_then(serde_json::Number::from_f64).map(Value::Number))
        .unwrap_or(Value::Null),
      Json::String(s) => Value::String(s.to_string()),
      Json::Array(a) => Value::Array(a.items.iter().map(Json::to_value).collect()),
      Json::Object(o) => Value::Object(o.entries.iter().map(|(k, v)| (k.to_string(), v.to_value())).collect()),
    }
  }
}

/// A JSON string literal with the escapes `JSON.stringify` uses.
fn write_str(s: &str, out: &mut String) {
  out.push('"');
  let mut last = 0;
  for (i, b) in s.bytes().enumerate() {
    let esc = match b {
      b'"' => "\\\"",
      b'\\' => "\\\\",
      b'\n' => "\\n",
      b'\r' => "\\r",
      b'\t' => "\\t",
      0x08 => "\\b",
      0x0c => "\\f",
      0..=0x1f => "",
      _ => continue,
    };
    out.push_str(&s[last..i]);
    if esc.is_empty() {
      out.push_str(&format!("\\u{b:04x}"));
    } else {
      out.push_str(esc);
    }
    last = i + 1;
  }
  out.push_str(&s[last..]);
  out.push('"');
}

/// The bytes of 8 (little-endian) equal to `byte`, each marked by its high bit. A borrow may also mark bytes above a
/// match, so only the lowest mark is exact; a chunk without a match has none.
#[inline(always)]
pub(crate) fn byte_marks(chunk: u64, byte: u8) -> u64 {
  const ONES: u64 = 0x0101_0101_0101_0101;
  const HIGH: u64 = 0x8080_8080_8080_8080;
  let v = chunk ^ (ONES * u64::from(byte));
  v.wrapping_sub(ONES) & !v & HIGH
}

/// Where the first `"` or `\\` is in `b`. Most strings in span data are short (keys, ids, names): the first 16 bytes
/// are checked 8 at a time inline, and only a longer string goes to the vectorised search (whose set-up costs more
/// than a short string).
#[inline(always)]
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
  for at in [0, 8] {
    let Some(chunk) = b.get(at..at + 8) else {
      return memchr::memchr2(b'"', b'\\', &b[at.min(b.len())..]).map(|n| at + n);
    };
    let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    // The lowest mark is the first match (a borrow only carries into the bytes above a match).
    let marks = byte_marks(v, b'"') | byte_marks(v, b'\\');
    if marks != 0 {
      return Some(at + (marks.trailing_zeros() / 8) as usize);
    }
  }
  memchr::memchr2(b'"', b'\\', &b[16..]).map(|n| 16 + n)
}

struct Parser<'a> {
  text: &'a str,
  b: &'a [u8],
  i: usize,
  /// Whitespace bytes skipped so far: a container with none inside is compact, and its text can be reused.
  spaces: usize,
  /// Entries and items of the containers being read, stacked; each container then takes its own in one allocation
  /// of the exact size (instead of growing a vector per container).
  entries: Vec<(Cow<'a, str>, Json<'a>)>,
  items: Vec<Json<'a>>,
}

impl<'a> Parser<'a> {
  fn new(text: &'a str) -> Self {
    Parser {
      text,
      b: text.as_bytes(),
      i: 0,
      spaces: 0,
      // Room for a typical span's containers up front, so the stacks rarely grow.
      entries: Vec::with_capacity(64),
      items: Vec::with_capacity(16),
    }
  }

  /// Only whitespace may follow the value.
  fn end(&mut self) -> Result<(), JsonError> {
    self.skip_ws();
    if self.i != self.b.len() {
      return Err(self.err("trailing characters"));
    }
    Ok(())
  }

  fn err(&self, what: &'static str) -> JsonError {
    JsonError { what, at: self.i }
  }

  /// Skips whitespace. `JSON.stringify` writes none between tokens, so the usual case is one comparison.
  #[inline(always)]
  fn skip_ws(&mut self) {
    if self.b.get(self.i).is_some_and(|&b| b > b' ') {
      return;
    }
    self.skip_ws_run();
  }

  fn skip_ws_run(&mut self) {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
      self.i += 1;
      self.spaces += 1;
    }
  }

  // Inlined into the loops of `object` and `array` (release builds only, as `string`): a value returned through
  // memory was then copied into its container's entries with loads wider than the stores that wrote it, which stall
  // (store forwarding fails); that copy was the reader's costliest instructions.
  #[cfg_attr(not(debug_assertions), inline(always))]
  fn value(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
    match self.b.get(self.i) {
      Some(b'{') => self.object(depth + 1),
      Some(b'[') => self.array(depth + 1),
      Some(b'"') => Ok(Json::String(self.string()?)),
      Some(b't') => self.literal("true", Json::Bool(true)),
      Some(b'f') => self.literal("false", Json::Bool(false)),
      Some(b'n') => self.literal("null", Json::Null),
      Some(b'-' | b'0'..=b'9') => self.number(),
      Some(_) => Err(self.err("unexpected character")),
      None => Err(self.err("unexpected end")),
    }
  }

  fn literal(&mut self, word: &'static str, v: Json<'a>) -> Result<Json<'a>, JsonError> {
    if self.b[self.i..].starts_with(word.as_bytes()) {
      self.i += word.len();
      Ok(v)
    } else {
      Err(self.err("invalid literal"))
    }
  }

  fn digits(&mut self) -> usize {
    let start = self.i;
    while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
      self.i += 1;
    }
    self.i - start
  }

  fn number(&mut self) -> Result<Json<'a>, JsonError> {
    let start = self.i;
    if self.b[self.i] == b'-' {
      self.i += 1;
    }
    match self.digits() {
      0 => return Err(self.err("invalid number")),
      n if n > 1 && self.b[self.i - n] == b'0' => return Err(self.err("leading zero")),
      _ => {}
    }
    if self.b.get(self.i) == Some(&b'.') {
      self.i += 1;
      if self.digits() == 0 {
        return Err(self.err("invalid number"));
      }
    }
    if let Some(b'e' | b'E') = self.b.get(self.i) {
      self.i += 1;
      if let Some(b'+' | b'-') = self.b.get(self.i) {
        self.i += 1;
      }
      if self.digits() == 0 {
        return Err(self.err("invalid number"));
      }
    }
    Ok(Json::Number(Num(&self.text[start..self.i])))
  }

  fn hex4(&mut self) -> Result<u16, JsonError> {
    let h = self
      .b
      .get(self.i..self.i + 4)
      .ok_or_else(|| self.err("short \\u escape"))?;
    let mut n = 0u16;
    for &c in h {
      let d = (c as char).to_digit(16).ok_or_else(|| self.err("invalid \\u escape"))?;
      n = n * 16 + d as u16;
    }
    self.i += 4;
    Ok(n)
  }

  /// A string literal; borrowed when it has no escapes. Lone surrogates become U+FFFD.
  // Inlined into its two callers in release builds only: in a debug build it would grow every frame of the
  // recursion (the nesting test overflowed a test thread's 2 MiB stack).
  #[cfg_attr(not(debug_assertions), inline(always))]
  fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
    self.i += 1;
    let start = self.i;
    match quote_or_backslash(&self.b[self.i..]) {
      None => return Err(self.err("unterminated string")),
      Some(n) if self.b[self.i + n] == b'"' => {
        self.i += n + 1;
        return Ok(Cow::Borrowed(&self.text[start..start + n]));
      }
      Some(_) => {}
    }
    let mut out = String::new();
    let mut run = start;
    loop {
      let n = quote_or_backslash(&self.b[self.i..]).ok_or_else(|| self.err("unterminated string"))?;
      self.i += n;
      out.push_str(&self.text[run..self.i]);
      if self.b[self.i] == b'"' {
        self.i += 1;
        return Ok(Cow::Owned(out));
      }
      self.i += 1;
      let c = *self.b.get(self.i).ok_or_else(|| self.err("unterminated string"))?;
      self.i += 1;
      match c {
        b'"' => out.push('"'),
        b'\\' => out.push('\\'),
        b'/' => out.push('/'),
        b'b' => out.push('\u{8}'),
        b'f' => out.push('\u{c}'),
        b'n' => out.push('\n'),
        b'r' => out.push('\r'),
        b't' => out.push('\t'),
        b'u' => {
          let unit = self.hex4()?;
          let ch = match unit {
            0xD800..=0xDBFF if self.b[self.i..].starts_with(b"\\u") => {
              let save = self.i;
              self.i += 2;
              let low = self.hex4()?;
              if (0xDC00..=0xDFFF).contains(&low) {
                char::from_u32(0x10000 + (((unit as u32) - 0xD800) << 10) + (low as u32 - 0xDC00))
              } else {
                self.i = save;
                None
              }
            }
            _ => char::from_u32(unit as u32),
          };
          out.push(ch.unwrap_or('\u{FFFD}'));
        }
        _ => return Err(self.err("invalid escape")),
      }
      run = self.i;
    }
  }

  fn deeper(&self, depth: usize) -> Result<(), JsonError> {
    if depth > MAX_DEPTH {
      Err(self.err("nested too deeply"))
    } else {
      Ok(())
    }
  }

  fn array(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
    self.deeper(depth)?;
    let (start, spaces, mark) = (self.i, self.spaces, self.items.len());
    self.i += 1;
    self.skip_ws();
    if self.b.get(self.i) == Some(&b']') {
      self.i += 1;
    } else {
      loop {
        self.skip_ws();
        let v = self.value(depth)?;
        self.items.push(v);
        self.skip_ws();
        match self.b.get(self.i) {
          Some(b',') => self.i += 1,
          Some(b']') => {
            self.i += 1;
            break;
          }
          _ => return Err(self.err("expected , or ]")),
        }
      }
    }
    let raw = (self.spaces == spaces).then(|| &self.text[start..self.i]);
    let items = self.items.split_off(mark);
    Ok(Json::Array(Arr { items, raw }))
  }

  fn object(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
    let (start, spaces, mark) = (self.i, self.spaces, self.entries.len());
    self.members(depth, |p, key, v| p.entries.push((key, v)))?;
    let raw = (self.spaces == spaces).then(|| &self.text[start..self.i]);
    let entries = self.entries.split_off(mark);
    Ok(Json::Object(Obj { entries, raw }))
  }

  /// The members of the object that opens here, each handed to `each` with the parser.
  #[cfg_attr(not(debug_assertions), inline(always))]
  fn members(
    &mut self,
    depth: usize,
    mut each: impl FnMut(&mut Self, Cow<'a, str>, Json<'a>),
  ) -> Result<(), JsonError> {
    self.deeper(depth)?;
    self.i += 1;
    self.skip_ws();
    if self.b.get(self.i) == Some(&b'}') {
      self.i += 1;
    } else {
      loop {
        self.skip_ws();
        if self.b.get(self.i) != Some(&b'"') {
          return Err(self.err("expected a key"));
        }
        let key = self.string()?;
        self.skip_ws();
        if self.b.get(self.i) != Some(&b':') {
          return Err(self.err("expected :"));
        }
        self.i += 1;
        self.skip_ws();
        let v = self.value(depth)?;
        each(self, key, v);
        self.skip_ws();
        match self.b.get(self.i) {
          Some(b',') => self.i += 1,
          Some(b'}') => {
            self.i += 1;
            break;
          }
          _ => return Err(self.err("expected , or }")),
        }
      }
    }
    Ok(())
  }
}

/// The top-level members of a JSON object as raw text: each key with its quotes and escapes, each value as written.
/// Reads at about memory speed, for the worker that only needs a few fields of a span: strings are skipped with a
/// vectorised search for their closing quote, and nested values are only bracket-matched, not checked. Meant for
/// text `JSON.stringify` wrote; malformed text may be accepted where [`parse`] would refuse it, but is never read out
/// of bounds.
pub fn top_level<'a>(text: &'a str, mut each: impl FnMut(&'a str, &'a str)) -> Result<(), JsonError> {
  top_level_until(text, |key, value, _| {
    each(key, value);
    std::ops::ControlFlow::Continue(())
  })
}

/// [`top_level`] that stops when `each` breaks. `each` also gets the offset just past the member's value. A scan that
/// stops early has not checked the rest of the text.
pub fn top_level_until<'a>(
  text: &'a str,
  mut each: impl FnMut(&'a str, &'a str, usize) -> std::ops::ControlFlow<()>,
) -> Result<(), JsonError> {
  let b = text.as_bytes();
  let err = |what, at| JsonError { what, at };
  let mut i = skip_space(b, 0);
  if b.get(i) != Some(&b'{') {
    return Err(err("not an object", i));
  }
  i = skip_space(b, i + 1);
  if b.get(i) == Some(&b'}') {
    i += 1;
  } else {
    loop {
      if b.get(i) != Some(&b'"') {
        return Err(err("expected a key", i));
      }
      let key = i;
      i = string_end(b, i)?;
      let key = &text[key..i];
      i = skip_space(b, i);
      if b.get(i) != Some(&b':') {
        return Err(err("expected ':'", i));
      }
      i = skip_space(b, i + 1);
      let value = i;
      i = value_end(b, i)?;
      if each(key, &text[value..i], i).is_break() {
        return Ok(());
      }
      i = skip_space(b, i);
      match b.get(i) {
        Some(b',') => i = skip_space(b, i + 1),
        Some(b'}') => {
          i += 1;
          break;
        }
        _ => return Err(err("expected ',' or '}'", i)),
      }
    }
  }
  if skip_space(b, i) != b.len() {
    return Err(err("trailing characters", i));
  }
  Ok(())
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
  while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
    i += 1;
  }
  i
}

/// Where the string literal that opens at `at` ends (just past its closing quote).
fn string_end(b: &[u8], at: usize) -> Result<usize, JsonError> {
  let mut i = at + 1;
  loop {
    let rest = b.get(i..).unwrap_or_default();
    match quote_or_backslash(rest) {
      Some(n) if rest[n] == b'"' => return Ok(i + n + 1),
      // An escape: the byte after the backslash is part of it.
      Some(n) if i + n + 2 <= b.len() => i += n + 2,
      _ => {
        return Err(JsonError {
          what: "unterminated string",
          at,
        });
      }
    }
  }
}

/// Where the value that starts at `at` ends.
fn value_end(b: &[u8], at: usize) -> Result<usize, JsonError> {
  match b.get(at) {
    Some(b'"') => string_end(b, at),
    Some(b'{' | b'[') => {
      let mut depth = 0usize;
      let mut i = at;
      while let Some(&c) = b.get(i) {
        match c {
          b'"' => {
            i = string_end(b, i)?;
            continue;
          }
          b'{' | b'[' => depth += 1,
          b'}' | b']' => {
            depth -= 1;
            if depth == 0 {
              return Ok(i + 1);
            }
          }
          _ => {}
        }
        i += 1;
      }
      Err(JsonError {
        what: "unterminated value",
        at,
      })
    }
    _ => {
      let n = b[at.min(b.len())..]
        .iter()
        .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
        .unwrap_or(b.len() - at.min(b.len()));
      if n == 0 {
        return Err(JsonError {
          what: "expected a value",
          at,
        });
      }
      Ok(at + n)
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn members(text: &str) -> Result<Vec<(&str, &str)>, JsonError> {
    let mut out = Vec::new();
    top_level(text, |k, v| out.push((k, v)))?;
    Ok(out)
  }

  #[test]
  fn members_are_handed_over_as_the_object_holds_them() {
    for text in [
      r#"{}"#,
      r#" { "a" : 1 , "b":[1,{"c":null}], "d\n":"x\u00e9", "a":{"e":[]} } "#,
      r#"{"id":"00f0","attributes":{"model":"m","n":1.5e3},"input":[{"role":"user","content":"hi"}]}"#,
    ] {
      let Json::Object(whole) = parse(text).unwrap() else {
        panic!("{text}")
      };
      let mut got = Vec::new();
      assert_eq!(parse_members(text, |k, v| got.push((k, v))), Ok(true), "{text}");
      let want: Vec<_> = whole.into_iter().collect();
      assert_eq!(got, want, "{text}");
    }
    // Another kind of value: nothing handed over. Errors as `parse` gives them.
    for text in ["[1,2]", "\"s\"", "3", "null"] {
      assert_eq!(parse_members(text, |_, _| panic!("{text}")), Ok(false));
    }
    for text in [r#"{"a":1} x"#, r#"{"a":}"#, r#"{"a":1"#, "", "[1"] {
      assert_eq!(
        parse_members(text, |_, _| {}).map_err(|e| e.what),
        parse(text).map(|_| true).map_err(|e| e.what),
        "{text}"
      );
    }
  }

  #[test]
  fn integers_read_as_str_parse_reads_them() {
    let mut texts: Vec<String> = [
      "0",
      "-0",
      "7",
      "-7",
      "1733097600123",
      "-1733097600123",
      "999999999999999999",
      "-999999999999999999",
      "1000000000000000000",
      "9223372036854775807",
      "-9223372036854775808",
      "9223372036854775808",
      "-9223372036854775809",
      "12345678901234567890",
      "1.5",
      "-1.0",
      "1e3",
      "1E3",
      "2.5e-3",
      "0.0",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    // Every length from 1 to 21 digits, both signs, as the widest digits.
    for len in 1..=21 {
      texts.push("9".repeat(len));
      texts.push(format!("-{}", "9".repeat(len)));
      texts.push(format!("1{}", "0".repeat(len - 1)));
    }
    for t in &texts {
      let Json::Number(n) = parse(t).unwrap() else {
        panic!("{t}")
      };
      // `str::parse` of an integer literal (as before the fast path; serde_json agrees except on "-0", which it reads
      // as a double and `JSON.stringify` never writes).
      let integer = !t.contains(['.', 'e', 'E']);
      let want = if integer { t.parse::<i64>().ok() } else { None };
      assert_eq!(n.as_i64(), want, "{t}");
    }
  }

  #[test]
  fn quote_or_backslash_finds_the_first_as_memchr_does() {
    // Each of the two at every offset up to past the inline checks, after plain, non-ASCII and near-miss bytes (a
    // quote or backslash plus or minus one), with another of them later.
    for fill in [b'a', 0xc3, b'!', b'#', b'[', b']', 0] {
      for len in 0..40 {
        for at in 0..=len {
          for (first, later) in [(b'"', b'\\'), (b'\\', b'"')] {
            let mut b = vec![fill; len];
            if at < len {
              b[at] = first;
              if at + 3 < len {
                b[at + 3] = later;
              }
            }
            assert_eq!(
              quote_or_backslash(&b),
              memchr::memchr2(b'"', b'\\', &b),
              "{fill:#x} {len} {at}"
            );
          }
        }
      }
    }
  }

  #[test]
  fn top_level_gives_each_member_as_written() {
    let text = r#"{"id":"a\"}","n":-1.5e3,"t":true,"o":{"k":["]",{"x":"\\"}],"e":{}},"a":[],"s":"é😀\u0000","z":null}"#;
    assert_eq!(
      members(text).unwrap(),
      vec![
        (r#""id""#, r#""a\"}""#),
        (r#""n""#, "-1.5e3"),
        (r#""t""#, "true"),
        (r#""o""#, r#"{"k":["]",{"x":"\\"}],"e":{}}"#),
        (r#""a""#, "[]"),
        (r#""s""#, r#""é😀\u0000""#),
        (r#""z""#, "null"),
      ]
    );
    assert_eq!(members(" { } ").unwrap(), vec![]);
    assert_eq!(
      members("{ \"a\" : 1 , \"b\" : [ 2 ] }").unwrap(),
      vec![("\"a\"", "1"), ("\"b\"", "[ 2 ]")]
    );
  }

  #[test]
  fn top_level_refuses_what_is_not_one_object() {
    for text in [
      "",
      "[]",
      "1",
      "\"x\"",
      "{",
      "{\"a\"}",
      "{\"a\":}",
      "{\"a\":1,}",
      "{\"a\":\"x}",
      "{\"a\":1} x",
      "{\"a\":\"\\",
      "{\"a\":[1,2}",
      "{\"a\":{\"b\":1}",
      "{a:1}",
      "{\"a\":1 \"b\":2}",
    ] {
      assert!(members(text).is_err(), "{text:?}");
    }
  }

  #[test]
  fn parses_what_serde_json_parses_and_keeps_order() {
    let v =
      json!({"z": 1, "a": [1, -2.5, 1e3, true, false, null, "x"], "m": {"k": "v\"\\\n\u{1}é😀", "e": {}}, "l": []});
    let text = v.to_string();
    let j = parse(&text).unwrap();
    assert_eq!(j.to_value(), v);
    let keys: Vec<&str> = j.as_object().unwrap().iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["z", "a", "m", "l"]);
    assert_eq!(j.get("m").unwrap().get("k").unwrap().as_str(), Some("v\"\\\n\u{1}é😀"));
    assert_eq!(j.to_json(), text, "compact text is reused as it is");
  }

  #[test]
  fn text_with_whitespace_is_written_compactly() {
    let j = parse(" { \"a\" : [ 1 , 2 ] ,\n \"b\":{\"c\":\"\\u0001\"} } ").unwrap();
    assert_eq!(j.to_json(), r#"{"a":[1,2],"b":{"c":"\u0001"}}"#);
    assert_eq!(j.get("b").unwrap().to_json(), r#"{"c":"\u0001"}"#);
  }

  #[test]
  fn numbers_read_as_serde_json_reads_them() {
    let n = |s: &'static str| parse(s).unwrap();
    assert_eq!(n("42").as_i64(), Some(42));
    assert_eq!(n("-7").as_i64(), Some(-7));
    assert_eq!(n("1.0").as_i64(), None);
    assert_eq!(n("1.0").as_f64(), Some(1.0));
    assert_eq!(n("1e3").as_f64(), Some(1000.0));
    assert_eq!(n("18446744073709551615").as_i64(), None);
    assert_eq!(n("0.25").as_f64(), Some(0.25));
  }

  #[test]
  fn escapes_and_surrogates() {
    let s = parse(r#""a\ud83d\ude00b\ud800c\udc00\u00e9\/""#).unwrap();
    assert_eq!(s.as_str(), Some("a😀b\u{fffd}c\u{fffd}é/"));
    assert!(matches!(
      parse(r#""plain""#).unwrap(),
      Json::String(Cow::Borrowed("plain"))
    ));
  }

  #[test]
  fn invalid_text_is_refused() {
    for bad in [
      "", "{", "[1,]", "{\"a\"}", "{\"a\":}", "01", "1.", "-", "tru", "\"abc", "\"\\x\"", "{} x", "[1 2]", "{a:1}",
    ] {
      assert!(parse(bad).is_err(), "{bad:?}");
    }
  }

  #[test]
  fn depth_is_bounded() {
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse(&ok).is_ok());
    let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    assert_eq!(parse(&deep).unwrap_err().what, "nested too deeply");
  }

  #[test]
  fn removing_a_key_drops_the_reused_text() {
    let mut o = match parse(r#"{"a":1,"b":2}"#).unwrap() {
      Json::Object(o) => o,
      _ => unreachable!(),
    };
    assert!(o.remove("a").is_some());
    assert_eq!(Json::Object(o).to_json(), r#"{"b":2}"#);
  }
}
