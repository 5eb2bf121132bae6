//! An ordered attribute list with the conversions the mappings share.

use super::super::otlp::{AttrKey, AttrList, AttrValue};
use crate::json::{Json, Num, Obj};
use std::borrow::Cow;

/// Attributes in insertion order; a key set twice keeps its first position and takes the new value.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Attrs<'a>(AttrList<'a>);

/// JSON text of a value, strings as they are (what 1.4.0 does before putting input or output in an attribute).
pub fn text(v: &Json) -> String {
  match v {
    Json::String(s) => s.to_string(),
    other => other.to_json(),
  }
}

/// [`text`], borrowed from the span where the text is there as it is.
pub fn text_of<'a>(v: &'a Json<'_>) -> Cow<'a, str> {
  match v {
    Json::String(s) => Cow::Borrowed(s),
    other => other.json_text(),
  }
}

/// [`text`] for JSON the mapping built itself.
pub fn value_text(v: &serde_json::Value) -> String {
  match v {
    serde_json::Value::String(s) => s.clone(),
    other => other.to_string(),
  }
}

/// A JavaScript number as OTel sends it: integers as `intValue`, the rest as `doubleValue`.
pub fn number(n: &Num) -> AttrValue<'static> {
  if let Some(i) = n.as_i64() {
    return AttrValue::Int(i);
  }
  let f = n.as_f64().unwrap_or(f64::NAN);
  if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
    AttrValue::Int(f as i64)
  } else {
    AttrValue::Double(f)
  }
}

impl<'a> Attrs<'a> {
  pub fn set(&mut self, key: impl Into<AttrKey<'a>>, value: AttrValue<'a>) {
    let key = key.into();
    match self.0.iter_mut().find(|(k, _)| *k == key) {
      Some(slot) => slot.1 = value,
      None => {
        if self.0.capacity() == 0 {
          // Room for a typical span's attributes in one allocation.
          self.0.reserve(24);
        }
        self.0.push((key, value))
      }
    }
  }

  pub fn str(&mut self, key: impl Into<AttrKey<'a>>, value: impl Into<Cow<'a, str>>) {
    self.set(key, AttrValue::Str(value.into()));
  }

  pub fn opt_str(&mut self, key: impl Into<AttrKey<'a>>, value: Option<impl Into<Cow<'a, str>>>) {
    if let Some(v) = value {
      self.str(key, v);
    }
  }

  /// A value as text: strings as they are, anything else as JSON. Skips null and absent values.
  pub fn text(&mut self, key: impl Into<AttrKey<'a>>, value: Option<&'a Json<'_>>) {
    if let Some(v) = value.filter(|v| !v.is_null()) {
      self.set(key, AttrValue::Str(text_of(v)));
    }
  }

  /// A numeric value, typed. Skips anything that is not a number.
  pub fn num(&mut self, key: impl Into<AttrKey<'a>>, value: Option<&Json>) {
    if let Some(Json::Number(n)) = value {
      self.set(key, number(n));
    }
  }

  pub fn bool(&mut self, key: impl Into<AttrKey<'a>>, value: Option<&Json>) {
    if let Some(Json::Bool(b)) = value {
      self.set(key, AttrValue::Bool(*b));
    }
  }

  /// A list of strings as a real OTLP array.
  pub fn str_array(&mut self, key: impl Into<AttrKey<'a>>, values: Vec<String>) {
    self.set(key, AttrValue::StrArray(values));
  }

  /// The numeric model parameters (temperature, max tokens, top-p/k, penalties), the same keys in every mode.
  pub fn request_numbers(&mut self, params: &Obj) {
    use super::semconv::*;
    for (key, field) in [
      (GEN_AI_REQUEST_TEMPERATURE, "temperature"),
      (GEN_AI_REQUEST_MAX_TOKENS, "maxOutputTokens"),
      (GEN_AI_REQUEST_TOP_P, "topP"),
      (GEN_AI_REQUEST_TOP_K, "topK"),
      (GEN_AI_REQUEST_PRESENCE_PENALTY, "presencePenalty"),
      (GEN_AI_REQUEST_FREQUENCY_PENALTY, "frequencyPenalty"),
    ] {
      self.num(key, params.get(field));
    }
  }

  pub fn get(&self, key: &str) -> Option<&AttrValue<'a>> {
    self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
  }

  pub fn remove(&mut self, key: &str) {
    self.0.retain(|(k, _)| k != key);
  }

  pub fn into_vec(self) -> AttrList<'a> {
    self.0
  }
}
