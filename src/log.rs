//! Logging from Rust threads. The binding forwards each line to the JavaScript console, so the lines land where the
//! reference exporters print theirs (`console.error` for errors, `console.log` for debug output).

use std::sync::Arc;

/// The console channel a line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
  /// `console.log`: debug output, printed only when the exporter runs with `debug: true`.
  Debug,
  /// `console.warn`.
  Warn,
  /// `console.error`.
  Error,
}

impl Level {
  pub fn as_str(self) -> &'static str {
    match self {
      Level::Debug => "debug",
      Level::Warn => "warn",
      Level::Error => "error",
    }
  }
}

/// Receives one line and, like `console.error(message, detail)`, an optional second argument.
pub type LogSink = Arc<dyn Fn(Level, String, Option<String>) + Send + Sync>;

/// A logger that also knows whether debug output is wanted.
#[derive(Clone)]
pub struct Logger {
  sink: LogSink,
  debug: bool,
}

impl std::fmt::Debug for Logger {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("Logger").field("debug", &self.debug).finish()
  }
}

impl Logger {
  pub fn new(sink: LogSink, debug: bool) -> Self {
    Self { sink, debug }
  }

  /// A logger that prints to stderr; used by Rust tests and tools.
  pub fn stderr(debug: bool) -> Self {
    Self::new(
      Arc::new(|level, msg, detail| match detail {
        Some(d) => eprintln!("{} {msg} {d}", level.as_str()),
        None => eprintln!("{} {msg}", level.as_str()),
      }),
      debug,
    )
  }

  pub fn debug_enabled(&self) -> bool {
    self.debug
  }

  /// Debug lines are built lazily: formatting a payload costs nothing when debug is off.
  pub fn debug(&self, msg: impl FnOnce() -> String) {
    if self.debug {
      (self.sink)(Level::Debug, msg(), None);
    }
  }

  pub fn debug_with(&self, msg: &str, detail: impl FnOnce() -> String) {
    if self.debug {
      (self.sink)(Level::Debug, msg.to_string(), Some(detail()));
    }
  }

  pub fn warn(&self, msg: impl Into<String>) {
    (self.sink)(Level::Warn, msg.into(), None);
  }

  pub fn error(&self, msg: impl Into<String>) {
    (self.sink)(Level::Error, msg.into(), None);
  }

  pub fn error_with(&self, msg: impl Into<String>, detail: impl Into<String>) {
    (self.sink)(Level::Error, msg.into(), Some(detail.into()));
  }
}

#[cfg(test)]
pub(crate) mod capture {
  use super::*;
  use parking_lot::Mutex;

  /// Every line a capturing logger received.
  pub type Lines = Arc<Mutex<Vec<(Level, String, Option<String>)>>>;

  /// A logger that records every line, for assertions.
  pub fn logger(debug: bool) -> (Logger, Lines) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink_lines = lines.clone();
    let sink: LogSink = Arc::new(move |l, m, d| sink_lines.lock().push((l, m, d)));
    (Logger::new(sink, debug), lines)
  }
}
