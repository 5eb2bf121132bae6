// Starts are held as references and serialised only when they must be: these tests pin what a user sees of that.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver } from './support/receiver.mjs'

const { TCCMastraExporter } = createRequire(import.meta.url)('../index.js')

const span = (id, extra = {}) => ({ id, traceId: 'th', name: id, type: 'generic', isRootSpan: false, parentSpanId: 'root', ...extra })
const root = () => ({ id: 'root', traceId: 'th', name: 'root', type: 'agent_run', isRootSpan: true, metadata: { 'tcc.runId': 'r1' } })

test('spans go out in start order, open ones as they stand when the root ends, updates replacing the held object', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: root() })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: span('a') })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: span('b') })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: span('open') })
  e.exportTracingEvent({ type: 'span_updated', exportedSpan: span('open', { attributes: { step: 2 } }) })
  // `b` ends before `a`: both still go out at their start's place.
  e.exportTracingEvent({ type: 'span_ended', exportedSpan: span('b', { output: 'B' }) })
  e.exportTracingEvent({ type: 'span_ended', exportedSpan: span('a', { output: 'A' }) })
  e.exportTracingEvent({ type: 'span_ended', exportedSpan: { ...root(), output: 'done' } })
  await e.flush()
  assert.equal(rx.requests.length, 1)
  const body = rx.payloads()[0]
  assert.deepEqual(body.spans.map((s) => s.id), ['root', 'a', 'b', 'open'])
  assert.deepEqual(body.spans.map((s) => s.output ?? null), ['done', 'A', 'B', null])
  assert.deepEqual(body.spans[3].attributes, { step: 2 }, 'the open span as its last update left it')
  assert.ok(body.spans.every((s) => s.runId === 'r1'))
  assert.equal(e.stats().events, 8)
})

test('a span open for over a second is serialised then, even when no further event arrives', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const slow = span('slow', { name: 'as it started' })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: root() })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: slow })
  await new Promise((r) => setTimeout(r, 2500))
  // Had the start still been held, the root's end would serialise the object as changed now.
  slow.name = 'changed later'
  e.exportTracingEvent({ type: 'span_ended', exportedSpan: root() })
  await e.flush()
  const body = rx.payloads()[0]
  assert.deepEqual(body.spans.map((s) => [s.id, s.name]), [['root', 'root'], ['slow', 'as it started']])
})

test('flush() sends a held span of a trace whose root has not ended', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: root() })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: span('pending') })
  const report = await e.flush()
  assert.equal(report.delivered, 2)
  assert.deepEqual(rx.payloads()[0].spans.map((s) => s.id), ['root', 'pending'])
})

test('a root is held too: run id and metadata frozen at its start, its updates and end replacing it', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const start = root()
  e.exportTracingEvent({ type: 'span_started', exportedSpan: start })
  // Mastra hands over a new object per event; a key added to the old one afterwards is not part of the frozen copy.
  start.metadata.later = true
  e.exportTracingEvent({ type: 'span_updated', exportedSpan: { ...root(), attributes: { step: 1 } } })
  e.exportTracingEvent({ type: 'span_started', exportedSpan: span('a') })
  e.exportTracingEvent({ type: 'span_ended', exportedSpan: span('a') })
  const pending = await e.flush()
  assert.equal(pending.delivered, 2, 'flush sends the open root as its update left it')
  const first = rx.payloads()[0]
  assert.deepEqual(first.metadata, { 'tcc.runId': 'r1' })
  assert.deepEqual(first.spans.map((s) => [s.id, s.attributes ?? null, s.runId]), [['root', { step: 1 }, 'r1'], ['a', null, 'r1']])
  const end = { ...root(), metadata: { 'tcc.runId': 'other', added: 1 }, output: 'done' }
  e.exportTracingEvent({ type: 'span_ended', exportedSpan: end })
  await e.flush()
  const second = rx.payloads()[1]
  assert.equal(second.runId, 'r1', 'the run id of an exported trace sticks to its late spans')
  assert.deepEqual(second.spans.map((s) => [s.id, s.output]), [['root', 'done']])
  assert.deepEqual(second.spans[0].metadata, { 'tcc.runId': 'other', added: 1 }, "the root's entry is its ended version")
})

test('a root without metadata gets a generated run id; unserialisable metadata falls back to the careful path', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const bare = { id: 'r', traceId: 'bare', name: 'r', type: 'agent_run', isRootSpan: true }
  const odd = { id: 'r', traceId: 'odd', name: 'r', type: 'agent_run', isRootSpan: true, metadata: { 'tcc.runId': 'rb', big: 1n } }
  for (const s of [bare, odd]) {
    e.exportTracingEvent({ type: 'span_started', exportedSpan: s })
    e.exportTracingEvent({ type: 'span_ended', exportedSpan: { ...s, output: 'ok' } })
  }
  await e.flush()
  // The two runs are sent concurrently; they may arrive in either order.
  const byTrace = Object.fromEntries(rx.payloads().map((p) => [p.traceId, p]))
  const [a, b] = [byTrace.bare, byTrace.odd]
  assert.match(a.runId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.deepEqual(a.metadata, {})
  assert.equal(b.runId, 'rb')
  assert.deepEqual(b.metadata, { 'tcc.runId': 'rb', big: '1n' })
  assert.deepEqual([a, b].map((p) => p.spans.map((s) => s.output)), [['ok'], ['ok']])
})

test('a span started twice goes out once, at its first place, as its end left it', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  e.onTracingEvent({ type: 'span_started', exportedSpan: root() })
  e.onTracingEvent({ type: 'span_started', exportedSpan: span('twice', { name: 'first' }) })
  e.onTracingEvent({ type: 'span_started', exportedSpan: span('other') })
  e.onTracingEvent({ type: 'span_started', exportedSpan: span('twice', { name: 'second' }) })
  e.onTracingEvent({ type: 'span_ended', exportedSpan: span('twice', { name: 'ended' }) })
  e.onTracingEvent({ type: 'span_ended', exportedSpan: span('other') })
  e.onTracingEvent({ type: 'span_ended', exportedSpan: root() })
  await e.flush()
  const body = rx.payloads()[0]
  assert.deepEqual(body.spans.map((s) => [s.id, s.name]), [['root', 'root'], ['twice', 'ended'], ['other', 'other']])
})

test('beyond 10,000 open spans the oldest starts are handed over as they stand; none is lost', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url(), maxBufferedTraces: 20000 })
  const open = []
  for (let i = 0; i < 10050; i++) {
    const s = { id: `s${i}`, traceId: `t${i}`, name: 'as it started', type: 'generic', isRootSpan: false }
    open.push(s)
    e.onTracingEvent({ type: 'span_started', exportedSpan: s })
  }
  // What was handed over already does not see this; what is still held does, when flush() serialises it.
  for (const s of open) s.name = 'changed'
  const report = await e.flush()
  assert.equal(report.delivered, 10050)
  const names = new Map(rx.payloads().map((p) => [p.spans[0].id, p.spans[0].name]))
  assert.equal(names.size, 10050)
  const handedEarly = open.filter((s) => names.get(s.id) === 'as it started').map((s) => s.id)
  assert.ok(handedEarly.length >= 50, `${handedEarly.length} handed over at the bound`)
  assert.deepEqual(handedEarly, open.slice(0, handedEarly.length).map((s) => s.id), 'the oldest first')
  assert.equal(e.stats().events, 10050)
})

test('an exporter collected while it holds starts lets them go without harm', async () => {
  const { execFileSync } = await import('node:child_process')
  const script = `
    const { TCCMastraExporter } = require(${JSON.stringify(createRequire(import.meta.url).resolve('../index.js'))})
    const root = { id: 'r', traceId: 't', name: 'r', type: 'agent_run', isRootSpan: true }
    for (let i = 0; i < 50; i++) {
      const e = new TCCMastraExporter({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra' })
      e.onTracingEvent({ type: 'span_started', exportedSpan: root })
      e.onTracingEvent({ type: 'span_started', exportedSpan: { ...root, id: 'c', isRootSpan: false } })
    }
    globalThis.gc()
    setTimeout(() => { globalThis.gc(); console.log('alive') }, 1500)
  `
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 20000 })
  assert.match(out, /alive/)
})

test('an end finds its held start whatever its JSON opens with: other key orders, escaped and wide ids', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const spans = [
    (extra) => ({ traceId: 'th', id: 'reordered', name: 'n', type: 'generic', isRootSpan: false, ...extra }),
    (extra) => span('q"uote\\', extra),
    (extra) => span('wïde', extra),
    (extra) => span('日本', extra),
    (extra) => span('x'.repeat(200), extra),
  ]
  e.onTracingEvent({ type: 'span_started', exportedSpan: root() })
  for (const s of spans) e.onTracingEvent({ type: 'span_started', exportedSpan: s({ output: 'started' }) })
  for (const s of [...spans].reverse()) e.onTracingEvent({ type: 'span_ended', exportedSpan: s({ output: 'ended' }) })
  e.onTracingEvent({ type: 'span_ended', exportedSpan: root() })
  await e.flush()
  assert.equal(rx.requests.length, 1)
  const body = rx.payloads()[0]
  assert.deepEqual(
    body.spans.map((s) => [s.id, s.output ?? null]),
    [['root', null], ...spans.map((s) => [s().id, 'ended'])],
    'each span once, at its start, as it ended',
  )
  const stats = e.stats()
  assert.equal(stats.eventSpansKept, 0, 'no end went out as a span without a start')
  assert.equal(stats.invalidEvents, 0)
  assert.equal(stats.events, 12)
})
