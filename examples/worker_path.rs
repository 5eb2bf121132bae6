//! The OTel worker's per-span path (parse, map, write into a batch, request body per 512 spans) over the spans the
//! benchmark replays, with their Dates as epoch milliseconds as the JavaScript wrappers hand them over. For profiling
//! and instruction counts: `cargo run --release --no-default-features --example worker_path -- json 200000` (`proto` for
//! OTLP/protobuf, `parse` to time the reading alone).

use mastra_native_exporters::otel::batch::Batch;
use mastra_native_exporters::otel::config::Protocol;
use mastra_native_exporters::otel::mapping::{MapOptions, Semconv, TraceFacts, map_span};
use mastra_native_exporters::otel::otlp::Origin;
use mastra_native_exporters::otel::span::{MastraSpan, parse_iso_ns};
use std::hint::black_box;
use std::time::Instant;

const FILES: [&str; 5] = [
  "a-generate.jsonl",
  "b-tool-call.jsonl",
  "c-stream.jsonl",
  "d-workflow.jsonl",
  "f-tool-error.jsonl",
];

fn spans() -> Vec<String> {
  let mut out = Vec::new();
  for f in FILES {
    let path = format!("{}/__test__/fixtures/mastra-1.x/{f}", env!("CARGO_MANIFEST_DIR"));
    for line in std::fs::read_to_string(path).unwrap().lines() {
      let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
      if v["type"] != "span_ended" {
        continue;
      }
      let s = &mut v["exportedSpan"];
      for k in ["startTime", "endTime"] {
        to_ms(&mut s[k]);
      }
      if let Some(a) = s.get_mut("attributes")
        && a.get("completionStartTime").is_some()
      {
        to_ms(&mut a["completionStartTime"]);
      }
      out.push(s.to_string());
    }
  }
  out
}

/// An ISO time as epoch milliseconds (what `getTime()` gives).
fn to_ms(v: &mut serde_json::Value) {
  if let Some(ns) = v.as_str().and_then(parse_iso_ns) {
    *v = (ns / 1_000_000).into();
  }
}

fn main() {
  let args: Vec<String> = std::env::args().collect();
  let what = args.get(1).map(String::as_str).unwrap_or("json");
  let protocol = match what {
    "proto" => Protocol::HttpProtobuf,
    _ => Protocol::HttpJson,
  };
  let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
  let spans = spans();
  let facts = TraceFacts {
    has_model_inference: true,
    provider: None,
  };
  let opts = MapOptions {
    semconv: Semconv::Mastra,
    capture_content: true,
  };
  let origin = Origin {
    resource: vec![("service.name".into(), "bench".into())],
    scope_name: "s".into(),
    scope_version: "1".into(),
  };
  let mut batch = Batch::new(protocol, 512);
  let mut bytes = 0usize;
  let mut text = String::new();
  let t = Instant::now();
  for s in spans.iter().cycle().take(n) {
    // The worker copies each span's text out of its message first.
    text.clear();
    text.push_str(s);
    let span = MastraSpan::parse(black_box(&text)).unwrap();
    if what == "parse" {
      black_box(span);
      continue;
    }
    batch.push(map_span(&span, opts, &facts).unwrap());
    if batch.len() >= 512 {
      let b = batch.take();
      bytes += black_box(b.written_body(&origin)).map_or(0, |v| v.len());
    }
  }
  let el = t.elapsed();
  eprintln!(
    "{} spans of {} kinds: {:.0} ns/span, {} bytes/span",
    n,
    spans.len(),
    el.as_nanos() as f64 / n as f64,
    bytes / n.max(1)
  );
}
