// End to end on Mastra 0.24: the real Mastra app of scenarios.mjs with two native OtelExporters in its exporters
// list (through the 0.24 `exportEvent` entry point), one per attribute convention, each sending OTLP http/protobuf
// to a real Arize Phoenix on loopback; every assertion reads the spans back through Phoenix's REST API.
//   semconv 'legacy' (the 0.24 default)
//   semconv 'mastra'
// Needs the real backends (scripts/backends/setup.sh). Runs on Node >= 20:
//   node --test --test-timeout=180000 otel.e2e.test.mjs
// 0.24 has no `observability.flush()`: the tests await each exporter's own `flush()`.
//
// One Phoenix per exporter: both exporters send the same trace (same trace and span ids), and Phoenix keys traces
// by trace id and spans by span id across all its projects (the first copy wins, later copies are silently
// dropped), so one Phoenix cannot hold the trace once per project.
//
// 0.24 spans carry less than 1.x ones: no entity name (the agent is named by its id), no model_inference span (the
// model_generation span is the model call, one for the whole run), and steps and chunks have no entity at all, so
// 'mastra' mode names them after their sanitised Mastra names, as @mastra/otel-exporter 1.4.0 does.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { phoenixSpans, startPhoenix, stopBackend } from '../../__test__/support/backends.mjs'
import { buildApp } from './scenarios.mjs'

const { OtelExporter } = createRequire(import.meta.url)('../../index.js')

const TRACE_ID = /^[0-9a-f]{32}$/

// Per mode: the trace of `toolAgent.generate('What is the weather in Paris?')` (the model asks for the tool, the tool
// runs, the model answers; 0.24 sums the usage of both calls on the generation: 30 in, 13 out) and of the workflow.
// `edges` are "parent name -> child name", one line per non-root span.
const EXPECTED = {
  legacy: {
    root: 'agent.tool-agent',
    chat: 'chat mock-tool-model',
    tool: 'tool.execute getWeather',
    ops: { root: 'agent.run', chat: 'chat', tool: 'tool.execute' },
    toolRun: [
      "chunk: 'text'",
      "chunk: 'tool-call'",
      "chunk: 'tool-result'",
      'agent.tool-agent',
      'chat mock-tool-model',
      'step: 0',
      'step: 1',
      'tool.execute getWeather',
    ],
    toolEdges: [
      'agent.tool-agent -> chat mock-tool-model',
      'chat mock-tool-model -> step: 0',
      'chat mock-tool-model -> step: 1',
      "step: 0 -> chunk: 'tool-call'",
      "step: 0 -> chunk: 'tool-result'",
      'step: 0 -> tool.execute getWeather',
      "step: 1 -> chunk: 'text'",
    ],
    workflowRoot: 'workflow.two-step-wf',
    workflow: ["workflow step: 'describe'", "workflow step: 'double'", 'workflow.two-step-wf'],
    workflowOps: { root: 'workflow.run', step: 'workflow.step' },
  },
  mastra: {
    root: 'invoke_agent tool-agent',
    chat: 'chat mock-tool-model',
    tool: 'execute_tool getWeather',
    ops: { root: 'invoke_agent', chat: 'chat', tool: 'execute_tool' },
    toolRun: [
      'chat mock-tool-model',
      'chunk text',
      'chunk tool-call',
      'chunk tool-result',
      'execute_tool getWeather',
      'invoke_agent tool-agent',
      'step 0',
      'step 1',
    ],
    toolEdges: [
      'chat mock-tool-model -> step 0',
      'chat mock-tool-model -> step 1',
      'invoke_agent tool-agent -> chat mock-tool-model',
      'step 0 -> chunk tool-call',
      'step 0 -> chunk tool-result',
      'step 0 -> execute_tool getWeather',
      'step 1 -> chunk text',
    ],
    workflowRoot: 'invoke_workflow two-step-wf',
    workflow: ['invoke_workflow two-step-wf', 'workflow_step describe', 'workflow_step double'],
    workflowOps: { root: 'invoke_workflow', step: 'workflow_step' },
  },
}

// One entry per exporter; `phoenix`, `project` and `exporter` are filled in by before().
const modes = [
  { mode: 'legacy', protocol: 'http/protobuf', options: {} },
  { mode: 'mastra', protocol: 'http/protobuf', options: { semconv: 'mastra' } },
]
let app
const traces = {} // scenario -> trace id

before(async () => {
  const phoenixes = await Promise.all(modes.map(() => startPhoenix()))
  modes.forEach((m, i) => {
    m.phoenix = phoenixes[i]
    m.project = `otel-e2e-024-${m.mode}-${randomUUID()}`
    m.exporter = new OtelExporter({
      provider: { custom: { endpoint: m.phoenix.otlpHttp, protocol: m.protocol } },
      resourceAttributes: { 'openinference.project.name': m.project },
      ...m.options,
    })
    assert.equal(m.exporter.isDisabled, false, `${m.mode} exporter is enabled`)
    assert.equal(m.exporter.protocol, m.protocol)
  })
  // One Mastra instance per file, under a config name of its own (0.24's tracing registry is process-global).
  app = buildApp({
    exporters: modes.map((m) => m.exporter),
    serviceName: 'otel-e2e-024',
    configName: `otel-e2e-024-${process.pid}`,
  })
})

after(async () => {
  await app?.mastra.shutdown()
  await Promise.all(modes.filter((m) => m.phoenix).map((m) => stopBackend(m.phoenix)))
})

async function flush() {
  await Promise.all(modes.map((m) => m.exporter.flush()))
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

test('tool-calling agent.generate: the whole trace in each mode, names, operations, usage on the model call only', async (t) => {
  const result = await app.toolAgent.generate('What is the weather in Paris?')
  assert.equal(result.text, 'It is sunny in Paris.')
  assert.match(result.traceId, TRACE_ID)
  traces.tool = result.traceId
  await flush()

  const shapes = []
  for (const m of modes) {
    const want = EXPECTED[m.mode]
    const tr = await storedTrace(m, result.traceId, want.toolRun.length)
    t.diagnostic(`${m.mode} (${m.protocol}) tool run: ${tr.names.join(' | ')}`)
    assert.deepEqual(tr.names, sorted(want.toolRun), `${m.mode}: span names`)
    assert.deepEqual(tr.edges, sorted(want.toolEdges), `${m.mode}: tree shape`)
    assert.equal(tr.root.name, want.root)
    assert.equal(tr.root.attributes['gen_ai.operation.name'], want.ops.root)
    assert.equal(tr.root.attributes['gen_ai.agent.id'], 'tool-agent')

    const [chat] = tr.named(want.chat)
    assert.equal(chat.attributes['gen_ai.operation.name'], want.ops.chat, `${m.mode}: chat operation`)
    assert.equal(chat.attributes['gen_ai.request.model'], 'mock-tool-model')
    assert.equal(chat.attributes['gen_ai.usage.input_tokens'], 30, `${m.mode}: input tokens of the model call`)
    assert.equal(chat.attributes['gen_ai.usage.output_tokens'], 13, `${m.mode}: output tokens of the model call`)

    const [tool] = tr.named(want.tool)
    assert.equal(tool.attributes['gen_ai.operation.name'], want.ops.tool, `${m.mode}: tool operation`)
    assert.equal(tool.attributes['gen_ai.tool.name'], 'getWeather')

    // Token usage only on the model-call span.
    for (const s of tr.spans) {
      if (s === chat) continue
      assert.deepEqual(usageKeys(s), [], `${m.mode}: no token usage on ${s.name}`)
    }

    if (m.mode === 'legacy') {
      assert.equal(chat.attributes['gen_ai.system'], 'mock-provider')
      assert.equal(chat.attributes['gen_ai.usage.total_tokens'], 43)
      assert.equal(tool.attributes['gen_ai.tool.input'], '{"city":"Paris"}')
      // Phoenix's REST API has no OTel span kind; the legacy mapping also writes it as the `span.kind` attribute.
      assert.equal(tr.root.attributes['span.kind'], 'server')
      assert.equal(chat.attributes['span.kind'], 'client')
      assert.equal(tool.attributes['span.kind'], 'internal')
      for (const s of tr.spans) assert.notEqual(s.status_code, 'ERROR', `legacy: ${s.name} is not an error`)
    } else {
      assert.equal(chat.attributes['gen_ai.provider.name'], 'mock-provider')
      assert.equal(tool.attributes['gen_ai.tool.call.arguments'], '{"city":"Paris"}')
      for (const s of [tr.root, chat, tool]) assert.equal(s.status_code, 'OK', `mastra: ${s.name} is OK`)
    }
    shapes.push(shape(tr.spans))
  }
  assert.deepEqual(shapes[1], shapes[0], 'both modes carry the same spans with the same parents')
})

test('two-step workflow: the whole trace in each mode with both steps under the workflow span', async (t) => {
  // 0.24's createRun() throws and points at createRunAsync().
  const run = await app.workflow.createRunAsync()
  const result = await run.start({ inputData: { n: 21 } })
  assert.equal(result.status, 'success')
  assert.deepEqual(result.result, { text: 'value is 42' })
  assert.match(result.traceId, TRACE_ID)
  assert.notEqual(result.traceId, traces.tool)
  await flush()

  const shapes = []
  for (const m of modes) {
    const want = EXPECTED[m.mode]
    const tr = await storedTrace(m, result.traceId, want.workflow.length)
    t.diagnostic(`${m.mode} (${m.protocol}) workflow: ${tr.names.join(' | ')}`)
    assert.deepEqual(tr.names, sorted(want.workflow), `${m.mode}: span names`)
    assert.equal(tr.root.name, want.workflowRoot)
    assert.equal(tr.root.attributes['gen_ai.operation.name'], want.workflowOps.root)
    for (const s of tr.spans) {
      assert.deepEqual(usageKeys(s), [], `${m.mode}: no token usage on ${s.name}`)
      if (s === tr.root) continue
      assert.equal(s.parent_id, tr.root.context.span_id, `${m.mode}: ${s.name} is a child of the workflow span`)
      assert.equal(s.attributes['gen_ai.operation.name'], want.workflowOps.step)
    }
    if (m.mode === 'legacy') assert.equal(tr.root.attributes['span.kind'], 'server')
    else for (const s of tr.spans) assert.equal(s.status_code, 'OK', `mastra: ${s.name} is OK`)
    shapes.push(shape(tr.spans))
  }
  assert.deepEqual(shapes[1], shapes[0], 'both modes carry the same spans with the same parents')
})

test('every exporter delivered every span and none failed', async (t) => {
  await flush()
  // The tool run's spans plus the workflow's; 0.24 hands over each finished span once per exporter.
  const spans = EXPECTED.legacy.toolRun.length + EXPECTED.legacy.workflow.length
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
