// The package loads by name with both require and import, and exposes the Mastra exporter surface.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
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
