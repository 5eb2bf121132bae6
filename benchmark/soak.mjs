// Soak benchmark (not a test): a real Mastra 1.x agent loop exporting through TCCMastraExporter and OtelExporter
// for a while, with the collector killed and restarted in the middle. Reports spans sent versus received, peak RSS,
// and the JavaScript-thread time per exporter call before, during and after the outage.
//
// Run: npm run soak            (SOAK_SECONDS=180 for a longer run; default 60)
// Uses the Node 22 and Mastra 1.x of e2e/mastra-1x (installed by `npm test` or `npm run demo`).
import { fork } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { buildApp } from '../e2e/mastra-1x/scenarios.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const { TCCMastraExporter, OtelExporter } = createRequire(import.meta.url)('../index.js')
const seconds = Number(process.env.SOAK_SECONDS ?? 60)
const outage = { from: seconds / 3, to: (2 * seconds) / 3 }
const port = 20000 + Math.floor(Math.random() * 20000)
const idsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'soak-')), 'ids.txt')
fs.writeFileSync(idsFile, '')

function startCollector() {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(here, 'soak-collector.mjs'), [String(port), idsFile], { stdio: 'ignore' })
    child.once('message', () => resolve(child))
    child.once('error', reject)
  })
}

process.env.TCC_BASE_URL = `http://127.0.0.1:${port}`
process.env.TCC_API_KEY = 'tcc_soak'
const tcc = new TCCMastraExporter({ retryBudgetMs: 120000, maxRetries: 30 })
const otel = new OtelExporter({ provider: { custom: { endpoint: `http://127.0.0.1:${port}`, protocol: 'http/json' } }, maxRetries: 30, scheduledDelayMs: 1000 })

// Measure the JS-thread time of every exporter call, per phase.
const phase = () => {
  const t = (performance.now() - t0) / 1000
  return t < outage.from ? 'before' : t < outage.to ? 'during' : 'after'
}
const timing = { before: [0, 0], during: [0, 0], after: [0, 0] }
let sentEnded = 0
for (const exporter of [tcc, otel]) {
  const call = exporter.exportTracingEvent.bind(exporter)
  exporter.exportTracingEvent = (event) => {
    if (event?.type === 'span_ended') sentEnded++
    const s = performance.now()
    const r = call(event)
    const slot = timing[phase()]
    slot[0] += performance.now() - s
    slot[1]++
    return r
  }
}

const { mastra, toolAgent } = buildApp({ exporters: [tcc, otel], serviceName: 'soak' })
let collector = await startCollector()
let peakRss = 0
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200)
const t0 = performance.now()
let runs = 0
let killed = false
let restarted = false
while ((performance.now() - t0) / 1000 < seconds) {
  const t = (performance.now() - t0) / 1000
  if (!killed && t >= outage.from) {
    collector.kill('SIGKILL')
    killed = true
    console.log(`[soak] ${t.toFixed(0)} s: collector killed`)
  }
  if (killed && !restarted && t >= outage.to) {
    collector = await startCollector()
    restarted = true
    console.log(`[soak] ${t.toFixed(0)} s: collector restarted`)
  }
  await toolAgent.generate('What is the weather in Paris?', { tracingOptions: { metadata: { 'tcc.runId': randomUUID() } } })
  runs++
}
console.log(`[soak] ${runs} agent runs; flushing`)
const [tccReport, otelReport] = await Promise.all([tcc.flush(120000), otel.flush(120000)])
clearInterval(rssTimer)
collector.kill()

const received = { tcc: new Set(), otel: new Set() }
for (const line of fs.readFileSync(idsFile, 'utf8').split('\n').filter(Boolean)) {
  const [who, id] = line.split(' ')
  received[who].add(id)
}
const perEvent = (p) => (timing[p][1] ? (timing[p][0] * 1000) / timing[p][1] : 0)
const result = {
  seconds,
  outageSeconds: [outage.from, outage.to],
  agentRuns: runs,
  spansSentPerExporter: sentEnded / 2,
  tcc: { received: received.tcc.size, stats: tcc.stats(), flush: tccReport },
  otel: { received: received.otel.size, stats: otel.stats(), flush: otelReport },
  peakRssMiB: Math.round(peakRss / 1048576),
  jsMicrosPerCall: { before: perEvent('before'), during: perEvent('during'), after: perEvent('after') },
}
fs.mkdirSync(path.join(here, 'results'), { recursive: true })
fs.writeFileSync(path.join(here, 'results', 'soak.json'), JSON.stringify(result, null, 2))
console.log(`
soak: ${seconds} s, collector down from ${outage.from.toFixed(0)} s to ${outage.to.toFixed(0)} s, ${runs} agent runs
spans sent per exporter: ${result.spansSentPerExporter}
TCC received:  ${result.tcc.received} distinct spans (lost ${result.spansSentPerExporter - result.tcc.received}), retries ${result.tcc.stats.retries}
OTel received: ${result.otel.received} distinct spans (lost ${result.spansSentPerExporter - result.otel.received}), retries ${result.otel.stats.retries}
peak RSS: ${result.peakRssMiB} MiB
JS-thread time per exporter call (µs): before ${perEvent('before').toFixed(2)}, during ${perEvent('during').toFixed(2)}, after ${perEvent('after').toFixed(2)}
`)
await mastra.shutdown?.()
process.exit(0)
