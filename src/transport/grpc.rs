//! OTLP/gRPC: `TraceService/Export` over tonic, TLS (rustls, webpki roots) for `https://`, plaintext for `http://`,
//! headers as metadata, optional gzip, and the shared retry policy with the OTLP/gRPC status table.

use super::RetryNotice;
use super::http::Outcome;
use super::retry::{Decision, RetryPolicy, classify_grpc};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use std::time::{Duration, Instant};
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// A connected (lazily) gRPC trace client.
#[derive(Clone)]
pub struct GrpcSender {
  client: TraceServiceClient<Channel>,
  metadata: MetadataMap,
  timeout: Duration,
  policy: RetryPolicy,
}

impl GrpcSender {
  /// Builds the channel. Must run inside the tokio runtime. Invalid metadata names or values are skipped and
  /// reported in the returned list.
  pub fn new(
    url: &str,
    headers: &[(String, String)],
    timeout: Duration,
    policy: RetryPolicy,
    gzip: bool,
    tls: Option<&crate::otel::config::Tls>,
  ) -> Result<(Self, Vec<String>), String> {
    let mut endpoint =
      Endpoint::from_shared(url.to_string()).map_err(|e| format!("invalid gRPC endpoint {url}: {e}"))?;
    endpoint = endpoint.connect_timeout(Duration::from_secs(10)).timeout(timeout);
    if url.starts_with("https://") {
      crate::transport::http::install_crypto();
      let mut config = ClientTlsConfig::new().with_webpki_roots();
      if let Some(ca) = tls.and_then(|t| t.ca.as_ref()) {
        config = config.ca_certificate(tonic::transport::Certificate::from_pem(ca));
      }
      if let Some(t) = tls
        && let (Some(cert), Some(key)) = (&t.client_cert, &t.client_key)
      {
        config = config.identity(tonic::transport::Identity::from_pem(cert, key));
      }
      endpoint = endpoint
        .tls_config(config)
        .map_err(|e| format!("TLS setup for {url} failed: {e}"))?;
    }
    let mut client = TraceServiceClient::new(endpoint.connect_lazy());
    if gzip {
      client = client
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    }
    let mut metadata = MetadataMap::new();
    let mut skipped = Vec::new();
    for (k, v) in headers {
      match (
        MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()),
        MetadataValue::try_from(v.as_str()),
      ) {
        (Ok(key), Ok(value)) => {
          metadata.append(key, value);
        }
        _ => skipped.push(k.clone()),
      }
    }
    Ok((
      Self {
        client,
        metadata,
        timeout,
        policy,
      },
      skipped,
    ))
  }

  /// Exports with retries. A `Delivered` outcome carries the encoded `ExportTraceServiceResponse` (partial success).
  pub async fn send(&self, req: &ExportTraceServiceRequest, mut on_retry: impl FnMut(RetryNotice)) -> Outcome {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
      attempts += 1;
      let mut request = tonic::Request::new(req.clone());
      *request.metadata_mut() = self.metadata.clone();
      request.set_timeout(self.timeout);
      let mut client = self.client.clone();
      let (decision, last, reason) = match client.export(request).await {
        Ok(resp) => {
          let body = Bytes::from(resp.into_inner().encode_to_vec());
          return Outcome::Delivered {
            status: 200,
            body,
            attempts,
          };
        }
        Err(status) => {
          let code = status.code() as i32;
          let reason = format!("gRPC {:?}: {}", status.code(), status.message());
          let last = if code == tonic::Code::Unavailable as i32 && status.message().contains("error trying to connect")
          {
            Outcome::Failed {
              error: reason.clone(),
              attempts,
            }
          } else {
            Outcome::Rejected {
              status: code as u16,
              status_text: format!("{:?}", status.code()),
              body: status.message().to_string(),
              attempts,
            }
          };
          let decision = match (classify_grpc(code), retry_delay(status.details())) {
            (Decision::GiveUp, _) => Decision::GiveUp,
            (_, Some(delay)) => Decision::RetryAfter(delay),
            (d, None) => d,
          };
          (decision, last, reason)
        }
      };
      let Some(delay) = self
        .policy
        .next_delay(decision, attempts, started.elapsed(), fastrand::f64())
      else {
        return last;
      };
      on_retry(RetryNotice {
        retry: attempts,
        max_retries: self.policy.max_retries,
        delay,
        reason,
      });
      tokio::time::sleep(delay).await;
    }
  }
}

/// `google.rpc.Status`, as carried in `grpc-status-details-bin` (only the fields needed here).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
  #[prost(int32, tag = "1")]
  code: i32,
  #[prost(string, tag = "2")]
  message: String,
  #[prost(message, repeated, tag = "3")]
  details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
  #[prost(string, tag = "1")]
  type_url: String,
  #[prost(bytes = "vec", tag = "2")]
  value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
  #[prost(message, optional, tag = "1")]
  retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
  #[prost(int64, tag = "1")]
  seconds: i64,
  #[prost(int32, tag = "2")]
  nanos: i32,
}

const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The server's `RetryInfo.retry_delay`, when the status details carry one (OTLP/gRPC throttling).
pub fn retry_delay(details: &[u8]) -> Option<Duration> {
  let status = RpcStatus::decode(details).ok()?;
  let info = status.details.iter().find(|a| a.type_url == RETRY_INFO)?;
  let d = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
  (d.seconds >= 0 && d.nanos >= 0).then(|| Duration::new(d.seconds as u64, d.nanos as u32))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn retry_info_in_the_status_details_is_read() {
    let info = RetryInfo {
      retry_delay: Some(ProtoDuration {
        seconds: 2,
        nanos: 500_000_000,
      }),
    };
    let status = RpcStatus {
      code: 8,
      message: "slow down".into(),
      details: vec![
        Any {
          type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
          value: vec![1, 2],
        },
        Any {
          type_url: RETRY_INFO.into(),
          value: info.encode_to_vec(),
        },
      ],
    };
    assert_eq!(retry_delay(&status.encode_to_vec()), Some(Duration::from_millis(2500)));
    assert_eq!(
      retry_delay(
        &RpcStatus {
          code: 14,
          message: String::new(),
          details: vec![]
        }
        .encode_to_vec()
      ),
      None
    );
    assert_eq!(retry_delay(b"\xff\xff"), None);
  }
}
