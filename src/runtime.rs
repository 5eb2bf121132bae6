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
    .enable_all()
    .build()
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
