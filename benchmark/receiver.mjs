// The benchmark's receiver, in its own process: answers at once and counts distinct delivered spans and bytes for
// OTLP/JSON, OTLP/protobuf (decoded with a minimal wire reader) and TCC runs. Reports on IPC when asked.
import http from 'node:http'

const seen = new Set()
let bytes = 0
let requests = 0

// Minimal protobuf reader: ExportTraceServiceRequest.resource_spans(1).scope_spans(2).spans(2).span_id(2).
function* fields(buf, start = 0, end = buf.length) {
  let i = start
  const varint = () => {
    let v = 0n
    let shift = 0n
    for (;;) {
      const b = buf[i++]
      v |= BigInt(b & 0x7f) << shift
      if (!(b & 0x80)) return v
      shift += 7n
    }
  }
  while (i < end) {
    const key = Number(varint())
    const [num, type] = [key >> 3, key & 7]
    if (type === 2) {
      const len = Number(varint())
      yield [num, i, i + len]
      i += len
    } else if (type === 0) varint()
    else if (type === 1) i += 8
    else if (type === 5) i += 4
    else return
  }
}
function protobufSpanIds(buf) {
  const ids = []
  for (const [f1, s1, e1] of fields(buf)) if (f1 === 1)
    for (const [f2, s2, e2] of fields(buf, s1, e1)) if (f2 === 2)
      for (const [f3, s3, e3] of fields(buf, s2, e2)) if (f3 === 2)
        for (const [f4, s4, e4] of fields(buf, s3, e3)) if (f4 === 2) ids.push(buf.subarray(s4, e4).toString('hex'))
  return ids
}

const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    requests++
    bytes += body.length
    try {
      if (req.url === '/v1/mastra') for (const s of JSON.parse(body).spans) seen.add(s.id)
      else if (String(req.headers['content-type']).includes('protobuf')) for (const id of protobufSpanIds(body)) seen.add(id)
      else for (const r of JSON.parse(body).resourceSpans) for (const ss of r.scopeSpans) for (const s of ss.spans) seen.add(s.spanId)
    } catch {
      // counted as bytes only
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{}')
  })
})
server.keepAliveTimeout = 60000
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
process.on('message', (m) => {
  if (m === 'stats') process.send({ spans: seen.size, bytes, requests })
  if (m === 'reset') {
    seen.clear()
    bytes = 0
    requests = 0
  }
})
