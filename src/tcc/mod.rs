//! The Context Company exporter: one POST per agent run to the Observatory ingestion API.

pub mod buffer;
pub mod config;
pub mod exporter;
pub mod feedback;
pub mod span;
pub mod url;

pub use buffer::{Arrival, EventKind};
pub use config::{ConfigError, TccConfig, TccOptions};
pub use exporter::{TccExporter, TccStats};
