//! The `redact` option: sensitive keys removed from span data before anything leaves the process.
//!
//! A pattern is a key name, matched case-insensitively, where `*` stands for any run of characters (`*token*`,
//! `x-api-*`). Matching keys anywhere inside `attributes`, `metadata`, `input`, `output` and `requestContext` get the
//! value `"[REDACTED]"`.

use serde_json::Value;

/// The replacement value.
pub const REDACTED: &str = "[REDACTED]";

/// Compiled patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
  patterns: Vec<Vec<String>>,
}

impl Redactor {
  pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
    Self {
      patterns: patterns
        .iter()
        .map(|p| p.as_ref().trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .map(|p| p.split('*').map(String::from).collect())
        .collect(),
    }
  }

  pub fn is_empty(&self) -> bool {
    self.patterns.is_empty()
  }

  pub fn matches(&self, key: &str) -> bool {
    let key = key.to_lowercase();
    self.patterns.iter().any(|parts| glob(parts, &key))
  }

  /// Redacts inside `value`; returns how many values were replaced.
  pub fn redact(&self, value: &mut Value) -> usize {
    if self.is_empty() {
      return 0;
    }
    match value {
      Value::Object(map) => {
        let mut n = 0;
        for (k, v) in map.iter_mut() {
          if self.matches(k) {
            *v = Value::String(REDACTED.into());
            n += 1;
          } else {
            n += self.redact(v);
          }
        }
        n
      }
      Value::Array(items) => items.iter_mut().map(|v| self.redact(v)).sum(),
      _ => 0,
    }
  }

  /// Redacts the data fields of a Mastra span object.
  pub fn redact_span(&self, span: &mut Value) -> usize {
    let Value::Object(map) = span else { return 0 };
    let mut n = 0;
    for key in ["attributes", "metadata", "input", "output", "requestContext"] {
      if let Some(v) = map.get_mut(key) {
        n += self.redact(v);
      }
    }
    n
  }
}

/// `*` glob over already lower-cased text; `parts` is the pattern split at `*`.
fn glob(parts: &[String], text: &str) -> bool {
  if parts.len() == 1 {
    return parts[0] == text;
  }
  let (first, last) = (&parts[0], &parts[parts.len() - 1]);
  if !text.starts_with(first.as_str()) || text.len() < first.len() + last.len() || !text.ends_with(last.as_str()) {
    return false;
  }
  let mut rest = &text[first.len()..text.len() - last.len()];
  for middle in &parts[1..parts.len() - 1] {
    match rest.find(middle.as_str()) {
      Some(i) => rest = &rest[i + middle.len()..],
      None => return false,
    }
  }
  true
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[test]
  fn patterns_match_case_insensitively_with_wildcards() {
    let r = Redactor::new(&["password", "*token*", "x-api-*", "*secret"]);
    for (key, want) in [
      ("password", true),
      ("Password", true),
      ("passwords", false),
      ("sessionToken", true),
      ("token", true),
      ("X-API-KEY", true),
      ("x-apikey", false),
      ("clientSecret", true),
      ("secretive", false),
      ("tcc.runId", false),
    ] {
      assert_eq!(r.matches(key), want, "{key}");
    }
  }

  #[test]
  fn nested_values_are_replaced_in_the_span_data_fields_only() {
    let r = Redactor::new(&["apiKey", "ssn"]);
    let mut span = json!({
      "id": "apiKey",
      "attributes": {"apiKey": "k1", "nested": [{"ssn": "123"}, {"ok": 1}]},
      "metadata": {"user": {"ApiKey": {"deep": true}}},
      "input": {"messages": [{"content": "hi", "ssn": "9"}]},
      "output": "apiKey in text stays",
      "name": {"apiKey": "not a data field"}
    });
    assert_eq!(r.redact_span(&mut span), 4);
    assert_eq!(span["attributes"]["apiKey"], REDACTED);
    assert_eq!(span["attributes"]["nested"][0]["ssn"], REDACTED);
    assert_eq!(span["attributes"]["nested"][1]["ok"], 1);
    assert_eq!(span["metadata"]["user"]["ApiKey"], REDACTED);
    assert_eq!(span["input"]["messages"][0]["ssn"], REDACTED);
    assert_eq!(span["output"], "apiKey in text stays");
    assert_eq!(span["name"]["apiKey"], "not a data field");
    assert_eq!(Redactor::new::<&str>(&[]).redact_span(&mut span), 0);
  }
}
