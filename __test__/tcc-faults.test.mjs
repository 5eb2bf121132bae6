// Delivery under faults: the run arrives exactly once when the receiver recovers within the retry budget, and
// nothing hangs past the timeout when it never does.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver, captureConsole, sleep } from './support/receiver.mjs'

const { TCCMastraExporter } = createRequire(import.meta.url)('../index.js')
const root = (traceId = 't1', runId = 'run-1') => ({
  id: 'root',
  traceId,
  name: 'agent run',
  type: 'agent_run',
  metadata: { 'tcc.runId': runId },
  startTime: new Date(0),
  isRootSpan: true,
  isEvent: false,
})
function sendRun(exporter, traceId, runId) {
  exporter.exportTracingEvent({ type: 'span_started', exportedSpan: root(traceId, runId) })
  exporter.exportTracingEvent({ type: 'span_ended', exportedSpan: { ...root(traceId, runId), endTime: new Date(5) } })
}

test('503 then 200: delivered exactly once after one retry', async (t) => {
  const rx = await startReceiver({ script: [{ status: 503, body: 'busy' }] })
  t.after(() => rx.close())
  const { lines } = await captureConsole(async () => {
    const e = new TCCMastraExporter({ apiKey: 'tcc_secret_k', endpoint: rx.url() })
    sendRun(e, 't1', 'run-503')
    await e.flush()
    const s = e.stats()
    assert.deepEqual([s.runsExported, s.retries, s.requests, s.runsFailed], [1, 1, 2, 0])
  })
  assert.equal(rx.requests.length, 2)
  assert.equal(rx.requests[0].body, rx.requests[1].body, 'the same body is re-sent')
  const retry = lines.filter((l) => l.text.startsWith('[TCC] Export of run run-503 failed (503 Service Unavailable); retry 1 of 5'))
  assert.equal(retry.length, 1, JSON.stringify(lines))
  assert.ok(!lines.some((l) => l.text.includes('tcc_secret_k')), 'the key is never logged')
})

test('429 with Retry-After: 1 waits at least a second, then delivers once', async (t) => {
  const rx = await startReceiver({ script: [{ status: 429, headers: { 'retry-after': '1' } }] })
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const t0 = Date.now()
  await captureConsole(async () => {
    sendRun(e, 't1', 'run-429')
    await e.flush()
  })
  assert.equal(rx.requests.length, 2)
  const gap = rx.requests[1].at - rx.requests[0].at
  assert.ok(gap >= 950, `second attempt after ${gap} ms`)
  assert.ok(Date.now() - t0 < 5000)
  assert.equal(e.stats().runsExported, 1)
})

test('connection refused for a while, then the receiver comes up: delivered once', async (t) => {
  const probe = await startReceiver()
  const port = probe.port
  await probe.close()
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: `http://127.0.0.1:${port}/v1/mastra`, maxRetries: 8 })
  let rx
  t.after(() => rx?.close())
  await captureConsole(async () => {
    sendRun(e, 't1', 'run-refused')
    await sleep(700)
    rx = await startReceiver({ port })
    await e.flush()
  })
  assert.equal(rx.requests.length, 1)
  assert.equal(rx.payloads()[0].runId, 'run-refused')
  const s = e.stats()
  assert.ok(s.retries >= 1, `retries ${s.retries}`)
  assert.equal(s.runsExported, 1)
})

test('a receiver that never answers: flush resolves after timeout and retries, the failure is logged', async (t) => {
  const rx = await startReceiver({ fallback: { hang: true } })
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url(), timeoutMs: 300, maxRetries: 1 })
  const t0 = Date.now()
  const { lines } = await captureConsole(async () => {
    sendRun(e, 't1', 'run-hang')
    await e.flush()
  })
  const took = Date.now() - t0
  assert.ok(took < 3000, `flush took ${took} ms`)
  assert.equal(rx.requests.length, 2, 'first attempt and one retry')
  assert.equal(e.stats().runsFailed, 1)
  const err = lines.find((l) => l.text.startsWith('[TCC] Export error:'))
  assert.ok(err, JSON.stringify(lines))
  assert.equal(err.level, 'error')
  assert.match(err.text, /timed out|timeout/i)
})

test('400 is final: one attempt, the reference error line with the response text', async (t) => {
  const rx = await startReceiver({ fallback: { status: 400, body: 'bad payload' } })
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const { lines } = await captureConsole(async () => {
    sendRun(e, 't1', 'run-400')
    await e.flush()
  })
  assert.equal(rx.requests.length, 1)
  const err = lines.find((l) => l.text.startsWith('[TCC] Failed to export: 400 Bad Request'))
  assert.ok(err, JSON.stringify(lines))
  assert.equal(err.args[1], 'bad payload')
  assert.equal(e.stats().runsFailed, 1)
})

test('a reset connection is retried and the run arrives once', async (t) => {
  const rx = await startReceiver({ script: [{ destroy: true }] })
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  await captureConsole(async () => {
    sendRun(e, 't1', 'run-reset')
    await e.flush()
  })
  assert.equal(rx.requests.filter((r) => !r.step.destroy).length, 1)
  assert.equal(e.stats().runsExported, 1)
})

test('413, or a run over maxRequestBytes: the run is sent in parts with the same run id, every span once', async (t) => {
  for (const [label, script, options] of [
    ['413', [{ status: 413 }], {}],
    ['byte cap', [], { maxRequestBytes: 1500 }],
  ]) {
    const rx = await startReceiver({ script })
    t.after(() => rx.close())
    const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url(), ...options })
    const ids = []
    await captureConsole(async () => {
      e.exportTracingEvent({ type: 'span_started', exportedSpan: root('t-split', 'run-split') })
      for (let i = 0; i < 6; i++) {
        const child = { id: `c${i}`, traceId: 't-split', name: 'step', type: 'model_step', parentSpanId: 'root', input: 'x'.repeat(300), isRootSpan: false, isEvent: false }
        ids.push(child.id)
        e.exportTracingEvent({ type: 'span_started', exportedSpan: child })
        e.exportTracingEvent({ type: 'span_ended', exportedSpan: child })
      }
      e.exportTracingEvent({ type: 'span_ended', exportedSpan: { ...root('t-split', 'run-split'), endTime: new Date(5) } })
      await e.flush()
    })
    const delivered = rx.requests.filter((r) => r.step.status !== 413).map((r) => JSON.parse(r.body))
    assert.ok(delivered.length >= 2, `${label}: sent in parts`)
    assert.ok(delivered.every((p) => p.runId === 'run-split' && p.traceId === 't-split'), label)
    const got = delivered.flatMap((p) => p.spans.map((s) => s.id)).sort()
    assert.deepEqual(got, ['root', ...ids].sort(), `${label}: every span exactly once`)
    assert.ok(e.stats().splits >= 1, label)
    assert.equal(e.stats().spansFailed, 0)
  }
})

test('while a run waits for a connection, later events wait in the queue as text', async (t) => {
  const rx = await startReceiver({ fallback: { hang: true } })
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url(), maxConcurrentExports: 1, timeoutMs: 60000 })
  // The first run is sent and hangs; the second waits behind it.
  sendRun(e, 't1', 'run-1')
  await sleep(100)
  sendRun(e, 't2', 'run-2')
  await sleep(100)
  // The third run's events are not taken from the queue while the second waits.
  sendRun(e, 't3', 'run-3')
  await sleep(100)
  const s = e.stats()
  assert.equal(s.inFlight, 1, JSON.stringify(s))
  assert.equal(s.queueDepth, 2, JSON.stringify(s))
  assert.equal(s.runsExported, 0)
  await e.flush(50)
})
