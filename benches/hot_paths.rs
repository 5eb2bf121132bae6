//! Per-span cost of the work the Rust threads do: parsing and mapping a Mastra span, encoding a batch (protobuf, JSON,
//! Zipkin), the worker's whole path for a batch of 512 spans, and the TCC trace buffer. Run with
//! `cargo bench --no-default-features`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mastra_native_exporters::log::Logger;
use mastra_native_exporters::otel::batch::Batch;
use mastra_native_exporters::otel::config::Protocol;
use mastra_native_exporters::otel::mapping::{MapOptions, Semconv, TraceFacts, map_span};
use mastra_native_exporters::otel::otlp::{self, Origin};
use mastra_native_exporters::otel::otlp_json;
use mastra_native_exporters::otel::span::MastraSpan;
use mastra_native_exporters::otel::zipkin;
use mastra_native_exporters::tcc::buffer::{BufferLimits, EventKind, TraceBuffer};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// The span_ended events of the captured tool-calling run, as JSON text.
fn ended_spans() -> Vec<String> {
  events()
    .into_iter()
    .filter(|(k, _)| *k == EventKind::Ended)
    .map(|(_, j)| j)
    .collect()
}

fn events() -> Vec<(EventKind, String)> {
  let path = format!(
    "{}/__test__/fixtures/mastra-1.x/b-tool-call.jsonl",
    env!("CARGO_MANIFEST_DIR")
  );
  std::fs::read_to_string(path)
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
    .map(|v| {
      (
        EventKind::parse(v["type"].as_str().unwrap()).unwrap(),
        v["exportedSpan"].to_string(),
      )
    })
    .collect()
}

fn bench(c: &mut Criterion) {
  let spans = ended_spans();
  let n = spans.len() as u64;
  let facts = TraceFacts {
    has_model_inference: true,
    provider: None,
  };
  let mut g = c.benchmark_group("per_trace");
  g.throughput(Throughput::Elements(n));
  g.bench_function("parse", |b| {
    b.iter(|| {
      for s in &spans {
        black_box(MastraSpan::parse(black_box(s)).unwrap());
      }
    })
  });
  for mode in [Semconv::Mastra, Semconv::Latest, Semconv::Legacy] {
    g.bench_function(format!("parse_and_map_{mode:?}"), |b| {
      b.iter(|| {
        for s in &spans {
          let span = MastraSpan::parse(black_box(s)).unwrap();
          black_box(
            map_span(
              &span,
              MapOptions {
                semconv: mode,
                capture_content: true,
              },
              &facts,
            )
            .unwrap(),
          );
        }
      })
    });
  }
  let mapped: Vec<_> = spans
    .iter()
    .map(|s| {
      map_span(
        &MastraSpan::parse(s).unwrap(),
        MapOptions {
          semconv: Semconv::Mastra,
          capture_content: true,
        },
        &facts,
      )
      .unwrap()
      .into_owned()
    })
    .collect();
  let origin = Origin {
    resource: vec![("service.name".into(), "bench".into())],
    scope_name: "s".into(),
    scope_version: "1".into(),
  };
  g.bench_function("encode_protobuf", |b| {
    b.iter(|| black_box(otlp::encode_protobuf_direct(&origin, &mapped)))
  });
  g.bench_function("encode_protobuf_prost", |b| {
    b.iter(|| black_box(otlp::encode_protobuf(&otlp::request(&origin, &mapped))))
  });
  g.bench_function("encode_json", |b| {
    b.iter(|| black_box(otlp_json::encode(&origin, &mapped)))
  });
  g.bench_function("encode_json_serde", |b| {
    b.iter(|| black_box(otlp::encode_json(&otlp::request(&origin, &mapped))))
  });
  g.bench_function("encode_zipkin", |b| {
    b.iter(|| black_box(zipkin::encode(&mapped, &origin.resource)))
  });
  let evs = events();
  g.bench_function("tcc_buffer_run", |b| {
    b.iter(|| {
      let mut buf = TraceBuffer::new(BufferLimits::default(), Logger::new(Arc::new(|_, _, _| {}), false));
      let now = Instant::now();
      let mut out = Vec::new();
      for (k, j) in &evs {
        out.extend(buf.on_event(*k, j.clone(), now));
      }
      black_box(out)
    })
  });
  g.finish();
  batch(c, &spans, &facts, &origin);
}

/// The worker's path for a batch of the default 512 spans: parse, map, batch, request body. Over OTLP/HTTP each span
/// is written as it is mapped (`Batch::Written`); `mapped_then_encoded` is the way before it, which kept the mapped
/// spans until the batch was encoded.
fn batch(c: &mut Criterion, spans: &[String], facts: &TraceFacts, origin: &Origin) {
  const SPANS: usize = 512;
  let opts = MapOptions {
    semconv: Semconv::Mastra,
    capture_content: true,
  };
  fn parse(s: &str) -> MastraSpan<'_> {
    MastraSpan::parse(black_box(s)).unwrap()
  }
  let mut g = c.benchmark_group("per_batch");
  g.throughput(Throughput::Elements(SPANS as u64));
  g.bench_function("protobuf_mapped_then_encoded", |b| {
    b.iter(|| {
      let parsed: Vec<_> = spans.iter().cycle().take(SPANS).map(|s| parse(s)).collect();
      let mapped: Vec<_> = parsed.iter().map(|p| map_span(p, opts, facts).unwrap()).collect();
      black_box(otlp::encode_protobuf_direct(origin, &mapped))
    })
  });
  for (name, protocol) in [
    ("protobuf_written", Protocol::HttpProtobuf),
    ("json_written", Protocol::HttpJson),
  ] {
    g.bench_function(name, |b| {
      b.iter(|| {
        let mut batch = Batch::new(protocol, SPANS);
        for s in spans.iter().cycle().take(SPANS) {
          let parsed = parse(s);
          batch.push(map_span(&parsed, opts, facts).unwrap());
        }
        black_box(batch.written_body(origin))
      })
    });
  }
  g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
