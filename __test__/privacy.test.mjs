// What must never leave the process: redacted keys, content when captureContent is false, and credentials in logs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver, captureConsole } from './support/receiver.mjs'
import { loadEvents } from './support/fixtures.mjs'

const { TCCMastraExporter, OtelExporter } = createRequire(import.meta.url)('../index.js')
const SECRET = 'hunter2-do-not-leak'

function runWithSecrets() {
  const root = {
    id: '00000000000000a1',
    traceId: '000000000000000000000000000000b1',
    name: "agent run: 'x'",
    type: 'agent_run',
    startTime: new Date(0),
    endTime: new Date(5),
    attributes: { instructions: 'be nice', credentials: { password: SECRET } },
    metadata: { 'tcc.runId': 'run-secret', userPassword: SECRET, sessionToken: SECRET, keep: 'visible' },
    input: { messages: [{ role: 'user', content: 'hi', apiKey: SECRET }] },
    output: { text: 'hello' },
    isRootSpan: true,
    isEvent: false,
  }
  return [
    { type: 'span_started', exportedSpan: root },
    { type: 'span_ended', exportedSpan: root },
  ]
}

test('TCC: redact replaces matching keys everywhere in the span data, before sending', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url(), redact: ['*password', '*token', 'apikey'] })
  for (const ev of runWithSecrets()) e.exportTracingEvent(ev)
  await e.flush()
  const body = rx.requests[0].body
  assert.ok(!body.includes(SECRET), body)
  const span = JSON.parse(body).spans[0]
  assert.equal(span.attributes.credentials.password, '[REDACTED]')
  assert.equal(span.metadata.userPassword, '[REDACTED]')
  assert.equal(span.metadata.sessionToken, '[REDACTED]')
  assert.equal(span.metadata.keep, 'visible')
  assert.equal(span.input.messages[0].apiKey, '[REDACTED]')
  assert.equal(JSON.parse(body).runId, 'run-secret')
})

test('TCC: captureContent false drops inputs, outputs and instructions', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url(), captureContent: false })
  for (const ev of runWithSecrets()) e.exportTracingEvent(ev)
  await e.flush()
  const span = JSON.parse(rx.requests[0].body).spans[0]
  assert.equal(span.input, undefined)
  assert.equal(span.output, undefined)
  assert.equal(span.attributes.instructions, undefined)
  assert.equal(span.name, "agent run: 'x'")
})

test('OTel: redact applies before mapping, in every attribute', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new OtelExporter({ provider: { custom: { endpoint: rx.base } }, redact: ['*password', '*token', 'apiKey'] })
  for (const ev of runWithSecrets()) e.exportTracingEvent(ev)
  await e.flush()
  const body = rx.requests[0].body
  assert.ok(!body.includes(SECRET), body)
  const span = JSON.parse(body).resourceSpans[0].scopeSpans[0].spans[0]
  const attrs = Object.fromEntries(span.attributes.map((a) => [a.key, Object.values(a.value)[0]]))
  assert.equal(attrs['mastra.metadata.userPassword'], '[REDACTED]')
  assert.equal(attrs['mastra.metadata.keep'], 'visible')
})

test('API keys and auth headers never appear in any log line, debug output included', async (t) => {
  const rx = await startReceiver({ fallback: { status: 401, body: 'unauthorized' } })
  t.after(() => rx.close())
  const KEY = 'tcc_prod_SUPERSECRETKEY123'
  const { lines } = await captureConsole(async () => {
    const tcc = new TCCMastraExporter({ apiKey: KEY, endpoint: rx.url(), debug: true })
    tcc.init({ config: { serviceName: 's' } })
    const otel = new OtelExporter({
      provider: { custom: { endpoint: rx.base, headers: { authorization: `Bearer ${KEY}`, 'x-api-key': KEY } } },
      logLevel: 'debug',
    })
    for (const ev of loadEvents('mastra-1.x', 'a-generate.jsonl')) {
      tcc.exportTracingEvent(ev)
      otel.exportTracingEvent(ev)
    }
    await Promise.all([tcc.flush(), otel.flush()])
    assert.throws(() => new TCCMastraExporter({ apiKey: KEY, endpoint: 'https://evil.example/x' }), (err) => !err.message.includes(KEY))
  })
  assert.ok(lines.length > 5, 'debug and failure lines were printed')
  assert.ok(lines.some((l) => l.text.includes('401')), 'the failures were logged')
  for (const l of lines) {
    assert.ok(!l.text.includes(KEY) && !l.text.includes('SUPERSECRET'), `leaked in: ${l.text.slice(0, 200)}`)
  }
  assert.equal(rx.requests.find((r) => r.url === '/v1/mastra').headers.authorization, `Bearer ${KEY}`, 'the key was sent, to the server only')
})
