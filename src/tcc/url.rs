//! Where the TCC exporter sends data, and which origins may receive the API key.
//!
//! Follows `@contextcompany/api` 1.0.3 (`normalizeTCCBaseUrl`, the origin restriction) and the unreleased TC-006 fix
//! that also checks an explicit endpoint: the key only ever goes to the official origins or to loopback, unless
//! `TCC_ALLOW_UNSAFE_BASE_URL=1`.

use crate::env::EnvSource;
use url::{Host, Url};

/// Production ingestion origin.
pub const PROD_BASE: &str = "https://api.thecontext.company";
/// Development ingestion origin, chosen for keys that start with `dev_`.
pub const DEV_BASE: &str = "https://dev.thecontext.company";
/// Overrides the base URL (origin plus optional path). Normalised and origin-restricted.
pub const TCC_BASE_URL: &str = "TCC_BASE_URL";
/// Overrides the feedback URL. A trailing `/v1/feedback` is stripped, then the base is normalised and restricted.
pub const TCC_FEEDBACK_URL: &str = "TCC_FEEDBACK_URL";
/// Set to exactly `1` to allow any origin (self-hosted testing).
pub const TCC_ALLOW_UNSAFE_BASE_URL: &str = "TCC_ALLOW_UNSAFE_BASE_URL";
/// The API key.
pub const TCC_API_KEY: &str = "TCC_API_KEY";

/// Path of the Mastra ingestion sink.
pub const MASTRA_PATH: &str = "/v1/mastra";
/// Path of the feedback sink.
pub const FEEDBACK_PATH: &str = "/v1/feedback";

const ADVICE: &str = "Use https://api.thecontext.company, https://dev.thecontext.company, localhost, or set \
                      TCC_ALLOW_UNSAFE_BASE_URL=1 for self-hosted testing.";

/// A URL that was refused. The message is the reference's text, ready to be thrown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
  #[error("[TCC] Invalid TCC base URL: {0}")]
  InvalidBase(String),
  #[error("[TCC] Refusing unsafe TCC base URL ({0}). {ADVICE}")]
  UnsafeBase(String),
  #[error("[TCC] Invalid TCC URL: {0}")]
  InvalidUrl(String),
  #[error("[TCC] Refusing to send credentials to unsafe URL ({0}). {ADVICE}")]
  UnsafeUrl(String),
}

/// True when `TCC_ALLOW_UNSAFE_BASE_URL` is exactly `"1"`.
pub fn unsafe_allowed(env: &impl EnvSource) -> bool {
  env.var(TCC_ALLOW_UNSAFE_BASE_URL).as_deref() == Some("1")
}

/// True for the two official https origins (no explicit port) and for loopback hosts over http or https.
/// Userinfo does not count: `https://api.thecontext.company@evil.example` has host `evil.example`.
pub fn is_safe_origin(url: &Url) -> bool {
  let scheme = url.scheme();
  let official = scheme == "https"
    && url.port().is_none()
    && matches!(
      url.host(),
      Some(Host::Domain("api.thecontext.company" | "dev.thecontext.company"))
    );
  let loopback = (scheme == "http" || scheme == "https")
    && match url.host() {
      Some(Host::Domain(d)) => d == "localhost",
      Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
      Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
      None => false,
    };
  official || loopback
}

/// Origin plus path, trailing slashes removed; query, fragment, userinfo and default ports dropped, host lowercased.
fn origin_and_path(url: &Url) -> String {
  let origin = url.origin().ascii_serialization();
  let path = url.path().trim_end_matches('/');
  format!("{origin}{path}")
}

/// `normalizeTCCBaseUrl` with the origin restriction.
pub fn normalize_base_url(raw: &str, allow_unsafe: bool) -> Result<String, UrlError> {
  let url = Url::parse(raw).map_err(|_| UrlError::InvalidBase(raw.to_string()))?;
  if !url.origin().is_tuple() {
    return Err(UrlError::InvalidBase(raw.to_string()));
  }
  let base = origin_and_path(&url);
  if !allow_unsafe && !is_safe_origin(&url) {
    return Err(UrlError::UnsafeBase(base));
  }
  Ok(base)
}

/// `getTCCBaseUrl(apiKey)`: `TCC_BASE_URL` when set, else the dev origin for `dev_` keys and production otherwise.
pub fn base_url(api_key: Option<&str>, env: &impl EnvSource) -> Result<String, UrlError> {
  if let Some(raw) = env.non_empty(TCC_BASE_URL) {
    return normalize_base_url(&raw, unsafe_allowed(env));
  }
  let key = api_key
    .map(str::to_string)
    .or_else(|| env.var(TCC_API_KEY))
    .unwrap_or_default();
  Ok(if key.starts_with("dev_") { DEV_BASE } else { PROD_BASE }.to_string())
}

/// Checks a complete URL that will receive the API key (the TC-006 rule). Returns it unchanged when allowed.
pub fn assert_safe_url(raw: &str, allow_unsafe: bool) -> Result<String, UrlError> {
  let url = Url::parse(raw).map_err(|_| UrlError::InvalidUrl(raw.to_string()))?;
  if !matches!(url.scheme(), "http" | "https") {
    return Err(UrlError::InvalidUrl(raw.to_string()));
  }
  if !allow_unsafe && !is_safe_origin(&url) {
    return Err(UrlError::UnsafeUrl(url.origin().ascii_serialization()));
  }
  Ok(raw.to_string())
}

/// The Mastra ingestion endpoint, first match wins:
/// 1. an explicit `endpoint`, used verbatim but refused when its origin is unsafe (TC-006);
/// 2. `TCC_BASE_URL` (normalised, restricted) + `/v1/mastra`;
/// 3. the `dev_` or production origin of the resolved key + `/v1/mastra`.
pub fn resolve_endpoint(explicit: Option<&str>, api_key: &str, env: &impl EnvSource) -> Result<String, UrlError> {
  match explicit.filter(|e| !e.is_empty()) {
    Some(endpoint) => assert_safe_url(endpoint, unsafe_allowed(env)),
    None => Ok(format!("{}{MASTRA_PATH}", base_url(Some(api_key), env)?)),
  }
}

/// `getTCCFeedbackUrl()`: `TCC_FEEDBACK_URL` with a trailing `/v1/feedback` stripped, normalised, restricted and
/// re-appended; else the base URL of the environment's key + `/v1/feedback`.
pub fn feedback_url(env: &impl EnvSource) -> Result<String, UrlError> {
  let allow_unsafe = unsafe_allowed(env);
  if let Some(raw) = env.non_empty(TCC_FEEDBACK_URL) {
    let mut url = Url::parse(&raw).map_err(|_| UrlError::InvalidBase(raw.clone()))?;
    let path = url.path().trim_end_matches('/');
    let stripped = path.strip_suffix(FEEDBACK_PATH).unwrap_or(path).to_string();
    url.set_path(&stripped);
    let base = normalize_base_url(url.as_str(), allow_unsafe)?;
    return Ok(format!("{base}{FEEDBACK_PATH}"));
  }
  Ok(format!("{}{FEEDBACK_PATH}", base_url(None, env)?))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::env::MapEnv;

  #[test]
  fn normalize_base_url_follows_the_reference_table() {
    let ok = [
      ("https://api.thecontext.company/", "https://api.thecontext.company"),
      ("https://api.thecontext.company/v1", "https://api.thecontext.company/v1"),
      (
        "https://api.thecontext.company/v1/",
        "https://api.thecontext.company/v1",
      ),
      ("https://dev.thecontext.company", "https://dev.thecontext.company"),
      ("https://API.TheContext.Company:443/", "https://api.thecontext.company"),
      (
        "https://api.thecontext.company/?q=1#frag",
        "https://api.thecontext.company",
      ),
      ("http://localhost:8787/", "http://localhost:8787"),
      ("http://localhost:80/", "http://localhost"),
      ("https://localhost/base//", "https://localhost/base"),
      ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
      ("http://[::1]:4000/x/", "http://[::1]:4000/x"),
      (
        "https://user:secret@api.thecontext.company/",
        "https://api.thecontext.company",
      ),
    ];
    for (input, want) in ok {
      assert_eq!(normalize_base_url(input, false).as_deref(), Ok(want), "input {input}");
    }
  }

  #[test]
  fn unsafe_and_look_alike_bases_are_refused() {
    let refused = [
      "https://evil.example",
      "http://api.thecontext.company",
      "https://api.thecontext.company:8443",
      "https://api.thecontext.company.evil.example",
      "http://localhost.evil.com",
      "https://api.thecontext.company@evil.example",
      "http://127.0.0.2",
      "http://[::2]:80",
      "http://0.0.0.0",
    ];
    for input in refused {
      let err = normalize_base_url(input, false).unwrap_err();
      assert!(matches!(err, UrlError::UnsafeBase(_)), "input {input}: {err}");
      assert!(
        err.to_string().starts_with("[TCC] Refusing unsafe TCC base URL ("),
        "{err}"
      );
    }
    assert_eq!(
      normalize_base_url("https://evil.example/", false)
        .unwrap_err()
        .to_string(),
      "[TCC] Refusing unsafe TCC base URL (https://evil.example). Use https://api.thecontext.company, \
       https://dev.thecontext.company, localhost, or set TCC_ALLOW_UNSAFE_BASE_URL=1 for self-hosted testing."
    );
  }

  #[test]
  fn the_opt_out_allows_self_hosted_bases() {
    assert_eq!(
      normalize_base_url("https://self-hosted.example/", true).as_deref(),
      Ok("https://self-hosted.example")
    );
  }

  #[test]
  fn a_base_that_does_not_parse_is_invalid() {
    for input in ["not a url", "", "localhost:8787", "mailto:x@y.z"] {
      let err = normalize_base_url(input, false).unwrap_err();
      assert_eq!(err, UrlError::InvalidBase(input.to_string()), "input {input:?}");
    }
  }

  #[test]
  fn endpoint_resolution_table() {
    let env = |pairs: &[(&str, &str)]| MapEnv::from_pairs(pairs);
    type Case<'a> = (Option<&'a str>, &'a str, MapEnv, Result<&'a str, &'a str>);
    let cases: &[Case] = &[
      (
        None,
        "tcc_prod_1",
        env(&[]),
        Ok("https://api.thecontext.company/v1/mastra"),
      ),
      (
        None,
        "dev_abc",
        env(&[]),
        Ok("https://dev.thecontext.company/v1/mastra"),
      ),
      (
        None,
        "tcc_prod_1",
        env(&[("TCC_API_KEY", "dev_x")]),
        Ok("https://api.thecontext.company/v1/mastra"),
      ),
      (
        None,
        "k",
        env(&[("TCC_BASE_URL", "http://localhost:8787/")]),
        Ok("http://localhost:8787/v1/mastra"),
      ),
      (
        None,
        "k",
        env(&[("TCC_BASE_URL", "https://api.thecontext.company/v1")]),
        Ok("https://api.thecontext.company/v1/v1/mastra"),
      ),
      (
        None,
        "k",
        env(&[("TCC_BASE_URL", "")]),
        Ok("https://api.thecontext.company/v1/mastra"),
      ),
      (
        None,
        "k",
        env(&[("TCC_BASE_URL", "https://evil.example")]),
        Err("[TCC] Refusing unsafe TCC base URL"),
      ),
      (
        None,
        "k",
        env(&[
          ("TCC_BASE_URL", "https://evil.example"),
          ("TCC_ALLOW_UNSAFE_BASE_URL", "1"),
        ]),
        Ok("https://evil.example/v1/mastra"),
      ),
      (
        None,
        "k",
        env(&[
          ("TCC_BASE_URL", "https://evil.example"),
          ("TCC_ALLOW_UNSAFE_BASE_URL", "true"),
        ]),
        Err("[TCC] Refusing unsafe"),
      ),
      (
        Some("http://localhost:8787/v1/mastra"),
        "k",
        env(&[]),
        Ok("http://localhost:8787/v1/mastra"),
      ),
      (
        Some("https://api.thecontext.company/custom/"),
        "k",
        env(&[]),
        Ok("https://api.thecontext.company/custom/"),
      ),
      (
        Some("https://evil.example/v1/mastra"),
        "k",
        env(&[]),
        Err("[TCC] Refusing to send credentials to unsafe URL (https://evil.example)"),
      ),
      (
        Some("https://api.thecontext.company@evil.example/"),
        "k",
        env(&[]),
        Err("[TCC] Refusing to send credentials"),
      ),
      (Some("http://[::1]:9/x"), "k", env(&[]), Ok("http://[::1]:9/x")),
      (
        Some("not a url"),
        "k",
        env(&[("TCC_ALLOW_UNSAFE_BASE_URL", "1")]),
        Err("[TCC] Invalid TCC URL: not a url"),
      ),
      (
        Some("https://collector.internal/v1/mastra"),
        "k",
        env(&[("TCC_ALLOW_UNSAFE_BASE_URL", "1")]),
        Ok("https://collector.internal/v1/mastra"),
      ),
    ];
    for (explicit, key, env, want) in cases {
      let got = resolve_endpoint(*explicit, key, env).map_err(|e| e.to_string());
      match (want, &got) {
        (Ok(w), Ok(g)) => assert_eq!(g, w, "explicit {explicit:?} env {:?}", env.0),
        (Err(prefix), Err(g)) => assert!(g.starts_with(prefix), "explicit {explicit:?}: got {g}"),
        _ => panic!("explicit {explicit:?} env {:?}: want {want:?}, got {got:?}", env.0),
      }
    }
  }

  #[test]
  fn feedback_url_strips_and_restricts() {
    let cases = [
      (
        vec![("TCC_FEEDBACK_URL", "http://localhost:8787/custom")],
        Ok("http://localhost:8787/custom/v1/feedback"),
      ),
      (
        vec![("TCC_FEEDBACK_URL", "http://localhost:8787/v1/feedback/")],
        Ok("http://localhost:8787/v1/feedback"),
      ),
      (
        vec![("TCC_FEEDBACK_URL", "https://evil.example/v1/feedback")],
        Err("[TCC] Refusing unsafe TCC base URL (https://evil.example)"),
      ),
      (
        vec![("TCC_FEEDBACK_URL", "nope")],
        Err("[TCC] Invalid TCC base URL: nope"),
      ),
      (
        vec![("TCC_API_KEY", "dev_1")],
        Ok("https://dev.thecontext.company/v1/feedback"),
      ),
      (
        vec![("TCC_BASE_URL", "http://127.0.0.1:1234")],
        Ok("http://127.0.0.1:1234/v1/feedback"),
      ),
      (vec![], Ok("https://api.thecontext.company/v1/feedback")),
    ];
    for (pairs, want) in cases {
      let env = MapEnv::from_pairs(&pairs);
      let got = feedback_url(&env).map_err(|e| e.to_string());
      match (want, &got) {
        (Ok(w), Ok(g)) => assert_eq!(g, w, "env {pairs:?}"),
        (Err(prefix), Err(g)) => assert!(g.starts_with(prefix), "env {pairs:?}: got {g}"),
        _ => panic!("env {pairs:?}: want {want:?}, got {got:?}"),
      }
    }
  }
}
