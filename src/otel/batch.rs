//! The worker's open batch. Over OTLP/HTTP each span is written in the request's wire format as soon as it is
//! mapped, and its mapped form is dropped at once: the strings it allocated are freed while they are still in the
//! cache, so the next span's allocations reuse them, and the batch holds one buffer instead of a few dozen strings
//! per span. (Kept until the batch was sent, those strings were cold by the time the allocator handed them out
//! again: the allocator's fast path was a sixth of the worker's time in a 100k-span burst.) gRPC and Zipkin keep
//! the mapped spans, which their encoders take whole.

use super::config::Protocol;
use super::otlp::{self, Origin, OtelSpan};
use super::otlp_json;

/// Spans waiting to be sent together.
pub enum Batch {
  /// Mapped spans (gRPC, Zipkin).
  Mapped(Vec<OtelSpan<'static>>),
  /// Spans already written (OTLP/HTTP).
  Written(Written),
}

/// Spans written one after another in a request's format; the request's opening and closing are added when it is
/// sent.
pub struct Written {
  json: bool,
  bytes: Vec<u8>,
  /// Where each span's bytes end.
  ends: Vec<usize>,
}

impl Batch {
  /// An empty batch for `protocol`, with room for `capacity` spans.
  pub fn new(protocol: Protocol, capacity: usize) -> Self {
    match protocol {
      Protocol::HttpProtobuf | Protocol::HttpJson => Batch::Written(Written {
        json: protocol == Protocol::HttpJson,
        bytes: Vec::new(),
        ends: Vec::with_capacity(capacity),
      }),
      Protocol::Grpc | Protocol::Zipkin => Batch::Mapped(Vec::with_capacity(capacity)),
    }
  }

  pub fn push(&mut self, span: OtelSpan<'_>) {
    match self {
      Batch::Mapped(spans) => spans.push(span.into_owned()),
      Batch::Written(w) => {
        if w.json {
          otlp_json::write_span(&mut w.bytes, &span);
        } else {
          otlp::write_span(&mut w.bytes, &span);
        }
        w.ends.push(w.bytes.len());
      }
    }
  }

  pub fn len(&self) -> usize {
    match self {
      Batch::Mapped(spans) => spans.len(),
      Batch::Written(w) => w.ends.len(),
    }
  }

  pub fn is_empty(&self) -> bool {
    self.len() == 0
  }

  /// The spans so far, leaving an empty batch of the same kind, with room for as many spans as this one has (and
  /// for a sixteenth more bytes than it holds: a buffer that doubled as it grew would hold up to twice what a batch
  /// that waits to be sent needs).
  pub fn take(&mut self) -> Batch {
    let empty = match self {
      Batch::Mapped(spans) => Batch::Mapped(Vec::with_capacity(spans.capacity())),
      Batch::Written(w) => Batch::Written(Written {
        json: w.json,
        bytes: Vec::with_capacity(w.bytes.len() + w.bytes.len() / 16),
        ends: Vec::with_capacity(w.ends.capacity()),
      }),
    };
    std::mem::replace(self, empty)
  }

  /// Roughly how much memory the batch holds.
  pub fn approx_size(&self) -> usize {
    match self {
      Batch::Mapped(spans) => spans.iter().map(approx_size).sum(),
      Batch::Written(w) => w.bytes.len() + w.ends.len() * size_of::<usize>(),
    }
  }

  /// The first half of the spans and the rest.
  pub fn halves(self) -> (Batch, Batch) {
    match self {
      Batch::Mapped(mut spans) => {
        let b = spans.split_off(spans.len() / 2);
        (Batch::Mapped(spans), Batch::Mapped(b))
      }
      Batch::Written(mut w) => {
        let mid = w.ends.len() / 2;
        let at = if mid == 0 { 0 } else { w.ends[mid - 1] };
        let bytes = w.bytes.split_off(at);
        let ends = w.ends.split_off(mid).into_iter().map(|e| e - at).collect();
        let b = Written {
          json: w.json,
          bytes,
          ends,
        };
        (Batch::Written(w), Batch::Written(b))
      }
    }
  }

  /// The request body of an OTLP/HTTP batch; `None` for mapped spans.
  pub fn written_body(&self, origin: &Origin) -> Option<Vec<u8>> {
    match self {
      Batch::Written(w) => Some(w.body(origin)),
      Batch::Mapped(_) => None,
    }
  }
}

impl Written {
  /// The request body: the request's opening, the spans, its closing.
  pub fn body(&self, origin: &Origin) -> Vec<u8> {
    if self.json {
      otlp_json::encode_written(origin, &self.bytes, &self.ends)
    } else {
      otlp::encode_written(origin, &self.bytes)
    }
  }
}

/// Roughly how much memory a mapped span holds.
fn approx_size(s: &OtelSpan) -> usize {
  let attrs: usize = s.attributes.iter().map(|(k, v)| k.len() + value_size(v) + 16).sum();
  s.name.len() + attrs + 128
}

fn value_size(v: &otlp::AttrValue) -> usize {
  match v {
    otlp::AttrValue::Str(s) => s.len(),
    otlp::AttrValue::StrArray(a) => a.iter().map(String::len).sum(),
    _ => 8,
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::otel::otlp::tests::sample;

  fn written(protocol: Protocol, spans: &[OtelSpan]) -> Batch {
    let mut b = Batch::new(protocol, 4);
    for s in spans {
      b.push(s.clone());
    }
    b
  }

  /// Spans written one by one make the body the whole-batch encoders make, and so do both halves of a split.
  #[test]
  fn written_spans_make_the_same_body_as_the_mapped_spans_and_so_do_their_halves() {
    let (origin, one) = sample();
    let spans: Vec<OtelSpan> = (0..5)
      .map(|i| {
        let mut s = one[0].clone();
        s.name = format!("span {i}");
        s
      })
      .collect();
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
      let whole = |s: &[OtelSpan]| match protocol {
        Protocol::HttpJson => otlp_json::encode(&origin, s),
        _ => otlp::encode_protobuf(&otlp::request(&origin, s)),
      };
      let batch = written(protocol, &spans);
      assert_eq!(batch.len(), 5);
      let body = batch.written_body(&origin).unwrap();
      assert_eq!(body, whole(&spans), "{protocol:?}");
      // Allocated once, not grown (a grown body holds up to twice its size while it is sent).
      assert!(
        body.capacity() <= body.len() + 1024,
        "{protocol:?}: {} for {}",
        body.capacity(),
        body.len()
      );
      let (a, b) = batch.halves();
      assert_eq!((a.len(), b.len()), (2, 3));
      assert_eq!(a.written_body(&origin).unwrap(), whole(&spans[..2]), "{protocol:?}");
      assert_eq!(b.written_body(&origin).unwrap(), whole(&spans[2..]), "{protocol:?}");
      let (c, d) = b.halves();
      assert_eq!(d.written_body(&origin).unwrap(), whole(&spans[3..]), "{protocol:?}");
      assert_eq!(c.written_body(&origin).unwrap(), whole(&spans[2..3]), "{protocol:?}");
      assert_eq!(written(protocol, &[]).written_body(&origin).unwrap(), whole(&[]));
    }
  }

  #[test]
  fn grpc_and_zipkin_keep_the_mapped_spans() {
    let (origin, spans) = sample();
    for protocol in [Protocol::Grpc, Protocol::Zipkin] {
      let mut batch = written(protocol, &spans);
      assert!(batch.written_body(&origin).is_none());
      let taken = batch.take();
      assert!(batch.is_empty());
      assert!(matches!(taken, Batch::Mapped(s) if s == spans));
    }
  }

  #[test]
  fn taking_a_batch_leaves_an_empty_one_of_the_same_kind() {
    let (origin, spans) = sample();
    let mut batch = written(Protocol::HttpProtobuf, &spans);
    let taken = batch.take();
    assert_eq!(taken.len(), spans.len());
    assert!(batch.is_empty() && batch.approx_size() == 0);
    batch.push(spans[0].clone());
    assert_eq!(
      batch.written_body(&origin).unwrap(),
      otlp::encode_protobuf(&otlp::request(&origin, &spans[..1]))
    );
  }
}
