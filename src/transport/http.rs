//! One HTTP POST with a per-attempt timeout and the shared retry policy.

use super::retry::{Decision, Failure, RetryPolicy, classify};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Default time one attempt may take, connection to last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a response body is kept (for error logs and OTLP partial success).
const MAX_BODY: usize = 64 * 1024;

/// A request, cheap to clone for each attempt.
#[derive(Debug, Clone)]
pub struct HttpRequest {
  pub url: Target,
  pub headers: HeaderMap,
  pub body: Bytes,
}

/// A request's URL, parsed once when the exporter is made rather than for every request. A URL that does not parse
/// (configuration validates endpoints, so this is not expected) fails each attempt with reqwest's own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target(Result<reqwest::Url, String>);

impl Target {
  pub fn new(url: &str) -> Self {
    Target(reqwest::Url::parse(url).map_err(|_| url.to_string()))
  }

  pub fn as_str(&self) -> &str {
    match &self.0 {
      Ok(url) => url.as_str(),
      Err(text) => text,
    }
  }
}

/// What finally happened to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
  /// A 2xx response, with the first bytes of its body (OTLP partial success lives there).
  Delivered { status: u16, body: Bytes, attempts: u32 },
  /// A non-2xx response that is final, or the last of the retries.
  Rejected {
    status: u16,
    status_text: String,
    body: String,
    attempts: u32,
  },
  /// No response: the connection failed or timed out on the last attempt. The text never contains headers.
  Failed { error: String, attempts: u32 },
}

impl Outcome {
  pub fn attempts(&self) -> u32 {
    match self {
      Outcome::Delivered { attempts, .. } | Outcome::Rejected { attempts, .. } | Outcome::Failed { attempts, .. } => {
        *attempts
      }
    }
  }
}

/// Passed to the caller before each retry, so it can log one line.
#[derive(Debug, Clone)]
pub struct RetryNotice {
  /// 1-based number of the retry about to happen.
  pub retry: u32,
  pub max_retries: u32,
  pub delay: Duration,
  /// What went wrong, e.g. `503 Service Unavailable` or `connection refused`.
  pub reason: String,
}

/// Makes ring the TLS crypto of this library (its own copy of rustls: nothing outside it is affected).
pub fn install_crypto() {
  static ONCE: OnceLock<()> = OnceLock::new();
  ONCE.get_or_init(|| {
    let _ = rustls::crypto::ring::default_provider().install_default();
  });
}

/// The shared HTTP client: rustls, a connection pool reused by every exporter.
pub fn client() -> &'static reqwest::Client {
  static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
  CLIENT.get_or_init(|| {
    install_crypto();
    reqwest::Client::builder()
      .pool_idle_timeout(Duration::from_secs(30))
      .connect_timeout(Duration::from_secs(10))
      .build()
      .expect("the HTTP client builds with static settings")
  })
}

/// Sends requests with a timeout per attempt and retries as the policy says.
#[derive(Debug, Clone)]
pub struct HttpSender {
  pub timeout: Duration,
  pub policy: RetryPolicy,
  /// A client of its own (custom CA or client certificate); the shared one otherwise.
  pub client: Option<reqwest::Client>,
}

impl Default for HttpSender {
  fn default() -> Self {
    Self {
      timeout: DEFAULT_TIMEOUT,
      policy: RetryPolicy::default(),
      client: None,
    }
  }
}

enum Attempt {
  Done(Outcome),
  Failed {
    reason: String,
    decision: Decision,
    last: Outcome,
  },
}

impl HttpSender {
  /// POSTs `req`, retrying transient failures. Never panics and never returns early: the outcome is final.
  pub async fn send(&self, req: &HttpRequest, mut on_retry: impl FnMut(RetryNotice)) -> Outcome {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
      attempts += 1;
      let (reason, decision, last) = match self.attempt(req, attempts).await {
        Attempt::Done(outcome) => return outcome,
        Attempt::Failed { reason, decision, last } => (reason, decision, last),
      };
      let delay = self
        .policy
        .next_delay(decision, attempts, started.elapsed(), fastrand::f64());
      let Some(delay) = delay else { return last };
      on_retry(RetryNotice {
        retry: attempts,
        max_retries: self.policy.max_retries,
        delay,
        reason,
      });
      tokio::time::sleep(delay).await;
    }
  }

  async fn attempt(&self, req: &HttpRequest, attempts: u32) -> Attempt {
    let client = self.client.as_ref().unwrap_or_else(|| client());
    let builder = match &req.url.0 {
      Ok(url) => client.post(url.clone()),
      Err(text) => client.post(text.as_str()),
    };
    let sent = builder
      .headers(req.headers.clone())
      .body(req.body.clone())
      .timeout(self.timeout)
      .send();
    match sent.await {
      Ok(resp) => {
        let status = resp.status();
        let retry_after = resp
          .headers()
          .get(RETRY_AFTER)
          .and_then(|v: &HeaderValue| v.to_str().ok())
          .map(String::from);
        let status_text = status.canonical_reason().unwrap_or("").to_string();
        let body = read_body(resp).await;
        if status.is_success() {
          return Attempt::Done(Outcome::Delivered {
            status: status.as_u16(),
            body,
            attempts,
          });
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let failure = Failure::Status {
          status: status.as_u16(),
          retry_after: retry_after.as_deref(),
        };
        let decision = classify(&failure, SystemTime::now());
        let reason = format!("{} {status_text}", status.as_u16()).trim_end().to_string();
        let last = Outcome::Rejected {
          status: status.as_u16(),
          status_text,
          body,
          attempts,
        };
        Attempt::Failed { reason, decision, last }
      }
      Err(err) => {
        let transient = err.is_timeout() || err.is_connect() || err.is_request() || err.is_body();
        let failure = if transient { Failure::Transport } else { Failure::Other };
        let reason = describe(&err);
        let decision = classify(&failure, SystemTime::now());
        Attempt::Failed {
          reason: reason.clone(),
          decision,
          last: Outcome::Failed {
            error: reason,
            attempts,
          },
        }
      }
    }
  }
}

async fn read_body(resp: reqwest::Response) -> Bytes {
  match resp.bytes().await {
    Ok(b) => b.slice(..b.len().min(MAX_BODY)),
    Err(_) => Bytes::new(),
  }
}

/// An error and its causes on one line, e.g. `error sending request for url (http://127.0.0.1:9/): client error
/// (Connect): tcp connect error: Connection refused (os error 111)`. reqwest errors carry the URL but never headers,
/// so no credential can appear here.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
  let mut text = err.to_string();
  let mut source = err.source();
  while let Some(s) = source {
    let part = s.to_string();
    if !text.contains(&part) {
      text.push_str(": ");
      text.push_str(&part);
    }
    source = s.source();
  }
  if text.contains("operation timed out") || text.contains("TimedOut") {
    text.push_str(" (timeout)");
  }
  text
}

/// A client that trusts `ca` (PEM, on top of the built-in roots) and presents `identity` (PEM with certificate and
/// key) when given. TLS verification is always on.
pub fn client_with_tls(ca: Option<&[u8]>, identity: Option<&[u8]>) -> Result<reqwest::Client, String> {
  install_crypto();
  let mut b = reqwest::Client::builder()
    .pool_idle_timeout(Duration::from_secs(30))
    .connect_timeout(Duration::from_secs(10));
  if let Some(pem) = ca {
    let certs =
      reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("the CA certificate does not parse: {e}"))?;
    b = b.tls_certs_merge(certs);
  }
  if let Some(pem) = identity {
    let id =
      reqwest::Identity::from_pem(pem).map_err(|e| format!("the client certificate or key does not parse: {e}"))?;
    b = b.identity(id);
  }
  b.build().map_err(|e| format!("the HTTP client cannot be built: {e}"))
}
