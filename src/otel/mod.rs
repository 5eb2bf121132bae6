//! The OpenTelemetry exporter: Mastra spans mapped to OTLP (or Zipkin) spans and sent in batches.

pub mod batch;
pub mod config;
pub mod exporter;
pub mod limits;
pub mod mapping;
pub mod options;
pub mod otlp;
pub mod otlp_json;
pub mod resource;
pub mod span;
pub mod zipkin;
