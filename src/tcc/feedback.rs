//! `submitFeedback({ runId, score, text })`: validation and the POST to `/v1/feedback`, as `@contextcompany/api`
//! 1.0.3 does it.

use super::url::{self, TCC_API_KEY, UrlError};
use crate::env::EnvSource;
use crate::log::Logger;
use crate::transport::{HttpRequest, HttpSender, Outcome, RetryPolicy, Target};
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::Duration;

/// Longest feedback text, in UTF-16 code units (JavaScript `length`).
pub const MAX_TEXT_LENGTH: usize = 2000;
/// Time one feedback attempt may take.
pub const FEEDBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The arguments, as raw JSON values (anything truthy is accepted for `score`, as in the reference).
#[derive(Debug, Default, Deserialize)]
pub struct FeedbackArgs<'a> {
  #[serde(borrow, default, rename = "runId")]
  pub run_id: Option<&'a RawValue>,
  #[serde(borrow, default)]
  pub score: Option<&'a RawValue>,
  #[serde(borrow, default)]
  pub text: Option<&'a RawValue>,
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackResponse {
  pub status: u16,
  pub status_text: String,
  pub body: String,
}

/// Why feedback was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
  /// Logged and answered with `undefined`, as the reference does.
  Logged,
  /// Thrown: the promise rejects (a bad `TCC_FEEDBACK_URL`).
  Url(UrlError),
}

fn is_uuid(s: &str) -> bool {
  let b = s.as_bytes();
  b.len() == 36
    && b.iter().enumerate().all(|(i, c)| match i {
      8 | 13 | 18 | 23 => *c == b'-',
      _ => c.is_ascii_hexdigit(),
    })
}

fn truthy(v: Option<&RawValue>) -> bool {
  v.is_some_and(|v| super::span::is_truthy(v.get()))
}

/// JavaScript `text.length` for a string value; other types have no length.
fn utf16_len(v: Option<&RawValue>) -> Option<usize> {
  let raw = v?.get();
  if !raw.starts_with('"') {
    return None;
  }
  match serde_json::from_str::<String>(raw) {
    Ok(s) => Some(s.encode_utf16().count()),
    // A lone surrogate: count what is there, one unit per escape.
    Err(_) => Some(raw.len().saturating_sub(2)),
  }
}

/// Checks the arguments and builds the request. Each refusal is logged with the reference's text.
pub fn prepare(args_json: &str, env: &impl EnvSource, log: &Logger) -> Result<HttpRequest, Refusal> {
  let args: FeedbackArgs = serde_json::from_str(args_json).unwrap_or_default();
  let run_id = args.run_id.and_then(|r| serde_json::from_str::<String>(r.get()).ok());
  if !run_id.as_deref().is_some_and(is_uuid) {
    log.error("[TCC] Cannot submit feedback: runId must be a UUID");
    return Err(Refusal::Logged);
  }
  if !truthy(args.score) && !truthy(args.text) {
    log.error("[TCC] Cannot submit feedback: at least one of 'score' or 'text' must be provided");
    return Err(Refusal::Logged);
  }
  if let Some(n) = utf16_len(args.text).filter(|n| *n > MAX_TEXT_LENGTH) {
    log.error(format!(
      "[TCC] Cannot submit feedback: text length ({n}) exceeds maximum of {MAX_TEXT_LENGTH} characters"
    ));
    return Err(Refusal::Logged);
  }
  let url = url::feedback_url(env).map_err(Refusal::Url)?;
  let Some(key) = env.non_empty(TCC_API_KEY) else {
    log.error("[TCC] Cannot submit feedback: TCC_API_KEY environment variable is not set");
    return Err(Refusal::Logged);
  };
  let mut headers = HeaderMap::new();
  headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
  let mut auth = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
    log.error("[TCC] Cannot submit feedback: TCC_API_KEY contains characters that cannot be sent in a header");
    Refusal::Logged
  })?;
  auth.set_sensitive(true);
  headers.insert(AUTHORIZATION, auth);
  Ok(HttpRequest {
    url: Target::new(&url),
    headers,
    body: Bytes::from(body(&args)),
  })
}

/// `JSON.stringify({ runId, score, text })` with undefined members left out.
fn body(args: &FeedbackArgs<'_>) -> String {
  let mut out = String::from("{");
  for (name, value) in [("runId", args.run_id), ("score", args.score), ("text", args.text)] {
    if let Some(v) = value {
      if out.len() > 1 {
        out.push(',');
      }
      out.push_str(&format!("\"{name}\":{}", v.get()));
    }
  }
  out.push('}');
  out
}

/// Sends prepared feedback. `None` when the request failed without a response (already logged).
pub async fn send(req: HttpRequest, log: &Logger) -> Option<FeedbackResponse> {
  let sender = HttpSender {
    timeout: FEEDBACK_TIMEOUT,
    policy: RetryPolicy {
      max_retries: 2,
      ..RetryPolicy::default()
    },
    client: None,
  };
  match sender.send(&req, |_| {}).await {
    Outcome::Delivered { status, body, .. } => Some(FeedbackResponse {
      status,
      status_text: status_text(status),
      body: String::from_utf8_lossy(&body).into_owned(),
    }),
    Outcome::Rejected {
      status,
      status_text,
      body,
      ..
    } => {
      log.error(format!("[TCC] Failed to submit feedback: {status} {body}"));
      Some(FeedbackResponse {
        status,
        status_text,
        body,
      })
    }
    Outcome::Failed { error, .. } => {
      log.error_with("[TCC] Error submitting feedback:", error);
      None
    }
  }
}

fn status_text(status: u16) -> String {
  reqwest::StatusCode::from_u16(status)
    .ok()
    .and_then(|s| s.canonical_reason())
    .unwrap_or("")
    .to_string()
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;
  use crate::log::capture;

  const ID: &str = "11111111-1111-4111-8111-111111111111";

  fn check(args: &str, env: &[(&str, &str)]) -> (Result<HttpRequest, Refusal>, Vec<String>) {
    let (log, lines) = capture::logger(false);
    let r = prepare(args, &MapEnv::from_pairs(env), &log);
    let lines = lines.lock().iter().map(|l| l.1.clone()).collect();
    (r, lines)
  }

  #[test]
  fn validation_follows_the_reference_order_and_texts() {
    let key = [("TCC_API_KEY", "k"), ("TCC_BASE_URL", "http://localhost:1")];
    let long = format!(r#"{{"runId":"{ID}","text":"{}"}}"#, "é".repeat(2001));
    type Case<'a> = (String, &'a [(&'a str, &'a str)], &'a str);
    let cases: Vec<Case> = vec![
      (
        r#"{"runId":"nope","score":"thumbs_up"}"#.into(),
        &key,
        "[TCC] Cannot submit feedback: runId must be a UUID",
      ),
      (
        r#"{"score":"thumbs_up"}"#.into(),
        &key,
        "[TCC] Cannot submit feedback: runId must be a UUID",
      ),
      (
        format!(r#"{{"runId":"{ID}"}}"#),
        &key,
        "[TCC] Cannot submit feedback: at least one of 'score' or 'text' must be provided",
      ),
      (
        format!(r#"{{"runId":"{ID}","score":"","text":""}}"#),
        &key,
        "[TCC] Cannot submit feedback: at least one of 'score' or 'text' must be provided",
      ),
      (
        long,
        &key,
        "[TCC] Cannot submit feedback: text length (2001) exceeds maximum of 2000 characters",
      ),
      (
        format!(r#"{{"runId":"{ID}","score":"thumbs_up"}}"#),
        &[],
        "[TCC] Cannot submit feedback: TCC_API_KEY environment variable is not set",
      ),
    ];
    for (args, env, want) in cases {
      let (r, lines) = check(&args, env);
      assert_eq!(r.unwrap_err(), Refusal::Logged, "{args}");
      assert_eq!(lines, [want], "{args}");
    }
  }

  #[test]
  fn an_unsafe_feedback_url_rejects() {
    let (r, _) = check(
      &format!(r#"{{"runId":"{ID}","score":"thumbs_up"}}"#),
      &[("TCC_API_KEY", "k"), ("TCC_FEEDBACK_URL", "https://evil.example")],
    );
    assert!(matches!(r, Err(Refusal::Url(UrlError::UnsafeBase(_)))));
  }

  #[test]
  fn the_request_has_two_headers_and_a_compact_body() {
    let upper = ID.to_uppercase();
    let (r, lines) = check(
      &format!(r#"{{"runId":"{upper}","score":"thumbs_down","text":""}}"#),
      &[("TCC_API_KEY", "dev_k")],
    );
    let req = r.expect("valid");
    assert!(lines.is_empty());
    assert_eq!(req.url.as_str(), "https://dev.thecontext.company/v1/feedback");
    assert_eq!(req.headers.len(), 2);
    assert_eq!(req.headers[AUTHORIZATION], "Bearer dev_k");
    assert_eq!(req.headers[CONTENT_TYPE], "application/json");
    assert_eq!(
      &req.body[..],
      format!(r#"{{"runId":"{upper}","score":"thumbs_down","text":""}}"#).as_bytes()
    );
  }
}
