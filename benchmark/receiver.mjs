// The benchmark's receiver, in its own process: answers at once and counts distinct delivered spans and bytes for
// OTLP/JSON, OTLP/protobuf (decoded with a minimal wire reader) and TCC runs. Reports on IPC when asked.
//
// Bodies are kept as they arrive and decoded when the figures are asked for, after the subject's run: decoding them
// on arrival (JSON.parse of every TCC run) took more CPU than the subject's exporter thread, and on a two-core machine
// that competes with the subject being measured, which a real ingestion server on another machine does not. Each
// body keeps its arrival time, so the time the last new span arrived is still exact.
import http from 'node:http'

const seen = new Set()
let bytes = 0
let requests = 0
// Bodies not decoded yet: { url, type, chunks, at }.
let pending = []
let pendingBytes = 0
// Arrival of the last body, and of the last body that brought a span not seen before (ms since the epoch).
let lastAt = 0
let lastNewAt = 0
// Beyond this many bytes waiting, bodies are decoded at once (keeps a long run's receiver bounded).
const MAX_PENDING_BYTES = 2 ** 30

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

function decode({ url, type, chunks, at }) {
  const body = Buffer.concat(chunks)
  const before = seen.size
  try {
    if (url === '/v1/mastra') for (const s of JSON.parse(body).spans) seen.add(s.id)
    else if (String(type).includes('protobuf')) for (const id of protobufSpanIds(body)) seen.add(id)
    else for (const r of JSON.parse(body).resourceSpans) for (const ss of r.scopeSpans) for (const s of ss.spans) seen.add(s.spanId)
  } catch {
    // counted as bytes only
  }
  if (seen.size > before) lastNewAt = Math.max(lastNewAt, at)
}

function decodeAll() {
  for (const body of pending) decode(body)
  pending = []
  pendingBytes = 0
}

const server = http.createServer((req, res) => {
  const chunks = []
  let size = 0
  req.on('data', (c) => {
    chunks.push(c)
    size += c.length
  })
  req.on('end', () => {
    const at = Date.now()
    requests++
    bytes += size
    lastAt = at
    pending.push({ url: req.url, type: req.headers['content-type'], chunks, at })
    pendingBytes += size
    if (pendingBytes > MAX_PENDING_BYTES) decodeAll()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{}')
  })
})
server.keepAliveTimeout = 60000
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
process.on('message', (m) => {
  if (m === 'stats') {
    decodeAll()
    process.send({ spans: seen.size, bytes, requests, lastAt, lastNewAt })
  }
  if (m === 'reset') {
    seen.clear()
    pending = []
    pendingBytes = 0
    bytes = 0
    requests = 0
    lastAt = 0
    lastNewAt = 0
  }
})
