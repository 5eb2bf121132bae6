// Fresh copies of captured event streams: new random trace and span ids (parent links remapped), so the same
// fixture can be sent to a backend many times (Phoenix ignores a span id it has already stored).
import { randomBytes } from 'node:crypto'
import { loadEvents } from './fixtures.mjs'

export function freshEvents(version, file) {
  const ids = new Map()
  const fresh = (old, bytes) => {
    if (old === undefined || old === null) return old
    if (!ids.has(old)) ids.set(old, randomBytes(bytes).toString('hex'))
    return ids.get(old)
  }
  return loadEvents(version, file).map(({ type, exportedSpan }) => ({
    type,
    exportedSpan: {
      ...exportedSpan,
      id: fresh(exportedSpan.id, 8),
      traceId: fresh(exportedSpan.traceId, 16),
      parentSpanId: fresh(exportedSpan.parentSpanId, 8),
    },
  }))
}
