//! Environment lookups behind a trait, so configuration resolution is a pure function of its inputs.

use std::collections::HashMap;

/// A source of environment variables.
pub trait EnvSource {
  /// The value of `name`, or `None` when unset. Empty values are returned as they are.
  fn var(&self, name: &str) -> Option<String>;

  /// The value of `name` when set and non-empty (JavaScript truthiness of a string).
  fn non_empty(&self, name: &str) -> Option<String> {
    self.var(name).filter(|v| !v.is_empty())
  }
}

/// The real process environment. Node's `process.env` writes reach it, so a value set from JavaScript
/// before a constructor runs is seen here.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
  fn var(&self, name: &str) -> Option<String> {
    std::env::var(name).ok()
  }
}

/// A fixed map, for tests.
#[derive(Debug, Default, Clone)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
  pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
    Self(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
  }
}

impl EnvSource for MapEnv {
  fn var(&self, name: &str) -> Option<String> {
    self.0.get(name).cloned()
  }
}
