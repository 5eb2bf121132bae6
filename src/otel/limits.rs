//! Attribute value length limit and per-span size cap, truncating while keeping JSON values valid JSON.
//!
//! `attributeValueLengthLimit` (or `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, then `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`)
//! caps every string attribute, in characters. A value that holds JSON (inputs, outputs, messages) is shortened by
//! truncating the strings inside it, so it still parses. `maxSpanBytes` caps the attributes of one span: the largest
//! values are shortened the same way until the span fits.

use super::otlp::{AttrValue, OtelSpan};
use crate::env::EnvSource;
use serde_json::Value;

pub const OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT";
pub const OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// Appended to a string that was cut.
pub const MARK: &str = "…[truncated]";

/// The limits in force (none by default, as in the reference).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttrLimits {
  pub value_length: Option<usize>,
  pub max_span_bytes: Option<usize>,
}

impl AttrLimits {
  /// The option, else the span-specific variable, else the general one.
  pub fn resolve(value_length: Option<usize>, max_span_bytes: Option<usize>, env: &impl EnvSource) -> Self {
    let from_env = [
      OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
      OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    ]
    .iter()
    .find_map(|v| env.non_empty(v)?.trim().parse::<usize>().ok());
    Self {
      value_length: value_length.or(from_env),
      max_span_bytes,
    }
  }

  pub fn is_none(&self) -> bool {
    self.value_length.is_none() && self.max_span_bytes.is_none()
  }
}

fn cut(s: &str, chars: usize) -> String {
  match s.char_indices().nth(chars) {
    Some((i, _)) => format!("{}{MARK}", &s[..i]),
    None => s.to_string(),
  }
}

fn truncate_leaves(v: &mut Value, chars: usize) {
  match v {
    Value::String(s) if s.chars().count() > chars => *s = cut(s, chars),
    Value::Array(items) => items.iter_mut().for_each(|x| truncate_leaves(x, chars)),
    Value::Object(map) => map.values_mut().for_each(|x| truncate_leaves(x, chars)),
    _ => {}
  }
}

/// `text` shortened to about `limit` characters. JSON stays JSON: the strings inside are cut ever shorter until it
/// fits; if even that fails, the result is a JSON string holding the start of the text.
pub fn shorten(text: &str, limit: usize) -> String {
  if text.chars().count() <= limit {
    return text.to_string();
  }
  let trimmed = text.trim_start();
  if (trimmed.starts_with('{') || trimmed.starts_with('['))
    && let Ok(parsed) = serde_json::from_str::<Value>(text)
  {
    let mut leaf = limit;
    while leaf >= 8 {
      let mut v = parsed.clone();
      truncate_leaves(&mut v, leaf);
      let out = v.to_string();
      if out.chars().count() <= limit {
        return out;
      }
      leaf /= 2;
    }
    // Even the skeleton is too long: a JSON string holding the start of the text.
    let mut prefix = limit.saturating_sub(MARK.chars().count() + 2);
    loop {
      let out = Value::String(cut(text, prefix)).to_string();
      if out.chars().count() <= limit || prefix == 0 {
        return out;
      }
      prefix = prefix.saturating_sub((out.chars().count() - limit).max(1));
    }
  }
  cut(text, limit)
}

/// Applies the limits to one span. Returns true when something was cut.
pub fn apply(span: &mut OtelSpan, limits: AttrLimits) -> bool {
  let mut cut_any = false;
  if let Some(limit) = limits.value_length {
    for (_, v) in span.attributes.iter_mut() {
      match v {
        AttrValue::Str(s) if s.chars().count() > limit => {
          *s = shorten(s, limit).into();
          cut_any = true;
        }
        AttrValue::StrArray(items) => {
          for s in items.iter_mut().filter(|s| s.chars().count() > limit) {
            *s = cut(s, limit);
            cut_any = true;
          }
        }
        _ => {}
      }
    }
  }
  if let Some(cap) = limits.max_span_bytes {
    let size = |span: &OtelSpan| -> usize {
      span
        .attributes
        .iter()
        .map(|(k, v)| k.len() + if let AttrValue::Str(s) = v { s.len() } else { 8 })
        .sum()
    };
    let mut rounds = 0;
    while size(span) > cap && rounds < 32 {
      rounds += 1;
      let Some((_, AttrValue::Str(largest))) = span
        .attributes
        .iter_mut()
        .filter(|(_, v)| matches!(v, AttrValue::Str(s) if s.len() > 64))
        .max_by_key(|(_, v)| if let AttrValue::Str(s) = v { s.len() } else { 0 })
      else {
        break;
      };
      let target = (largest.chars().count() / 2).max(32);
      *largest = shorten(largest, target).into();
      cut_any = true;
    }
  }
  cut_any
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;
  use crate::otel::otlp::tests::sample;

  #[test]
  fn plain_strings_are_cut_at_a_char_boundary() {
    assert_eq!(shorten("héllo wörld", 4), format!("héll{MARK}"));
    assert_eq!(shorten("short", 10), "short");
  }

  #[test]
  fn json_values_stay_valid_json() {
    let big = serde_json::json!({"messages": [{"role": "user", "content": "x".repeat(5000)}, {"role": "assistant", "content": "y".repeat(5000)}]}).to_string();
    for limit in [4000, 1000, 200, 50] {
      let out = shorten(&big, limit);
      let parsed: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("limit {limit}: {e}: {out}"));
      assert!(out.chars().count() <= limit, "limit {limit}: {}", out.chars().count());
      if limit >= 200 {
        assert_eq!(parsed["messages"][0]["role"], "user", "structure kept at limit {limit}");
      }
    }
  }

  #[test]
  fn the_span_cap_shrinks_the_largest_values_first() {
    let (_, mut spans) = sample();
    let s = &mut spans[0];
    s.attributes.push((
      "big".into(),
      AttrValue::from(serde_json::json!({"text": "z".repeat(10_000)}).to_string()),
    ));
    s.attributes.push(("small".into(), AttrValue::Str("keep me".into())));
    assert!(apply(
      s,
      AttrLimits {
        value_length: None,
        max_span_bytes: Some(2_000)
      }
    ));
    let total: usize = s
      .attributes
      .iter()
      .map(|(k, v)| k.len() + if let AttrValue::Str(x) = v { x.len() } else { 8 })
      .sum();
    assert!(total <= 2_000, "{total}");
    let AttrValue::Str(big) = s.attr("big").unwrap() else {
      panic!()
    };
    assert!(serde_json::from_str::<Value>(big.as_ref()).is_ok());
    assert_eq!(s.attr("small"), Some(&AttrValue::Str("keep me".into())));
  }

  #[test]
  fn the_option_wins_over_the_environment() {
    let env = MapEnv::from_pairs(&[
      ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
      ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "50"),
    ]);
    assert_eq!(AttrLimits::resolve(None, None, &env).value_length, Some(50));
    assert_eq!(AttrLimits::resolve(Some(10), None, &env).value_length, Some(10));
    assert!(AttrLimits::resolve(None, None, &MapEnv::default()).is_none());
  }
}
