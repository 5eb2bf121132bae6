// OtelExporter under faults and at its bounds: retries with exactly-once delivery when the receiver recovers in the
// budget, final errors counted and logged, 413 and the byte cap splitting batches, flush deadlines, the backlog bound,
// hostile input, and the attribute limits.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver, captureConsole, sleep } from './support/receiver.mjs'
import { loadEvents } from './support/fixtures.mjs'
import { freshEvents } from './support/replay.mjs'

const { OtelExporter } = createRequire(import.meta.url)('../index.js')
const spansIn = (rx) =>
  rx.requests
    .filter((r) => r.step.status === undefined || r.step.status === 200)
    .filter((r) => !r.step.destroy && !r.step.hang)
    .flatMap((r) => JSON.parse(r.body).resourceSpans.flatMap((x) => x.scopeSpans.flatMap((s) => s.spans)))

function exporter(rx, options = {}) {
  return new OtelExporter({ provider: { custom: { endpoint: rx.base, protocol: 'http/json' } }, ...options })
}

async function replay(e, file = 'b-tool-call.jsonl') {
  const events = freshEvents('mastra-1.x', file)
  for (const ev of events) e.exportTracingEvent(ev)
  return events.filter((ev) => ev.type === 'span_ended').map((ev) => ev.exportedSpan.id)
}

function exactlyOnce(rx, ids) {
  const got = spansIn(rx).map((s) => s.spanId)
  assert.deepEqual([...got].sort(), [...ids].sort(), 'every span exactly once')
}

test('503 then 200: retried, delivered exactly once, one retry line', async (t) => {
  const rx = await startReceiver({ script: [{ status: 503 }] })
  t.after(() => rx.close())
  const e = exporter(rx)
  const { lines, result } = await captureConsole(async () => {
    const ids = await replay(e)
    return { ids, report: await e.flush() }
  })
  exactlyOnce(rx, result.ids)
  assert.deepEqual(result.report, { delivered: 10, failed: 0, dropped: 0, timedOut: false, pending: 0 })
  assert.equal(e.stats().retries, 1)
  assert.equal(lines.filter((l) => l.text.includes('failed (503 Service Unavailable); retry 1 of 5')).length, 1)
})

test('429 with Retry-After (HTTP date) is honoured', async (t) => {
  const when = new Date(Date.now() + 1500).toUTCString()
  const rx = await startReceiver({ script: [{ status: 429, headers: { 'retry-after': when } }] })
  t.after(() => rx.close())
  const e = exporter(rx)
  await captureConsole(async () => {
    const ids = await replay(e, 'a-generate.jsonl')
    await e.flush()
    exactlyOnce(rx, ids)
  })
  const gap = rx.requests[1].at - rx.requests[0].at
  assert.ok(gap >= 400, `waited ${gap} ms for the date (second precision)`)
})

test('connection refused, then the collector starts: delivered exactly once', async (t) => {
  const probe = await startReceiver()
  const port = probe.port
  await probe.close()
  const e = new OtelExporter({ provider: { custom: { endpoint: `http://127.0.0.1:${port}`, protocol: 'http/json' } }, maxRetries: 8 })
  let rx
  t.after(() => rx?.close())
  await captureConsole(async () => {
    const ids = await replay(e)
    await e.flush(50)
    await sleep(600)
    rx = await startReceiver({ port })
    const report = await e.flush()
    assert.equal(report.timedOut, false)
    exactlyOnce(rx, ids)
  })
  assert.ok(e.stats().retries >= 1)
})

test('a reset connection is retried; delivered exactly once', async (t) => {
  const rx = await startReceiver({ script: [{ destroy: true }] })
  t.after(() => rx.close())
  const e = exporter(rx)
  await captureConsole(async () => {
    const ids = await replay(e)
    await e.flush()
    exactlyOnce(rx, ids)
  })
})

test('a collector that never answers: the flush deadline returns on time and says so', async (t) => {
  const rx = await startReceiver({ fallback: { hang: true } })
  t.after(() => rx.close())
  const e = exporter(rx, { timeout: 60000 })
  await replay(e, 'a-generate.jsonl')
  const t0 = Date.now()
  const report = await e.flush(300)
  const took = Date.now() - t0
  assert.ok(took >= 280 && took < 2000, `took ${took} ms`)
  assert.equal(report.timedOut, true)
  assert.ok(report.pending > 0)
})

test('never answers, with a short timeout: the batch fails after the retries and flush resolves', async (t) => {
  const rx = await startReceiver({ fallback: { hang: true } })
  t.after(() => rx.close())
  const e = exporter(rx, { timeout: 200, maxRetries: 1 })
  const { lines } = await captureConsole(async () => {
    await replay(e, 'a-generate.jsonl')
    const report = await e.flush()
    assert.deepEqual({ ...report, pending: 0 }, { delivered: 0, failed: 5, dropped: 0, timedOut: false, pending: 0 })
  })
  assert.equal(e.stats().failedNetwork, 1)
  assert.ok(lines.some((l) => l.level === 'error' && l.text.startsWith('[OtelExporter] Failed to export 5 spans')))
})

test('a slow-drip answer: the 200 counts, the body read is bounded by the timeout, nothing hangs', async (t) => {
  const rx = await startReceiver({ script: [{ drip: { bytes: 100, everyMs: 100 } }] })
  t.after(() => rx.close())
  const e = exporter(rx, { timeout: 500 })
  await replay(e, 'a-generate.jsonl')
  const t0 = Date.now()
  const report = await e.flush()
  const took = Date.now() - t0
  assert.ok(took < 2000, `flush took ${took} ms while the body would take 10 s`)
  assert.equal(report.delivered, 5, 'accepted once, not re-sent')
  assert.equal(e.stats().retries, 0)
  assert.equal(rx.requests.length, 1)
})

test('413: the batch is split and every span still arrives once', async (t) => {
  const rx = await startReceiver({ script: [{ status: 413 }] })
  t.after(() => rx.close())
  const e = exporter(rx)
  const ids = await replay(e)
  await e.flush()
  exactlyOnce(rx, ids)
  assert.ok(e.stats().splits >= 1)
  assert.equal(e.stats().spansFailed, 0)
})

test('maxRequestBytes splits large batches before sending', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = exporter(rx, { maxRequestBytes: 4096 })
  const ids = await replay(e)
  await e.flush()
  exactlyOnce(rx, ids)
  assert.ok(rx.requests.length > 1)
  for (const r of rx.requests) assert.ok(r.raw.length <= 4096 || JSON.parse(r.body).resourceSpans[0].scopeSpans[0].spans.length === 1)
})

test('400 and 401 are final: one attempt, counted, one error line with the status', async (t) => {
  for (const status of [400, 401]) {
    const rx = await startReceiver({ fallback: { status, body: 'nope' } })
    t.after(() => rx.close())
    const e = exporter(rx)
    const { lines } = await captureConsole(async () => {
      await replay(e, 'a-generate.jsonl')
      const report = await e.flush()
      assert.equal(report.failed, 5)
    })
    assert.equal(rx.requests.length, 1, `${status}: no retry`)
    assert.equal(e.stats().failedStatus, 1)
    assert.ok(lines.some((l) => l.level === 'error' && l.text.includes(`: ${status} `)), JSON.stringify(lines))
  }
})

test('the backlog is bounded: a dead collector drops the oldest batches, counted and warned', async (t) => {
  const rx = await startReceiver({ fallback: { hang: true } })
  t.after(() => rx.close())
  const e = exporter(rx, { timeout: 60000, batchSize: 2, maxConcurrentExports: 1, maxExportBacklogBytes: 6000 })
  const { lines } = await captureConsole(async () => {
    for (let i = 0; i < 5; i++) await replay(e)
    await e.flush(100)
  })
  const s = e.stats()
  assert.ok(s.droppedBacklogFull > 0, JSON.stringify(s))
  assert.equal(s.inFlight, 1)
  assert.equal(lines.filter((l) => l.text.includes('Too many batches are waiting')).length, 1, 'rate-limited to one line')
})

test('while a batch waits for a connection, later spans wait in the queue as text, not as more built batches', async (t) => {
  const rx = await startReceiver({ fallback: { hang: true } })
  t.after(() => rx.close())
  const e = exporter(rx, { timeout: 60000, batchSize: 2, maxConcurrentExports: 1 })
  // The first trace's 10 spans arrive together: five batches, one sent (it hangs), four waiting behind it.
  await replay(e)
  await sleep(100)
  // The next traces are not taken from the queue while those wait.
  await replay(e)
  await replay(e)
  await sleep(100)
  const s = e.stats()
  assert.equal(s.inFlight, 1, JSON.stringify(s))
  assert.equal(s.queueDepth, 20, JSON.stringify(s))
  assert.equal(s.pending, 25, 'the 20 queued spans and the 5 batches')
  await e.flush(50)
})

test('hostile input never throws, is counted, and good spans still go out', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = exporter(rx)
  const good = loadEvents('mastra-1.x', 'd-workflow.jsonl')
  const cyclic = { id: 'aa', traceId: 'bb', type: 'generic', name: 'c', startTime: new Date(0), endTime: new Date(1) }
  cyclic.attributes = { self: cyclic, big: 10n, nan: NaN }
  let deep = {}
  for (let i = 0; i < 1000; i++) deep = { d: deep }
  const weird = [
    null, undefined, 7, 'x', [], {}, { type: 'span_ended' }, { type: 'span_ended', exportedSpan: null },
    { type: 'what', exportedSpan: {} }, { type: 'span_ended', exportedSpan: { id: 'not-hex!', traceId: 'zz', startTime: 0 } },
    { type: 'span_ended', exportedSpan: { id: 'ab', traceId: 'cd' } },
    { type: 'span_ended', exportedSpan: { get id() { throw new Error('getter') }, traceId: 'cd', startTime: new Date(0) } },
    { get type() { throw new Error('type getter') } },
    { type: 'span_ended', get exportedSpan() { throw new Error('span getter') } },
    { type: 'span_started', get exportedSpan() { throw new Error('span getter') } },
  ]
  const { lines } = await captureConsole(async () => {
    for (const ev of weird) assert.doesNotThrow(() => e.exportTracingEvent(ev))
    e.exportTracingEvent({ type: 'span_ended', exportedSpan: cyclic })
        e.exportTracingEvent({ type: 'span_ended', exportedSpan: { ...cyclic, id: 'ac', name: 'surrogates', input: 'lone \ud800 ' + 'x'.repeat(10 * 1024 * 1024), output: deep } })
    e.exportTracingEvent({ type: 'span_ended', exportedSpan: cyclic }) // a duplicate end
    for (const ev of good) e.exportTracingEvent(ev)
    await e.flush()
  })
  const names = spansIn(rx).map((s) => s.name)
  assert.ok(names.includes('invoke_workflow two-step-wf'), names.join(', '))
  const c = spansIn(rx).find((s) => s.name === 'c')
  const attrs = Object.fromEntries(c.attributes.map((a) => [a.key, Object.values(a.value)[0]]))
    const sur = spansIn(rx).find((s) => s.name === 'surrogates')
  const input = sur.attributes.find((a) => a.key === 'mastra.generic.input').value.stringValue
  assert.ok(input.startsWith('lone \ufffd x'), 'a lone surrogate becomes U+FFFD')
  assert.equal(input.length, 10 * 1024 * 1024 + 7, 'the 10 MB string arrives whole')
  const output = sur.attributes.find((a) => a.key === 'mastra.generic.output').value.stringValue
  assert.ok(output.startsWith('{"d":{"d":'), 'the 1,000-level nesting arrives as JSON')
  assert.ok(e.stats().spansInvalid >= 9, JSON.stringify(e.stats()))
  assert.ok(lines.every((l) => l.text.startsWith('[OtelExporter]')), 'every line is prefixed')
  assert.equal(e.stats().panics, 0)
  assert.ok(Object.keys(attrs).length > 0)
})

test('attributeValueLengthLimit and maxSpanBytes keep JSON values parseable', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = exporter(rx, { attributeValueLengthLimit: 120, maxSpanBytes: 2000 })
  await replay(e)
  await e.flush()
  const spans = spansIn(rx)
  assert.equal(spans.length, 10)
  for (const s of spans) {
    for (const a of s.attributes) {
      const v = a.value.stringValue
      if (v === undefined) continue
      assert.ok([...v].length <= 120 + 12, `${a.key}: ${[...v].length}`)
      if (/^[[{]/.test(v) && a.key.match(/input|output|messages/)) assert.doesNotThrow(() => JSON.parse(v), `${a.key} stays JSON: ${v}`)
    }
  }
  assert.ok(e.stats().spansTruncated > 0)
})
