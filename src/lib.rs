#![deny(clippy::all)]
//! Native tracing exporters for Mastra.
//!
//! The core (everything but `binding`) never names a napi type: it is plain Rust, tested with
//! `cargo test --no-default-features`. The `binding` module is a thin napi-rs layer over it.

pub mod dates;
pub mod env;
pub mod json;
pub mod log;
pub mod otel;
pub mod pipeline;
pub mod redact;
pub mod runtime;
pub mod tcc;
pub mod text;
pub mod transport;

#[cfg(test)]
mod test_support;

#[cfg(feature = "napi")]
#[cfg_attr(
  test,
  allow(
    dead_code,
    reason = "napi registers the exports for JavaScript, which a test build does not see"
  )
)]
mod binding;

/// Rust's own allocations (span text, parsed spans, request bodies) use mimalloc: the JavaScript thread allocates the
/// text of each span and a worker frees it, and mimalloc's per-thread heaps take such cross-thread frees without the
/// arena lock and consolidation the system allocator spends a third of the worker's time on. Memory Node allocates is
/// untouched.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Memory freed in a burst is kept for a second before it goes back to the system (mimalloc's default is 10 ms): the
/// JavaScript thread then reuses it for the next spans instead of faulting in and zeroing fresh pages, and the worker
/// spends less time in the kernel. `MIMALLOC_PURGE_DELAY` still overrides it.
pub fn tune_allocator() {
  /// `mi_option_purge_delay` in mimalloc.h (v3).
  const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
  const PURGE_DELAY_MS: std::ffi::c_long = 1000;
  // Safety: sets a default in mimalloc's option table; safe at any time.
  unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS) };
}
