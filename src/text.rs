//! Span JSON as it crossed over from JavaScript. The JavaScript thread copies a string out in one pass, with its
//! length known up front: as Latin-1 (one byte per character, a plain copy) when no character is wider, which is the
//! usual case for span JSON, and as UTF-16 otherwise. The transcoding to UTF-8 happens here, on a worker thread.

use std::sync::Arc;

/// The text of one serialised span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanText {
  Utf8(String),
  Utf16(Vec<u16>),
  /// Characters U+0000 to U+00FF, one byte each.
  Latin1(Vec<u8>),
  /// The same, written into a shared chunk (see [`Slabs`]).
  Slab(Slab),
}

impl SpanText {
  /// Bytes held in memory, for the queue bounds.
  pub fn size(&self) -> usize {
    match self {
      SpanText::Utf8(s) => s.len(),
      SpanText::Utf16(u) => u.len() * 2,
      SpanText::Latin1(b) => b.len(),
      SpanText::Slab(b) => b.len(),
    }
  }

  /// The text as UTF-8 in `buf` (cleared first), reusing its allocation: the worker keeps one such buffer, so reading
  /// a span costs no allocation. Lone surrogates become U+FFFD, as in [`SpanText::into_string`].
  pub fn read_into(self, buf: &mut String) {
    buf.clear();
    match self {
      SpanText::Utf8(s) => buf.push_str(&s),
      SpanText::Utf16(units) => {
        push_utf16(&units, buf);
        give_back(units);
      }
      SpanText::Latin1(bytes) => push_latin1(&bytes, buf),
      SpanText::Slab(slab) => push_latin1(slab.bytes(), buf),
    }
  }

  /// The text as UTF-8. Lone surrogates (which `JSON.stringify` escapes, so they do not occur in its output) become
  /// U+FFFD. A UTF-16 buffer goes back to the pool.
  pub fn into_string(self) -> String {
    match self {
      SpanText::Utf8(s) => s,
      SpanText::Utf16(units) => {
        let s = utf16_to_string(&units);
        give_back(units);
        s
      }
      // ASCII is UTF-8 already: the bytes become the string without a copy.
      SpanText::Latin1(bytes) if bytes.is_ascii() => {
        // Safety: every byte is below 0x80, so the bytes are valid UTF-8.
        unsafe { String::from_utf8_unchecked(bytes) }
      }
      SpanText::Latin1(bytes) => {
        let mut s = String::with_capacity(bytes.len() + bytes.len() / 8);
        push_latin1(&bytes, &mut s);
        s
      }
      SpanText::Slab(slab) => {
        let bytes = slab.bytes();
        let mut s = String::with_capacity(bytes.len() + if bytes.is_ascii() { 0 } else { bytes.len() / 8 });
        push_latin1(bytes, &mut s);
        s
      }
    }
  }
}

/// Latin-1 text written into a chunk that [`Slabs`] hands out: the bytes `start..start + len` of it.
#[derive(Clone)]
pub struct Slab {
  chunk: Arc<Chunk>,
  start: usize,
  len: usize,
}

impl Slab {
  pub fn bytes(&self) -> &[u8] {
    // Safety: `Slabs::write` wrote these bytes before it made the slab, and writes nothing there while any slab of
    // the chunk is alive (it reuses a chunk only once it holds the only reference).
    unsafe { std::slice::from_raw_parts(self.chunk.ptr().add(self.start), self.len) }
  }

  pub fn len(&self) -> usize {
    self.len
  }

  pub fn is_empty(&self) -> bool {
    self.len == 0
  }
}

impl PartialEq for Slab {
  fn eq(&self, other: &Self) -> bool {
    self.bytes() == other.bytes()
  }
}

impl Eq for Slab {}

impl std::fmt::Debug for Slab {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "Slab({:?})", String::from_utf8_lossy(self.bytes()))
  }
}

struct Chunk(Box<[std::cell::UnsafeCell<u8>]>);

// Safety: a chunk's bytes are written only through `Slabs`, into room no slab covers yet, and read through slabs
// once written (the queue that carries a slab to a worker orders the write before the read).
unsafe impl Sync for Chunk {}

impl Chunk {
  fn new() -> Arc<Self> {
    let bytes = vec![0u8; CHUNK_BYTES].into_boxed_slice();
    // Safety: `UnsafeCell<u8>` has the layout of `u8`.
    let cells = unsafe { Box::from_raw(Box::into_raw(bytes) as *mut [std::cell::UnsafeCell<u8>]) };
    Arc::new(Chunk(cells))
  }

  fn ptr(&self) -> *mut u8 {
    std::cell::UnsafeCell::raw_get(self.0.as_ptr())
  }
}

/// Room for span text in large chunks, one after another, for the thread that copies spans out: a text costs a
/// reference count instead of an allocation, and a chunk whose texts the workers are done with is written again,
/// its memory already mapped and warm. (Each text allocated on its own was the largest native cost on the
/// JavaScript thread: the allocator's slow path, refilling from memory freed on the workers, and fresh pages.)
#[derive(Default)]
pub struct Slabs {
  current: Option<Arc<Chunk>>,
  /// Where the next text goes in `current`.
  at: usize,
  /// Chunks written full, oldest first, until their texts are gone and they can be written again.
  full: std::collections::VecDeque<Arc<Chunk>>,
}

/// Bytes per chunk.
const CHUNK_BYTES: usize = 256 * 1024;
/// Larger texts get their own allocation.
pub const MAX_SLAB_BYTES: usize = CHUNK_BYTES / 4;
/// Full chunks kept for reuse; beyond this the oldest is let go (freed once its texts are).
const KEPT_CHUNKS: usize = 16;

impl Slabs {
  /// Lets `fill` write at most `len` bytes (it gets `len + 1` of room, for a terminating zero it may add) and
  /// returns what it says it wrote, at most `len`. `None` when `len` exceeds [`MAX_SLAB_BYTES`] or `fill` fails.
  pub fn write(&mut self, len: usize, fill: impl FnOnce(*mut u8, usize) -> Option<usize>) -> Option<Slab> {
    if len > MAX_SLAB_BYTES {
      return None;
    }
    if self.current.is_none() || self.at + len + 1 > CHUNK_BYTES {
      self.next_chunk();
    }
    let chunk = self.current.as_ref().expect("set above");
    // Safety: `at + len + 1 <= CHUNK_BYTES`, and no slab covers `at..` (slabs are cut below `at` only).
    let written = fill(unsafe { chunk.ptr().add(self.at) }, len + 1)?.min(len);
    let slab = Slab {
      chunk: chunk.clone(),
      start: self.at,
      len: written,
    };
    self.at += written;
    Some(slab)
  }

  fn next_chunk(&mut self) {
    if let Some(full) = self.current.take() {
      self.full.push_back(full);
    }
    self.at = 0;
    // The oldest full chunk, when no slab of it is left (its texts went first).
    if let Some(oldest) = self.full.front_mut()
      && Arc::get_mut(oldest).is_some()
    {
      self.current = self.full.pop_front();
      return;
    }
    if self.full.len() > KEPT_CHUNKS {
      self.full.pop_front();
    }
    self.current = Some(Chunk::new());
  }
}

/// UTF-16 buffers on their way back from the workers to the JavaScript thread, so copying a span out costs no
/// allocation (and none of the page faults of fresh memory) once the pool is warm.
static POOL: parking_lot::Mutex<Vec<Vec<u16>>> = parking_lot::Mutex::new(Vec::new());
/// Buffers the pool keeps.
const POOL_BUFFERS: usize = 64;
/// Larger buffers (in code units) are freed rather than kept.
const POOL_BUFFER_UNITS: usize = 64 * 1024;

/// Buffers are made at least this large (in code units), in powers of two, so a pooled buffer fits most spans and
/// is seldom grown; small enough that a queue of them held in a burst wastes little memory.
const MIN_BUFFER_UNITS: usize = 1024;

/// An empty buffer with room for at least `units` code units, from the pool when one there is large enough.
pub fn take_buffer(units: usize) -> Vec<u16> {
  let want = units.max(MIN_BUFFER_UNITS).next_power_of_two();
  match POOL.lock().pop() {
    Some(buf) if buf.capacity() >= units => buf,
    // Too small: grown, rather than dropped and another allocated.
    Some(mut buf) => {
      buf.reserve_exact(want);
      buf
    }
    None => Vec::with_capacity(want),
  }
}

fn give_back(mut buf: Vec<u16>) {
  if buf.capacity() > POOL_BUFFER_UNITS {
    return;
  }
  buf.clear();
  let mut pool = POOL.lock();
  if pool.len() < POOL_BUFFERS {
    pool.push(buf);
  }
}

impl From<String> for SpanText {
  fn from(s: String) -> Self {
    SpanText::Utf8(s)
  }
}

impl From<&str> for SpanText {
  fn from(s: &str) -> Self {
    SpanText::Utf8(s.to_string())
  }
}

/// UTF-16 to UTF-8, with a straight narrowing copy when every unit is ASCII (the usual case for span JSON).
pub fn utf16_to_string(units: &[u16]) -> String {
  let mut s = String::with_capacity(units.len());
  push_utf16(units, &mut s);
  s
}

/// Appends Latin-1 text to `buf`: each byte is the character of that number.
fn push_latin1(bytes: &[u8], buf: &mut String) {
  if bytes.is_ascii() {
    // Safety: ASCII bytes are valid UTF-8.
    buf.push_str(unsafe { std::str::from_utf8_unchecked(bytes) });
  } else {
    buf.extend(bytes.iter().map(|&b| char::from(b)));
  }
}

/// Appends UTF-16 text to `buf`; lone surrogates become U+FFFD.
fn push_utf16(units: &[u16], buf: &mut String) {
  // An OR over all units (no early exit) vectorises; so does the narrowing copy.
  if units.iter().fold(0, |acc, &u| acc | u) < 0x80 {
    // Safety: every unit is below 0x80, so each narrowed byte is ASCII and the buffer stays valid UTF-8.
    unsafe { buf.as_mut_vec() }.extend(units.iter().map(|&u| u as u8));
  } else {
    buf.extend(char::decode_utf16(units.iter().copied()).map(|c| c.unwrap_or('\u{FFFD}')));
  }
}

impl SpanText {
  /// The span id and trace id a text opens with, as `JSON.stringify` writes a Mastra span:
  /// `{"id":"…","traceId":"…"`. Only ids of printable ASCII other than `\` (whose JSON is the id in quotes) are read;
  /// `None` for anything else, and the caller reads the ids from the span instead.
  pub fn leading_ids(&self) -> Option<(Id, Id)> {
    match self {
      SpanText::Utf8(s) => leading_ids(s.as_bytes()),
      SpanText::Latin1(b) => leading_ids(b),
      SpanText::Slab(b) => leading_ids(b.bytes()),
      SpanText::Utf16(units) => {
        // The opening narrowed to ASCII, up to the first wider unit (which no id read here contains).
        let mut head = [0u8; LEADING_UNITS];
        let mut n = 0;
        for &u in units.iter().take(LEADING_UNITS) {
          if u >= 0x80 {
            break;
          }
          head[n] = u as u8;
          n += 1;
        }
        leading_ids(&head[..n])
      }
    }
  }
}

/// How much of a UTF-16 text `leading_ids` looks at: room for the keys and two inline ids.
const LEADING_UNITS: usize = 2 * Id::INLINE + 32;

fn leading_ids(text: &[u8]) -> Option<(Id, Id)> {
  let rest = text.strip_prefix(b"{\"id\":\"")?;
  let (id, rest) = plain_string(rest)?;
  let rest = rest.strip_prefix(b",\"traceId\":\"")?;
  let (trace, _) = plain_string(rest)?;
  Some((Id::from(id), Id::from(trace)))
}

/// The characters up to the closing quote, and what follows it, when all are printable ASCII other than `\`.
fn plain_string(text: &[u8]) -> Option<(&str, &[u8])> {
  let end = text.iter().position(|&b| b == b'"')?;
  let s = &text[..end];
  if !s.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
    return None;
  }
  // Safety: every byte is printable ASCII.
  Some((unsafe { std::str::from_utf8_unchecked(s) }, &text[end + 1..]))
}

/// A span or trace id as the JavaScript thread read it: stored inline up to [`Id::INLINE`] bytes (Mastra's ids are 16
/// and 32 hex digits), so reading one, keeping it in maps and handing it to a worker allocates nothing. A longer id is
/// kept on the heap.
#[derive(Clone)]
pub enum Id {
  Inline { len: u8, bytes: [u8; Id::INLINE] },
  Heap(Box<str>),
}

impl Id {
  /// Bytes stored inline (the whole value is 48 bytes).
  pub const INLINE: usize = 46;

  pub fn as_str(&self) -> &str {
    match self {
      // Safety: made from a `&str` in `From<&str>`, cut at its length.
      Id::Inline { len, bytes } => unsafe { std::str::from_utf8_unchecked(&bytes[..*len as usize]) },
      Id::Heap(s) => s,
    }
  }
}

impl From<&str> for Id {
  fn from(s: &str) -> Self {
    if s.len() <= Id::INLINE {
      let mut bytes = [0u8; Id::INLINE];
      bytes[..s.len()].copy_from_slice(s.as_bytes());
      Id::Inline {
        len: s.len() as u8,
        bytes,
      }
    } else {
      Id::Heap(s.into())
    }
  }
}

impl From<String> for Id {
  fn from(s: String) -> Self {
    if s.len() <= Id::INLINE {
      Id::from(s.as_str())
    } else {
      Id::Heap(s.into_boxed_str())
    }
  }
}

impl std::ops::Deref for Id {
  type Target = str;
  fn deref(&self) -> &str {
    self.as_str()
  }
}

/// Maps keyed by `Id` are looked up with a `&str`; the hash is the string's, as `Borrow` requires.
impl std::borrow::Borrow<str> for Id {
  fn borrow(&self) -> &str {
    self.as_str()
  }
}

impl std::hash::Hash for Id {
  fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
    self.as_str().hash(state)
  }
}

impl PartialEq for Id {
  fn eq(&self, other: &Self) -> bool {
    self.as_str() == other.as_str()
  }
}

impl Eq for Id {}

impl std::fmt::Debug for Id {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    std::fmt::Debug::fmt(self.as_str(), f)
  }
}

impl std::fmt::Display for Id {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.write_str(self.as_str())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn units(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
  }

  fn write(slabs: &mut Slabs, text: &[u8]) -> Option<Slab> {
    slabs.write(text.len(), |at, room| {
      assert_eq!(room, text.len() + 1);
      // As napi does: the text, then a terminating zero.
      unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), at, text.len());
        *at.add(text.len()) = 0;
      }
      Some(text.len())
    })
  }

  #[test]
  fn slabs_keep_every_text_intact_across_chunks_and_reuse_a_chunk_only_once_its_texts_are_gone() {
    let mut slabs = Slabs::default();
    let texts: Vec<Vec<u8>> = (0..2000u32)
      .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "é".repeat((i % 700) as usize)).into_bytes())
      .collect();
    let kept: Vec<Slab> = texts.iter().map(|t| write(&mut slabs, t).expect("fits")).collect();
    for (t, s) in texts.iter().zip(&kept) {
      assert_eq!(s.bytes(), &t[..]);
    }
    let chunks = |v: &[Slab]| {
      let mut p: Vec<*const Chunk> = v.iter().map(|s| Arc::as_ptr(&s.chunk)).collect();
      p.dedup();
      p
    };
    let first = chunks(&kept);
    assert!(first.len() > 4, "{} chunks", first.len());
    // While every text is alive, new ones go after them in the chunk being written, then to new chunks, and nothing
    // already written changes.
    let more: Vec<Slab> = texts.iter().take(500).map(|t| write(&mut slabs, t).unwrap()).collect();
    let current = *first.last().unwrap();
    assert!(chunks(&more).iter().all(|c| *c == current || !first.contains(c)));
    for (t, s) in texts.iter().zip(&kept) {
      assert_eq!(s.bytes(), &t[..]);
    }
    // Once the oldest texts are gone, their chunk is written again.
    drop(kept);
    let again: Vec<Slab> = texts.iter().map(|t| write(&mut slabs, t).unwrap()).collect();
    assert!(chunks(&again).iter().any(|c| first.contains(c)), "a chunk is reused");
    for (t, s) in texts.iter().zip(&again) {
      assert_eq!(s.bytes(), &t[..]);
    }
    for (t, s) in texts.iter().zip(&more) {
      assert_eq!(s.bytes(), &t[..]);
    }
  }

  #[test]
  fn slabs_refuse_large_texts_and_failed_copies_and_read_like_owned_latin1() {
    let mut slabs = Slabs::default();
    assert!(slabs.write(MAX_SLAB_BYTES + 1, |_, _| Some(0)).is_none());
    assert!(slabs.write(10, |_, _| None).is_none());
    let text = "{\"id\":\"a\",\"traceId\":\"t\",\"x\":\"caf\u{e9}\"}";
    let latin1: Vec<u8> = text.chars().map(|c| c as u8).collect();
    let slab = SpanText::Slab(write(&mut slabs, &latin1).unwrap());
    assert_eq!(SpanText::Latin1(latin1.clone()).into_string(), text);
    assert_eq!(slab.size(), latin1.len());
    assert_eq!(
      slab.leading_ids().map(|(a, b)| (a.to_string(), b.to_string())),
      Some(("a".into(), "t".into()))
    );
    let mut buf = String::new();
    slab.clone().read_into(&mut buf);
    assert_eq!(buf, text);
    assert_eq!(slab.into_string(), text);
    let empty = write(&mut slabs, b"").unwrap();
    assert!(empty.is_empty());
  }

  #[test]
  fn leading_ids_reads_the_ids_a_mastra_span_opens_with() {
    let ids = |t: SpanText| t.leading_ids().map(|(a, b)| (a.to_string(), b.to_string()));
    let both = |s: &str| {
      let got = ids(SpanText::Latin1(s.as_bytes().to_vec()));
      assert_eq!(got, ids(SpanText::Utf16(units(s))), "{s}");
      assert_eq!(got, ids(SpanText::Utf8(s.to_string())), "{s}");
      got
    };
    let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
    assert_eq!(
      both(r#"{"id":"ab12","traceId":"cd34","name":"x"}"#),
      pair("ab12", "cd34")
    );
    assert_eq!(both(r#"{"id":"","traceId":"t"}"#), pair("", "t"));
    assert_eq!(both(r#"{"id":"a b-c.d","traceId":"t"}"#), pair("a b-c.d", "t"));
    // Escapes, other key orders, non-strings and cut texts are left to the caller.
    for s in [
      r#"{"id":"a"b","traceId":"t"}"#,
      r#"{"id":"a\b","traceId":"t"}"#,
      r#"{"id":"aé","traceId":"t"}"#,
      r#"{"traceId":"t","id":"a"}"#,
      r#"{"id":5,"traceId":"t"}"#,
      r#"{"id":"a","name":"t"}"#,
      r#"{"id":"a","traceId":"t"#,
      r#"{"id":"a"#,
      "",
      "null",
    ] {
      assert_eq!(both(s), None, "{s}");
    }
    assert_eq!(ids(SpanText::Utf16(units(r#"{"id":"é","traceId":"t"}"#))), None);
    assert_eq!(
      ids(SpanText::Latin1(b"{\"id\":\"\xe9\",\"traceId\":\"t\"}".to_vec())),
      None
    );
    // A UTF-16 text is read up to its first wide character, so its ids still count when that comes later.
    assert_eq!(
      ids(SpanText::Utf16(units(r#"{"id":"a","traceId":"t","name":"日本"}"#))),
      pair("a", "t")
    );
    let long = "x".repeat(Id::INLINE + 1);
    let text = format!(r#"{{"id":"{long}","traceId":"t"}}"#);
    assert_eq!(ids(SpanText::Latin1(text.clone().into_bytes())), pair(&long, "t"));
    assert_eq!(ids(SpanText::Utf16(units(&text))), pair(&long, "t"));
  }

  #[test]
  fn ascii_and_non_ascii_text_round_trips() {
    for s in [
      "",
      "{\"a\":1}",
      "héllo wörld",
      "日本語 🎉 {\"x\":\"\\u0000\"}",
      &"x".repeat(100_000),
    ] {
      let t = SpanText::Utf16(units(s));
      assert_eq!(t.size(), s.encode_utf16().count() * 2);
      assert_eq!(t.clone().into_string(), s);
      let mut buf = String::from("left over");
      t.read_into(&mut buf);
      assert_eq!(buf, s);
      assert_eq!(SpanText::from(s).into_string(), s);
    }
  }

  #[test]
  fn buffers_are_reused_and_large_ones_are_not_kept() {
    let mut b = take_buffer(100);
    b.extend(units("{\"a\":1}"));
    let ptr = b.as_ptr();
    assert_eq!(SpanText::Utf16(b).into_string(), "{\"a\":1}");
    // Other tests share the pool; the buffer just returned is on top unless one of them took it meanwhile.
    let again = take_buffer(10);
    assert!(again.is_empty() && again.capacity() >= MIN_BUFFER_UNITS);
    let _ = ptr;
    let big = take_buffer(POOL_BUFFER_UNITS + 1);
    let cap = big.capacity();
    drop(SpanText::Utf16(big).into_string());
    assert!(
      POOL
        .lock()
        .iter()
        .all(|b| b.capacity() <= POOL_BUFFER_UNITS && b.capacity() != cap)
    );
  }

  #[test]
  fn latin1_text_becomes_the_same_utf8() {
    for s in ["", "{\"a\":1}", "héllo wörld ÿ\u{80}", &"x".repeat(100_000)] {
      let bytes: Vec<u8> = s.chars().map(|c| u8::try_from(u32::from(c)).unwrap()).collect();
      let t = SpanText::Latin1(bytes.clone());
      assert_eq!(t.size(), bytes.len());
      assert_eq!(t.clone().into_string(), s);
      let mut buf = String::from("left over");
      t.read_into(&mut buf);
      assert_eq!(buf, s);
    }
  }

  #[test]
  fn a_lone_surrogate_becomes_the_replacement_character() {
    let t = SpanText::Utf16(vec![b'a' as u16, 0xD800, b'b' as u16]);
    let mut buf = String::new();
    t.clone().read_into(&mut buf);
    assert_eq!(buf, "a\u{FFFD}b");
    assert_eq!(t.into_string(), "a\u{FFFD}b");
  }

  #[test]
  fn ids_inline_up_to_the_limit_and_compare_as_their_text() {
    use std::collections::HashMap;
    let short = Id::from("0123456789abcdef");
    let long = Id::from("x".repeat(Id::INLINE + 1));
    let edge = Id::from("y".repeat(Id::INLINE).as_str());
    assert!(matches!(short, Id::Inline { len: 16, .. }));
    assert!(matches!(edge, Id::Inline { .. }));
    assert!(matches!(long, Id::Heap(_)));
    assert_eq!(long.as_str(), "x".repeat(Id::INLINE + 1));
    assert_eq!(Id::from("é✓"), Id::from(String::from("é✓")));
    assert_eq!(format!("{short} {short:?}"), "0123456789abcdef \"0123456789abcdef\"");
    let mut map = HashMap::new();
    map.insert(short.clone(), 1);
    map.insert(long.clone(), 2);
    assert_eq!(map.get("0123456789abcdef"), Some(&1));
    assert_eq!(map.get(long.as_str()), Some(&2));
    assert_eq!(std::mem::size_of::<Id>(), 48);
  }
}
