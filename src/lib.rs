#![deny(clippy::all)]
//! Native tracing exporters for Mastra.
//!
//! The core (everything but `binding`) never names a napi type: it is plain Rust, tested with
//! `cargo test --no-default-features`. The `binding` module is a thin napi-rs layer over it.

mod alloc;
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
static ALLOCATOR: alloc::Mimalloc = alloc::Mimalloc;

pub use alloc::tune_allocator;
