// What @contextcompany/mastra 2.0.0 sends for a stream of events, written from spec/tcc-exporter.md (sections 6-10):
// buffer spans at span_started, replace by id on update/end, freeze run id and a metadata copy at root start,
// export on root end with { runId, traceId, framework, metadata, spans } and runId appended to each span.
// The reference is not on npm; this model is the oracle the fixture replay is checked against.
export function referencePayloads(events, { runIdFor = () => 'generated' } = {}) {
  const traces = new Map()
  const runIds = new Map()
  const metadata = new Map()
  const sent = []
  const send = (traceId) => {
    const spans = traces.get(traceId)
    const runId = runIds.get(traceId)
    const meta = metadata.get(traceId) ?? {}
    traces.delete(traceId)
    runIds.delete(traceId)
    metadata.delete(traceId)
    if (!spans || spans.length === 0) return
    const payload = { runId, traceId, framework: 'mastra', metadata: meta, spans: spans.map((s) => ({ ...s, runId })) }
    sent.push(JSON.stringify(payload))
  }
  for (const { type, exportedSpan: span } of events) {
    const traceId = span.traceId
    if (type === 'span_started') {
      if (!traces.has(traceId)) traces.set(traceId, [])
      if (span.isRootSpan && !runIds.has(traceId)) {
        runIds.set(traceId, span.metadata?.['tcc.runId'] || runIdFor(traceId))
        if (span.metadata) metadata.set(traceId, { ...span.metadata })
      }
      traces.get(traceId).push(span)
    } else if (type === 'span_updated' || type === 'span_ended') {
      const buf = traces.get(traceId)
      const i = buf ? buf.findIndex((s) => s.id === span.id) : -1
      if (i >= 0) buf[i] = span
      if (type === 'span_ended' && span.isRootSpan) send(traceId)
    }
  }
  for (const traceId of Array.from(traces.keys())) send(traceId)
  return sent
}
