// The package loads by name with both require and import, and exposes the Mastra exporter surface.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { spawnSync } from 'node:child_process'
import { TCCMastraExporter as Imported, submitFeedback as importedFeedback } from 'mastra-native-exporters'

const required = createRequire(import.meta.url)('mastra-native-exporters')

test('require and import give the same classes and functions', () => {
  assert.equal(typeof required.TCCMastraExporter, 'function')
  assert.equal(required.TCCMastraExporter, Imported)
  assert.equal(typeof importedFeedback, 'function')
  assert.equal(required.submitFeedback, importedFeedback)
})

test('event handlers return a settled promise that Mastra can chain on', async () => {
  const e = new Imported({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra' })
  const p = e.exportTracingEvent({ type: 'span_updated', exportedSpan: { id: 'x', traceId: 't' } })
  assert.ok(p instanceof Promise)
  assert.equal(await p.catch(() => 'rejected'), undefined)
  assert.ok(e.exportEvent(null) instanceof Promise, 'even for bad input')
})

test('the exporter threads run in SCHED_BATCH, or the class MASTRA_NATIVE_EXPORTERS_THREAD_CLASS picks; a bad value is reported and ignored', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  // The runtime starts when the module loads, so each value needs a process of its own.
  const script = `
    const fs = require('node:fs')
    const { OtelExporter } = require(${JSON.stringify(createRequire(import.meta.url).resolve('mastra-native-exporters'))})
    const e = new OtelExporter({ provider: { custom: { endpoint: 'http://127.0.0.1:9', protocol: 'http/json' } } })
    e.flush(1000).then(() => {
      const policies = []
      for (const tid of fs.readdirSync('/proc/self/task')) {
        const stat = fs.readFileSync('/proc/self/task/' + tid + '/stat', 'utf8')
        if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).startsWith('mastra-exporter'))
          policies.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]))
      }
      console.log(JSON.stringify([...new Set(policies)]))
    })`
  const run = (value) => {
    const env = { ...process.env, MASTRA_NATIVE_EXPORTERS_THREAD_CLASS: value }
    if (value === undefined) delete env.MASTRA_NATIVE_EXPORTERS_THREAD_CLASS
    const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    return { policies: JSON.parse(r.stdout.trim().split('\n').pop()), stderr: r.stderr }
  }
  // Linux's policies: SCHED_OTHER 0, SCHED_BATCH 3, SCHED_IDLE 5. By default the exporter threads are woken without
  // preempting the JavaScript thread (SCHED_BATCH).
  const unset = run(undefined)
  assert.deepEqual(unset.policies, [3], 'SCHED_BATCH by default')
  assert.equal(unset.stderr, '')
  assert.deepEqual(run('idle').policies, [5])
  assert.deepEqual(run('Normal').policies, [0])
  assert.deepEqual(run('batch').policies, [3])
  const bad = run('fifo')
  assert.deepEqual(bad.policies, [3], 'the default class')
  assert.match(bad.stderr, /^\[mastra-native-exporters\] Ignoring MASTRA_NATIVE_EXPORTERS_THREAD_CLASS="fifo": expected batch, idle or normal; using batch$/m)
})
