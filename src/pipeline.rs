//! Pieces every exporter's worker shares: the busy counter that tells the host when work is pending, and the
//! tracking of in-flight requests that `flush()` waits for.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot};

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

/// Bounds of what the JavaScript thread may queue for the worker, in items and bytes. Checked on the JavaScript
/// thread with two atomic additions; released when the worker takes the item off the channel.
pub struct IntakeLimit {
  max_items: usize,
  max_bytes: usize,
  items: AtomicUsize,
  bytes: AtomicUsize,
}

impl IntakeLimit {
  pub fn new(max_items: usize, max_bytes: usize) -> Self {
    Self {
      max_items,
      max_bytes,
      items: AtomicUsize::new(0),
      bytes: AtomicUsize::new(0),
    }
  }

  /// Reserves room for one item of `bytes`. False when the queue is full (the item must be dropped).
  pub fn try_admit(&self, bytes: usize) -> bool {
    let items = self.items.fetch_add(1, Ordering::AcqRel) + 1;
    let total = self.bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
    if items > self.max_items || total > self.max_bytes {
      self.release(bytes);
      return false;
    }
    true
  }

  pub fn release(&self, bytes: usize) {
    self.items.fetch_sub(1, Ordering::AcqRel);
    self.bytes.fetch_sub(bytes, Ordering::AcqRel);
  }

  pub fn depth(&self) -> (usize, usize) {
    (self.items.load(Ordering::Acquire), self.bytes.load(Ordering::Acquire))
  }
}

/// Prints a warning at most once per interval, with the number of occurrences since the last line.
pub struct RateLimited {
  interval: std::time::Duration,
  last: parking_lot::Mutex<Option<std::time::Instant>>,
  since: AtomicUsize,
}

impl RateLimited {
  pub fn new(interval: std::time::Duration) -> Self {
    Self {
      interval,
      last: parking_lot::Mutex::new(None),
      since: AtomicUsize::new(0),
    }
  }

  /// Calls `emit(count)` when a line is due; `count` is how many occurrences it covers.
  pub fn hit(&self, emit: impl FnOnce(usize)) {
    let n = self.since.fetch_add(1, Ordering::AcqRel) + 1;
    let now = std::time::Instant::now();
    let mut last = self.last.lock();
    if last.is_none_or(|t| now.duration_since(t) >= self.interval) {
      *last = Some(now);
      self.since.fetch_sub(n, Ordering::AcqRel);
      drop(last);
      emit(n);
    }
  }
}

/// One request to send, with what it carries (for accounting when it has to be dropped).
pub struct Job {
  pub run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
  pub bytes: usize,
  pub items: u64,
}

/// What the dispatcher had to drop to stay within its memory bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
  pub items: u64,
  pub bytes: usize,
}

/// Runs export jobs with a concurrency limit; jobs beyond it wait in a backlog bounded in bytes (the oldest is dropped
/// at the bound). Tracks every job for `flush()`, and the busy counter for the event loop.
pub struct Dispatcher {
  max_concurrent: usize,
  max_backlog_bytes: usize,
  backlog: std::collections::VecDeque<(u64, Job)>,
  backlog_bytes: usize,
  running: tokio::task::JoinSet<()>,
  seqs: std::collections::HashMap<tokio::task::Id, u64>,
  inflight: Inflight,
  busy: Arc<Busy>,
}

impl Dispatcher {
  pub fn new(max_concurrent: usize, max_backlog_bytes: usize, busy: Arc<Busy>) -> Self {
    Self {
      max_concurrent: max_concurrent.max(1),
      max_backlog_bytes,
      backlog: Default::default(),
      backlog_bytes: 0,
      running: tokio::task::JoinSet::new(),
      seqs: Default::default(),
      inflight: Inflight::default(),
      busy,
    }
  }

  /// Starts the job, or queues it behind the running ones. Returns what was dropped to make room, if anything.
  pub fn submit(&mut self, job: Job) -> Option<Dropped> {
    self.busy.enter();
    let seq = self.inflight.start();
    if self.running.len() < self.max_concurrent {
      self.spawn(seq, job);
      return None;
    }
    self.backlog_bytes += job.bytes;
    self.backlog.push_back((seq, job));
    let mut dropped = Dropped { items: 0, bytes: 0 };
    while self.backlog_bytes > self.max_backlog_bytes && self.backlog.len() > 1 {
      let Some((old_seq, old)) = self.backlog.pop_front() else {
        break;
      };
      self.backlog_bytes -= old.bytes;
      dropped.items += old.items;
      dropped.bytes += old.bytes;
      self.inflight.finish(old_seq);
      self.busy.leave();
    }
    (dropped.items > 0 || dropped.bytes > 0).then_some(dropped)
  }

  fn spawn(&mut self, seq: u64, job: Job) {
    let handle = self.running.spawn(job.run);
    self.seqs.insert(handle.id(), seq);
  }

  pub fn has_running(&self) -> bool {
    !self.running.is_empty()
  }

  /// Jobs running and waiting.
  pub fn depth(&self) -> (usize, usize) {
    (self.running.len(), self.backlog.len())
  }

  /// Waits for one running job to finish and starts the next waiting one. Returns a panic message if the job
  /// panicked (the panic is contained here).
  pub async fn join_next(&mut self) -> Option<String> {
    let done = self.running.join_next_with_id().await?;
    let (id, panic) = match done {
      Ok((id, ())) => (id, None),
      Err(e) => (e.id(), Some(e.to_string())),
    };
    if let Some((seq, job)) = self.backlog.pop_front() {
      self.backlog_bytes -= job.bytes;
      self.spawn(seq, job);
    }
    // Leave before waking flushes, so a resolved flush never sees this job as pending.
    self.busy.leave();
    if let Some(seq) = self.seqs.remove(&id) {
      self.inflight.finish(seq);
    }
    panic
  }

  /// Resolves `tx` once every job submitted so far has finished or been dropped.
  pub fn wait_all(&mut self, tx: oneshot::Sender<()>) {
    self.inflight.wait_all(tx);
  }

  /// Waits for everything (the exporter is going away).
  pub async fn drain(&mut self) {
    while self.has_running() {
      self.join_next().await;
    }
  }
}

#[cfg(test)]
mod dispatcher_tests {
  use super::*;
  use std::time::Duration;

  fn job(ms: u64, bytes: usize, done: Arc<AtomicUsize>) -> Job {
    Job {
      run: Box::pin(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        done.fetch_add(1, Ordering::SeqCst);
      }),
      bytes,
      items: 1,
    }
  }

  #[tokio::test]
  async fn jobs_beyond_the_limit_wait_and_the_backlog_drops_its_oldest_at_the_byte_bound() {
    let busy = Arc::new(Busy::new(Arc::new(|| {})));
    let mut d = Dispatcher::new(1, 250, busy.clone());
    let done = Arc::new(AtomicUsize::new(0));
    assert_eq!(d.submit(job(30, 100, done.clone())), None);
    assert_eq!(d.submit(job(1, 100, done.clone())), None);
    assert_eq!(d.submit(job(1, 100, done.clone())), None);
    assert_eq!(d.depth(), (1, 2));
    assert_eq!(
      d.submit(job(1, 100, done.clone())),
      Some(Dropped { items: 1, bytes: 100 })
    );
    let (tx, mut rx) = oneshot::channel();
    d.wait_all(tx);
    d.drain().await;
    assert!(
      rx.try_recv().is_ok(),
      "flush resolves once everything ran or was dropped"
    );
    assert_eq!(done.load(Ordering::SeqCst), 3);
    assert_eq!(busy.get(), 0);
  }

  #[tokio::test]
  async fn a_panicking_job_is_contained_and_reported() {
    let busy = Arc::new(Busy::new(Arc::new(|| {})));
    let mut d = Dispatcher::new(2, 1000, busy.clone());
    d.submit(Job {
      run: Box::pin(async { panic!("boom") }),
      bytes: 1,
      items: 1,
    });
    let (tx, mut rx) = oneshot::channel();
    d.wait_all(tx);
    let msg = d.join_next().await.expect("a job finished");
    assert!(msg.contains("panic"), "{msg}");
    assert!(rx.try_recv().is_ok());
    assert_eq!(busy.get(), 0);
  }

  #[test]
  fn the_intake_limit_admits_until_either_bound() {
    let l = IntakeLimit::new(2, 100);
    assert!(l.try_admit(40));
    assert!(!l.try_admit(70), "bytes");
    assert!(l.try_admit(50));
    assert!(!l.try_admit(1), "items");
    l.release(40);
    assert!(l.try_admit(10));
    assert_eq!(l.depth(), (2, 60));
  }

  #[test]
  fn rate_limited_lines_report_how_many_they_cover() {
    let r = RateLimited::new(Duration::from_secs(3600));
    let mut printed = Vec::new();
    for _ in 0..5 {
      r.hit(|n| printed.push(n));
    }
    assert_eq!(printed, [1], "one line, the rest counted for the next");
  }
}

/// Memory and concurrency bounds shared by both exporters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineLimits {
  /// Events the JavaScript thread may queue before the worker takes them.
  pub max_queue_items: usize,
  /// Bytes of span JSON queued for the worker.
  pub max_queue_bytes: usize,
  /// Requests in flight at once (retries included).
  pub max_concurrent_exports: usize,
  /// Bytes of encoded requests waiting behind the running ones; the oldest is dropped beyond it.
  pub max_backlog_bytes: usize,
  /// How long `flush()` waits by default.
  pub flush_timeout: std::time::Duration,
}

/// Default of [`PipelineLimits::max_queue_items`].
pub const DEFAULT_MAX_QUEUE_ITEMS: usize = 1_000_000;
/// Default of [`PipelineLimits::max_queue_bytes`]: 1 GiB. Span text waits one byte a character (two when it has a
/// character above U+00FF), so this holds about 600,000 spans of the captured runs.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 1024 * 1024 * 1024;
/// Default of [`PipelineLimits::max_concurrent_exports`].
pub const DEFAULT_MAX_CONCURRENT_EXPORTS: usize = 8;
/// Default of [`PipelineLimits::max_backlog_bytes`]: 1 GiB, so a burst of a million spans waits here for the
/// collector rather than being dropped (TCC run bodies waiting for a receiver on the same two cores passed 512 MiB).
pub const DEFAULT_MAX_BACKLOG_BYTES: usize = 1024 * 1024 * 1024;
/// Default of [`PipelineLimits::flush_timeout`].
pub const DEFAULT_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for PipelineLimits {
  fn default() -> Self {
    Self {
      max_queue_items: DEFAULT_MAX_QUEUE_ITEMS,
      max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
      max_concurrent_exports: DEFAULT_MAX_CONCURRENT_EXPORTS,
      max_backlog_bytes: DEFAULT_MAX_BACKLOG_BYTES,
      flush_timeout: DEFAULT_FLUSH_TIMEOUT,
    }
  }
}

/// What happened while one `flush()` ran, in spans.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
  pub delivered: u64,
  pub failed: u64,
  pub dropped: u64,
  /// The deadline passed first; the work goes on in the background.
  pub timed_out: bool,
  /// Units of work still queued or in flight when `flush()` returned.
  pub pending: u64,
}

/// The user's overrides of [`PipelineLimits`]; every field optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipelineOptions {
  pub max_queue_size: Option<u64>,
  pub max_queue_bytes: Option<u64>,
  pub max_concurrent_exports: Option<u32>,
  pub max_export_backlog_bytes: Option<u64>,
  pub flush_timeout_ms: Option<u64>,
}

impl PipelineOptions {
  pub fn resolve(&self) -> PipelineLimits {
    let d = PipelineLimits::default();
    let size = |v: Option<u64>, default: usize| v.map_or(default, |n| n as usize).max(1);
    PipelineLimits {
      max_queue_items: size(self.max_queue_size, d.max_queue_items),
      max_queue_bytes: size(self.max_queue_bytes, d.max_queue_bytes),
      max_concurrent_exports: size(self.max_concurrent_exports.map(u64::from), d.max_concurrent_exports),
      max_backlog_bytes: size(self.max_export_backlog_bytes, d.max_backlog_bytes),
      flush_timeout: self
        .flush_timeout_ms
        .map_or(d.flush_timeout, std::time::Duration::from_millis),
    }
  }
}

/// What happened to an item handed to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
  /// Queued; the exporter was idle before (the host should hold its event loop).
  WasIdle,
  /// Queued behind other work.
  Behind,
  /// Dropped: the queue is full.
  Full,
}

/// The JavaScript-thread side of a worker's channel: admission against the intake bound, busy accounting, send.
pub fn enqueue<M>(tx: &mpsc::UnboundedSender<M>, busy: &Busy, intake: &IntakeLimit, bytes: usize, msg: M) -> Queued {
  if !intake.try_admit(bytes) {
    return Queued::Full;
  }
  let was_idle = busy.enter();
  if tx.send(msg).is_err() {
    intake.release(bytes);
    busy.leave();
    return Queued::Behind;
  }
  if was_idle { Queued::WasIdle } else { Queued::Behind }
}

/// At most this many queued messages are taken in one go, before a worker looks at its timers and finished requests
/// again. Each trip through `tokio::select!` sets up the worker's timers anew: per span, that was 5% of the OTel
/// worker's time in a 100k-span burst.
pub const DRAIN: usize = 64;

/// Handles `first`, then what else is queued (up to [`DRAIN`] messages in all). True when `handle` returned true for
/// any of them.
pub fn drain<M>(rx: &mut mpsc::UnboundedReceiver<M>, first: M, mut handle: impl FnMut(M) -> bool) -> bool {
  let mut any = handle(first);
  for msg in std::iter::from_fn(|| rx.try_recv().ok()).take(DRAIN - 1) {
    any |= handle(msg);
  }
  any
}

/// How long a worker that has just emptied its queue waits before it looks at it again.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// How often a worker whose queue stays empty looks at it again, until it has been quiet for [`QUIET_LIMIT`].
pub const POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(4);

/// How long a worker keeps looking at an empty queue before it sleeps until the next event wakes it.
pub const QUIET_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// When a worker listens to its queue. A worker that sleeps whenever its queue is empty must be woken for the next
/// event, and that wake-up is paid on the JavaScript thread, inside the agent's call: a system call and, on a
/// virtual machine, an interrupt sent to the worker's CPU. Measured at 2,000 spans/s, TCCMastraExporter's root start
/// (the first event of each trace) cost 15.5 to 26.5 µs with it and 9.9 to 15.8 without (the floor's 0.9 to 1.7). A
/// worker that has just emptied its queue instead looks again after [`LINGER`], and then every [`POLL_EVERY`] while
/// events keep coming (a trace every few milliseconds, as an agent emits them): events sent meanwhile wait in the
/// queue without waking anybody, and are taken in one go. Only after [`QUIET_LIMIT`] without events does it sleep
/// until the next event wakes it, so an idle exporter costs nothing.
#[derive(Debug, Default)]
pub struct Linger {
  until: Option<std::time::Instant>,
  /// When the queue last became empty after an event.
  quiet_since: Option<std::time::Instant>,
}

impl Linger {
  /// After handling an event: linger when that emptied the queue.
  pub fn after_event<M>(&mut self, rx: &mpsc::UnboundedReceiver<M>) {
    if rx.is_empty() {
      let now = std::time::Instant::now();
      self.until = Some(now + LINGER);
      self.quiet_since = Some(now);
    }
  }

  /// Whether the worker listens to its queue now.
  pub fn listening(&self) -> bool {
    self.until.is_none()
  }

  /// When lingering ends (`None` while listening).
  pub fn until(&self) -> Option<std::time::Instant> {
    self.until
  }

  /// Lingering ended: listen when events are waiting or the queue has been quiet for [`QUIET_LIMIT`]; otherwise
  /// look again after [`POLL_EVERY`].
  pub fn lapse<M>(&mut self, rx: &mpsc::UnboundedReceiver<M>) {
    let now = std::time::Instant::now();
    let recent = self.quiet_since.is_some_and(|t| now.duration_since(t) < QUIET_LIMIT);
    self.until = (rx.is_empty() && recent).then(|| now + POLL_EVERY);
  }
}

/// Asks the worker to flush and waits for it, at most `timeout`. Returns true when the deadline passed first.
pub async fn request_flush<M>(
  tx: &mpsc::UnboundedSender<M>,
  make: impl FnOnce(oneshot::Sender<()>) -> M,
  timeout: std::time::Duration,
) -> bool {
  let (done, rx) = oneshot::channel();
  if tx.send(make(done)).is_err() {
    return false;
  }
  tokio::time::timeout(timeout, rx).await.is_err()
}

#[cfg(test)]
mod linger_tests {
  use super::*;
  use std::time::{Duration, Instant};

  #[test]
  fn drain_takes_the_first_message_and_what_is_queued_up_to_its_bound() {
    let (tx, mut rx) = mpsc::unbounded_channel::<usize>();
    for i in 1..=DRAIN + 5 {
      tx.send(i).unwrap();
    }
    let mut seen = Vec::new();
    let any = drain(&mut rx, 0, |m| {
      seen.push(m);
      m == 3
    });
    assert!(any, "one handler call said true");
    assert_eq!(
      seen,
      (0..DRAIN).collect::<Vec<_>>(),
      "the first, then the queue in order, DRAIN in all"
    );
    assert_eq!(rx.try_recv().ok(), Some(DRAIN), "the rest waits for the next turn");
    assert!(!drain(&mut rx, 0, |_| false), "no handler call said true");
    assert!(rx.try_recv().is_err(), "the second drain took what was left");
  }

  #[test]
  fn a_worker_keeps_looking_at_its_queue_while_events_keep_coming_and_sleeps_after_a_quiet_second() {
    let (tx, rx) = mpsc::unbounded_channel::<u32>();
    let mut linger = Linger::default();
    assert!(linger.listening(), "a new worker listens");

    // The event it handled emptied the queue: it lingers, not listening.
    linger.after_event(&rx);
    let first = linger.until().expect("lingering");
    assert!(!linger.listening());
    assert!(first <= Instant::now() + LINGER);

    // Lingering ends with nothing queued, soon after the last event: it looks again later, still not listening.
    linger.lapse(&rx);
    let again = linger.until().expect("looking again");
    assert!(again > first && again <= Instant::now() + POLL_EVERY);

    // Something arrived meanwhile: it listens, and takes it without being woken.
    tx.send(1).unwrap();
    linger.lapse(&rx);
    assert!(linger.listening());

    // Quiet for longer than the limit: it listens (and sleeps until an event wakes it).
    let mut rx = rx;
    rx.try_recv().unwrap();
    linger.after_event(&rx);
    linger.quiet_since = Some(Instant::now() - QUIET_LIMIT - Duration::from_millis(1));
    linger.lapse(&rx);
    assert!(linger.listening());
  }
}
