// The package loads by name with both require and import, and exposes the Mastra exporter surface.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import fs from 'node:fs'
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

test('the exporter threads are woken without preempting the JavaScript thread (SCHED_BATCH)', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
  const e = new Imported({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra' })
  // A flush runs on the exporter threads, so they exist by the time it settles.
  await e.flush(1000)
  const policies = []
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    // Field 41 of stat is the scheduling policy; the fields after the name start at field 3.
    if (comm.startsWith('mastra-exporter')) policies.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]))
  }
  assert.ok(policies.length > 0, 'an exporter thread is running')
  assert.deepEqual([...new Set(policies)], [3], 'SCHED_BATCH is policy 3')
})
