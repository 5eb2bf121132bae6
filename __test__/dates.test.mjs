// Dates: the entry points serialise a span's startTime, endTime and attributes.completionStartTime as epoch
// milliseconds (JSON.stringify's call into Date.prototype.toJSON costs more than the rest of a span), and the workers
// write them back as ISO strings. What reaches the wire must be what JSON.stringify of the span gives, for every kind
// of Date and of span, including the ones the wrappers leave to JSON.stringify.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver } from './support/receiver.mjs'
import { referencePayloads } from './support/reference-model.mjs'

const { TCCMastraExporter, OtelExporter } = createRequire(import.meta.url)('../index.js')

class Stamp extends Date {}
class SpanClass {
  constructor(fields) {
    Object.assign(this, fields)
  }
  toJSON() {
    return { ...this, fromClass: true }
  }
}

/** One trace of spans with Dates of every kind, as start and end events. */
function trace(traceId) {
  const t = (ms) => new Date(1764000000000 + ms)
  // Hex ids, as Mastra's (OTLP needs them); the name tells the spans apart.
  const hex = (name) => Buffer.from(name).toString('hex').padStart(16, '0').slice(-16)
  const base = (name, fields) => ({
    id: hex(name),
    traceId,
    name,
    type: 'generic',
    isRootSpan: false,
    isEvent: false,
    parentSpanId: hex('root'),
    startTime: t(1),
    endTime: t(2),
    attributes: {},
    ...fields,
  })
  const shared = (span) => Object.assign(span, { metadata: { same: span.attributes } })
  const root = base('root', { type: 'agent_run', isRootSpan: true, parentSpanId: undefined, metadata: { 'tcc.runId': `run-${traceId}` } })
  const spans = [
    base('plain'),
    base('model', { type: 'model_generation', attributes: { model: 'm', completionStartTime: t(3), nested: { at: t(4) } }, metadata: { at: t(5) } }),
    base('invalid', { startTime: new Date(NaN), endTime: new Date(8.64e15) }),
    base('year-minus-1', { startTime: new Date(-62167219200001), endTime: new Date(253402300800000) }),
    base('subclass', { startTime: new Stamp(1764000000000), attributes: { completionStartTime: new Stamp(1764000000007) } }),
    base('number', { startTime: 1764000000008, endTime: undefined, attributes: { completionStartTime: 1764000000009 } }),
    base('string', { startTime: '2025-11-24T16:00:00.000Z', attributes: null }),
    new SpanClass(base('class')),
    { ...base('own-to-json'), toJSON() { return { id: hex('own-to-json'), traceId, name: 'own-to-json', mine: true } } },
    Object.assign(Object.create(null), base('null-prototype')),
    base('own-date-fields', { startTime: Object.assign(new Date(1764000000000), { extra: 1 }) }),
    // The wrappers put the Dates' numbers in the span itself while they serialise it, and back after; spans that do not
    // take them are serialised from a copy, and an attributes object found elsewhere in the span is not changed.
    Object.freeze(base('frozen', { attributes: { completionStartTime: t(10) } })),
    Object.defineProperty(base('read-only'), 'endTime', { value: t(11), writable: false, enumerable: true }),
    Object.defineProperty(base('accessor'), 'endTime', { get: () => t(12), set: () => {}, enumerable: true }),
    shared(base('shared', { type: 'model_generation', attributes: { completionStartTime: t(13) } })),
  ]
  const events = [{ type: 'span_started', exportedSpan: root }]
  for (const s of spans) events.push({ type: 'span_started', exportedSpan: s }, { type: 'span_ended', exportedSpan: s })
  events.push({ type: 'span_ended', exportedSpan: root })
  return events
}

async function tccBodies(t, events, method) {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  for (const ev of events) e[method](ev)
  await e.flush()
  assert.equal(e.stats().invalidEvents, 0)
  return rx.requests.map((r) => r.body)
}

// Each run's spans as the text of each, by run id. (Runs go over parallel connections, in any order.) Re-serialising
// a parsed text gives the text back byte for byte for JSON.stringify's output.
const spanTexts = (bodies) =>
  Object.fromEntries(bodies.map((b) => JSON.parse(b)).map((p) => [p.runId, p.spans.map((s) => [s.name, JSON.stringify(s)])]))

// The reference sends `{ ...span, runId }`, which drops a span's own or inherited `toJSON`; these exporters serialise
// the span itself (as they did before the Dates were sped up), so those two spans are checked on their own.
const ODD = ['class', 'own-to-json']

function assertLikeReference(bodies, events) {
  const [ours, theirs] = [spanTexts(bodies), spanTexts(referencePayloads(events))]
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort())
  for (const run of Object.keys(theirs)) {
    const even = (spans) => spans.filter(([name]) => !ODD.includes(name))
    assert.deepEqual(even(ours[run]), even(theirs[run]), run)
    const odd = Object.fromEntries(ours[run].filter(([name]) => ODD.includes(name)).map(([n, text]) => [n, JSON.parse(text)]))
    assert.equal(odd.class.fromClass, true)
    assert.equal(odd['own-to-json'].mine, true)
  }
}

for (const method of ['onTracingEvent', 'exportTracingEvent']) {
  test(`TCC (${method}): every Date reaches the wire as JSON.stringify writes it`, async (t) => {
    // Two traces: the first event of an instance goes through the class method, the rest through the wrapper.
    const events = [...trace('t1'), ...trace('t2')]
    const bodies = await tccBodies(t, events, method)
    assertLikeReference(bodies, events)
    const byName = Object.fromEntries(spanTexts(bodies)['run-t2'].map(([n, text]) => [n, JSON.parse(text)]))
    assert.equal(byName.plain.startTime, '2025-11-24T16:00:00.001Z')
    assert.equal(byName.model.attributes.completionStartTime, '2025-11-24T16:00:00.003Z')
    assert.equal(byName.invalid.startTime, null)
    assert.equal(byName.invalid.endTime, '+275760-09-13T00:00:00.000Z')
    assert.equal(byName['year-minus-1'].startTime, '-000001-12-31T23:59:59.999Z')
    assert.equal(byName.frozen.attributes.completionStartTime, '2025-11-24T16:00:00.010Z')
    assert.equal(byName['read-only'].endTime, '2025-11-24T16:00:00.011Z')
    assert.equal(byName.accessor.endTime, '2025-11-24T16:00:00.012Z')
    assert.equal(byName.shared.attributes.completionStartTime, '2025-11-24T16:00:00.013Z')
    assert.equal(byName.shared.metadata.same.completionStartTime, '2025-11-24T16:00:00.013Z')
    assert.equal(byName.number.startTime, 1764000000008, 'a number stays a number')
    assert.equal(byName.number.attributes.completionStartTime, 1764000000009)
  })
}

test('TCC: with Date.prototype.toJSON replaced, before or after the exporter starts, the replacement is sent', async (t) => {
  const original = Object.getOwnPropertyDescriptor(Date.prototype, 'toJSON')
  const replace = () => {
    // eslint-disable-next-line no-extend-native
    Date.prototype.toJSON = function () {
      return `local ${this.getTime()}`
    }
  }
  try {
    // Replaced before the exporter's first event.
    replace()
    let events = [...trace('t3'), ...trace('t4')]
    assertLikeReference(await tccBodies(t, events, 'onTracingEvent'), events)
    // Replaced while an exporter runs.
    Object.defineProperty(Date.prototype, 'toJSON', original)
    const rx = await startReceiver()
    t.after(() => rx.close())
    const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
    events = trace('t5')
    for (const ev of events) e.onTracingEvent(ev)
    replace()
    const later = trace('t6')
    for (const ev of later) e.onTracingEvent(ev)
    await e.flush()
    events.push(...later)
    Object.defineProperty(Date.prototype, 'toJSON', original)
    const bodies = rx.requests.map((r) => r.body)
    assert.equal(JSON.parse(bodies.find((b) => b.includes('run-t5'))).spans[1].startTime, '2025-11-24T16:00:00.001Z')
    assert.equal(JSON.parse(bodies.find((b) => b.includes('run-t6'))).spans[1].startTime, 'local 1764000000001')
  } finally {
    Object.defineProperty(Date.prototype, 'toJSON', original)
  }
})

test('OtelExporter: times are exact to the millisecond and completionStartTime is its ISO string', async (t) => {
  const rx = await startReceiver({ fallback: { status: 200, body: '{}', headers: { 'content-type': 'application/json' } } })
  t.after(() => rx.close())
  const e = new OtelExporter({ provider: { custom: { endpoint: rx.base, protocol: 'http/json' } } })
  e.init({ config: { serviceName: 'dates' } })
  const events = [...trace('00000000000000000000000000000001'), ...trace('00000000000000000000000000000002')]
  for (const ev of events) e.onTracingEvent(ev)
  await e.flush()
  const spans = rx.payloads().flatMap((p) => p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))
  const ns = (d) => String(BigInt(new Date(d).getTime()) * 1000000n)
  const ended = new Map()
  for (const ev of events) if (ev.type === 'span_ended') ended.set(`${ev.exportedSpan.traceId}/${ev.exportedSpan.id}`, ev.exportedSpan)
  const checked = []
  for (const s of spans) {
    const source = ended.get(`${s.traceId}/${s.spanId}`)
    assert.ok(source, `${s.traceId}/${s.spanId}`)
    checked.push(source.name)
    assert.equal(s.startTimeUnixNano, ns(source.startTime), source.name)
    if (source.endTime !== undefined) assert.equal(s.endTimeUnixNano, ns(source.endTime), source.name)
    const first = source.attributes?.completionStartTime
    const attr = s.attributes.find((a) => a.key === 'mastra.completion_start_time')?.value.stringValue
    if (attr !== undefined) assert.equal(attr, new Date(first).toISOString(), source.name)
    if (source.name === 'model') assert.equal(attr, '2025-11-24T16:00:00.003Z')
  }
  // Spans that start before 1970 or at an invalid Date have no OTLP start time and are not exported, as before.
  const want = ['root', 'plain', 'model', 'subclass', 'number', 'string', 'class', 'null-prototype', 'own-date-fields', 'frozen', 'read-only', 'accessor', 'shared']
  assert.deepEqual(checked.filter((n, i) => checked.indexOf(n) === i).sort(), want.sort())
})

// Each member of a span and of its attributes, as it holds it (the same objects, not copies).
const members = (span) => {
  const own = (o) => (o === null || typeof o !== 'object' ? [] : Reflect.ownKeys(o).map((k) => [k, Object.getOwnPropertyDescriptor(o, k)]))
  return [own(span), own(span.attributes)]
}

for (const [name, make] of [
  ['TCC', (rx) => new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })],
  ['OtelExporter', (rx) => new OtelExporter({ provider: { custom: { endpoint: rx.base, protocol: 'http/json' } } })],
]) {
  test(`${name}: the spans handed over hold what they held before, also when serialising one throws`, async (t) => {
    const rx = await startReceiver({ fallback: { status: 200, body: '{}', headers: { 'content-type': 'application/json' } } })
    t.after(() => rx.close())
    const e = make(rx)
    const events = [...trace('00000000000000000000000000000003'), ...trace('00000000000000000000000000000004')]
    // A span JSON.stringify refuses (a BigInt), with Dates the wrapper replaces before it serialises.
    const refused = events.find((ev) => ev.exportedSpan.name === 'model' && ev.type === 'span_ended').exportedSpan
    refused.input = { n: 1n }
    const before = events.map((ev) => members(ev.exportedSpan))
    for (const method of ['onTracingEvent', 'exportTracingEvent']) for (const ev of events) e[method](ev)
    await e.flush()
    events.forEach((ev, i) => assert.deepStrictEqual(members(ev.exportedSpan), before[i], ev.exportedSpan.name))
    assert.ok(refused.startTime instanceof Date && refused.attributes.completionStartTime instanceof Date)
  })
}
