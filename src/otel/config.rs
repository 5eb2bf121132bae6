//! Where `OtelExporter` sends spans: provider presets, the standard `OTEL_EXPORTER_OTLP_*` variables and the URL
//! rules of `@mastra/otel-exporter` 1.4.0.
//!
//! Precedence for every value, first match wins:
//! 1. the provider option (`provider.<name>.<field>`; an empty string counts as given, as with JavaScript `??`);
//! 2. the provider's own environment variable (`DASH0_API_KEY`, ...);
//! 3. for the standard OTLP settings (headers, timeout, compression, and everything when no provider is given):
//!    `OTEL_EXPORTER_OTLP_TRACES_*`, then `OTEL_EXPORTER_OTLP_*`;
//! 4. the preset's default.

use crate::env::EnvSource;
use serde_json::Value;
use std::time::Duration;

/// Wire protocol of the trace exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
  HttpProtobuf,
  HttpJson,
  Grpc,
  Zipkin,
}

impl Protocol {
  pub fn parse(s: &str) -> Option<Self> {
    match s.trim() {
      "http/protobuf" => Some(Self::HttpProtobuf),
      "http/json" => Some(Self::HttpJson),
      "grpc" => Some(Self::Grpc),
      "zipkin" => Some(Self::Zipkin),
      _ => None,
    }
  }

  pub fn as_str(self) -> &'static str {
    match self {
      Self::HttpProtobuf => "http/protobuf",
      Self::HttpJson => "http/json",
      Self::Grpc => "grpc",
      Self::Zipkin => "zipkin",
    }
  }
}

/// Body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
  None,
  Gzip,
}

/// Generic OTLP endpoint (the signal path is appended).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Trace endpoint, used verbatim.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `key=value,key2=value2`, values percent-decoded.
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// `http/protobuf` (default), `http/json` or `grpc`.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// Milliseconds. Default 10000.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// `gzip` or `none`.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";

/// Endpoint when nothing else names one.
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318";
/// Export timeout when neither the option nor the environment sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The resolved destination of trace export.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
  /// Preset name (`dash0`, ..., `custom`) or `otlp` for the environment fallback.
  pub provider: &'static str,
  pub protocol: Protocol,
  /// Full trace URL (for gRPC the scheme, host and port are what counts).
  pub url: String,
  /// Headers (gRPC metadata), in order; values are secrets and never logged.
  pub headers: Vec<(String, String)>,
  pub compression: Compression,
  pub timeout: Duration,
  /// Custom CA and client certificate (PEM), when configured.
  pub tls: Option<Tls>,
}

/// TLS material beyond the built-in roots. Verification is always on.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tls {
  pub ca: Option<Vec<u8>>,
  pub client_cert: Option<Vec<u8>>,
  pub client_key: Option<Vec<u8>>,
}

impl Tls {
  pub fn is_set(&self) -> bool {
    self.ca.is_some() || self.client_cert.is_some()
  }

  /// Certificate and key in one PEM, as reqwest's identity wants them.
  pub fn identity_pem(&self) -> Option<Vec<u8>> {
    let (cert, key) = (self.client_cert.as_ref()?, self.client_key.as_ref()?);
    Some([cert.as_slice(), b"\n", key.as_slice()].concat())
  }

  pub fn http_client(&self) -> Result<reqwest::Client, String> {
    crate::transport::http::client_with_tls(self.ca.as_deref(), self.identity_pem().as_deref())
  }
}

/// `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`: PEM file of CAs to trust (on top of the built-in roots).
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
pub const OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE` / `_CLIENT_KEY`: PEM files for mutual TLS.
pub const OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
pub const OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE";
pub const OTEL_EXPORTER_OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
pub const OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY";

/// PEM text as given, or the contents of the file it names.
fn pem(value: &str) -> Result<Vec<u8>, ConfigError> {
  if value.contains("-----BEGIN") {
    return Ok(value.as_bytes().to_vec());
  }
  std::fs::read(value).map_err(|e| ConfigError::Tls(format!("cannot read {value}: {e}")))
}

/// The TLS material, first match wins per item: the `tls` option, the signal variable, the generic variable.
pub fn resolve_tls(option: &TlsOptions, env: &impl EnvSource) -> Result<Option<Tls>, ConfigError> {
  let pick = |opt: &Option<String>, signal: &str, generic: &str| -> Result<Option<Vec<u8>>, ConfigError> {
    match opt.clone().or_else(|| env_first(env, &[signal, generic])) {
      Some(v) => pem(&v).map(Some),
      None => Ok(None),
    }
  };
  let tls = Tls {
    ca: pick(
      &option.ca,
      OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
      OTEL_EXPORTER_OTLP_CERTIFICATE,
    )?,
    client_cert: pick(
      &option.cert,
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    )?,
    client_key: pick(
      &option.key,
      OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
      OTEL_EXPORTER_OTLP_CLIENT_KEY,
    )?,
  };
  if tls.client_cert.is_some() != tls.client_key.is_some() {
    return Err(ConfigError::Tls(
      "a client certificate needs its key, and a key its certificate".into(),
    ));
  }
  Ok(tls.is_set().then_some(tls))
}

/// The `tls` option: PEM text or file paths.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
  pub ca: Option<String>,
  pub cert: Option<String>,
  pub key: Option<String>,
}

impl std::fmt::Debug for Destination {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
    f.debug_struct("Destination")
      .field("provider", &self.provider)
      .field("protocol", &self.protocol)
      .field("url", &self.url)
      .field("header_names", &names)
      .field("compression", &self.compression)
      .field("timeout", &self.timeout)
      .field(
        "custom_tls",
        &self.tls.as_ref().map(|t| (t.ca.is_some(), t.client_cert.is_some())),
      )
      .finish()
  }
}

/// Why the exporter disabled itself. The text is printed once with `console.error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
  #[error(
    "[OtelExporter] {provider} requires {what}: set {env} or pass provider.{provider}.{field}. Exporter disabled."
  )]
  Missing {
    provider: &'static str,
    what: &'static str,
    env: &'static str,
    field: &'static str,
  },
  #[error("[OtelExporter] provider.custom requires an endpoint. Exporter disabled.")]
  MissingCustomEndpoint,
  #[error(
    "[OtelExporter] Unknown provider {0:?}; use dash0, signoz, newrelic, traceloop, laminar or custom. Exporter disabled."
  )]
  UnknownProvider(String),
  #[error("[OtelExporter] Unknown protocol {0:?}; use http/protobuf, http/json, grpc or zipkin. Exporter disabled.")]
  UnknownProtocol(String),
  #[error("[OtelExporter] Invalid endpoint {0:?}. Exporter disabled.")]
  InvalidEndpoint(String),
  #[error("[OtelExporter] TLS configuration: {0}. Exporter disabled.")]
  Tls(String),
}

/// What the user gave that decides the destination.
#[derive(Debug, Clone, Default)]
pub struct DestinationOptions {
  /// The `provider` option as JSON (`{ "signoz": { "apiKey": "..." } }`).
  pub provider: Option<Value>,
  pub timeout: Option<Duration>,
  /// `gzip` / `none`; overrides the environment.
  pub compression: Option<String>,
  pub tls: TlsOptions,
}

/// A provider field: `config ?? env`.
fn field(cfg: &Value, key: &str, env: &impl EnvSource, var: &str) -> Option<String> {
  match cfg.get(key) {
    Some(Value::String(s)) => Some(s.clone()),
    Some(Value::Number(n)) => Some(n.to_string()),
    _ => env.var(var),
  }
}

fn required(
  v: Option<String>,
  provider: &'static str,
  what: &'static str,
  env: &'static str,
  field: &'static str,
) -> Result<String, ConfigError> {
  v.filter(|s| !s.is_empty()).ok_or(ConfigError::Missing {
    provider,
    what,
    env,
    field,
  })
}

/// Strips one trailing `/v1/traces` or `/v1/logs` (and trailing slashes), then appends `/v1/traces`.
pub fn traces_url(endpoint: &str) -> String {
  let base = endpoint.trim_end_matches('/');
  let base = base
    .strip_suffix("/v1/traces")
    .or_else(|| base.strip_suffix("/v1/logs"))
    .unwrap_or(base);
  format!("{base}/v1/traces")
}

/// A gRPC target: a scheme-less endpoint means TLS (`https://`), as the OpenTelemetry gRPC exporter treats it.
pub fn grpc_url(endpoint: &str) -> String {
  if endpoint.contains("://") {
    endpoint.to_string()
  } else {
    format!("https://{endpoint}")
  }
}

/// Parses `key=value,key2=value2` (W3C baggage style, values percent-decoded). Malformed entries are skipped.
pub fn parse_headers(s: &str) -> Vec<(String, String)> {
  s.split(',')
    .filter_map(|pair| {
      let (k, v) = pair.split_once('=')?;
      let k = k.trim();
      (!k.is_empty()).then(|| (k.to_string(), percent_decode(v.trim())))
    })
    .collect()
}

fn percent_decode(s: &str) -> String {
  url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
    .next()
    .map(|(_, v)| v.into_owned())
    .unwrap_or_default()
}

fn env_first(env: &impl EnvSource, names: &[&str]) -> Option<String> {
  names.iter().find_map(|n| env.non_empty(n))
}

fn merge_env_headers(headers: &mut Vec<(String, String)>, env: &impl EnvSource) {
  // Signal-specific entries win over generic ones; the exporter's own headers win over both.
  for var in [OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_EXPORTER_OTLP_HEADERS] {
    for (k, v) in env.non_empty(var).map(|s| parse_headers(&s)).unwrap_or_default() {
      if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(&k)) {
        headers.push((k, v));
      }
    }
  }
}

/// Resolves the destination. `Err` disables the exporter (the message is logged, nothing is thrown).
pub fn resolve(opts: &DestinationOptions, env: &impl EnvSource) -> Result<Destination, ConfigError> {
  let provider = opts
    .provider
    .as_ref()
    .and_then(|p| p.as_object())
    .and_then(|o| o.iter().next());
  let mut dest = match provider {
    Some((name, cfg)) => preset(name, cfg, env)?,
    None => otlp_from_env(env)?,
  };
  if dest.protocol != Protocol::Zipkin {
    merge_env_headers(&mut dest.headers, env);
  }
  let env_timeout = env_first(env, &[OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT])
    .and_then(|t| t.trim().parse::<u64>().ok())
    .map(Duration::from_millis);
  dest.timeout = opts.timeout.or(env_timeout).unwrap_or(DEFAULT_TIMEOUT);
  let compression = opts.compression.clone().or_else(|| {
    env_first(
      env,
      &[OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION],
    )
  });
  dest.compression = match compression.as_deref().map(str::trim) {
    Some("gzip") => Compression::Gzip,
    _ => Compression::None,
  };
  if url::Url::parse(&dest.url).is_err() {
    return Err(ConfigError::InvalidEndpoint(dest.url));
  }
  dest.tls = resolve_tls(&opts.tls, env)?;
  Ok(dest)
}

fn destination(provider: &'static str, protocol: Protocol, url: String, headers: Vec<(String, String)>) -> Destination {
  Destination {
    provider,
    protocol,
    url,
    headers,
    compression: Compression::None,
    timeout: DEFAULT_TIMEOUT,
    tls: None,
  }
}

fn preset(name: &str, cfg: &Value, env: &impl EnvSource) -> Result<Destination, ConfigError> {
  let f = |key: &str, var: &str| field(cfg, key, env, var);
  Ok(match name {
    "dash0" => {
      let key = required(
        f("apiKey", "DASH0_API_KEY"),
        "dash0",
        "an API key",
        "DASH0_API_KEY",
        "apiKey",
      )?;
      let endpoint = required(
        f("endpoint", "DASH0_ENDPOINT"),
        "dash0",
        "an endpoint",
        "DASH0_ENDPOINT",
        "endpoint",
      )?;
      let mut headers = vec![("authorization".to_string(), format!("Bearer {key}"))];
      if let Some(dataset) = f("dataset", "DASH0_DATASET").filter(|d| !d.is_empty()) {
        headers.push(("dash0-dataset".to_string(), dataset));
      }
      destination("dash0", Protocol::Grpc, grpc_url(&endpoint), headers)
    }
    "signoz" => {
      let key = required(
        f("apiKey", "SIGNOZ_API_KEY"),
        "signoz",
        "an ingestion key",
        "SIGNOZ_API_KEY",
        "apiKey",
      )?;
      let region = f("region", "SIGNOZ_REGION")
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us".into());
      let endpoint =
        f("endpoint", "SIGNOZ_ENDPOINT").unwrap_or_else(|| format!("https://ingest.{region}.signoz.cloud:443"));
      destination(
        "signoz",
        Protocol::HttpProtobuf,
        traces_url(&endpoint),
        vec![("signoz-ingestion-key".into(), key)],
      )
    }
    "newrelic" => {
      let key = required(
        f("apiKey", "NEW_RELIC_LICENSE_KEY"),
        "newrelic",
        "a license key",
        "NEW_RELIC_LICENSE_KEY",
        "apiKey",
      )?;
      let endpoint = f("endpoint", "NEW_RELIC_ENDPOINT").unwrap_or_else(|| "https://otlp.nr-data.net:443".into());
      destination(
        "newrelic",
        Protocol::HttpProtobuf,
        traces_url(&endpoint),
        vec![("api-key".into(), key)],
      )
    }
    "traceloop" => {
      let key = required(
        f("apiKey", "TRACELOOP_API_KEY"),
        "traceloop",
        "an API key",
        "TRACELOOP_API_KEY",
        "apiKey",
      )?;
      let endpoint = f("endpoint", "TRACELOOP_ENDPOINT").unwrap_or_else(|| "https://api.traceloop.com".into());
      let mut headers = vec![("Authorization".to_string(), format!("Bearer {key}"))];
      if let Some(dest) = f("destinationId", "TRACELOOP_DESTINATION_ID").filter(|d| !d.is_empty()) {
        headers.push(("x-traceloop-destination-id".to_string(), dest));
      }
      destination("traceloop", Protocol::HttpJson, traces_url(&endpoint), headers)
    }
    "laminar" => {
      let key = required(
        f("apiKey", "LMNR_PROJECT_API_KEY"),
        "laminar",
        "a project API key",
        "LMNR_PROJECT_API_KEY",
        "apiKey",
      )?;
      let endpoint = f("endpoint", "LAMINAR_ENDPOINT").unwrap_or_else(|| "https://api.lmnr.ai".into());
      destination(
        "laminar",
        Protocol::HttpProtobuf,
        traces_url(&endpoint),
        vec![("Authorization".into(), format!("Bearer {key}"))],
      )
    }
    "custom" => {
      let endpoint = match cfg.get("endpoint") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(ConfigError::MissingCustomEndpoint),
      };
      let protocol = match cfg.get("protocol").and_then(Value::as_str) {
        None => Protocol::HttpJson,
        Some(p) => Protocol::parse(p).ok_or_else(|| ConfigError::UnknownProtocol(p.to_string()))?,
      };
      let headers = cfg
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
          h.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect()
        })
        .unwrap_or_default();
      let url = match protocol {
        Protocol::Zipkin => endpoint,
        Protocol::Grpc => grpc_url(&endpoint),
        _ => traces_url(&endpoint),
      };
      destination("custom", protocol, url, headers)
    }
    other => return Err(ConfigError::UnknownProvider(other.to_string())),
  })
}

/// No provider: the standard OpenTelemetry variables (better than the reference, which disables itself).
fn otlp_from_env(env: &impl EnvSource) -> Result<Destination, ConfigError> {
  let protocol = match env_first(env, &[OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL]) {
    None => Protocol::HttpProtobuf,
    Some(p) => Protocol::parse(&p)
      .filter(|p| *p != Protocol::Zipkin)
      .ok_or(ConfigError::UnknownProtocol(p))?,
  };
  let url = match (
    env.non_empty(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
    env.non_empty(OTEL_EXPORTER_OTLP_ENDPOINT),
  ) {
    (Some(traces), _) => traces,
    (None, generic) => {
      let base = generic.unwrap_or_else(|| DEFAULT_OTLP_ENDPOINT.to_string());
      let base = if protocol == Protocol::Grpc && base == DEFAULT_OTLP_ENDPOINT {
        "http://localhost:4317".into()
      } else {
        base
      };
      if protocol == Protocol::Grpc {
        grpc_url(&base)
      } else {
        format!("{}/v1/traces", base.trim_end_matches('/'))
      }
    }
  };
  Ok(destination("otlp", protocol, url, Vec::new()))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;
  use serde_json::json;

  fn resolve_with(provider: Value, env: &[(&str, &str)]) -> Result<Destination, ConfigError> {
    resolve(
      &DestinationOptions {
        provider: Some(provider),
        ..Default::default()
      },
      &MapEnv::from_pairs(env),
    )
  }

  #[test]
  fn presets_use_their_default_endpoints_protocols_and_headers() {
    type Case<'a> = (
      Value,
      &'a [(&'a str, &'a str)],
      Protocol,
      &'a str,
      Vec<(&'a str, &'a str)>,
    );
    let cases: Vec<Case> = vec![
      (
        json!({"signoz": {"apiKey": "k"}}),
        &[],
        Protocol::HttpProtobuf,
        "https://ingest.us.signoz.cloud:443/v1/traces",
        vec![("signoz-ingestion-key", "k")],
      ),
      (
        json!({"signoz": {"apiKey": "k", "region": "eu"}}),
        &[],
        Protocol::HttpProtobuf,
        "https://ingest.eu.signoz.cloud:443/v1/traces",
        vec![("signoz-ingestion-key", "k")],
      ),
      (
        json!({"signoz": {}}),
        &[("SIGNOZ_API_KEY", "e"), ("SIGNOZ_REGION", "in")],
        Protocol::HttpProtobuf,
        "https://ingest.in.signoz.cloud:443/v1/traces",
        vec![("signoz-ingestion-key", "e")],
      ),
      (
        json!({"newrelic": {"apiKey": "lic"}}),
        &[],
        Protocol::HttpProtobuf,
        "https://otlp.nr-data.net:443/v1/traces",
        vec![("api-key", "lic")],
      ),
      (
        json!({"newrelic": {}}),
        &[
          ("NEW_RELIC_LICENSE_KEY", "l"),
          ("NEW_RELIC_ENDPOINT", "https://otlp.eu01.nr-data.net"),
        ],
        Protocol::HttpProtobuf,
        "https://otlp.eu01.nr-data.net/v1/traces",
        vec![("api-key", "l")],
      ),
      (
        json!({"traceloop": {"apiKey": "t", "destinationId": "d"}}),
        &[],
        Protocol::HttpJson,
        "https://api.traceloop.com/v1/traces",
        vec![("Authorization", "Bearer t"), ("x-traceloop-destination-id", "d")],
      ),
      (
        json!({"laminar": {"apiKey": "l", "teamId": "ignored"}}),
        &[],
        Protocol::HttpProtobuf,
        "https://api.lmnr.ai/v1/traces",
        vec![("Authorization", "Bearer l")],
      ),
      (
        json!({"dash0": {"apiKey": "a", "endpoint": "ingress.eu.dash0.com:4317", "dataset": "prod"}}),
        &[],
        Protocol::Grpc,
        "https://ingress.eu.dash0.com:4317",
        vec![("authorization", "Bearer a"), ("dash0-dataset", "prod")],
      ),
      (
        json!({"dash0": {}}),
        &[("DASH0_API_KEY", "a"), ("DASH0_ENDPOINT", "http://127.0.0.1:4317")],
        Protocol::Grpc,
        "http://127.0.0.1:4317",
        vec![("authorization", "Bearer a")],
      ),
      (
        json!({"custom": {"endpoint": "http://host:4318"}}),
        &[],
        Protocol::HttpJson,
        "http://host:4318/v1/traces",
        vec![],
      ),
      (
        json!({"custom": {"endpoint": "http://host:4318/v1/traces/", "protocol": "http/protobuf", "headers": {"x-k": "v"}}}),
        &[],
        Protocol::HttpProtobuf,
        "http://host:4318/v1/traces",
        vec![("x-k", "v")],
      ),
      (
        json!({"custom": {"endpoint": "http://host/custom/path"}}),
        &[],
        Protocol::HttpJson,
        "http://host/custom/path/v1/traces",
        vec![],
      ),
      (
        json!({"custom": {"endpoint": "http://host/v1/logs"}}),
        &[],
        Protocol::HttpJson,
        "http://host/v1/traces",
        vec![],
      ),
      (
        json!({"custom": {"endpoint": "http://localhost:9411/api/v2/spans", "protocol": "zipkin"}}),
        &[],
        Protocol::Zipkin,
        "http://localhost:9411/api/v2/spans",
        vec![],
      ),
    ];
    for (provider, env, protocol, url, headers) in cases {
      let d = resolve_with(provider.clone(), env).unwrap_or_else(|e| panic!("{provider}: {e}"));
      assert_eq!((d.protocol, d.url.as_str()), (protocol, url), "{provider}");
      let got: Vec<(&str, &str)> = d.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
      assert_eq!(got, headers, "{provider}");
    }
  }

  #[test]
  fn config_wins_over_env_even_when_empty() {
    let env = [("SIGNOZ_API_KEY", "env"), ("SIGNOZ_ENDPOINT", "http://env:4318")];
    let d = resolve_with(json!({"signoz": {"apiKey": "cfg"}}), &env).unwrap();
    assert_eq!(d.headers[0].1, "cfg");
    assert_eq!(d.url, "http://env:4318/v1/traces");
    let err = resolve_with(json!({"signoz": {"apiKey": ""}}), &env).unwrap_err();
    assert!(
      matches!(
        err,
        ConfigError::Missing {
          env: "SIGNOZ_API_KEY",
          ..
        }
      ),
      "{err}"
    );
  }

  #[test]
  fn missing_required_values_disable_with_a_line_naming_the_variable() {
    let cases = [
      (json!({"dash0": {"apiKey": "a"}}), "DASH0_ENDPOINT"),
      (json!({"dash0": {"endpoint": "x:1"}}), "DASH0_API_KEY"),
      (json!({"signoz": {}}), "SIGNOZ_API_KEY"),
      (json!({"newrelic": {}}), "NEW_RELIC_LICENSE_KEY"),
      (json!({"traceloop": {}}), "TRACELOOP_API_KEY"),
      (json!({"laminar": {}}), "LMNR_PROJECT_API_KEY"),
    ];
    for (provider, var) in cases {
      let err = resolve_with(provider.clone(), &[]).unwrap_err().to_string();
      assert!(
        err.starts_with("[OtelExporter] ") && err.contains(var) && err.ends_with("Exporter disabled."),
        "{err}"
      );
    }
    assert_eq!(
      resolve_with(json!({"custom": {}}), &[]).unwrap_err(),
      ConfigError::MissingCustomEndpoint
    );
    assert!(matches!(
      resolve_with(json!({"custom": {"endpoint": "http://h", "protocol": "udp"}}), &[]),
      Err(ConfigError::UnknownProtocol(_))
    ));
    assert!(matches!(
      resolve_with(json!({"jaeger": {}}), &[]),
      Err(ConfigError::UnknownProvider(_))
    ));
  }

  #[test]
  fn without_a_provider_the_standard_otlp_variables_apply() {
    let none = |env: &[(&str, &str)]| resolve(&DestinationOptions::default(), &MapEnv::from_pairs(env)).unwrap();
    let d = none(&[]);
    assert_eq!(
      (d.provider, d.protocol, d.url.as_str()),
      ("otlp", Protocol::HttpProtobuf, "http://localhost:4318/v1/traces")
    );
    assert_eq!(d.timeout, DEFAULT_TIMEOUT);
    let d = none(&[
      ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"),
      ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ]);
    assert_eq!(
      (d.protocol, d.url.as_str()),
      (Protocol::HttpJson, "http://c:4318/v1/traces")
    );
    let d = none(&[
      ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
      ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
    ]);
    assert_eq!(d.url, "http://t:1/custom", "the signal endpoint is used verbatim");
    let d = none(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!((d.protocol, d.url.as_str()), (Protocol::Grpc, "http://localhost:4317"));
    let d = none(&[
      ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=x%20y"),
      ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=2"),
      ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
      ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ]);
    assert_eq!(
      d.headers,
      vec![("a".to_string(), "2".to_string()), ("b".to_string(), "x y".to_string())]
    );
    assert_eq!(d.timeout, Duration::from_millis(2500));
    assert_eq!(d.compression, Compression::Gzip);
  }

  #[test]
  fn explicit_options_beat_the_environment() {
    let env = MapEnv::from_pairs(&[
      ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
      ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ]);
    let opts = DestinationOptions {
      provider: Some(json!({"custom": {"endpoint": "http://h", "headers": {"a": "mine"}}})),
      timeout: Some(Duration::from_secs(3)),
      compression: Some("none".into()),
      ..Default::default()
    };
    let env2 = MapEnv({
      let mut m = env.0.clone();
      m.insert("OTEL_EXPORTER_OTLP_HEADERS".into(), "a=env,b=env".into());
      m
    });
    let d = resolve(&opts, &env2).unwrap();
    assert_eq!(d.timeout, Duration::from_secs(3));
    assert_eq!(d.compression, Compression::None);
    assert_eq!(
      d.headers,
      vec![
        ("a".to_string(), "mine".to_string()),
        ("b".to_string(), "env".to_string())
      ]
    );
  }

  #[test]
  fn debug_output_hides_header_values() {
    let d = resolve_with(json!({"signoz": {"apiKey": "super-secret"}}), &[]).unwrap();
    let text = format!("{d:?}");
    assert!(
      !text.contains("super-secret") && text.contains("signoz-ingestion-key"),
      "{text}"
    );
  }
}
