// OtelExporter through the JS boundary: construction and presets, event filtering, the three mapping modes, and what
// a real loopback receiver gets over http/json (decoded here) for every captured fixture.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver, withEnv, captureConsole } from './support/receiver.mjs'
import { loadEvents, fixtureFiles } from './support/fixtures.mjs'

const { OtelExporter } = createRequire(import.meta.url)('../index.js')
const spansOf = (rx) =>
  rx.payloads().flatMap((p) => p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))
const attrs = (span) => Object.fromEntries(span.attributes.map((a) => [a.key, Object.values(a.value)[0]]))

async function replay(t, version, method, file, options = {}) {
  const rx = await startReceiver({ fallback: { status: 200, body: '{}', headers: { 'content-type': 'application/json' } } })
  t.after(() => rx.close())
  const exporter = new OtelExporter({ provider: { custom: { endpoint: rx.base, protocol: 'http/json' } }, ...options })
  exporter.init({ config: { serviceName: 'otel-test' } })
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

test('surface: name, methods, flush and shutdown resolve', async () => {
  const e = new OtelExporter({ provider: { custom: { endpoint: 'http://127.0.0.1:9' } } })
  assert.equal(e.name, 'opentelemetry')
  assert.equal(e.isDisabled, false)
  assert.equal(e.endpoint, 'http://127.0.0.1:9/v1/traces')
  assert.equal(e.protocol, 'http/json')
  for (const m of ['init', 'exportTracingEvent', 'exportEvent', 'onTracingEvent', 'flush', 'shutdown', '__setLogger', 'stats']) {
    assert.equal(typeof e[m], 'function', m)
  }
  await e.flush()
  await e.shutdown()
})

test('missing required values disable the exporter with one clear line, never a throw', async () => {
  const cases = [
    [{ provider: { signoz: {} } }, 'SIGNOZ_API_KEY'],
    [{ provider: { newrelic: {} } }, 'NEW_RELIC_LICENSE_KEY'],
    [{ provider: { traceloop: {} } }, 'TRACELOOP_API_KEY'],
    [{ provider: { laminar: {} } }, 'LMNR_PROJECT_API_KEY'],
    [{ provider: { dash0: { apiKey: 'k' } } }, 'DASH0_ENDPOINT'],
    [{ provider: { custom: {} } }, 'requires an endpoint'],
    [{ provider: { custom: { endpoint: 'http://h', protocol: 'udp' } } }, 'Unknown protocol'],
    [{ provider: { custom: { endpoint: 'http://h' } }, semconv: 'v9' }, 'Unknown semconv'],
  ]
  const clean = { SIGNOZ_API_KEY: undefined, NEW_RELIC_LICENSE_KEY: undefined, TRACELOOP_API_KEY: undefined, LMNR_PROJECT_API_KEY: undefined, DASH0_ENDPOINT: undefined }
  for (const [options, text] of cases) {
    const { lines } = await withEnv(clean, () =>
      captureConsole(async () => {
        const e = new OtelExporter(options)
        assert.equal(e.isDisabled, true, JSON.stringify(options))
        assert.doesNotThrow(() => e.exportTracingEvent({ type: 'span_ended', exportedSpan: {} }))
        await e.flush()
      }),
    )
    const line = lines.find((l) => l.text.startsWith('[OtelExporter]'))
    assert.ok(line && line.text.includes(text) && line.level === 'error', `${text} in ${JSON.stringify(lines)}`)
  }
})

test('presets take their keys from the environment and send the right headers', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  await withEnv({ SIGNOZ_API_KEY: 'sig-key', SIGNOZ_ENDPOINT: rx.base }, async () => {
    const e = new OtelExporter({ provider: { signoz: {} } })
    assert.equal(e.protocol, 'http/protobuf')
    assert.equal(e.endpoint, `${rx.base}/v1/traces`)
    for (const ev of loadEvents('mastra-1.x', 'd-workflow.jsonl')) e.exportTracingEvent(ev)
    await e.flush()
  })
  assert.equal(rx.requests.length, 1)
  assert.equal(rx.requests[0].headers['content-type'], 'application/x-protobuf')
  assert.equal(rx.requests[0].headers['signoz-ingestion-key'], 'sig-key')
})

test('without a provider the standard OTEL_EXPORTER_OTLP_* variables apply, with gzip', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  await withEnv(
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.base,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-team=core,authorization=Bearer%20abc',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_SERVICE_NAME: 'from-env',
    },
    async () => {
      const e = new OtelExporter()
      assert.equal(e.isDisabled, false)
      for (const ev of loadEvents('mastra-1.x', 'a-generate.jsonl')) e.exportTracingEvent(ev)
      await e.flush()
    },
  )
  const r = rx.requests[0]
  assert.equal(r.url, '/v1/traces')
  assert.equal(r.headers['content-encoding'], 'gzip')
  assert.equal(r.headers['x-team'], 'core')
  assert.equal(r.headers.authorization, 'Bearer abc')
  const { gunzipSync } = await import('node:zlib')
  const body = JSON.parse(gunzipSync(r.raw).toString())
  const service = body.resourceSpans[0].resource.attributes.find((a) => a.key === 'service.name')
  assert.equal(service.value.stringValue, 'from-env')
})

for (const [version, method] of [['mastra-1.x', 'exportTracingEvent'], ['mastra-1.x', 'onTracingEvent'], ['mastra-0.24', 'exportEvent']]) {
  for (const file of fixtureFiles(version)) {
    test(`${version}/${file} (${method}): every ended span arrives once, with hex ids and intact parent links`, async (t) => {
      const { rx, events, exporter } = await replay(t, version, method, file)
      const ended = events.filter((e) => e.type === 'span_ended')
      const spans = spansOf(rx)
      assert.equal(spans.length, ended.length)
      assert.deepEqual(spans.map((s) => s.spanId).sort(), ended.map((e) => e.exportedSpan.id).sort())
      const ids = new Set(spans.map((s) => s.spanId))
      for (const s of spans) {
        assert.match(s.traceId, /^[0-9a-f]{32}$/)
        assert.match(s.spanId, /^[0-9a-f]{16}$/)
        if (s.parentSpanId) assert.ok(ids.has(s.parentSpanId), `parent of ${s.name}`)
      }
      const stats = exporter.stats()
      assert.equal(stats.spansExported, ended.length)
      assert.equal(stats.spansInvalid, 0)
      const resource = Object.fromEntries(rx.payloads()[0].resourceSpans[0].resource.attributes.map((a) => [a.key, a.value.stringValue]))
      assert.equal(resource['service.name'], 'otel-test')
    })
  }
}

test('span names per mode for the same tool-calling run', async (t) => {
  const names = {}
  for (const semconv of ['mastra', 'legacy', 'latest']) {
    const { rx } = await replay(t, 'mastra-1.x', 'exportTracingEvent', 'b-tool-call.jsonl', { semconv })
    names[semconv] = spansOf(rx).map((s) => s.name)
  }
  assert.ok(names.mastra.includes('invoke_agent Tool Agent'))
  assert.ok(names.mastra.includes('chat mock-tool-model'))
  assert.ok(names.mastra.includes('execute_tool getWeather'))
  assert.ok(names.legacy.includes('agent.tool-agent'))
  assert.ok(names.legacy.includes('tool.execute getWeather'))
  assert.ok(names.latest.includes('invoke_agent Tool Agent'))
})

test('0.24 defaults to the legacy mapping, 1.x to the mastra mapping', async (t) => {
  const legacy = spansOf((await replay(t, 'mastra-0.24', 'exportEvent', 'b-tool-call.jsonl')).rx)
  const root = legacy.find((s) => !s.parentSpanId)
  assert.equal(root.name, 'agent.tool-agent')
  assert.equal(root.kind, 2, 'SERVER')
  const llm = legacy.find((s) => s.name.startsWith('chat ') || s.name.startsWith('tool_selection '))
  assert.equal(llm.kind, 3, 'CLIENT')
  assert.equal(attrs(llm)['gen_ai.system'], 'mock-provider')
  assert.ok(attrs(llm)['gen_ai.usage.input_tokens'] > 0)
  const tool = legacy.find((s) => s.name === 'tool.execute getWeather')
  assert.equal(tool.kind, 1, 'INTERNAL')
})

test('captureContent: false keeps every span but no input, output or messages', async (t) => {
  const { rx } = await replay(t, 'mastra-1.x', 'exportTracingEvent', 'b-tool-call.jsonl', { captureContent: false })
  const keys = spansOf(rx).flatMap((s) => s.attributes.map((a) => a.key))
  assert.ok(keys.length > 0)
  const leaked = keys.filter((k) => /\.input$|\.output$|messages|instructions|arguments|result/.test(k))
  assert.deepEqual(leaked, [])
})

test('only span_ended is exported; other events are ignored without serialising', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new OtelExporter({ provider: { custom: { endpoint: rx.base } } })
  let reads = 0
  const span = { get id() { reads++; return '00000000000000a1' } }
  e.exportTracingEvent({ type: 'span_started', exportedSpan: span })
  e.exportTracingEvent({ type: 'span_updated', exportedSpan: span })
  assert.equal(reads, 0)
  await e.flush()
  assert.equal(rx.requests.length, 0)
})
