// Proves the real-backend harness (support/backends.mjs) end to end with real data, independently of the
// addon: a hand-built OTLP/JSON export goes through rotel into Phoenix, and straight into MLflow, and both
// backends' query APIs give the spans back. Needs scripts/backends/setup.sh to have run.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import {
  b64ToHex,
  mlflowTrace,
  phoenixSpans,
  startMlflow,
  startPhoenix,
  startRotel,
  stopBackend,
} from './support/backends.mjs'

const hex = (bytes) => randomBytes(bytes).toString('hex')

/** An ExportTraceServiceRequest in OTLP/JSON: a root span and one child, with hex ids. */
function exportRequest({ project, traceId, rootId, childId }) {
  const t0 = BigInt(Date.now()) * 1_000_000n
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'backends-harness-test' } },
            // Phoenix files the spans under this project. (Header x-project-name would also do when sending
            // to Phoenix directly, but rotel does not forward request headers: only the resource attribute
            // survives the hop.)
            { key: 'openinference.project.name', value: { stringValue: project } },
          ],
        },
        scopeSpans: [
          {
            scope: { name: 'backends.test', version: '1.0.0' },
            spans: [
              {
                traceId,
                spanId: rootId,
                name: 'agent run',
                kind: 1,
                startTimeUnixNano: `${t0}`,
                endTimeUnixNano: `${t0 + 9_000_000n}`,
                attributes: [
                  { key: 'test.kind', value: { stringValue: 'root' } },
                  { key: 'test.count', value: { intValue: '42' } }, // int64 is a string in OTLP/JSON
                ],
                status: { code: 1 },
              },
              {
                traceId,
                spanId: childId,
                parentSpanId: rootId,
                name: 'llm call',
                kind: 3,
                startTimeUnixNano: `${t0 + 1_000_000n}`,
                endTimeUnixNano: `${t0 + 8_000_000n}`,
                attributes: [
                  { key: 'test.kind', value: { stringValue: 'child' } },
                  { key: 'test.count', value: { intValue: '7' } },
                ],
                status: {},
              },
            ],
          },
        ],
      },
    ],
  }
}

async function postJson(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, text: await res.text() }
}

/** Listening sockets on `port` from /proc/net/tcp{,6}, as hex local addresses. */
function listenAddresses(port) {
  const want = port.toString(16).toUpperCase().padStart(4, '0')
  const found = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue
    for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/)
      const [addr, p] = local.split(':')
      if (state === '0A' && p === want) found.push(addr)
    }
  }
  return found
}
const LOOPBACK = new Set([
  '0100007F', // 127.0.0.1
  '0000000000000000FFFF00000100007F', // ::ffff:127.0.0.1
  '00000000000000000000000001000000', // ::1
])

describe('real trace backends (Phoenix, rotel -> Phoenix, MLflow)', () => {
  let phoenix, rotel, mlflow

  before(async () => {
    // Phoenix and MLflow take 10-15 s each (Python imports): start them in parallel; rotel needs
    // Phoenix's gRPC address and is up in well under a second.
    const [p, m] = await Promise.allSettled([
      startPhoenix().then(async (ph) => {
        phoenix = ph
        rotel = await startRotel(ph.otlpGrpc)
      }),
      startMlflow().then((ml) => (mlflow = ml)),
    ])
    for (const r of [p, m]) if (r.status === 'rejected') throw r.reason
  })

  after(async () => {
    await Promise.all([rotel, phoenix, mlflow].filter(Boolean).map(stopBackend))
  })

  it('every backend listens on loopback only (Phoenix gRPC included)', () => {
    for (const b of [phoenix, rotel, mlflow]) {
      for (const port of b.ports) {
        const addrs = listenAddresses(port)
        assert.ok(addrs.length > 0, `${b.name}: nothing listens on port ${port}`)
        for (const a of addrs) assert.ok(LOOPBACK.has(a), `${b.name}: port ${port} bound to ${a}, not loopback`)
      }
    }
  })

  it('OTLP/JSON sent to rotel is forwarded to Phoenix: names, parent link and attributes', async () => {
    const ids = { project: `harness-${hex(6)}`, traceId: hex(16), rootId: hex(8), childId: hex(8) }
    const res = await postJson(rotel.otlpHttp, exportRequest(ids))
    assert.equal(res.status, 200, `rotel answered ${res.status}: ${res.text}`)

    const spans = await phoenixSpans(phoenix, ids.project, ids.traceId, { want: 2, timeoutMs: 20_000 })
    assert.equal(spans.length, 2)
    const byName = Object.fromEntries(spans.map((s) => [s.name, s]))
    const root = byName['agent run']
    const child = byName['llm call']
    assert.ok(root && child, `span names: ${spans.map((s) => s.name)}`)

    assert.deepEqual(root.context, { trace_id: ids.traceId, span_id: ids.rootId })
    assert.deepEqual(child.context, { trace_id: ids.traceId, span_id: ids.childId })
    assert.equal(root.parent_id, null)
    assert.equal(child.parent_id, ids.rootId)
    assert.deepEqual(root.attributes, { 'test.kind': 'root', 'test.count': 42 })
    assert.deepEqual(child.attributes, { 'test.kind': 'child', 'test.count': 7 })
    assert.equal(root.status_code, 'OK')
    assert.equal(child.status_code, 'UNSET')
    assert.equal(new Date(child.end_time) - new Date(child.start_time), 7)
  })

  it('OTLP/JSON sent to MLflow is stored with both spans', async () => {
    const ids = { project: `harness-${hex(6)}`, traceId: hex(16), rootId: hex(8), childId: hex(8) }
    const missing = await postJson(mlflow.otlpHttp, exportRequest(ids))
    assert.equal(missing.status, 422, 'MLflow requires x-mlflow-experiment-id')
    const res = await postJson(mlflow.otlpHttp, exportRequest(ids), { 'x-mlflow-experiment-id': '0' })
    assert.equal(res.status, 200, `MLflow answered ${res.status}: ${res.text}`)

    const trace = await mlflowTrace(mlflow, ids.traceId) // synchronous store: no polling needed
    assert.equal(trace.trace_info.trace_id, `tr-${ids.traceId}`)
    assert.equal(trace.trace_info.trace_location.mlflow_experiment.experiment_id, '0')
    assert.equal(trace.trace_info.tags['service.name'], 'backends-harness-test') // resource attrs -> tags
    assert.equal(trace.spans.length, 2)
    const byName = Object.fromEntries(trace.spans.map((s) => [s.name, s]))
    const root = byName['agent run']
    const child = byName['llm call']
    assert.ok(root && child, `span names: ${trace.spans.map((s) => s.name)}`)
    for (const s of trace.spans) assert.equal(b64ToHex(s.trace_id), ids.traceId)
    assert.equal(b64ToHex(root.span_id), ids.rootId)
    assert.equal(b64ToHex(child.span_id), ids.childId)
    assert.ok(!root.parent_span_id, 'the root has no parent')
    assert.equal(b64ToHex(child.parent_span_id), ids.rootId)
    const attrs = (s) => Object.fromEntries(s.attributes.map(({ key, value }) => [key, value]))
    assert.deepEqual(attrs(root)['test.kind'], { string_value: 'root' })
    assert.equal(Number(attrs(root)['test.count'].int_value), 42)
    assert.equal(Number(attrs(child)['test.count'].int_value), 7)
    assert.equal(root.status.code, 'STATUS_CODE_OK')
  })

  it('phoenixSpans fails with a clear message when the spans never arrive', async () => {
    const traceId = hex(16)
    await assert.rejects(phoenixSpans(phoenix, 'no-such-project', traceId, { want: 1, timeoutMs: 300 }), (e) => {
      assert.match(e.message, /0 of 1 wanted span\(s\) of trace [0-9a-f]{32} in project "no-such-project"/)
      assert.match(e.message, /last answer: 404/)
      assert.ok(e.message.includes(phoenix.log), 'names the server log')
      return true
    })
  })
})
