//! The tokio runtime that runs every exporter's worker and its network I/O, off the JavaScript thread.

use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle, Runtime};

static HANDLE: OnceLock<Handle> = OnceLock::new();
static OWNED: OnceLock<Runtime> = OnceLock::new();

/// Worker threads of the runtime. One: each exporter's worker is a single task, so a second thread only ran network
/// I/O beside it, and every wake-up handed between the two (tokio waking the idle one to steal work) preempted the
/// JavaScript thread on a small machine. A/B on 100k spans over OTLP, 5 rounds each, three batches: with one thread
/// the JavaScript thread was preempted about 100 times instead of 1,000 to 3,100, its CPU per span was the same or
/// lower, the exporter threads used about 12% less CPU and everything was delivered about 12% sooner.
pub const WORKER_THREADS: usize = 1;

/// Stack of each worker thread: 16 MiB (virtual memory, touched only as deep as the data goes).
pub const WORKER_STACK: usize = 16 * 1024 * 1024;

/// The environment variable that picks the exporter threads' scheduling class (see [`ThreadClass`]).
pub const THREAD_CLASS_VAR: &str = "MASTRA_NATIVE_EXPORTERS_THREAD_CLASS";

/// The Linux scheduling class of the exporter threads, from [`THREAD_CLASS_VAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThreadClass {
  /// `SCHED_BATCH`: a fair share of the CPU, and waking never preempts the running thread.
  #[default]
  Batch,
  /// `SCHED_IDLE`: runs only on CPU time nothing else wants. The kernel counts a CPU running only such threads as idle,
  /// so other threads woken meanwhile (V8's garbage-collection helpers) are put there instead of on the JavaScript
  /// thread's CPU. With every CPU busy, the exporter threads get almost no time and events queue up (and, at
  /// `maxQueueSize` / `maxQueueBytes`, are dropped).
  Idle,
  /// `SCHED_OTHER`, the default class of every thread.
  Normal,
}

impl ThreadClass {
  /// The class the variable asks for, and a warning when its value is not one of `batch`, `idle`, `normal` (case and
  /// surrounding space aside; unset or empty is `batch`).
  pub fn from_env(env: &impl crate::env::EnvSource) -> (Self, Option<String>) {
    let Some(value) = env.non_empty(THREAD_CLASS_VAR) else {
      return (Self::Batch, None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
      "batch" => (Self::Batch, None),
      "idle" => (Self::Idle, None),
      "normal" => (Self::Normal, None),
      _ => (
        Self::Batch,
        Some(format!(
          "[mastra-native-exporters] Ignoring {THREAD_CLASS_VAR}={value:?}: expected batch, idle or normal; using batch"
        )),
      ),
    }
  }
}

/// Builds the runtime the exporters use, its threads in the class [`THREAD_CLASS_VAR`] asks for.
pub fn build() -> std::io::Result<Runtime> {
  crate::tune_allocator();
  let (class, warning) = ThreadClass::from_env(&crate::env::ProcessEnv);
  if let Some(warning) = warning {
    eprintln!("{warning}");
  }
  Builder::new_multi_thread()
    .worker_threads(WORKER_THREADS)
    .thread_name("mastra-exporter")
    // Deeply nested span data (up to otel::span::MAX_DEPTH levels) is parsed and serialised recursively.
    .thread_stack_size(WORKER_STACK)
    .on_thread_start(move || set_class(class))
    .enable_all()
    .build()
}

/// Puts each runtime thread in the class asked for; by default Linux's `SCHED_BATCH`. It keeps the same share of the
/// CPU, but waking it never preempts the running thread. An exporter thread is woken by the JavaScript thread when an
/// event arrives after a quiet spell; in the `SCHED_OTHER` class the scheduler often ran it at once on the JavaScript
/// thread's CPU, pushing the agent's code off it in the middle of its work. Measured at 2,000 spans/s (10,000 spans, 10 rounds each):
/// the JavaScript thread was preempted 11-22 times instead of 275-423 (OtelExporter) and 9-24 instead of 71-162
/// (TCCMastraExporter), as often as with no exporter at all. Elsewhere (and where the call is refused) the threads
/// keep the default class.
///
/// `SCHED_IDLE` goes further, on request. In 50k-span bursts on two CPUs (2 runs of 3 rounds each way) the
/// JavaScript thread of TCCMastraExporter was preempted 13-16 times instead of 73-92, mostly by V8's helper threads,
/// and waited 10-15 ms for a CPU instead of 44-58 (OtelExporter 7-18 instead of 26-42 times, 4-8 ms instead of
/// 14-21); its CPU time and the wall time until delivery did not change measurably.
fn set_class(class: ThreadClass) {
  #[cfg(target_os = "linux")]
  {
    let policy = match class {
      ThreadClass::Batch => libc::SCHED_BATCH,
      ThreadClass::Idle => libc::SCHED_IDLE,
      ThreadClass::Normal => return,
    };
    let param = libc::sched_param { sched_priority: 0 };
    // Safety: a plain system call about the calling thread (pid 0), with a valid parameter; a refusal changes nothing.
    unsafe {
      libc::sched_setscheduler(0, policy, &param);
    }
  }
  #[cfg(not(target_os = "linux"))]
  let _ = class;
}

/// Uses a runtime that somebody else owns (the binding shares one runtime with napi's async functions).
pub fn install(handle: Handle) {
  let _ = HANDLE.set(handle);
}

/// The runtime handle, creating a runtime on first use when none was installed.
pub fn handle() -> Handle {
  HANDLE
    .get_or_init(|| {
      OWNED
        .get_or_init(|| build().expect("a tokio runtime can be created"))
        .handle()
        .clone()
    })
    .clone()
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;

  #[test]
  fn the_thread_class_comes_from_the_environment() {
    let class = |v: &str| ThreadClass::from_env(&MapEnv::from_pairs(&[(THREAD_CLASS_VAR, v)]));
    assert_eq!(ThreadClass::from_env(&MapEnv::default()), (ThreadClass::Batch, None));
    assert_eq!(class(""), (ThreadClass::Batch, None));
    assert_eq!(class("batch"), (ThreadClass::Batch, None));
    assert_eq!(class(" Idle "), (ThreadClass::Idle, None));
    assert_eq!(class("NORMAL"), (ThreadClass::Normal, None));
    let (fallback, warning) = class("fifo");
    assert_eq!(fallback, ThreadClass::Batch);
    assert_eq!(
      warning.as_deref(),
      Some(
        "[mastra-native-exporters] Ignoring MASTRA_NATIVE_EXPORTERS_THREAD_CLASS=\"fifo\": expected batch, idle or \
         normal; using batch"
      )
    );
  }
}
