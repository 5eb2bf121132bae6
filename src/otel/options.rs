//! `new OtelExporter(options)` as plain Rust: what the user gave, resolved against the environment.

use super::config::{self, ConfigError, DestinationOptions};
use super::exporter::{
  DEFAULT_BATCH_SIZE, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_SCHEDULED_DELAY, OTEL_SEMCONV_STABILITY_OPT_IN, OtelSettings,
};
use super::mapping::Semconv;
use super::resource::ResourceInputs;
use crate::env::EnvSource;
use crate::pipeline::PipelineOptions;
use crate::transport::RetryPolicy;
use crate::transport::retry::DEFAULT_MAX_RETRIES;
use serde_json::Value;
use std::time::Duration;

/// Options as the user gives them; every field optional.
#[derive(Debug, Clone, Default)]
pub struct OtelOptions {
  pub provider: Option<Value>,
  pub timeout_ms: Option<u64>,
  pub batch_size: Option<u32>,
  pub log_level: Option<String>,
  pub resource_attributes: Option<Value>,
  pub traces: Option<bool>,
  pub semconv: Option<String>,
  pub capture_content: Option<bool>,
  pub compression: Option<String>,
  pub max_retries: Option<u32>,
  pub scheduled_delay_ms: Option<u64>,
  pub max_request_bytes: Option<u64>,
  pub pipeline: PipelineOptions,
  pub redact: Vec<String>,
  pub attribute_value_length_limit: Option<u64>,
  pub tls: super::config::TlsOptions,
  pub max_span_bytes: Option<u64>,
}

/// Why the options are unusable; the exporter logs it once and disables itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
  #[error(transparent)]
  Destination(#[from] ConfigError),
  #[error("[OtelExporter] Unknown semconv {0:?}; use 'mastra', 'legacy' or 'latest'. Exporter disabled.")]
  Semconv(String),
  #[error("[OtelExporter] signals.traces is false: trace export is off.")]
  TracesOff,
}

impl OtelOptions {
  /// Resolves everything. The semantic conventions, first match wins:
  /// 1. the `semconv` option;
  /// 2. `OTEL_SEMCONV_STABILITY_OPT_IN` containing `gen_ai_latest_experimental` → `latest`;
  /// 3. the calling Mastra version: `mastra` for 1.x (`exportTracingEvent`), `legacy` for 0.24 (`exportEvent`).
  pub fn resolve(&self, env: &impl EnvSource) -> Result<OtelSettings, OptionsError> {
    if self.traces == Some(false) {
      return Err(OptionsError::TracesOff);
    }
    let semconv = match self.semconv.as_deref() {
      Some(s) => Some(Semconv::parse(s).ok_or_else(|| OptionsError::Semconv(s.to_string()))?),
      None => env
        .var(OTEL_SEMCONV_STABILITY_OPT_IN)
        .filter(|v| v.split(',').any(|x| x.trim() == "gen_ai_latest_experimental"))
        .map(|_| Semconv::Latest),
    };
    let destination = config::resolve(
      &DestinationOptions {
        provider: self.provider.clone(),
        timeout: self.timeout_ms.map(Duration::from_millis),
        compression: self.compression.clone(),
        tls: self.tls.clone(),
      },
      env,
    )?;
    Ok(OtelSettings {
      destination,
      semconv,
      capture_content: self.capture_content.unwrap_or(true),
      batch_size: self.batch_size.map_or(DEFAULT_BATCH_SIZE, |b| (b as usize).max(1)),
      scheduled_delay: self
        .scheduled_delay_ms
        .map_or(DEFAULT_SCHEDULED_DELAY, Duration::from_millis),
      retry: RetryPolicy {
        max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
        ..RetryPolicy::default()
      },
      resource: ResourceInputs {
        attributes: self.resource_attributes.as_ref().and_then(Value::as_object).cloned(),
        ..ResourceInputs::default()
      },
      debug: self.log_level.as_deref() == Some("debug"),
      pipeline: self.pipeline.resolve(),
      max_request_bytes: self
        .max_request_bytes
        .map_or(DEFAULT_MAX_REQUEST_BYTES, |n| (n as usize).max(1024)),
      redact: crate::redact::Redactor::new(&self.redact),
      attr_limits: super::limits::AttrLimits::resolve(
        self.attribute_value_length_limit.map(|n| n as usize),
        self.max_span_bytes.map(|n| n as usize),
        env,
      ),
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;
  use serde_json::json;

  #[test]
  fn semconv_precedence() {
    let custom = Some(json!({"custom": {"endpoint": "http://h"}}));
    let opts = |s: Option<&str>| OtelOptions {
      provider: custom.clone(),
      semconv: s.map(String::from),
      ..Default::default()
    };
    let optin = MapEnv::from_pairs(&[("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_latest_experimental")]);
    assert_eq!(opts(None).resolve(&MapEnv::default()).unwrap().semconv, None);
    assert_eq!(opts(None).resolve(&optin).unwrap().semconv, Some(Semconv::Latest));
    assert_eq!(
      opts(Some("legacy")).resolve(&optin).unwrap().semconv,
      Some(Semconv::Legacy)
    );
    assert!(matches!(
      opts(Some("v2")).resolve(&optin),
      Err(OptionsError::Semconv(_))
    ));
  }

  #[test]
  fn defaults_and_switches() {
    let o = OtelOptions {
      provider: Some(json!({"custom": {"endpoint": "http://h"}})),
      ..Default::default()
    };
    let s = o.resolve(&MapEnv::default()).unwrap();
    assert_eq!(
      (s.batch_size, s.scheduled_delay, s.capture_content, s.debug),
      (512, Duration::from_secs(5), true, false)
    );
    let off = OtelOptions {
      traces: Some(false),
      ..o.clone()
    };
    assert_eq!(off.resolve(&MapEnv::default()).unwrap_err(), OptionsError::TracesOff);
    let dbg = OtelOptions {
      log_level: Some("debug".into()),
      capture_content: Some(false),
      batch_size: Some(0),
      ..o
    };
    let s = dbg.resolve(&MapEnv::default()).unwrap();
    assert!(s.debug && !s.capture_content);
    assert_eq!(s.batch_size, 1);
  }
}
