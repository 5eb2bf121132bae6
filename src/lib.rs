#![deny(clippy::all)]
//! Native tracing exporters for Mastra.
//!
//! The core (everything but `binding`) never names a napi type: it is plain Rust, tested with
//! `cargo test --no-default-features`. The `binding` module is a thin napi-rs layer over it.

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
