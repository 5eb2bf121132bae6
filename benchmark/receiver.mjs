// The benchmark's receiver, in its own process: answers at once and counts distinct delivered spans and bytes for
// OTLP/JSON, OTLP/protobuf (decoded with a minimal wire reader) and TCC runs. Reports on IPC when asked.
//
// Bodies are kept as they arrive and decoded when the figures are asked for, after the subject's run: decoding them
// on arrival (JSON.parse of every TCC run) took more CPU than the subject's exporter thread, and on a two-core machine
// that competes with the subject being measured, which a real ingestion server on another machine does not. Each
// body keeps its arrival time, so the time the last new span arrived is still exact.
import net from 'node:net'

const seen = new Set()
let bytes = 0
let requests = 0
// Bodies not decoded yet: { url, type, chunks, at }.
let pending = []
let pendingBytes = 0
// Arrival of the last body, and of the last body that brought a span not seen before (ms since the epoch).
let lastAt = 0
let lastNewAt = 0
// Beyond this many bytes waiting, bodies are decoded at once (keeps a long run's receiver bounded). 4 GiB: a million
// spans over OTLP/JSON are about 1.4 GB, and with 1 GiB the receiver decoded bodies in the middle of those runs, 15 to
// 16 µs of CPU per span on the subject's two cores (2 over OTLP/protobuf).
const MAX_PENDING_BYTES = 2 ** 32

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

// HTTP/1.1 over `net`, with no more parsing than counting needs: the request line, `content-length` and
// `content-type`. With node:http (its request and response objects, events and header handling) this receiver spent
// about 65 µs of CPU per TCC request, on the subject's two cores, against about 34 now (one request per trace; 3
// rounds of 50k spans each); a real ingestion server runs elsewhere.
// Keep-alive, pipelining and chunked bodies (without trailers) work; any other transfer encoding, or `expect`, fails
// the run loudly.
const ANSWER = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}')
const HEAD_END = Buffer.from('\r\n\r\n')

function parseHead(head) {
  const lines = head.split('\r\n')
  const url = lines[0].split(' ')[1]
  let length = 0
  let type
  let chunked = false
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':')
    const name = lines[i].slice(0, colon).trim().toLowerCase()
    const value = lines[i].slice(colon + 1).trim()
    if (name === 'content-length') length = Number(value)
    else if (name === 'content-type') type = value
    else if (name === 'transfer-encoding' && value.toLowerCase() === 'chunked') chunked = true
    else if (name === 'transfer-encoding' || name === 'expect') {
      console.error(`[receiver] unsupported request header ${name}: ${value}`)
      process.exit(1)
    }
  }
  // A chunked body is read chunk by chunk: `left` bytes of the current chunk, -1 before a size line.
  return { url, type, length, chunked, left: -1, done: false, chunks: [], size: 0 }
}

const CRLF = Buffer.from('\r\n')
// Reads what `buf` holds of a chunked body into `req`; returns the bytes not used yet.
function readChunked(req, buf) {
  while (!req.done) {
    if (req.left < 0) {
      const nl = buf.indexOf(CRLF)
      if (nl < 0) break
      const size = parseInt(buf.toString('latin1', 0, nl), 16)
      if (Number.isNaN(size)) {
        console.error('[receiver] malformed chunk size')
        process.exit(1)
      }
      // The data and its CRLF; the last chunk is empty and followed by the CRLF that ends the body (no trailers).
      req.left = size + 2
      req.last = size === 0
      buf = buf.subarray(nl + 2)
    }
    const take = Math.min(req.left, buf.length)
    const data = Math.min(take, req.left - 2)
    if (data > 0) {
      req.chunks.push(buf.subarray(0, data))
      req.size += data
    }
    req.left -= take
    buf = buf.subarray(take)
    if (req.left > 0) break
    req.left = -1
    if (req.last) req.done = true
  }
  return buf
}

function received(req) {
  const at = Date.now()
  requests++
  bytes += req.size
  lastAt = at
  pending.push({ url: req.url, type: req.type, chunks: req.chunks, at })
  pendingBytes += req.size
  if (pendingBytes > MAX_PENDING_BYTES) decodeAll()
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true)
  socket.on('error', () => {})
  let rest = Buffer.alloc(0)
  let req = null
  socket.on('data', (data) => {
    let buf = rest.length ? Buffer.concat([rest, data]) : data
    let answers = 0
    for (;;) {
      if (!req) {
        const end = buf.indexOf(HEAD_END)
        if (end < 0) break
        req = parseHead(buf.toString('latin1', 0, end))
        buf = buf.subarray(end + 4)
      }
      if (req.chunked) {
        buf = readChunked(req, buf)
        if (!req.done) break
      } else {
        const take = Math.min(req.length - req.size, buf.length)
        if (take > 0) {
          req.chunks.push(buf.subarray(0, take))
          req.size += take
          buf = buf.subarray(take)
        }
        if (req.size < req.length) break
      }
      received(req)
      req = null
      answers++
    }
    rest = buf
    if (answers === 1) socket.write(ANSWER)
    else if (answers > 1) socket.write(Buffer.concat(Array(answers).fill(ANSWER)))
  })
})
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
process.on('message', (m) => {
  if (m === 'stats') {
    // CPU spent answering, before the deferred decoding.
    const cpu = process.cpuUsage()
    decodeAll()
    process.send({ spans: seen.size, bytes, requests, lastAt, lastNewAt, cpuMs: (cpu.user + cpu.system) / 1000 })
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
