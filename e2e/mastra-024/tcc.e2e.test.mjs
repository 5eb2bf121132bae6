// End to end on Mastra 0.24: real agents, tool, stream and workflow -> TCCMastraExporter (native, through the 0.24
// `exportEvent` entry point) -> a real HTTP receiver on loopback. Runs on Node >= 20:
//   node --test --test-timeout=60000 tcc.e2e.test.mjs
// 0.24 has no `observability.flush()`: the tests await the exporter's own `flush()`.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { startReceiver } from '../../__test__/support/receiver.mjs'
import { TCCMastraExporter } from '../../index.js'
import { buildApp, readStream } from './scenarios.mjs'

const API_KEY = 'tcc_e2e_key'
const SESSION_ID = 'session-42'
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
// 0.24 has no model_inference spans.
const AGENT_TYPES = ['agent_run', 'model_generation', 'model_step', 'model_chunk']

let receiver
let exporter
let app
const savedEnv = { TCC_BASE_URL: process.env.TCC_BASE_URL, TCC_API_KEY: process.env.TCC_API_KEY }
const sentRunIds = []

before(async () => {
  receiver = await startReceiver()
  // The exporter reads both variables in its constructor.
  process.env.TCC_BASE_URL = receiver.base
  process.env.TCC_API_KEY = API_KEY
  exporter = new TCCMastraExporter()
  // One Mastra instance per file, under a config name of its own (0.24's tracing registry is process-global).
  app = buildApp({ exporters: [exporter], configName: `tcc-e2e-024-${process.pid}` })
})

after(async () => {
  await app?.mastra.shutdown()
  await receiver?.close()
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})

function tracingOptions() {
  const runId = randomUUID()
  assert.match(runId, UUID_V4)
  sentRunIds.push(runId)
  return { runId, tracingOptions: { metadata: { 'tcc.runId': runId, 'tcc.sessionId': SESSION_ID } } }
}

/** The one request the receiver got for `runId`, with its parsed body; asserts the transport contract. */
function requestFor(runId) {
  const matching = receiver.requests.filter((r) => JSON.parse(r.body).runId === runId)
  assert.equal(matching.length, 1, `expected exactly one request for run ${runId}, got ${matching.length}`)
  const [req] = matching
  assert.equal(req.method, 'POST')
  assert.equal(req.url, '/v1/mastra')
  assert.equal(req.headers['content-type'], 'application/json')
  assert.equal(req.headers.authorization, `Bearer ${API_KEY}`)
  return JSON.parse(req.body)
}

/** Asserts the payload shape and span tree; returns the spans grouped by type. */
function checkRun(body, { runId, traceId, rootType, types }) {
  assert.equal(body.runId, runId)
  assert.equal(body.framework, 'mastra')
  assert.equal(body.traceId, traceId)
  assert.equal(body.metadata['tcc.sessionId'], SESSION_ID)
  assert.equal(body.metadata['tcc.runId'], runId)
  assert.ok(Array.isArray(body.spans) && body.spans.length > 0, 'spans must be a non-empty array')

  const ids = new Set(body.spans.map((s) => s.id))
  assert.equal(ids.size, body.spans.length, 'span ids must be unique within a run')
  for (const span of body.spans) {
    assert.equal(span.runId, runId, `span ${span.name} carries the run id`)
    assert.equal(span.traceId, traceId, `span ${span.name} belongs to the trace`)
    assert.equal(typeof span.startTime, 'string', `span ${span.name} has a startTime`)
  }

  const roots = body.spans.filter((s) => s.isRootSpan)
  assert.equal(roots.length, 1, 'exactly one root span')
  assert.equal(roots[0].type, rootType)
  for (const span of body.spans) {
    if (span.isRootSpan) continue
    assert.ok(span.parentSpanId, `non-root span ${span.name} has a parent`)
    assert.notEqual(span.parentSpanId, span.id, `span ${span.name} is not its own parent`)
    assert.ok(ids.has(span.parentSpanId), `parent of ${span.type} ${span.name} is in the payload`)
  }

  const byType = {}
  for (const span of body.spans) (byType[span.type] ??= []).push(span)
  for (const type of types) assert.ok(byType[type]?.length, `a ${type} span is present (got ${Object.keys(byType)})`)
  return byType
}

async function flush() {
  await exporter.flush()
}

test('agent.generate sends one run with the caller-supplied tcc.runId and session', async () => {
  const { runId, tracingOptions: opts } = tracingOptions()
  const result = await app.plainAgent.generate('Say hello', { tracingOptions: opts })
  assert.equal(result.text, 'Hello from the mock model.')
  await flush()

  const body = requestFor(runId)
  const byType = checkRun(body, { runId, traceId: result.traceId, rootType: 'agent_run', types: AGENT_TYPES })
  assert.equal(byType.agent_run[0].name, "agent run: 'plain-agent'")
  assert.equal(byType.tool_call, undefined, 'no tool was called')
  assert.deepEqual(byType.model_generation[0].attributes.usage, { inputTokens: 10, outputTokens: 5, totalTokens: 15 })
  assert.equal(byType.model_inference, undefined, '0.24 has no model_inference spans')
})

test('a tool call is exported as a tool_call span inside the agent run', async () => {
  const { runId, tracingOptions: opts } = tracingOptions()
  const result = await app.toolAgent.generate('What is the weather in Paris?', { tracingOptions: opts })
  assert.equal(result.text, 'It is sunny in Paris.')
  await flush()

  const body = requestFor(runId)
  const byType = checkRun(body, {
    runId,
    traceId: result.traceId,
    rootType: 'agent_run',
    types: [...AGENT_TYPES, 'tool_call'],
  })
  assert.equal(byType.tool_call.length, 1)
  const [tool] = byType.tool_call
  assert.equal(tool.name, "tool: 'getWeather'")
  assert.deepEqual(tool.input, { city: 'Paris' })
  assert.deepEqual(tool.output, { city: 'Paris', forecast: 'sunny', tempC: 21 })
  assert.equal(byType.model_step.length, 2, 'one step for the tool call, one for the answer')
  assert.deepEqual(byType.model_generation[0].attributes.usage, { inputTokens: 30, outputTokens: 13, totalTokens: 43 })
})

test('agent.stream read to the end sends one complete run', async () => {
  const { runId, tracingOptions: opts } = tracingOptions()
  const output = await app.streamAgent.stream('Stream something', { tracingOptions: opts })
  assert.equal((await readStream(output)).trim(), 'Streaming words one by one.')
  await flush()

  const body = requestFor(runId)
  const byType = checkRun(body, { runId, traceId: output.traceId, rootType: 'agent_run', types: AGENT_TYPES })
  assert.equal(byType.agent_run[0].name, "agent run: 'stream-agent'")
  for (const span of body.spans) {
    if (!span.isEvent) assert.equal(typeof span.endTime, 'string', `streamed span ${span.name} has ended`)
  }
})

test('the two-step workflow sends one run with workflow_run and both steps', async () => {
  const { runId, tracingOptions: opts } = tracingOptions()
  // 0.24's createRun() throws and points at createRunAsync().
  const run = await app.workflow.createRunAsync()
  const result = await run.start({ inputData: { n: 21 }, tracingOptions: opts })
  assert.equal(result.status, 'success')
  assert.deepEqual(result.result, { text: 'value is 42' })
  await flush()

  const body = requestFor(runId)
  const byType = checkRun(body, {
    runId,
    traceId: result.traceId,
    rootType: 'workflow_run',
    types: ['workflow_run', 'workflow_step'],
  })
  assert.equal(body.spans.length, 3)
  assert.deepEqual(byType.workflow_step.map((s) => s.name), ["workflow step: 'double'", "workflow step: 'describe'"])
  const rootId = byType.workflow_run[0].id
  for (const step of byType.workflow_step) assert.equal(step.parentSpanId, rootId)
})

test('every run arrived exactly once and no delivery failed', async () => {
  await flush()
  const got = receiver.payloads().map((p) => p.runId)
  assert.deepEqual(got.toSorted(), sentRunIds.toSorted())
  const stats = exporter.stats()
  assert.equal(stats.runsExported, sentRunIds.length)
  assert.equal(stats.runsFailed, 0)
  assert.equal(stats.pending, 0)
})
