//! What a native exporter needs from the JavaScript host: a console to print to, an event loop to hold while work is
//! pending, and `JSON.stringify`.

use crate::log::{Level, LogSink};
use crate::pipeline::Busy;
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
}

type NoticeArgs = FnArgs<(&'static str, String, Option<String>)>;
type NoticeFn = ThreadsafeFunction<Notice, (), NoticeArgs, Status, false, true>;

/// The link between one exporter and the JavaScript thread.
pub struct Host {
  notice: OnceLock<Mutex<NoticeFn>>,
  busy: OnceLock<Weak<Busy>>,
}

impl Host {
  /// Creates the host, the busy counter it watches, and the log sink that prints through it.
  pub fn new(env: &Env) -> Result<(Arc<Self>, Arc<Busy>, LogSink)> {
    let host = Arc::new(Host {
      notice: OnceLock::new(),
      busy: OnceLock::new(),
    });
    let weak = Arc::downgrade(&host);
    let busy = Arc::new(Busy::new(Arc::new(move || {
      if let Some(h) = weak.upgrade() {
        h.send(Notice::Idle);
      }
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
pub fn stringify(env: &Env, value: Unknown<'_>) -> std::result::Result<Option<String>, String> {
  let first = (|| -> Result<Unknown<'_>> {
    let json: Object = env.get_global()?.get_named_property("JSON")?;
    let f: Function<Unknown, Unknown> = json.get_named_property("stringify")?;
    f.call(value)
  })();
  let out = match first {
    Ok(out) => out,
    Err(e) => {
      let safe = (|| -> Result<Unknown<'_>> {
        let f: Function<Unknown, Unknown> = env.run_script(SAFE_STRINGIFY)?;
        f.call(value)
      })();
      safe.map_err(|e2| format!("{} (and the fallback serialiser failed: {})", e.reason, e2.reason))?
    }
  };
  match out.get_type() {
    Ok(ValueType::String) => unsafe { out.cast::<String>() }.map(Some).map_err(|e| e.reason),
    _ => Ok(None),
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
