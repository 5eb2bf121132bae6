//! The resource and instrumentation scope sent with every batch.
//!
//! Precedence of `service.name`, first match wins:
//! 1. `resourceAttributes` option;
//! 2. `OTEL_SERVICE_NAME`;
//! 3. `service.name` in `OTEL_RESOURCE_ATTRIBUTES`;
//! 4. the `serviceName` of Mastra's observability config (passed to `init`);
//! 5. `mastra-service`.
//!
//! Other `OTEL_RESOURCE_ATTRIBUTES` entries are added below the option's. In `mastra` mode the SDK and scope identity
//! are those of `@mastra/otel-exporter` 1.4.0, so dashboards built on them keep working.

use super::config::parse_headers;
use super::mapping::Semconv;
use super::otlp::{AttrKey, AttrList, AttrValue, Origin};
use crate::env::EnvSource;
use serde_json::Value;

pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// Service name when nothing names one.
pub const DEFAULT_SERVICE_NAME: &str = "mastra-service";
const REFERENCE_NAME: &str = "@mastra/otel-exporter";
const REFERENCE_VERSION: &str = "1.4.0";
const OUR_NAME: &str = "mastra-native-exporters";
const OUR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the resource is built from.
#[derive(Debug, Clone, Default)]
pub struct ResourceInputs {
  /// From Mastra's config, via `init`.
  pub service_name: Option<String>,
  /// The installed `@mastra/core` version, when the binding could read it.
  pub mastra_version: Option<String>,
  /// The `resourceAttributes` option.
  pub attributes: Option<serde_json::Map<String, Value>>,
}

fn value(v: &Value) -> Option<AttrValue<'static>> {
  super::mapping::primitive_value(v)
}

fn set(list: &mut AttrList<'static>, key: &str, v: AttrValue<'static>) {
  match list.iter_mut().find(|(k, _)| k == key) {
    Some(slot) => slot.1 = v,
    None => list.push((key.to_string().into(), v)),
  }
}

/// The resource and scope for spans mapped in `mode`.
pub fn origin(inputs: &ResourceInputs, mode: Semconv, env: &impl EnvSource) -> Origin {
  let env_attrs = env
    .non_empty(OTEL_RESOURCE_ATTRIBUTES)
    .map(|s| parse_headers(&s))
    .unwrap_or_default();
  let service = env
    .non_empty(OTEL_SERVICE_NAME)
    .or_else(|| {
      env_attrs
        .iter()
        .find(|(k, _)| k == "service.name")
        .map(|(_, v)| v.clone())
    })
    .or_else(|| inputs.service_name.clone())
    .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
  let (sdk, sdk_version, service_version) = match mode {
    Semconv::Mastra => (
      REFERENCE_NAME,
      REFERENCE_VERSION,
      inputs.mastra_version.clone().unwrap_or_else(|| "unknown".into()),
    ),
    // 0.x reported fixed 1.0.0 versions.
    Semconv::Legacy => ("@mastra/otel", "1.0.0", "1.0.0".to_string()),
    Semconv::Latest => (
      OUR_NAME,
      OUR_VERSION,
      inputs.mastra_version.clone().unwrap_or_else(|| "unknown".into()),
    ),
  };
  let mut resource: Vec<(AttrKey, AttrValue)> = vec![
    ("service.name".into(), AttrValue::from(service)),
    ("service.version".into(), AttrValue::from(service_version)),
    ("telemetry.sdk.name".into(), AttrValue::Str(sdk.into())),
    ("telemetry.sdk.version".into(), AttrValue::Str(sdk_version.into())),
    ("telemetry.sdk.language".into(), AttrValue::Str("nodejs".into())),
  ];
  for (k, v) in env_attrs.iter().filter(|(k, _)| k != "service.name") {
    set(&mut resource, k, AttrValue::from(v.clone()));
  }
  for (k, v) in inputs.attributes.iter().flatten() {
    if let Some(v) = value(v) {
      set(&mut resource, k, v);
    }
  }
  let (scope_name, scope_version) = match mode {
    Semconv::Mastra => (REFERENCE_NAME, REFERENCE_VERSION),
    Semconv::Legacy => ("@mastra/otel", "1.0.0"),
    Semconv::Latest => (OUR_NAME, OUR_VERSION),
  };
  Origin {
    resource,
    scope_name: scope_name.into(),
    scope_version: scope_version.into(),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;
  use serde_json::json;

  fn get(o: &Origin, k: &str) -> Option<AttrValue<'static>> {
    o.resource.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
  }

  #[test]
  fn mastra_mode_reproduces_the_reference_identity() {
    let inputs = ResourceInputs {
      service_name: Some("svc".into()),
      mastra_version: Some("1.71.0".into()),
      attributes: None,
    };
    let o = origin(&inputs, Semconv::Mastra, &MapEnv::default());
    let keys: Vec<&str> = o.resource.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(
      keys,
      [
        "service.name",
        "service.version",
        "telemetry.sdk.name",
        "telemetry.sdk.version",
        "telemetry.sdk.language"
      ]
    );
    assert_eq!(get(&o, "service.version"), Some(AttrValue::Str("1.71.0".into())));
    assert_eq!(
      (o.scope_name.as_str(), o.scope_version.as_str()),
      ("@mastra/otel-exporter", "1.4.0")
    );
  }

  #[test]
  fn service_name_precedence() {
    let base = ResourceInputs {
      service_name: Some("from-mastra".into()),
      ..Default::default()
    };
    let env = |p: &[(&str, &str)]| MapEnv::from_pairs(p);
    let name = |inputs: &ResourceInputs, e: &MapEnv| get(&origin(inputs, Semconv::Latest, e), "service.name");
    assert_eq!(name(&base, &env(&[])), Some(AttrValue::Str("from-mastra".into())));
    assert_eq!(
      name(&base, &env(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=ra,team=x")])),
      Some(AttrValue::Str("ra".into()))
    );
    assert_eq!(
      name(
        &base,
        &env(&[
          ("OTEL_SERVICE_NAME", "sn"),
          ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ra")
        ])
      ),
      Some(AttrValue::Str("sn".into()))
    );
    let opt = ResourceInputs {
      attributes: json!({"service.name": "opt", "deployment.environment": "prod"})
        .as_object()
        .cloned(),
      ..base.clone()
    };
    let o = origin(
      &opt,
      Semconv::Latest,
      &env(&[("OTEL_SERVICE_NAME", "sn"), ("OTEL_RESOURCE_ATTRIBUTES", "team=x")]),
    );
    assert_eq!(get(&o, "service.name"), Some(AttrValue::Str("opt".into())));
    assert_eq!(get(&o, "team"), Some(AttrValue::Str("x".into())));
    assert_eq!(get(&o, "deployment.environment"), Some(AttrValue::Str("prod".into())));
    assert_eq!(
      name(&ResourceInputs::default(), &env(&[])),
      Some(AttrValue::Str("mastra-service".into()))
    );
  }
}
