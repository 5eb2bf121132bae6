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

test('an idle exporter, or one holding only an unfinished trace, does not keep the process alive', async () => {
  const code = `
    const { TCCMastraExporter } = require('./index.js')
    const e = new TCCMastraExporter({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra' })
    e.exportTracingEvent({ type: 'span_started', exportedSpan: { id: 'r', traceId: 't', isRootSpan: true } })
  `
  const t0 = Date.now()
  const { code: exit } = await runChild(code, {})
  assert.equal(exit, 0)
  assert.ok(Date.now() - t0 < 5000)
})
