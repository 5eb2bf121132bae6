//! The retry policy: which failures are worth another attempt, and how long to wait. Pure functions, shared by every
//! exporter and transport.

use std::time::{Duration, SystemTime};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
  /// Try again after the policy's backoff.
  Retry,
  /// Try again, waiting at least this long (the server said so).
  RetryAfter(Duration),
  /// The failure is final.
  GiveUp,
}

/// How a single attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<'a> {
  /// An HTTP response that was not 2xx, with its `Retry-After` header.
  Status { status: u16, retry_after: Option<&'a str> },
  /// The connection could not be made, was reset, or the request timed out.
  Transport,
  /// Anything else (a request that cannot be built, say).
  Other,
}

/// Classifies an attempt's failure.
pub fn classify(failure: &Failure<'_>, now: SystemTime) -> Decision {
  match failure {
    Failure::Status { status, retry_after } => classify_http(*status, *retry_after, now),
    // Connection refused or reset, DNS hiccups and timeouts are transient.
    Failure::Transport => Decision::Retry,
    Failure::Other => Decision::GiveUp,
  }
}

/// The OTLP/HTTP table: 429, 502, 503 and 504 are retryable; 429 and 503 may carry `Retry-After`.
pub fn classify_http(status: u16, retry_after: Option<&str>, now: SystemTime) -> Decision {
  match status {
    // Throttled or unavailable: honour Retry-After when it parses.
    429 | 503 => retry_after
      .and_then(|h| parse_retry_after(h, now))
      .map_or(Decision::Retry, Decision::RetryAfter),
    // Transient gateway errors.
    502 | 504 => Decision::Retry,
    _ => Decision::GiveUp,
  }
}

/// Parses `Retry-After` as delay-seconds or an HTTP-date. A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
  let value = value.trim();
  if let Ok(secs) = value.parse::<u64>() {
    return Some(Duration::from_secs(secs));
  }
  if let Ok(secs) = value.parse::<f64>()
    && secs.is_finite()
    && secs >= 0.0
  {
    return Some(Duration::from_secs_f64(secs));
  }
  let at = httpdate::parse_http_date(value).ok()?;
  Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Limits of the retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
  /// Retries after the first attempt.
  pub max_retries: u32,
  pub initial_backoff: Duration,
  pub max_backoff: Duration,
  /// No attempt starts later than this after the first one.
  pub budget: Duration,
}

/// Default retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Default first backoff.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Default cap of one backoff.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Default time budget of all retries of one request.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(60);

impl Default for RetryPolicy {
  fn default() -> Self {
    Self {
      max_retries: DEFAULT_MAX_RETRIES,
      initial_backoff: DEFAULT_INITIAL_BACKOFF,
      max_backoff: DEFAULT_MAX_BACKOFF,
      budget: DEFAULT_RETRY_BUDGET,
    }
  }
}

impl RetryPolicy {
  /// The wait before retry number `retry` (1-based), or `None` when the policy says stop.
  ///
  /// `jitter` is a number in `[0, 1)`; the backoff is scaled into `[0.5, 1.0)` of its exponential value ("equal
  /// jitter"), so concurrent exporters spread out without ever retrying instantly. A server-provided delay is used
  /// as it is, but never beyond the budget.
  pub fn next_delay(&self, decision: Decision, retry: u32, elapsed: Duration, jitter: f64) -> Option<Duration> {
    if retry > self.max_retries {
      return None;
    }
    let delay = match decision {
      Decision::GiveUp => return None,
      Decision::RetryAfter(d) => d,
      Decision::Retry => {
        let exp = self.initial_backoff.saturating_mul(1u32 << (retry - 1).min(20));
        let capped = exp.min(self.max_backoff);
        capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
      }
    };
    (elapsed + delay <= self.budget).then_some(delay)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn now() -> SystemTime {
    httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap()
  }

  #[test]
  fn classify_http_follows_the_otlp_table() {
    let s = Duration::from_secs;
    let cases = [
      (429, Some("2"), Decision::RetryAfter(s(2))),
      (429, None, Decision::Retry),
      (429, Some("soon"), Decision::Retry),
      (503, Some("Sun, 06 Nov 1994 08:49:47 GMT"), Decision::RetryAfter(s(10))),
      (503, Some("Sun, 06 Nov 1994 08:00:00 GMT"), Decision::RetryAfter(s(0))),
      (503, None, Decision::Retry),
      (502, Some("5"), Decision::Retry),
      (504, None, Decision::Retry),
      (500, None, Decision::GiveUp),
      (400, None, Decision::GiveUp),
      (401, Some("1"), Decision::GiveUp),
      (403, None, Decision::GiveUp),
      (404, None, Decision::GiveUp),
      (413, None, Decision::GiveUp),
    ];
    for (status, header, want) in cases {
      assert_eq!(
        classify_http(status, header, now()),
        want,
        "status {status}, header {header:?}"
      );
    }
  }

  #[test]
  fn transport_failures_retry_and_other_failures_do_not() {
    assert_eq!(classify(&Failure::Transport, now()), Decision::Retry);
    assert_eq!(classify(&Failure::Other, now()), Decision::GiveUp);
  }

  #[test]
  fn retry_after_parses_seconds_fractions_and_dates() {
    assert_eq!(parse_retry_after(" 7 ", now()), Some(Duration::from_secs(7)));
    assert_eq!(parse_retry_after("1.5", now()), Some(Duration::from_millis(1500)));
    assert_eq!(parse_retry_after("-1", now()), None);
    assert_eq!(parse_retry_after("", now()), None);
  }

  #[test]
  fn backoff_grows_exponentially_with_equal_jitter_and_a_cap() {
    let p = RetryPolicy {
      max_retries: 10,
      budget: Duration::from_secs(1000),
      ..Default::default()
    };
    let ms = |retry, jitter| {
      p.next_delay(Decision::Retry, retry, Duration::ZERO, jitter)
        .unwrap()
        .as_millis()
    };
    assert_eq!(ms(1, 0.0), 250);
    assert_eq!(ms(1, 0.999_999), 499);
    assert_eq!(ms(2, 0.0), 500);
    assert_eq!(ms(3, 0.0), 1000);
    assert_eq!(ms(10, 0.0), 5000, "capped at max_backoff / 2 with zero jitter");
  }

  #[test]
  fn the_policy_stops_at_max_retries_budget_or_give_up() {
    let p = RetryPolicy {
      max_retries: 2,
      budget: Duration::from_secs(3),
      ..Default::default()
    };
    assert!(p.next_delay(Decision::Retry, 2, Duration::ZERO, 0.0).is_some());
    assert_eq!(
      p.next_delay(Decision::Retry, 3, Duration::ZERO, 0.0),
      None,
      "past max_retries"
    );
    assert_eq!(p.next_delay(Decision::GiveUp, 1, Duration::ZERO, 0.0), None);
    let after = Decision::RetryAfter(Duration::from_secs(2));
    assert_eq!(
      p.next_delay(after, 1, Duration::ZERO, 0.0),
      Some(Duration::from_secs(2))
    );
    assert_eq!(
      p.next_delay(after, 1, Duration::from_secs(2), 0.0),
      None,
      "past the budget"
    );
  }
}

/// The OTLP/gRPC table: these codes are transient; everything else is final.
pub fn classify_grpc(code: i32) -> Decision {
  match code {
    // CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS
    1 | 4 | 8 | 10 | 11 | 14 | 15 => Decision::Retry,
    _ => Decision::GiveUp,
  }
}

#[cfg(test)]
mod grpc_tests {
  use super::*;

  #[test]
  fn classify_grpc_follows_the_otlp_table() {
    let cases = [
      (0, Decision::GiveUp),
      (1, Decision::Retry),
      (2, Decision::GiveUp),
      (3, Decision::GiveUp),
      (4, Decision::Retry),
      (7, Decision::GiveUp),
      (8, Decision::Retry),
      (10, Decision::Retry),
      (11, Decision::Retry),
      (12, Decision::GiveUp),
      (13, Decision::GiveUp),
      (14, Decision::Retry),
      (15, Decision::Retry),
      (16, Decision::GiveUp),
    ];
    for (code, want) in cases {
      assert_eq!(classify_grpc(code), want, "code {code}");
    }
  }
}
