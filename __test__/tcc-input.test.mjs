// Hostile and broken input: never a throw into the agent, a clear [TCC] line and a counter, and good data survives.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver, captureConsole } from './support/receiver.mjs'

const { TCCMastraExporter } = createRequire(import.meta.url)('../index.js')

test('bad events are counted and logged, never thrown, and do not harm the run', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const root = { id: 'root', traceId: 't1', name: 'r', type: 'agent_run', isRootSpan: true, metadata: { 'tcc.runId': 'good' } }
  const cyclic = { id: 'cyc', traceId: 't1', type: 'generic', name: 'cyclic', isRootSpan: false, parentSpanId: 'root' }
  cyclic.attributes = { self: cyclic, big: 12345678901234567890n, nan: NaN, inf: -Infinity }
  const getter = { id: 'get', traceId: 't1', type: 'generic', name: 'getter', isRootSpan: false, parentSpanId: 'root' }
  Object.defineProperty(getter, 'input', { enumerable: true, get: () => { throw new Error('boom') } })
  const badToJson = { id: 'tj', traceId: 't1', type: 'generic', isRootSpan: false, parentSpanId: 'root', toJSON() { throw new Error('nope') } }
  const bad = [null, undefined, 42, 'span_started', {}, { type: 'span_started' }, { type: 'span_started', exportedSpan: 'x' },
    { type: 'nope', exportedSpan: root }, { type: 7, exportedSpan: root },
    { get type() { throw new Error('type getter') } }, { type: 'span_ended', get exportedSpan() { throw new Error('span getter') } },
    { type: 'span_updated', exportedSpan: { get id() { throw new Error('id getter') } } }]
  const { lines } = await captureConsole(async () => {
    e.exportTracingEvent({ type: 'span_started', exportedSpan: root })
    for (const ev of bad) assert.doesNotThrow(() => e.exportTracingEvent(ev))
    for (const s of [cyclic, getter, badToJson]) {
      assert.doesNotThrow(() => e.exportTracingEvent({ type: 'span_started', exportedSpan: s }))
      assert.doesNotThrow(() => e.exportTracingEvent({ type: 'span_ended', exportedSpan: s }))
    }
    e.exportTracingEvent({ type: 'span_ended', exportedSpan: root })
    await e.flush()
  })
  assert.equal(rx.requests.length, 1)
  const body = rx.payloads()[0]
  assert.equal(body.runId, 'good')
  const byId = Object.fromEntries(body.spans.map((s) => [s.id, s]))
  assert.equal(byId.cyc.attributes.self, '[Circular]')
  assert.equal(byId.cyc.attributes.big, '12345678901234567890n')
  assert.equal(byId.cyc.attributes.nan, null)
  assert.equal(byId.cyc.attributes.inf, null)
  assert.equal(byId.get.input, '[Unreadable]')
  assert.equal(byId.tj, undefined, 'a span whose toJSON throws has no readable form')
  const s = e.stats()
  // A span's start is held as a reference and serialised only if it is still open when it must be sent, so the span
  // with a throwing toJSON is read once, at its end.
  assert.equal(s.invalidEvents, bad.length + 1, 'the bad events plus the end of the span with a throwing toJSON')
  const warned = lines.filter((l) => l.text.startsWith('[TCC] Ignored a tracing event:'))
  // Ten lines at most; the tenth says the rest are only counted.
  assert.equal(warned.length, Math.min(bad.length, 10))
  assert.ok(warned.at(-1).text.includes('further such events are counted'), warned.at(-1).text)
  const dropped = lines.filter((l) => l.text.startsWith('[TCC] Dropped a malformed span event:'))
  assert.equal(dropped.length, 1)
  assert.ok([...warned, ...dropped].every((l) => l.level === 'error'))
})

test('huge strings, deep nesting and lone surrogates pass through byte for byte', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  let deep = { leaf: true }
  for (let i = 0; i < 1000; i++) deep = { d: deep }
  const root = {
    id: 'root',
    traceId: 't-big',
    name: 'lone \ud800 surrogate',
    type: 'agent_run',
    isRootSpan: true,
    input: 'x'.repeat(10 * 1024 * 1024),
    output: deep,
  }
  e.exportTracingEvent({ type: 'span_started', exportedSpan: root })
  e.exportTracingEvent({ type: 'span_ended', exportedSpan: root })
  await e.flush()
  assert.equal(rx.requests.length, 1)
  const raw = rx.requests[0].body
  assert.ok(raw.includes('"name":"lone \\ud800 surrogate"'), 'the escape JSON.stringify wrote is kept')
  const body = JSON.parse(raw)
  assert.equal(body.spans[0].input.length, 10 * 1024 * 1024)
  let depth = 0
  for (let o = body.spans[0].output; o.d; o = o.d) depth++
  assert.equal(depth, 1000)
})
