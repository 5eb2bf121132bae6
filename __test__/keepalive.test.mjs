// A script that ends right after an agent run still delivers it (the exporter holds the event loop while work is
// pending), and an idle exporter never keeps the process alive.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startReceiver } from './support/receiver.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

function runChild(code, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], { cwd: root, env: { ...process.env, ...env } })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child did not exit: ${out}`))
    }, 10000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

test('a run ended just before the script finishes is delivered, then the process exits by itself', async (t) => {
  const rx = await startReceiver({ script: [{ status: 503 }] })
  t.after(() => rx.close())
  const code = `
    const { TCCMastraExporter } = require('./index.js')
    const e = new TCCMastraExporter({ apiKey: 'k', endpoint: process.env.EP })
    const s = { id: 'r', traceId: 't', type: 'agent_run', name: 'r', isRootSpan: true, metadata: { 'tcc.runId': 'exit-run' } }
    e.exportTracingEvent({ type: 'span_started', exportedSpan: s })
    e.exportTracingEvent({ type: 'span_ended', exportedSpan: s })
  `
  const { code: exit } = await runChild(code, { EP: rx.url() })
  assert.equal(exit, 0)
  const delivered = rx.requests.filter((r) => r.step.status === 200 || r.step.body === 'ok')
  assert.equal(delivered.length, 1, 'delivered after a retry, before exit')
  assert.equal(JSON.parse(delivered[0].body).runId, 'exit-run')
})

test('idle exporters never keep the process alive', async () => {
  const code = `
    const { TCCMastraExporter, OtelExporter } = require('./index.js')
    new TCCMastraExporter({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra' })
    new OtelExporter({ provider: { custom: { endpoint: 'http://127.0.0.1:9' } } })
  `
  const t0 = Date.now()
  const { code: exit } = await runChild(code, {})
  assert.equal(exit, 0)
  assert.ok(Date.now() - t0 < 3000)
})

test('at exit, a trace whose root never ended and an open OTel batch are sent (beforeExit)', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const code = `
    const { TCCMastraExporter, OtelExporter } = require('./index.js')
    const tcc = new TCCMastraExporter({ apiKey: 'k', endpoint: process.env.EP + '/v1/mastra' })
    tcc.exportTracingEvent({ type: 'span_started', exportedSpan: { id: 'r', traceId: 't', type: 'agent_run', isRootSpan: true, metadata: { 'tcc.runId': 'unfinished' } } })
    const otel = new OtelExporter({ provider: { custom: { endpoint: process.env.EP } }, scheduledDelayMs: 600000 })
    otel.exportTracingEvent({ type: 'span_ended', exportedSpan: { id: '00000000000000a1', traceId: '000000000000000000000000000000b1', type: 'generic', name: 'late', startTime: new Date(0), endTime: new Date(1) } })
  `
  const t0 = Date.now()
  const { code: exit, out } = await runChild(code, { EP: rx.base })
  assert.equal(exit, 0, out)
  assert.ok(Date.now() - t0 < 5000, 'no wait for the 10-minute batch timer')
  const tcc = rx.requests.find((r) => r.url === '/v1/mastra')
  assert.equal(JSON.parse(tcc.body).runId, 'unfinished')
  const otel = rx.requests.find((r) => r.url === '/v1/traces')
  assert.equal(JSON.parse(otel.body).resourceSpans[0].scopeSpans[0].spans[0].name, 'late')
})

test('at exit with a dead endpoint, the process still ends once the retry budget is spent', async () => {
  const code = `
    const { TCCMastraExporter } = require('./index.js')
    const e = new TCCMastraExporter({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra', maxRetries: 1 })
    e.exportTracingEvent({ type: 'span_started', exportedSpan: { id: 'r', traceId: 't', isRootSpan: true } })
  `
  const t0 = Date.now()
  const { code: exit, out } = await runChild(code, {})
  assert.equal(exit, 0)
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`)
  assert.match(out, /\[TCC\] Export error:/)
})
