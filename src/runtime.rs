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

/// Builds the runtime the exporters use.
pub fn build() -> std::io::Result<Runtime> {
  crate::tune_allocator();
  Builder::new_multi_thread()
    .worker_threads(WORKER_THREADS)
    .thread_name("mastra-exporter")
    // Deeply nested span data (up to otel::span::MAX_DEPTH levels) is parsed and serialised recursively.
    .thread_stack_size(WORKER_STACK)
    .on_thread_start(yield_on_wake)
    .enable_all()
    .build()
}

/// Puts each runtime thread in Linux's `SCHED_BATCH` class. It keeps the same share of the CPU, but waking it never
/// preempts the running thread. An exporter thread is woken by the JavaScript thread when an event arrives after a
/// quiet spell; in the `SCHED_OTHER` class the scheduler often ran it at once on the JavaScript thread's CPU, pushing
/// the agent's code off it in the middle of its work. Measured at 2,000 spans/s (10,000 spans, 10 rounds each):
/// the JavaScript thread was preempted 11-22 times instead of 275-423 (OtelExporter) and 9-24 instead of 71-162
/// (TCCMastraExporter), as often as with no exporter at all. Elsewhere (and where the call is refused) the threads
/// keep the default class.
fn yield_on_wake() {
  #[cfg(target_os = "linux")]
  {
    let param = libc::sched_param { sched_priority: 0 };
    // Safety: a plain system call about the calling thread (pid 0), with a valid parameter; a refusal changes nothing.
    unsafe {
      libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
  }
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
