// Replays every captured Mastra event stream (1.x through exportTracingEvent and onTracingEvent, 0.24 through
// exportEvent) and checks each received body against what the reference would send for the same events.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver } from './support/receiver.mjs'
import { loadEvents, fixtureFiles } from './support/fixtures.mjs'
import { referencePayloads } from './support/reference-model.mjs'

const { TCCMastraExporter } = createRequire(import.meta.url)('../index.js')
const versions = [
  ['mastra-1.x', 'exportTracingEvent'],
  ['mastra-1.x', 'onTracingEvent'],
  ['mastra-0.24', 'exportEvent'],
]

async function replay(t, version, method, file, options = {}) {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const exporter = new TCCMastraExporter({ apiKey: 'tcc_test', endpoint: rx.url(), ...options })
  const events = loadEvents(version, file)
  // exportTracingEvent and exportEvent return a resolved promise; onTracingEvent (what Mastra 1.x calls) nothing.
  for (const e of events) {
    const r = exporter[method](e)
    if (method === 'onTracingEvent') assert.equal(r, undefined)
    else assert.ok(r instanceof Promise)
  }
  await exporter.flush()
  return { rx, events, exporter }
}

for (const [version, method] of versions) {
  for (const file of fixtureFiles(version)) {
    test(`${version}/${file} (${method}): with includeEventSpans:false the body is byte-identical to the reference`, async (t) => {
      const { rx, events } = await replay(t, version, method, file, { includeEventSpans: false })
      const expected = referencePayloads(events)
      assert.deepEqual(
        rx.requests.map((r) => r.body),
        expected,
      )
    })

    test(`${version}/${file} (${method}): by default, event spans are kept and nothing else changes`, async (t) => {
      const { rx, events, exporter } = await replay(t, version, method, file)
      const started = new Set(events.filter((e) => e.type === 'span_started').map((e) => e.exportedSpan.id))
      const unstarted = events.filter((e) => e.type === 'span_ended' && !started.has(e.exportedSpan.id))
      const expected = referencePayloads(events).map((b) => JSON.parse(b))
      const got = rx.payloads()
      if (file.startsWith('e-')) {
        // Only the root's span_ended was captured: the reference sends nothing, this exporter sends the run.
        assert.equal(expected.length, 0)
        assert.equal(got.length, 1)
        assert.equal(got[0].runId, 'run-e')
        assert.equal(got[0].spans.length, 1)
        return
      }
      assert.equal(got.length, expected.length, 'one request per run')
      for (const [i, body] of got.entries()) {
        const want = expected[i]
        assert.equal(body.runId, want.runId)
        assert.equal(body.runId, `run-${file[0]}`)
        assert.deepEqual(body.metadata, want.metadata)
        const extra = body.spans.filter((s) => !want.spans.some((w) => w.id === s.id))
        assert.deepEqual(
          extra.map((s) => s.id),
          unstarted.filter((e) => e.exportedSpan.traceId === body.traceId).map((e) => e.exportedSpan.id),
          'the only additions are the spans that ended without a start',
        )
        assert.deepEqual(
          body.spans.filter((s) => !extra.includes(s)),
          want.spans,
        )
        for (const s of body.spans) assert.equal(s.runId, body.runId)
        const ids = new Set(body.spans.map((s) => s.id))
        for (const s of body.spans) if (!s.isRootSpan) assert.ok(ids.has(s.parentSpanId), `parent of ${s.id}`)
      }
      const stats = exporter.stats()
      assert.equal(stats.eventSpansKept, unstarted.length)
      assert.equal(stats.runsExported, got.length)
      assert.equal(stats.invalidEvents, 0)
    })
  }
}
