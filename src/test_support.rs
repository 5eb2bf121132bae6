//! Test helpers shared by the core's unit tests.

use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the loopback server saw it.
#[derive(Debug, Clone)]
pub struct Received {
  pub path: String,
  pub headers: Vec<(String, String)>,
  pub body: Vec<u8>,
}

impl Received {
  pub fn header(&self, name: &str) -> Option<&str> {
    self
      .headers
      .iter()
      .find(|(k, _)| k.eq_ignore_ascii_case(name))
      .map(|(_, v)| v.as_str())
  }
}

/// A loopback HTTP/1.1 server that answers each request with the next scripted status (then 200) and records the
/// requests it answered with 200. Returns its base URL (`http://127.0.0.1:PORT`).
pub async fn recorder(script: Vec<u16>) -> (String, Arc<parking_lot::Mutex<Vec<Received>>>) {
  let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
  let base = format!("http://{}", listener.local_addr().unwrap());
  let got = Arc::new(parking_lot::Mutex::new(Vec::new()));
  let (g, script) = (got.clone(), Arc::new(parking_lot::Mutex::new(script)));
  tokio::spawn(async move {
    loop {
      let Ok((mut sock, _)) = listener.accept().await else {
        return;
      };
      let (g, script) = (g.clone(), script.clone());
      tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
          let n = sock.read(&mut chunk).await.unwrap_or(0);
          if n == 0 {
            return;
          }
          buf.extend_from_slice(&chunk[..n]);
          let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
          };
          let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
          let mut lines = head.lines();
          let path = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("").to_string();
          let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
          let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
          if buf.len() < head_end + 4 + len {
            continue;
          }
          let status = {
            let mut s = script.lock();
            if s.is_empty() { 200 } else { s.remove(0) }
          };
          if status == 200 {
            let body = buf[head_end + 4..head_end + 4 + len].to_vec();
            g.lock().push(Received { path, headers, body });
          }
          let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
          let _ = sock.write_all(resp.as_bytes()).await;
          buf.drain(..head_end + 4 + len);
        }
      });
    }
  });
  (base, got)
}

/// [`recorder`] with the TCC path, returning the bodies as text.
pub async fn server(script: Vec<u16>) -> (String, Arc<parking_lot::Mutex<Vec<Received>>>) {
  let (base, got) = recorder(script).await;
  (format!("{base}/v1/mastra"), got)
}
