//! What a native exporter needs from the JavaScript host: a console to print to, an event loop to hold while work is
//! pending, and `JSON.stringify`.

use super::fast::{self, Key};
use crate::log::{Level, LogSink};
use crate::pipeline::{Busy, EventKind};
use crate::text::SpanText;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use parking_lot::Mutex;
use std::cell::OnceCell;
use std::sync::{Arc, OnceLock, Weak};

/// Prints one line with the console method of its level. Compiled once per exporter.
const DISPATCH: &str = "(function (level, message, detail) {
  if (level === 'idle') return
  const print = level === 'error' ? console.error : level === 'warn' ? console.warn : console.log
  if (detail == null) print(message)
  else print(message, detail)
})";

const SAFE_STRINGIFY: &str = include_str!("safe_stringify.js");

/// Something for the JavaScript thread to do.
enum Notice {
  Log(Level, String, Option<String>),
  /// The exporter went idle: release the event loop if it still is.
  Idle,
  /// Work that must happen on the JavaScript thread.
  Run(Box<dyn FnOnce(&Env) + Send>),
}

type NoticeArgs = FnArgs<(&'static str, String, Option<String>)>;
type NoticeFn = ThreadsafeFunction<Notice, (), NoticeArgs, Status, false, true>;

/// The link between one exporter and the JavaScript thread.
pub struct Host {
  notice: OnceLock<Mutex<NoticeFn>>,
  busy: OnceLock<Weak<Busy>>,
  /// A delayed idle check is scheduled.
  idle_check: std::sync::atomic::AtomicBool,
}

/// How long an exporter must stay idle before the event loop is released.
const IDLE_RELEASE_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

impl Host {
  /// Creates the host, the busy counter it watches, and the log sink that prints through it.
  pub fn new(env: &Env) -> Result<(Arc<Self>, Arc<Busy>, LogSink)> {
    let host = Arc::new(Host {
      notice: OnceLock::new(),
      busy: OnceLock::new(),
      idle_check: Default::default(),
    });
    let weak = Arc::downgrade(&host);
    // Release the event loop only after the exporter has stayed idle for a moment: a busy agent makes the exporter go
    // idle between almost every event, and a ref/unref round trip through the JavaScript thread each time would cost
    // more than the events themselves.
    let busy = Arc::new(Busy::new(Arc::new(move || {
      let Some(h) = weak.upgrade() else { return };
      if h.idle_check.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
      }
      let weak = Arc::downgrade(&h);
      crate::runtime::handle().spawn(async move {
        tokio::time::sleep(IDLE_RELEASE_DELAY).await;
        if let Some(h) = weak.upgrade() {
          h.idle_check.store(false, std::sync::atomic::Ordering::Release);
          let idle = h.busy.get().and_then(Weak::upgrade).is_none_or(|b| b.get() == 0);
          if idle {
            h.send(Notice::Idle);
          }
        }
      });
    })));
    let _ = host.busy.set(Arc::downgrade(&busy));

    let dispatch: Function<NoticeArgs, ()> = env.run_script(DISPATCH)?;
    let weak = Arc::downgrade(&host);
    let notice = dispatch
      .build_threadsafe_function::<Notice>()
      .weak::<true>()
      .build_callback(move |ctx: ThreadsafeCallContext<Notice>| {
        Ok(match ctx.value {
          Notice::Log(level, msg, detail) => FnArgs::from((level.as_str(), msg, detail)),
          Notice::Idle => {
            if let Some(h) = weak.upgrade() {
              h.release_if_idle(&ctx.env);
            }
            FnArgs::from(("idle", String::new(), None))
          }
          Notice::Run(f) => {
            f(&ctx.env);
            FnArgs::from(("idle", String::new(), None))
          }
        })
      })?;
    let _ = host.notice.set(Mutex::new(notice));

    let weak = Arc::downgrade(&host);
    let sink: LogSink = Arc::new(move |level, msg, detail| {
      if let Some(h) = weak.upgrade() {
        h.send(Notice::Log(level, msg, detail));
      }
    });
    Ok((host, busy, sink))
  }

  fn send(&self, notice: Notice) {
    if let Some(f) = self.notice.get() {
      f.lock().call(notice, ThreadsafeFunctionCallMode::NonBlocking);
    }
  }

  /// Runs `f` on the JavaScript thread soon, without holding the event loop for it.
  pub fn run_on_js(&self, f: Box<dyn FnOnce(&Env) + Send>) {
    self.send(Notice::Run(f));
  }

  /// Keeps the event loop alive until the exporter is idle again. Called on the JavaScript thread.
  pub fn hold(&self, env: &Env) {
    if let Some(f) = self.notice.get() {
      #[allow(
        deprecated,
        reason = "ref/unref of a weak threadsafe function has no replacement in napi 3"
      )]
      let _ = f.lock().refer(env);
    }
  }

  fn release_if_idle(&self, env: &Env) {
    let idle = self.busy.get().and_then(Weak::upgrade).is_none_or(|b| b.get() == 0);
    if idle && let Some(f) = self.notice.get() {
      #[allow(
        deprecated,
        reason = "ref/unref of a weak threadsafe function has no replacement in napi 3"
      )]
      let _ = f.lock().unref(env);
    }
  }
}

/// `JSON.stringify(value)`, falling back to a serialiser that survives BigInt, cycles and throwing getters.
/// `Ok(None)` when the value has no JSON form (undefined, a function).
pub fn stringify(env: &Env, value: Unknown<'_>) -> std::result::Result<Option<SpanText>, String> {
  match fast::stringify(env.raw(), value.raw()) {
    Ok(units) => Ok(units.map(SpanText::Utf16)),
    Err(e) => {
      let safe = (|| -> Result<Unknown<'_>> {
        let f: Function<Unknown, Unknown> = env.run_script(SAFE_STRINGIFY)?;
        f.call(value)
      })();
      let out = safe.map_err(|e2| format!("{e} (and the fallback serialiser failed: {})", e2.reason))?;
      match out.get_type() {
        Ok(ValueType::String) => unsafe { out.cast::<String>() }
          .map(|s| Some(SpanText::Utf8(s)))
          .map_err(|e| e.reason),
        _ => Ok(None),
      }
    }
  }
}

impl Host {
  /// A log sink for one-off calls (feedback) that prints through a fresh host.
  pub fn console_only(env: &Env) -> Result<LogSink> {
    let (host, _busy, sink) = Host::new(env)?;
    // The sink holds the host weakly; keep it alive for as long as the sink lives.
    Ok(Arc::new(move |level, msg, detail| {
      let _keep = &host;
      sink(level, msg, detail)
    }))
  }
}

thread_local! {
  /// One already-resolved promise per JavaScript thread, returned by every event call: Mastra's types want a
  /// `Promise<void>`, and handing back the same settled promise costs a reference lookup instead of a new promise.
  /// Leaked on purpose: it lives as long as the thread's JavaScript environment.
  static RESOLVED: OnceCell<&'static napi::UnknownRef> = const { OnceCell::new() };
}

/// The shared resolved promise.
pub fn resolved<'env>(env: &'env Env) -> Result<Unknown<'env>> {
  RESOLVED.with(|cell| {
    if cell.get().is_none() {
      let promise: Unknown = env.run_script("Promise.resolve()")?;
      let leaked: &'static napi::UnknownRef = Box::leak(Box::new(promise.create_ref()?));
      let _ = cell.set(leaked);
    }
    cell.get().expect("set above").get_value(env)
  })
}

/// One entry point to define on an instance (see [`go_direct`]).
pub struct Direct<H> {
  pub name: &'static std::ffi::CStr,
  /// Returns the resolved promise (`exportTracingEvent`, `exportEvent`) or nothing (`onTracingEvent`: Mastra 1.x then
  /// has no promise to track for the event).
  pub promise: bool,
  /// The full handler: reads and checks the event in Rust.
  pub handle: H,
  /// A JavaScript wrapper for the common events, and the native functions it calls after the handler: the source of
  /// `(handle, ...natives, done) => entry point`, the entry point named `ENTRY_POINT` there (replaced with `name`).
  /// Without it the handler itself is the entry point.
  pub wrapper: Option<(&'static str, Vec<fast::Entry>)>,
}

/// Whether an instance has gone direct, and whether it may: not when its `exportTracingEvent` is overridden.
#[derive(Default)]
pub struct DirectState {
  done: std::sync::atomic::AtomicBool,
  overridden: std::sync::atomic::AtomicBool,
  /// The entry points defined on the instance, by name, as weak references (the instance's own properties keep them
  /// alive; Node frees the references with its environment).
  entries: Mutex<Vec<(&'static std::ffi::CStr, fast::WeakFunction)>>,
}

impl DirectState {
  /// For a class method: goes direct (`go_direct`, which acts once per instance), then hands `event` to the entry
  /// point named `name` defined on the instance, and what it returns back; `None` when there is none (the class
  /// method stays the entry point, or the function is gone), and the caller handles the event itself. After the
  /// first event a class method is reached only through a method taken before it
  /// (`exporter.onTracingEvent.bind(exporter)` early on): its careful path costs about twice the entry point's.
  pub fn enter(
    &self,
    env: &Env,
    this: &This<'_>,
    name: &std::ffi::CStr,
    event: Unknown<'_>,
    go_direct: impl FnOnce(),
  ) -> Option<napi::sys::napi_value> {
    go_direct();
    let f = {
      let entries = self.entries.lock();
      entries.iter().find(|(n, _)| *n == name)?.1.value(env.raw())?
    };
    fast::call_on(env.raw(), this.raw(), f, &[event.raw()]).ok()
  }

  /// `exportTracingEvent` was overridden (by a subclass, or on the instance) before the first event, so the class
  /// methods stay in place and `onTracingEvent` calls the override (see [`on_tracing_event`]).
  pub fn overridden(&self) -> bool {
    self.overridden.load(std::sync::atomic::Ordering::Relaxed)
  }
}

/// Whether the instance's `exportTracingEvent` is not the class's own: the class is the nearest prototype with
/// `__setLogger`, which both exporters define.
const OVERRIDDEN: &str = "(function (self) {
  let p = Object.getPrototypeOf(self)
  while (p !== null && !Object.hasOwn(p, '__setLogger')) p = Object.getPrototypeOf(p)
  return p === null || self.exportTracingEvent !== p.exportTracingEvent
})";

fn is_overridden(env: &Env, this: &This<'_>) -> std::result::Result<bool, String> {
  let check: Unknown = env.run_script(OVERRIDDEN).map_err(|e| e.reason.clone())?;
  let answer = fast::call(env.raw(), check.raw(), &[this.raw()])?;
  Ok(fast::is_true(env.raw(), answer))
}

/// `onTracingEvent` as the class method: the same handler as `exportTracingEvent` (`handle`), unless that is
/// overridden; then it calls the override, as `BaseExporter.onTracingEvent` in @mastra/observability does, so a
/// subclass that wraps `exportTracingEvent` still sees every event in Mastra 1.x. Returns nothing either way.
pub fn on_tracing_event(env: &Env, this: &This<'_>, state: &DirectState, event: Unknown<'_>, handle: impl FnOnce()) {
  if !state.overridden() {
    return handle();
  }
  let raw = env.raw();
  let mut f = std::ptr::null_mut();
  let status = unsafe { napi::sys::napi_get_named_property(raw, this.raw(), c"exportTracingEvent".as_ptr(), &mut f) };
  if status == napi::sys::Status::napi_ok {
    // What the override throws or returns is its own; Mastra would have caught a throw and logged it.
    let _ = fast::call_on(raw, this.raw(), f, &[event.raw()]);
  }
}

/// Once per instance (`state`), defines the entry points `entries` makes on it, each as a plain napi function (see
/// [`fast::function`]) or a JavaScript wrapper around such functions. They return what the class methods do (the
/// resolved promise, or nothing). The class methods stay in place, so a failure costs only speed; the failures are
/// returned for the debug log, each to follow "Kept the class method".
pub fn go_direct<H: Fn(&Env, Unknown<'_>) + 'static>(
  env: &Env,
  this: &This<'_>,
  state: &DirectState,
  entries: impl FnOnce() -> Vec<Direct<H>>,
) -> Vec<String> {
  if state.done.swap(true, std::sync::atomic::Ordering::Relaxed) {
    return Vec::new();
  }
  match is_overridden(env, this) {
    Ok(false) => {}
    Ok(true) => {
      state.overridden.store(true, std::sync::atomic::Ordering::Relaxed);
      return vec!["s, as exportTracingEvent is overridden".into()];
    }
    Err(e) => return vec![format!("s: {e}")],
  }
  let mut failures = Vec::new();
  for Direct {
    name,
    promise,
    handle,
    wrapper,
  } in entries()
  {
    let entry: fast::Entry = Box::new(move |raw_env, args| {
      let env = Env::from_raw(raw_env);
      handle(&env, unsafe { Unknown::from_raw_unchecked(raw_env, args[0]) });
      match promise {
        true => resolved(&env).map_or(std::ptr::null_mut(), |p| p.raw()),
        false => std::ptr::null_mut(),
      }
    });
    let made = fast::function(env.raw(), name, entry).and_then(|handler| match wrapper {
      None => Ok(handler),
      Some((source, natives)) => wrap(env, name, source, handler, natives, promise),
    });
    let defined = made.and_then(|f| {
      fast::define(env.raw(), this.raw(), name, f)?;
      fast::WeakFunction::new(env.raw(), f)
    });
    match defined {
      Ok(weak) => state.entries.lock().push((name, weak)),
      Err(e) => failures.push(format!("{}: {e}", name.to_string_lossy())),
    }
  }
  failures
}

/// How a wrapper's source names its entry point, with a placeholder for the method's name.
const ENTRY_POINT: &str = "function ENTRY_POINT(";

/// Where a wrapper's source takes the span serialiser the wrappers share (see the file).
const SERIALISE_HERE: &str = "/* serialise.js */";
const SERIALISE: &str = include_str!("serialise.js");

/// The entry point a JavaScript wrapper makes around `handler` and `natives`.
fn wrap(
  env: &Env,
  name: &std::ffi::CStr,
  source: &str,
  handler: napi::sys::napi_value,
  natives: Vec<fast::Entry>,
  promise: bool,
) -> std::result::Result<napi::sys::napi_value, String> {
  // The function is named in its source: a name set at run time (`{ [name]() {} }`) is a data property, and
  // `Function.prototype.bind`, which Mastra calls on the entry point for every event, then takes a slow path that
  // costs more than the event itself.
  let named = format!("function {}(", name.to_string_lossy());
  let factory: Unknown = env
    .run_script(
      source
        .replacen(ENTRY_POINT, &named, 1)
        .replacen(SERIALISE_HERE, SERIALISE, 1),
    )
    .map_err(|e| e.reason.clone())?;
  let mut args = vec![handler];
  for native in natives {
    args.push(fast::function(env.raw(), name, native)?);
  }
  let done = match promise {
    true => resolved(env).map_err(|e| e.reason.clone())?.raw(),
    false => fast::undefined(env.raw())?,
  };
  args.push(done);
  let f = fast::call(env.raw(), factory.raw(), &args)?;
  if fast::type_of(env.raw(), f)? != napi::sys::ValueType::napi_function {
    return Err("the wrapper made no function".into());
  }
  Ok(f)
}

/// The event's kind and its `exportedSpan` object, unread.
pub fn read_kind(env: &Env, event: Unknown<'_>) -> std::result::Result<(EventKind, napi::sys::napi_value), String> {
  let raw_env = env.raw();
  let event = event.raw();
  if fast::type_of(raw_env, event)? != napi::sys::ValueType::napi_object {
    return Err("the event is not an object".into());
  }
  let kind = fast::get(raw_env, event, Key::Type)?;
  let Some(kind) = fast::short_string(raw_env, kind) else {
    return Err("the event has no string `type`".into());
  };
  let Some(kind) = EventKind::parse(&kind) else {
    return Err(format!("unknown event type {kind:?}"));
  };
  let span = fast::get(raw_env, event, Key::ExportedSpan)?;
  if fast::type_of(raw_env, span)? != napi::sys::ValueType::napi_object {
    return Err("the event has no `exportedSpan` object".into());
  }
  Ok((kind, span))
}

/// A span object as JSON text: `JSON.stringify`, or the careful serialiser when something in it throws (a getter,
/// `toJSON`, BigInt, a cycle).
pub fn span_json(env: &Env, span: napi::sys::napi_value) -> std::result::Result<SpanText, String> {
  stringify(env, unsafe { Unknown::from_raw_unchecked(env.raw(), span) })?
    .ok_or_else(|| "the span has no JSON form".into())
}

/// The event's kind and its span as JSON text. `Ok(None)` for event types the exporter does not use: those cost two
/// property reads, and the span is not serialised.
pub fn read_event(
  env: &Env,
  event: Unknown<'_>,
  wanted: impl Fn(EventKind) -> bool,
) -> std::result::Result<Option<(EventKind, SpanText)>, String> {
  let (kind, span) = read_kind(env, event)?;
  if !wanted(kind) {
    return Ok(None);
  }
  span_json(env, span).map(|json| Some((kind, json)))
}

/// `serviceName` from `init`'s argument: `{ config: { serviceName } }` (Mastra 1.x) or `{ serviceName }` (0.24).
pub fn service_name(options: Unknown<'_>) -> Option<String> {
  if options.get_type().ok()? != ValueType::Object {
    return None;
  }
  let options: Object = unsafe { options.cast() }.ok()?;
  let from = |o: &Object| -> Option<String> {
    let v: Unknown = o.get_named_property("serviceName").ok()?;
    (v.get_type().ok()? == ValueType::String)
      .then(|| unsafe { v.cast::<String>() }.ok())
      .flatten()
  };
  let config: Option<Unknown> = options.get_named_property("config").ok();
  match config.filter(|c| c.get_type().ok() == Some(ValueType::Object)) {
    Some(c) => from(&unsafe { c.cast::<Object>() }.ok()?),
    None => from(&options),
  }
}

/// Finds the installed `@mastra/core` version from the application's directory (for `service.version`, as the
/// reference reports it). `None` when it cannot be found.
const MASTRA_VERSION: &str = "(() => { try {
  const mod = process.getBuiltinModule && process.getBuiltinModule('module')
  const fs = process.getBuiltinModule && process.getBuiltinModule('fs')
  const path = process.getBuiltinModule && process.getBuiltinModule('path')
  if (!mod || !fs || !path) return undefined
  let dir = path.dirname(mod.createRequire(process.cwd() + '/').resolve('@mastra/core'))
  for (let i = 0; i < 8; i++) {
    const file = path.join(dir, 'package.json')
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8'))
      if (pkg.name === '@mastra/core') return String(pkg.version)
    }
    dir = path.dirname(dir)
  }
} catch {} return undefined })()";

pub fn mastra_core_version(env: &Env) -> Option<String> {
  let v: Unknown = env.run_script(MASTRA_VERSION).ok()?;
  (v.get_type().ok()? == ValueType::String)
    .then(|| unsafe { v.cast::<String>() }.ok())
    .flatten()
}

/// What one `flush()` did, in spans.
#[napi_derive::napi(object, object_from_js = false, js_name = "FlushResult")]
pub struct JsFlushReport {
  /// Spans delivered while the flush ran.
  pub delivered: f64,
  /// Spans given up on (final errors, retries exhausted, rejected by the collector).
  pub failed: f64,
  /// Spans dropped at a memory bound or as unreadable.
  pub dropped: f64,
  /// The deadline passed before everything settled; the work goes on in the background.
  pub timed_out: bool,
  /// Events queued plus requests in flight when the flush returned.
  pub pending: f64,
}

impl From<crate::pipeline::FlushReport> for JsFlushReport {
  fn from(r: crate::pipeline::FlushReport) -> Self {
    JsFlushReport {
      delivered: r.delivered as f64,
      failed: r.failed as f64,
      dropped: r.dropped as f64,
      timed_out: r.timed_out,
      pending: r.pending as f64,
    }
  }
}

/// A timeout argument in milliseconds (`undefined` for the configured default).
pub fn millis(v: Option<f64>) -> Option<std::time::Duration> {
  v.filter(|n| n.is_finite() && *n >= 0.0)
    .map(|n| std::time::Duration::from_millis(n as u64))
}

/// A non-negative JavaScript number as an integer option.
pub fn count(v: Option<f64>) -> Option<u64> {
  v.filter(|n| n.is_finite() && *n >= 0.0).map(|n| n as u64)
}

/// Starts a flush of one exporter if it holds unsent data; `None` otherwise.
pub type ExitFlush = Box<dyn Fn(&Env) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>>;

thread_local! {
  static EXIT_FLUSHES: std::cell::RefCell<Option<Vec<ExitFlush>>> = const { std::cell::RefCell::new(None) };
}

/// Registers an exporter for the `beforeExit` flush: when Node is about to exit with data still buffered (traces
/// whose root never ended, an open OTel batch waiting for its timer), it is sent first. One listener per thread.
pub fn on_before_exit(env: &Env, flush: ExitFlush) -> Result<()> {
  let installed = EXIT_FLUSHES.with(|c| c.borrow().is_some());
  if !installed {
    let listener = env.create_function_from_closure::<(), (), _>("flushMastraExportersBeforeExit", |ctx| {
      let pending: Vec<_> = EXIT_FLUSHES.with(|c| c.borrow().iter().flatten().filter_map(|f| f(ctx.env)).collect());
      if !pending.is_empty() {
        // The pending promise keeps the event loop alive until every flush is done; `beforeExit` then fires again
        // and finds nothing left.
        ctx.env.spawn_future(async move {
          for f in pending {
            f.await;
          }
          Ok(())
        })?;
      }
      Ok(())
    })?;
    let install: Function<Function<(), ()>, ()> =
      env.run_script("(function (f) { process.on('beforeExit', () => { f() }) })")?;
    install.call(listener)?;
    EXIT_FLUSHES.with(|c| *c.borrow_mut() = Some(Vec::new()));
  }
  EXIT_FLUSHES.with(|c| c.borrow_mut().as_mut().expect("installed above").push(flush));
  Ok(())
}

/// The bound options both exporters share, from their JavaScript numbers.
pub fn pipeline_options(
  max_queue_size: Option<f64>,
  max_queue_bytes: Option<f64>,
  max_concurrent_exports: Option<u32>,
  max_export_backlog_bytes: Option<f64>,
  flush_timeout_ms: Option<f64>,
) -> crate::pipeline::PipelineOptions {
  crate::pipeline::PipelineOptions {
    max_queue_size: count(max_queue_size),
    max_queue_bytes: count(max_queue_bytes),
    max_concurrent_exports,
    max_export_backlog_bytes: count(max_export_backlog_bytes),
    flush_timeout_ms: count(flush_timeout_ms),
  }
}
