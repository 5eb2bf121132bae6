//! The per-event reads in raw napi calls. Every tracing event crosses here on the JavaScript thread, so
//! `JSON.stringify` is looked up once per thread and kept as a reference, and a string is copied out in one pass, its
//! length known without scanning it: as Latin-1 when the caller knows it has no wider character, else as UTF-16.
//! Turning it into UTF-8 is left to a worker thread.

use napi::sys;
use std::cell::OnceCell;
use std::ptr;

/// Property names read on the hot path.
#[derive(Clone, Copy)]
pub enum Key {
  Type,
  ExportedSpan,
  Id,
  TraceId,
  IsRootSpan,
}

/// The names as C strings. (Node 20 takes references to objects only, so the names cannot be cached as values.)
const KEYS: [&std::ffi::CStr; 5] = [c"type", c"exportedSpan", c"id", c"traceId", c"isRootSpan"];

struct Cached {
  stringify: sys::napi_ref,
}

thread_local! {
  /// One set per JavaScript thread, made on first use and kept for the life of the thread's environment.
  static CACHED: OnceCell<Cached> = const { OnceCell::new() };
}

fn ok(status: sys::napi_status) -> Result<(), String> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(format!("napi status {status}"))
  }
}

fn make(env: sys::napi_env) -> Result<Cached, String> {
  unsafe {
    let mut global = ptr::null_mut();
    ok(sys::napi_get_global(env, &mut global))?;
    let mut json = ptr::null_mut();
    ok(sys::napi_get_named_property(env, global, c"JSON".as_ptr(), &mut json))?;
    let mut f = ptr::null_mut();
    ok(sys::napi_get_named_property(env, json, c"stringify".as_ptr(), &mut f))?;
    let mut stringify = ptr::null_mut();
    ok(sys::napi_create_reference(env, f, 1, &mut stringify))?;
    Ok(Cached { stringify })
  }
}

fn with_cached<T>(env: sys::napi_env, f: impl FnOnce(&Cached) -> Result<T, String>) -> Result<T, String> {
  CACHED.with(|cell| {
    if cell.get().is_none() {
      let _ = cell.set(make(env)?);
    }
    f(cell.get().expect("set above"))
  })
}

fn deref(env: sys::napi_env, r: sys::napi_ref) -> Result<sys::napi_value, String> {
  let mut v = ptr::null_mut();
  ok(unsafe { sys::napi_get_reference_value(env, r, &mut v) })?;
  Ok(v)
}

/// The JavaScript type of a value.
pub fn type_of(env: sys::napi_env, v: sys::napi_value) -> Result<sys::napi_valuetype, String> {
  let mut t = 0;
  ok(unsafe { sys::napi_typeof(env, v, &mut t) })?;
  Ok(t)
}

/// `object[key]`. Getters run; a throwing getter is an `Err` with the exception cleared.
pub fn get(env: sys::napi_env, object: sys::napi_value, key: Key) -> Result<sys::napi_value, String> {
  let name = KEYS[key as usize];
  let mut v = ptr::null_mut();
  let status = unsafe { sys::napi_get_named_property(env, object, name.as_ptr(), &mut v) };
  if status != sys::Status::napi_ok {
    clear_exception(env);
    return Err(format!("reading `{}` threw", name.to_string_lossy()));
  }
  Ok(v)
}

fn clear_exception(env: sys::napi_env) {
  let mut e = ptr::null_mut();
  unsafe { sys::napi_get_and_clear_last_exception(env, &mut e) };
}

/// A string value's text as UTF-16 code units. `None` when the value is not a string.
pub fn utf16(env: sys::napi_env, v: sys::napi_value) -> Option<Vec<u16>> {
  let mut len = 0usize;
  if unsafe { sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut len) } != sys::Status::napi_ok {
    return None;
  }
  let mut buf = crate::text::take_buffer(len + 1);
  let mut copied = 0usize;
  let status = unsafe { sys::napi_get_value_string_utf16(env, v, buf.as_mut_ptr(), len + 1, &mut copied) };
  if status != sys::Status::napi_ok {
    return None;
  }
  // Safety: napi wrote `copied` (<= len) code units into the buffer.
  unsafe { buf.set_len(copied) };
  Some(buf)
}

/// A string value's length in Latin-1 bytes (its length in characters). `None` when the value is not a string.
fn latin1_len(env: sys::napi_env, v: sys::napi_value) -> Option<usize> {
  let mut len = 0usize;
  let status = unsafe { sys::napi_get_value_string_latin1(env, v, ptr::null_mut(), 0, &mut len) };
  (status == sys::Status::napi_ok).then_some(len)
}

/// Copies a string value's text as Latin-1 into `room` bytes at `at` (with a terminating zero); the bytes copied.
fn latin1_into(env: sys::napi_env, v: sys::napi_value, at: *mut u8, room: usize) -> Option<usize> {
  let mut copied = 0usize;
  let status = unsafe { sys::napi_get_value_string_latin1(env, v, at.cast(), room, &mut copied) };
  (status == sys::Status::napi_ok).then_some(copied)
}

/// A string value's text as Latin-1 bytes, of `len` characters. Only for a string with no character above U+00FF
/// (wider ones would be cut to their low byte); `None` when the value is not a string.
fn latin1(env: sys::napi_env, v: sys::napi_value, len: usize) -> Option<Vec<u8>> {
  let mut buf: Vec<u8> = Vec::with_capacity(len + 1);
  let copied = latin1_into(env, v, buf.as_mut_ptr(), len + 1)?;
  // Safety: napi wrote `copied` (<= len) bytes into the buffer.
  unsafe { buf.set_len(copied.min(len)) };
  Some(buf)
}

thread_local! {
  /// Room for the span text this thread copies out (see [`Slabs`](crate::text::Slabs)).
  static SLABS: std::cell::RefCell<crate::text::Slabs> = std::cell::RefCell::new(crate::text::Slabs::default());
}

/// Span JSON a wrapper serialised: copied as Latin-1 when `narrow` is `true` (the wrapper found no character above
/// U+00FF), into this thread's chunks unless it is large, and as UTF-16 otherwise. `None` when the value is not a
/// string.
pub fn span_text(env: sys::napi_env, v: sys::napi_value, narrow: sys::napi_value) -> Option<crate::text::SpanText> {
  use crate::text::SpanText;
  if !is_true(env, narrow) {
    return utf16(env, v).map(SpanText::Utf16);
  }
  let len = latin1_len(env, v)?;
  if len <= crate::text::MAX_SLAB_BYTES {
    let slab = SLABS.with(|s| s.borrow_mut().write(len, |at, room| latin1_into(env, v, at, room)));
    return slab.map(SpanText::Slab);
  }
  latin1(env, v, len).map(SpanText::Latin1)
}

/// A short string value (an event type, an id) as UTF-8. `None` when the value is not a string.
pub fn short_string(env: sys::napi_env, v: sys::napi_value) -> Option<String> {
  let read = StackText::<128>::read(env, v)?;
  match read.text() {
    Some(text) => text.map(str::to_string),
    // Longer than the stack buffer: the general path.
    None => String::from_utf16(&utf16(env, v)?).ok(),
  }
}

/// An id (a string value) as UTF-8, read into the stack and kept inline: no allocation for ids up to
/// [`Id::INLINE`](crate::text::Id::INLINE) characters. Read as UTF-16, which V8 copies without encoding, and narrowed
/// here when it is ASCII (Mastra's ids are hex). `None` when the value is not a string.
pub fn id(env: sys::napi_env, v: sys::napi_value) -> Option<crate::text::Id> {
  use crate::text::Id;
  let mut units = [0u16; Id::INLINE + 2];
  let mut copied = 0usize;
  let status = unsafe { sys::napi_get_value_string_utf16(env, v, units.as_mut_ptr(), units.len(), &mut copied) };
  if status != sys::Status::napi_ok {
    return None;
  }
  if copied + 1 >= units.len() {
    // Longer than the stack buffer: the general path.
    return short_string(env, v).map(Id::from);
  }
  let units = &units[..copied];
  if units.iter().fold(0, |acc, &u| acc | u) >= 0x80 {
    return Some(Id::from(crate::text::utf16_to_string(units)));
  }
  let mut bytes = [0u8; Id::INLINE];
  for (b, &u) in bytes.iter_mut().zip(units) {
    *b = u as u8;
  }
  Some(Id::Inline {
    len: copied as u8,
    bytes,
  })
}

/// A string value read as UTF-8 into a stack buffer of `N` bytes.
struct StackText<const N: usize> {
  buf: [u8; N],
  copied: usize,
}

impl<const N: usize> StackText<N> {
  /// `None` when the value is not a string.
  fn read(env: sys::napi_env, v: sys::napi_value) -> Option<Self> {
    let mut buf = [0u8; N];
    let mut copied = 0usize;
    let status = unsafe { sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), N, &mut copied) };
    (status == sys::Status::napi_ok).then_some(Self { buf, copied })
  }

  /// The text when it fit (`Some(None)` when its bytes are not UTF-8), `None` when it was cut short.
  fn text(&self) -> Option<Option<&str>> {
    (self.copied + 1 < N).then(|| std::str::from_utf8(&self.buf[..self.copied]).ok())
  }
}

/// `JSON.stringify(value)` as UTF-16. `Ok(None)` when the value has no JSON form; `Err` when it threw (the exception
/// is cleared).
pub fn stringify(env: sys::napi_env, value: sys::napi_value) -> Result<Option<Vec<u16>>, String> {
  with_cached(env, |c| {
    let f = deref(env, c.stringify)?;
    let out = call(env, f, &[value]).map_err(|_| "JSON.stringify threw".to_string())?;
    if type_of(env, out)? != sys::ValueType::napi_string {
      return Ok(None);
    }
    Ok(utf16(env, out))
  })
}

/// A boolean value; anything else is `false`.
pub fn is_true(env: sys::napi_env, v: sys::napi_value) -> bool {
  let mut b = false;
  let status = unsafe { sys::napi_get_value_bool(env, v, &mut b) };
  status == sys::Status::napi_ok && b
}

/// A number as an unsigned 32-bit integer (as `>>> 0` would make it); anything else is 0.
pub fn uint(env: sys::napi_env, v: sys::napi_value) -> u32 {
  let mut n = 0;
  let status = unsafe { sys::napi_get_value_uint32(env, v, &mut n) };
  if status == sys::Status::napi_ok { n } else { 0 }
}

/// A strong reference to an object, kept until `release`.
pub struct Held(sys::napi_ref);

impl Held {
  pub fn new(env: sys::napi_env, object: sys::napi_value) -> Result<Self, String> {
    let mut r = ptr::null_mut();
    ok(unsafe { sys::napi_create_reference(env, object, 1, &mut r) })?;
    Ok(Held(r))
  }

  pub fn value(&self, env: sys::napi_env) -> Result<sys::napi_value, String> {
    deref(env, self.0)
  }

  /// Lets the object go. Must run on the JavaScript thread that made the reference.
  pub fn release(self, env: sys::napi_env) {
    unsafe { sys::napi_delete_reference(env, self.0) };
  }
}

/// A weak reference to a function: it does not keep the function alive. Never deleted: Node frees it with the
/// environment (an exporter makes three).
pub struct WeakFunction(sys::napi_ref);

// SAFETY: the reference is made and read only on the JavaScript thread of its environment (the class methods run
// there); an exporter that holds it may be moved or dropped elsewhere, which never touches it.
unsafe impl Send for WeakFunction {}

impl WeakFunction {
  pub fn new(env: sys::napi_env, f: sys::napi_value) -> Result<Self, String> {
    let mut r = ptr::null_mut();
    ok(unsafe { sys::napi_create_reference(env, f, 0, &mut r) })?;
    Ok(WeakFunction(r))
  }

  /// The function, unless it has been collected.
  pub fn value(&self, env: sys::napi_env) -> Option<sys::napi_value> {
    deref(env, self.0).ok().filter(|v| !v.is_null())
  }
}

/// Arguments a native function reads; missing ones are `undefined`.
pub const MAX_ARGS: usize = 5;

/// What a native function runs: its arguments in, the value to return out (null for `undefined`).
pub type Entry = Box<dyn Fn(sys::napi_env, &[sys::napi_value; MAX_ARGS]) -> sys::napi_value>;

/// A plain napi function named `name` that runs `entry` with its first `MAX_ARGS` arguments. `entry` lives as long as the
/// function. Mastra calls `exportTracingEvent` for every event; napi-rs's class-method path (unwrapping the instance,
/// checking its type tag, tracking borrows) costs about as much as reading the event, and this skips it.
pub fn function(env: sys::napi_env, name: &std::ffi::CStr, entry: Entry) -> Result<sys::napi_value, String> {
  unsafe extern "C" fn call(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut argc = MAX_ARGS;
    let mut argv = [ptr::null_mut(); MAX_ARGS];
    let mut data = ptr::null_mut();
    // Missing arguments come back as `undefined`.
    let status = unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) };
    if status != sys::Status::napi_ok || data.is_null() {
      return ptr::null_mut();
    }
    let entry = unsafe { &*(data as *const Entry) };
    entry(env, &argv)
  }
  unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    drop(unsafe { Box::from_raw(data as *mut Entry) });
  }
  let data = Box::into_raw(Box::new(entry)) as *mut std::ffi::c_void;
  unsafe {
    let mut f = ptr::null_mut();
    let made = sys::napi_create_function(
      env,
      name.as_ptr(),
      name.to_bytes().len() as isize,
      Some(call),
      data,
      &mut f,
    );
    if made != sys::Status::napi_ok {
      drop(Box::from_raw(data as *mut Entry));
      return Err(format!("napi status {made}"));
    }
    ok(sys::napi_add_finalizer(
      env,
      f,
      data,
      Some(finalize),
      ptr::null_mut(),
      ptr::null_mut(),
    ))?;
    Ok(f)
  }
}

/// Defines `object[name] = value`: writable, configurable, not enumerable (as a class method looks).
pub fn define(
  env: sys::napi_env,
  object: sys::napi_value,
  name: &std::ffi::CStr,
  value: sys::napi_value,
) -> Result<(), String> {
  let property = sys::napi_property_descriptor {
    utf8name: name.as_ptr(),
    name: ptr::null_mut(),
    method: None,
    getter: None,
    setter: None,
    value,
    attributes: sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable,
    data: ptr::null_mut(),
  };
  ok(unsafe { sys::napi_define_properties(env, object, 1, &property) })
}

/// `undefined`.
pub fn undefined(env: sys::napi_env) -> Result<sys::napi_value, String> {
  let mut undefined = ptr::null_mut();
  ok(unsafe { sys::napi_get_undefined(env, &mut undefined) })?;
  Ok(undefined)
}

/// `f(args...)` with `undefined` as `this`. `Err` when it threw (the exception is cleared).
pub fn call(env: sys::napi_env, f: sys::napi_value, args: &[sys::napi_value]) -> Result<sys::napi_value, String> {
  call_on(env, undefined(env)?, f, args)
}

/// `f(args...)` with `this` as `this`. `Err` when it threw (the exception is cleared).
pub fn call_on(
  env: sys::napi_env,
  this: sys::napi_value,
  f: sys::napi_value,
  args: &[sys::napi_value],
) -> Result<sys::napi_value, String> {
  let mut out = ptr::null_mut();
  let status = unsafe { sys::napi_call_function(env, this, f, args.len(), args.as_ptr(), &mut out) };
  if status != sys::Status::napi_ok {
    clear_exception(env);
    return Err("the call threw".into());
  }
  Ok(out)
}
