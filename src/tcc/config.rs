//! `TCCMastraExporter` configuration: what the user passed, resolved against the environment.

use super::buffer::{BufferLimits, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_BUFFERED_TRACES, DEFAULT_TRACE_TTL};
use super::url::{self, TCC_API_KEY, UrlError};
use crate::env::EnvSource;
use crate::pipeline::{PipelineLimits, PipelineOptions};
use crate::transport::http::DEFAULT_TIMEOUT;
use crate::transport::retry::{DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BUDGET, RetryPolicy};
use std::time::Duration;

/// The reference's exact text when no key is found.
pub const MISSING_API_KEY: &str =
  "Missing API key: set TCC_API_KEY as an environment variable or provide apiKey in TCCMastraExporter";

/// Largest run payload sent in one request: 16 MiB. Bigger runs go out in parts with the same run id.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// Options as the user gives them; every field optional.
#[derive(Debug, Clone, Default)]
pub struct TccOptions {
  pub api_key: Option<String>,
  pub endpoint: Option<String>,
  pub debug: Option<bool>,
  pub include_event_spans: Option<bool>,
  pub timeout_ms: Option<u64>,
  pub max_retries: Option<u32>,
  pub retry_budget_ms: Option<u64>,
  pub max_buffered_traces: Option<u32>,
  pub max_buffered_bytes: Option<u64>,
  pub trace_ttl_ms: Option<u64>,
  pub pipeline: PipelineOptions,
  pub redact: Vec<String>,
  pub capture_content: Option<bool>,
  pub max_request_bytes: Option<u64>,
}

/// Fully resolved settings.
#[derive(Clone)]
pub struct TccConfig {
  pub api_key: String,
  pub endpoint: String,
  pub debug: bool,
  pub timeout: Duration,
  pub retry: RetryPolicy,
  pub limits: BufferLimits,
  pub pipeline: PipelineLimits,
  pub redact: crate::redact::Redactor,
  /// `false` removes inputs, outputs and instructions from every span before it is buffered.
  pub capture_content: bool,
  /// Largest request body; larger runs are sent in parts.
  pub max_request_bytes: usize,
}

impl std::fmt::Debug for TccConfig {
  // The key is never printed, not even in debug output.
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("TccConfig")
      .field("api_key", &"<redacted>")
      .field("endpoint", &self.endpoint)
      .field("debug", &self.debug)
      .field("timeout", &self.timeout)
      .field("retry", &self.retry)
      .field("limits", &self.limits)
      .field("pipeline", &self.pipeline)
      .finish()
  }
}

/// Why the constructor refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
  #[error("{MISSING_API_KEY}")]
  MissingApiKey,
  #[error(transparent)]
  Url(#[from] UrlError),
}

impl TccOptions {
  /// Resolves the options, first match wins for each value:
  /// - key: `apiKey` (non-empty), then `TCC_API_KEY` (non-empty), else [`ConfigError::MissingApiKey`];
  /// - endpoint: see [`url::resolve_endpoint`];
  /// - numbers: the option, else the named default.
  pub fn resolve(&self, env: &impl EnvSource) -> Result<TccConfig, ConfigError> {
    let api_key = self
      .api_key
      .clone()
      .filter(|k| !k.is_empty())
      .or_else(|| env.non_empty(TCC_API_KEY))
      .ok_or(ConfigError::MissingApiKey)?;
    let endpoint = url::resolve_endpoint(self.endpoint.as_deref(), &api_key, env)?;
    let ms = Duration::from_millis;
    let retry = RetryPolicy {
      max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
      budget: self.retry_budget_ms.map_or(DEFAULT_RETRY_BUDGET, ms),
      ..RetryPolicy::default()
    };
    let limits = BufferLimits {
      max_traces: self
        .max_buffered_traces
        .map_or(DEFAULT_MAX_BUFFERED_TRACES, |n| (n as usize).max(1)),
      max_bytes: self
        .max_buffered_bytes
        .map_or(DEFAULT_MAX_BUFFERED_BYTES, |n| n as usize),
      trace_ttl: self.trace_ttl_ms.map_or(DEFAULT_TRACE_TTL, ms),
      include_event_spans: self.include_event_spans.unwrap_or(true),
    };
    Ok(TccConfig {
      api_key,
      endpoint,
      debug: self.debug.unwrap_or(false),
      timeout: self.timeout_ms.map_or(DEFAULT_TIMEOUT, ms),
      retry,
      limits,
      pipeline: self.pipeline.resolve(),
      redact: crate::redact::Redactor::new(&self.redact),
      capture_content: self.capture_content.unwrap_or(true),
      max_request_bytes: self
        .max_request_bytes
        .map_or(DEFAULT_MAX_REQUEST_BYTES, |n| (n as usize).max(1024)),
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;

  #[test]
  fn the_key_comes_from_options_then_env_and_empty_counts_as_missing() {
    let env = MapEnv::from_pairs(&[("TCC_API_KEY", "env_key")]);
    let opts = |k: Option<&str>| TccOptions {
      api_key: k.map(String::from),
      ..Default::default()
    };
    assert_eq!(opts(Some("mine")).resolve(&env).unwrap().api_key, "mine");
    assert_eq!(opts(Some("")).resolve(&env).unwrap().api_key, "env_key");
    assert_eq!(opts(None).resolve(&env).unwrap().api_key, "env_key");
    let none = MapEnv::from_pairs(&[("TCC_API_KEY", "")]);
    let err = opts(None).resolve(&none).unwrap_err();
    assert_eq!(err, ConfigError::MissingApiKey);
    assert_eq!(
      err.to_string(),
      "Missing API key: set TCC_API_KEY as an environment variable or provide apiKey in TCCMastraExporter"
    );
  }

  #[test]
  fn the_explicit_key_decides_dev_routing() {
    let env = MapEnv::from_pairs(&[("TCC_API_KEY", "dev_env")]);
    let cfg = TccOptions {
      api_key: Some("tcc_prod_x".into()),
      ..Default::default()
    }
    .resolve(&env)
    .unwrap();
    assert_eq!(cfg.endpoint, "https://api.thecontext.company/v1/mastra");
    let cfg = TccOptions::default().resolve(&env).unwrap();
    assert_eq!(cfg.endpoint, "https://dev.thecontext.company/v1/mastra");
  }

  #[test]
  fn defaults_are_the_named_constants() {
    let env = MapEnv::from_pairs(&[("TCC_API_KEY", "k")]);
    let cfg = TccOptions::default().resolve(&env).unwrap();
    assert_eq!(cfg.timeout, DEFAULT_TIMEOUT);
    assert_eq!(cfg.retry, RetryPolicy::default());
    assert_eq!(cfg.limits.max_traces, DEFAULT_MAX_BUFFERED_TRACES);
    assert!(cfg.limits.include_event_spans);
    assert!(!cfg.debug);
  }

  #[test]
  fn debug_output_never_shows_the_key() {
    let env = MapEnv::from_pairs(&[("TCC_API_KEY", "tcc_secret_123")]);
    let cfg = TccOptions::default().resolve(&env).unwrap();
    assert!(!format!("{cfg:?}").contains("tcc_secret_123"));
  }
}
