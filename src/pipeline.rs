//! Pieces every exporter's worker shares: the busy counter that tells the host when work is pending, and the
//! tracking of in-flight requests that `flush()` waits for.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::oneshot;

/// The tracing event types Mastra emits, in both 1.x and 0.24.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
  Started,
  Updated,
  Ended,
}

impl EventKind {
  pub fn parse(s: &str) -> Option<Self> {
    match s {
      "span_started" => Some(Self::Started),
      "span_updated" => Some(Self::Updated),
      "span_ended" => Some(Self::Ended),
      _ => None,
    }
  }
}

/// Called when an exporter goes from busy to idle (nothing queued, nothing in flight).
pub type IdleHook = Arc<dyn Fn() + Send + Sync>;

/// Counts queued events plus in-flight requests.
///
/// The binding keeps the Node event loop alive while this is above zero, as the reference's pending `fetch` does, so
/// a script that ends right after an agent run still delivers it; when it drops to zero the loop is released.
pub struct Busy {
  count: AtomicUsize,
  on_idle: IdleHook,
}

impl Busy {
  pub fn new(on_idle: IdleHook) -> Self {
    Self {
      count: AtomicUsize::new(0),
      on_idle,
    }
  }

  /// Adds one unit of work. Returns true when the exporter was idle before.
  pub fn enter(&self) -> bool {
    self.count.fetch_add(1, Ordering::AcqRel) == 0
  }

  /// Removes one unit of work, calling the idle hook when none is left.
  pub fn leave(&self) {
    if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
      (self.on_idle)();
    }
  }

  pub fn get(&self) -> usize {
    self.count.load(Ordering::Acquire)
  }
}

/// In-flight requests by sequence number, and the flushes waiting for them.
#[derive(Default)]
pub struct Inflight {
  next: u64,
  running: BTreeSet<u64>,
  waiters: Vec<(u64, oneshot::Sender<()>)>,
}

impl Inflight {
  /// Registers a new request and returns its number.
  pub fn start(&mut self) -> u64 {
    self.next += 1;
    self.running.insert(self.next);
    self.next
  }

  /// Marks a request finished and wakes the flushes that no longer wait for anything.
  pub fn finish(&mut self, seq: u64) {
    self.running.remove(&seq);
    self.wake();
  }

  /// Resolves `tx` once every request started so far has finished.
  pub fn wait_all(&mut self, tx: oneshot::Sender<()>) {
    self.waiters.push((self.next, tx));
    self.wake();
  }

  pub fn len(&self) -> usize {
    self.running.len()
  }

  pub fn is_empty(&self) -> bool {
    self.running.is_empty()
  }

  fn wake(&mut self) {
    let oldest = self.running.first().copied().unwrap_or(u64::MAX);
    let (ready, waiting): (Vec<_>, Vec<_>) = self.waiters.drain(..).partition(|(upto, _)| oldest > *upto);
    self.waiters = waiting;
    for (_, tx) in ready {
      let _ = tx.send(());
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_flush_waits_only_for_requests_started_before_it() {
    let mut f = Inflight::default();
    let a = f.start();
    let (tx, mut rx) = oneshot::channel();
    f.wait_all(tx);
    let b = f.start();
    assert!(rx.try_recv().is_err(), "a is still running");
    f.finish(a);
    assert!(rx.try_recv().is_ok(), "b started after the flush and is not waited for");
    f.finish(b);
    assert!(f.is_empty());
  }

  #[test]
  fn a_flush_with_nothing_in_flight_resolves_at_once() {
    let mut f = Inflight::default();
    let (tx, mut rx) = oneshot::channel();
    f.wait_all(tx);
    assert!(rx.try_recv().is_ok());
  }

  #[test]
  fn busy_calls_the_idle_hook_on_the_last_leave() {
    let idles = Arc::new(AtomicUsize::new(0));
    let i = idles.clone();
    let busy = Busy::new(Arc::new(move || {
      i.fetch_add(1, Ordering::SeqCst);
    }));
    assert!(busy.enter());
    assert!(!busy.enter());
    busy.leave();
    assert_eq!(idles.load(Ordering::SeqCst), 0);
    busy.leave();
    assert_eq!(idles.load(Ordering::SeqCst), 1);
    assert_eq!(busy.get(), 0);
  }
}
