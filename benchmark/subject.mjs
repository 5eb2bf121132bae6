// One benchmark subject in a fresh process: replays captured Mastra 1.x traces (fresh ids each time) through an
// exporter the way Mastra's bus calls it (synchronously, never awaiting, yielding to the event loop between traces),
// then flushes. Reports JS-thread time in the exporter calls, event-loop utilisation, peak RSS and import time.
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import path from 'node:path'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { freshEvents } from '../__test__/support/replay.mjs'

// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS = 100
const here = path.dirname(fileURLToPath(import.meta.url))
const [name, spansWanted, port] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]
// Sustained mode: spans per second (0 = burst: as fast as the exporter takes them, yielding between traces).
const rate = Number(process.argv[5] ?? 0)
// Traces built up front; a longer run replays them again with new ids (1M spans would not fit in memory at once).
const BANK_SPANS = 50000
const endpoint = `http://127.0.0.1:${port}`
const files = ['a-generate.jsonl', 'b-tool-call.jsonl', 'c-stream.jsonl', 'd-workflow.jsonl', 'f-tool-error.jsonl']
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

// Nested Dates as Mastra hands them over (the reference calls completionStartTime.toISOString()).
function revive(events) {
  for (const { exportedSpan: s } of events) {
    for (const k of ['completionStartTime', 'untilDate']) {
      if (typeof s.attributes?.[k] === 'string' && ISO.test(s.attributes[k])) s.attributes[k] = new Date(s.attributes[k])
    }
  }
  return events
}

// New ids for a trace replayed again (parent links kept), from a counter: unique and cheap. Every subject pays it
// alike, the no-op included, so it drops out of the baseline-subtracted figures.
let idCounter = 0
const hex = (n, width) => n.toString(16).padStart(width, '0')
function renew(events) {
  const trace = hex(++idCounter, 32)
  const ids = new Map()
  const next = (old) => {
    if (old == null) return old
    let id = ids.get(old)
    if (!id) ids.set(old, (id = hex(++idCounter, 16)))
    return id
  }
  for (const { exportedSpan: s } of events) {
    s.traceId = trace
    s.id = next(s.id)
    if (s.parentSpanId != null) s.parentSpanId = next(s.parentSpanId)
  }
}

/** The TCC reference algorithm (spec/tcc-exporter.md sections 6-10), in JavaScript: buffer per trace, fetch on root end. */
class TccReference {
  name = 'tcc-reference'
  traces = new Map()
  runIds = new Map()
  metadata = new Map()
  inflight = new Set()
  exportTracingEvent(event) {
    const span = event.exportedSpan
    const id = span.traceId
    if (event.type === 'span_started') {
      if (!this.traces.has(id)) this.traces.set(id, [])
      if (span.isRootSpan && !this.runIds.has(id)) {
        this.runIds.set(id, span.metadata?.['tcc.runId'] || crypto.randomUUID())
        if (span.metadata) this.metadata.set(id, { ...span.metadata })
      }
      this.traces.get(id).push(span)
      return Promise.resolve()
    }
    const buf = this.traces.get(id)
    const i = buf ? buf.findIndex((s) => s.id === span.id) : -1
    if (i >= 0) buf[i] = span
    if (event.type === 'span_ended' && span.isRootSpan) return this.export(id)
    return Promise.resolve()
  }
  export(id) {
    const spans = this.traces.get(id)
    const runId = this.runIds.get(id)
    const metadata = this.metadata.get(id) ?? {}
    this.traces.delete(id)
    this.runIds.delete(id)
    this.metadata.delete(id)
    if (!spans?.length) return Promise.resolve()
    const body = JSON.stringify({ runId, traceId: id, framework: 'mastra', metadata, spans: spans.map((s) => ({ ...s, runId })) })
    const p = fetch(`${endpoint}/v1/mastra`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer k' }, body })
      .then((r) => r.text())
      .catch(() => {})
    this.inflight.add(p)
    p.finally(() => this.inflight.delete(p))
    return p
  }
  async flush() {
    for (const id of Array.from(this.traces.keys())) this.export(id)
    await Promise.all(this.inflight)
  }
}

const t0 = performance.now()
let exporter
switch (name) {
  case 'noop':
    exporter = { exportTracingEvent() {}, async flush() {} }
    break
  case 'floor':
    exporter = { exportTracingEvent: (e) => { if (e.type === 'span_ended') JSON.stringify(e.exportedSpan) }, async flush() {} }
    break
  case 'otel-js-json':
  case 'otel-js-proto': {
    const { OtelExporter } = createRequire(path.join(here, '../e2e/mastra-1x/package.json'))('@mastra/otel-exporter')
    const protocol = name.endsWith('json') ? 'http/json' : 'http/protobuf'
    exporter = new OtelExporter({ provider: { custom: { endpoint, protocol } } })
    exporter.init({ config: { serviceName: 'bench' } })
    break
  }
  case 'otel-native-json':
  case 'otel-native-proto': {
    const { OtelExporter } = createRequire(import.meta.url)('../index.js')
    const protocol = name.endsWith('json') ? 'http/json' : 'http/protobuf'
    exporter = new OtelExporter({ provider: { custom: { endpoint, protocol } } })
    exporter.init({ config: { serviceName: 'bench' } })
    break
  }
  case 'tcc-js':
    exporter = new TccReference()
    break
  case 'tcc-native': {
    const { TCCMastraExporter } = createRequire(import.meta.url)('../index.js')
    exporter = new TCCMastraExporter({ apiKey: 'k', endpoint: `${endpoint}/v1/mastra` })
    break
  }
  default:
    throw new Error(`unknown subject ${name}`)
}
const importMs = performance.now() - t0

// Build the workload before anything else is timed, after the import is (so that collecting the garbage of building
// it does not land in the import's time).
const traces = []
let bankEnded = 0
while (bankEnded < Math.min(spansWanted, BANK_SPANS)) {
  const events = revive(freshEvents('mastra-1.x', files[traces.length % files.length]))
  bankEnded += events.filter((e) => e.type === 'span_ended').length
  traces.push({ events, ended: events.filter((e) => e.type === 'span_ended').length })
}

// What Mastra 1.x's observability bus does with each event (`routeToHandler` and `ObservabilityBus.emit` in
// @mastra/observability): the exporter's `onTracingEvent` if it has one, else its `exportTracingEvent`, bound for the
// call; a returned promise gets a catch, and that one another catch, kept in a set until it settles (`flush()`
// waits for them).
const pending = new Set()
function dispatch(event) {
  try {
    const handler = exporter.onTracingEvent ? exporter.onTracingEvent.bind(exporter) : exporter.exportTracingEvent.bind(exporter)
    const result = handler(event)
    const routed = result && typeof result.then === 'function' ? result.catch(() => {}) : undefined
    if (routed && typeof routed.then === 'function') {
      const promise = routed.catch(() => {})
      pending.add(promise)
      promise.finally(() => pending.delete(promise))
    }
  } catch {}
}

let peakRss = process.memoryUsage().rss
// The deepest the exporter's queue got (ours report it in stats()).
let peakQueue = 0
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
  peakQueue = Math.max(peakQueue, exporter.stats?.().queueDepth ?? 0)
}, 20)
// Minor page faults of the JavaScript thread (each one costs microseconds in a VM), from /proc.
const jsFaults = () => Number(fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ')[7])
const faults0 = jsFaults()
// Time the JavaScript thread was ready to run but waited for a CPU (the run queue), and how often it was preempted,
// from /proc: on two cores an exporter's own threads, the receiver and V8's helpers compete with it.
const jsSched = () => {
  const waitNs = Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1])
  const preempted = Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8'))[1])
  return { waitMs: waitNs / 1e6, preempted }
}
const sched0 = jsSched()
const elu0 = performance.eventLoopUtilization()
const cpu0 = process.threadCpuUsage()
const wall0 = Date.now()
let callMs = 0
let ended = 0
for (let i = 0; ended < spansWanted; i++) {
  const { events, ended: n } = traces[i % traces.length]
  if (i >= traces.length) renew(events)
  for (const e of events) {
    const s = performance.now()
    dispatch(e)
    callMs += performance.now() - s
  }
  ended += n
  if (rate > 0) {
    // The next trace starts when the rate says so.
    const due = wall0 + (ended / rate) * 1000
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())))
  } else {
    await new Promise((r) => setImmediate(r))
  }
}
const replayEnd = Date.now()
const sched1 = jsSched()
const jsWaitMs = sched1.waitMs - sched0.waitMs
const jsPreempted = sched1.preempted - sched0.preempted
const elu = performance.eventLoopUtilization(elu0)
const cpu = process.threadCpuUsage(cpu0)
// Ours take a deadline (30 s by default); the references have none. Wait for delivery, as they do.
await Promise.allSettled(pending)
await exporter.flush(600000).catch((e) => console.error(`[bench] ${name} flush failed: ${e.message}`))
const flushEnd = Date.now()
const faults = jsFaults() - faults0
// Through the flush: the references defer their mapping, encoding and HTTP to timers and microtasks.
const cpuTotal = process.threadCpuUsage(cpu0)
clearInterval(sampler)
peakRss = Math.max(peakRss, process.memoryUsage().rss)
const stats = exporter.stats?.()
// CPU of the exporter's own threads (ours run on threads named mastra-exporter), from /proc.
let workerCpuMs = 0
for (const tid of fs.readdirSync('/proc/self/task')) {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (comm.startsWith('mastra-exporter')) workerCpuMs += ((Number(f[11]) + Number(f[12])) * 1000) / TICKS
  } catch {}
}
process.send({ name, stats, faults, workerCpuMs, peakQueue, spans: ended, importMs, callMs, cpuMs: (cpu.user + cpu.system) / 1000, cpuTotalMs: (cpuTotal.user + cpuTotal.system) / 1000, eluActiveMs: elu.active, wallStart: wall0, replayEnd, flushEnd, peakRss, jsWaitMs, jsPreempted })
setTimeout(() => process.exit(0), 50)
