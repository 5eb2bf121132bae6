// OtelExporter against real trace backends started here on loopback: Arize Phoenix over http/protobuf (plain and
// gzip) and gRPC, MLflow over http/json, and rotel (a real OTLP collector) forwarding http/json to Phoenix.
// Every assertion reads the spans back through the backend's own query API.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { b64ToHex, mlflowTrace, phoenixSpans, startMlflow, startPhoenix, startRotel, stopBackend } from './support/backends.mjs'
import { freshEvents } from './support/replay.mjs'

const { OtelExporter } = createRequire(import.meta.url)('../index.js')

async function send(events, options) {
  const e = new OtelExporter(options)
  assert.equal(e.isDisabled, false)
  e.init({ config: { serviceName: 'backend-test' } })
  for (const ev of events) e.exportTracingEvent(ev)
  await e.flush()
  const stats = e.stats()
  assert.equal(stats.spansFailed, 0, JSON.stringify(stats))
  return stats
}

const traceOf = (events) => events[0].exportedSpan.traceId
const ended = (events) => events.filter((e) => e.type === 'span_ended').map((e) => e.exportedSpan)

describe('real backends', { timeout: 240_000 }, () => {
  let phoenix, mlflow, rotel
  before(async () => {
    ;[phoenix, mlflow] = await Promise.all([startPhoenix(), startMlflow()])
    rotel = await startRotel(phoenix.otlpGrpc)
  })
  after(async () => {
    await Promise.all([phoenix, mlflow, rotel].filter(Boolean).map(stopBackend))
  })

  function checkTree(stored, events, ctx) {
    const want = ended(events)
    assert.equal(stored.length, want.length, `${ctx}: span count`)
    const byId = new Map(stored.map((s) => [s.context.span_id, s]))
    for (const span of want) {
      const s = byId.get(span.id)
      assert.ok(s, `${ctx}: span ${span.name} stored`)
      assert.equal(s.parent_id ?? undefined, span.parentSpanId ?? undefined, `${ctx}: parent of ${s.name}`)
    }
    return stored
  }

  for (const [label, protocol, compression] of [
    ['http/protobuf', 'http/protobuf', 'none'],
    ['http/protobuf + gzip', 'http/protobuf', 'gzip'],
    ['gRPC', 'grpc', 'none'],
    ['gRPC + gzip', 'grpc', 'gzip'],
  ]) {
    it(`Phoenix over ${label}: names, parent links, attributes, status and events`, async () => {
      const project = `p-${randomUUID()}`
      const events = freshEvents('mastra-1.x', 'f-tool-error.jsonl')
      const endpoint = protocol === 'grpc' ? phoenix.otlpGrpc : phoenix.base
      await send(events, {
        provider: { custom: { endpoint, protocol } },
        compression,
        resourceAttributes: { 'openinference.project.name': project },
      })
      const stored = checkTree(await phoenixSpans(phoenix, project, traceOf(events), { want: 9 }), events, label)
      const names = stored.map((s) => s.name).sort()
      assert.ok(names.includes('invoke_agent Fail Agent'), names.join(', '))
      assert.ok(names.includes('execute_tool failingTool'))
      const tool = stored.find((s) => s.name === 'execute_tool failingTool')
      assert.equal(tool.status_code, 'ERROR')
      assert.equal(tool.status_message, 'weather service down')
      assert.equal(tool.attributes['gen_ai.tool.name'], 'failingTool')
      assert.equal(tool.attributes['gen_ai.operation.name'], 'execute_tool')
      assert.equal(tool.events[0].name, 'exception')
      const chats = stored.filter((s) => s.name === 'chat mock-fail-model')
      assert.equal(chats.length, 2)
      assert.deepEqual(chats.map((c) => c.attributes['gen_ai.usage.input_tokens']).sort(), [10, 7])
      const root = stored.find((s) => !s.parent_id)
      assert.equal(root.status_code, 'OK')
      assert.equal(root.attributes['mastra.metadata.tcc.runId'], 'run-f')
    })
  }

  it('MLflow over http/json: the trace with every span, parents, typed attributes and the resource', async () => {
    const events = freshEvents('mastra-1.x', 'b-tool-call.jsonl')
    await send(events, {
      provider: { custom: { endpoint: mlflow.base, protocol: 'http/json', headers: { 'x-mlflow-experiment-id': '0' } } },
      semconv: 'latest',
    })
    const trace = await mlflowTrace(mlflow, traceOf(events))
    const want = ended(events)
    assert.equal(trace.spans.length, want.length)
    const byId = new Map(trace.spans.map((s) => [b64ToHex(s.span_id), s]))
    for (const span of want) {
      const s = byId.get(span.id)
      assert.ok(s, span.name)
      assert.equal(b64ToHex(s.parent_span_id) || undefined, span.parentSpanId ?? undefined)
    }
    assert.equal(trace.trace_info.tags['service.name'], 'backend-test')
    const chat = trace.spans.find((s) => s.name === 'chat mock-tool-model')
    const attr = Object.fromEntries(chat.attributes.map((a) => [a.key, Object.values(a.value)[0]]))
    assert.equal(attr['gen_ai.provider.name'], 'mock-provider')
    assert.equal(attr['gen_ai.request.stream'], true)
  })

  it('rotel (a real OTLP collector) in front of Phoenix over http/json', async () => {
    const project = `p-${randomUUID()}`
    const events = freshEvents('mastra-1.x', 'd-workflow.jsonl')
    await send(events, {
      provider: { custom: { endpoint: rotel.otlpHttp, protocol: 'http/json' } },
      resourceAttributes: { 'openinference.project.name': project },
    })
    const stored = checkTree(await phoenixSpans(phoenix, project, traceOf(events), { want: 3 }), events, 'rotel')
    assert.deepEqual(stored.map((s) => s.name).sort(), ['invoke_workflow two-step-wf', 'workflow_step describe', 'workflow_step double'])
    const step = stored.find((s) => s.name === 'workflow_step double')
    assert.equal(step.attributes['mastra.workflow_step.output'], '{"n":42}')
  })
})
