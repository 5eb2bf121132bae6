// The behaviours @contextcompany/mastra 2.0.0's own test suite asserts (spec/tcc-exporter.md section 13.1), replayed
// against a real loopback receiver that holds its responses until the test releases them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver, withEnv, sleep } from './support/receiver.mjs'

const { TCCMastraExporter } = createRequire(import.meta.url)('../index.js')
const RUN_ID = '11111111-1111-4111-8111-111111111111'
const span = (o) => ({
  name: 'span',
  type: 'agent_run',
  isRootSpan: false,
  isEvent: false,
  startTime: new Date('2026-09-05T00:00:00Z'),
  ...o,
})
const started = (s) => ({ type: 'span_started', exportedSpan: s })
const ended = (s) => ({ type: 'span_ended', exportedSpan: s })

async function setup(t) {
  const rx = await startReceiver({ fallback: { hold: true, status: 200 } })
  t.after(() => rx.close())
  const exporter = new TCCMastraExporter({ apiKey: 'tcc_test', endpoint: rx.url('/v1/mastra') })
  return { rx, exporter }
}

test('1: one payload per trace, sent on root end, using tcc.runId', async (t) => {
  const { rx, exporter } = await setup(t)
  const metadata = { 'tcc.runId': RUN_ID, 'tcc.sessionId': 's1', custom: 'x' }
  const root = span({ id: 'root', traceId: 't1', isRootSpan: true, metadata })
  const child = span({ id: 'child', traceId: 't1', type: 'model_step', parentSpanId: 'root' })
  exporter.exportTracingEvent(started(root))
  exporter.exportTracingEvent(started(child))
  exporter.exportTracingEvent(ended(child))
  exporter.exportTracingEvent(ended(root))
  await rx.waitFor(1)
  rx.releaseAll()
  await exporter.flush()
  assert.equal(rx.requests.length, 1)
  assert.equal(rx.requests[0].url, '/v1/mastra')
  const body = rx.payloads()[0]
  assert.equal(body.runId, RUN_ID)
  assert.equal(body.traceId, 't1')
  assert.equal(body.framework, 'mastra')
  assert.deepEqual(body.metadata, metadata)
  assert.deepEqual(
    body.spans.map((s) => s.id),
    ['root', 'child'],
  )
  for (const s of body.spans) assert.equal(s.runId, RUN_ID)
})

test('2: no re-export while a request is in flight; flush waits for it', async (t) => {
  const { rx, exporter } = await setup(t)
  const root = span({ id: 'root', traceId: 't1', isRootSpan: true, metadata: { 'tcc.runId': RUN_ID } })
  exporter.exportTracingEvent(started(root))
  exporter.exportTracingEvent(ended(root))
  await rx.waitFor(1)
  let flushed = false
  const flushing = exporter.flush().then(() => (flushed = true))
  await sleep(150)
  assert.equal(flushed, false, 'flush() must not resolve while the request is held')
  rx.release()
  await flushing
  assert.equal(flushed, true)
  assert.equal(rx.requests.length, 1)
})

test('3: flush() exports un-ended traces concurrently, exactly once; shutdown() adds nothing', async (t) => {
  const { rx, exporter } = await setup(t)
  exporter.exportTracingEvent(started(span({ id: 'r1', traceId: 't1', isRootSpan: true, metadata: { 'tcc.runId': RUN_ID } })))
  exporter.exportTracingEvent(started(span({ id: 'r2', traceId: 't2', isRootSpan: true })))
  const flushing = exporter.flush()
  await rx.waitFor(2)
  assert.equal(rx.heldCount(), 2, 'both POSTs are in flight before either is answered')
  rx.releaseAll()
  await flushing
  assert.deepEqual(rx.payloads().map((p) => p.traceId).sort(), ['t1', 't2'])
  await exporter.shutdown()
  assert.equal(rx.requests.length, 2)
})

test('4: a run id is generated when tcc.runId is absent', async (t) => {
  const { rx, exporter } = await setup(t)
  const root = span({ id: 'root', traceId: 't1', isRootSpan: true })
  exporter.exportTracingEvent(started(root))
  exporter.exportTracingEvent(ended(root))
  await rx.waitFor(1)
  rx.releaseAll()
  await exporter.flush()
  assert.match(rx.payloads()[0].runId, /^[0-9a-f-]{36}$/)
  assert.match(rx.payloads()[0].runId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
})

test('5: the constructor throws without a key', async () => {
  await withEnv({ TCC_API_KEY: undefined }, () => {
    assert.throws(() => new TCCMastraExporter({}), {
      message: 'Missing API key: set TCC_API_KEY as an environment variable or provide apiKey in TCCMastraExporter',
    })
    assert.throws(() => new TCCMastraExporter(), /Missing API key/)
    assert.throws(() => new TCCMastraExporter({ apiKey: '' }), /Missing API key/)
  })
})

test('span_updated replaces in place and never adds; headers are exactly the two the reference sets', async (t) => {
  const { rx, exporter } = await setup(t)
  const root = span({ id: 'root', traceId: 't1', isRootSpan: true })
  exporter.exportEvent(started(root))
  exporter.exportEvent(started(span({ id: 'a', traceId: 't1', parentSpanId: 'root' })))
  exporter.exportEvent({ type: 'span_updated', exportedSpan: span({ id: 'a', traceId: 't1', input: 'new' }) })
  exporter.exportEvent({ type: 'span_updated', exportedSpan: span({ id: 'ghost', traceId: 't1' }) })
  exporter.exportEvent(ended(root))
  await rx.waitFor(1)
  rx.releaseAll()
  await exporter.flush()
  const body = rx.payloads()[0]
  assert.deepEqual(
    body.spans.map((s) => s.id),
    ['root', 'a'],
  )
  assert.equal(body.spans[1].input, 'new')
  const h = rx.requests[0].headers
  assert.equal(h['content-type'], 'application/json')
  assert.equal(h.authorization, 'Bearer tcc_test')
  assert.equal(h['user-agent'], undefined, 'no extra user agent')
})
