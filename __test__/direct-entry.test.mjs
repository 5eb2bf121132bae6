// The direct entry points: after its first event an exporter defines exportTracingEvent, exportEvent and
// onTracingEvent on itself as plain napi functions (skipping napi-rs's class-method path). They must behave exactly as
// the methods: the same exporter, the same mapping mode per entry point, a resolved promise (nothing from
// onTracingEvent), usable without `this`, alive as long as a reference to them is, and invisible to Object.keys. An
// exporter whose exportTracingEvent is overridden keeps the class methods, and its onTracingEvent calls the override.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import vm from 'node:vm'
import { startReceiver } from './support/receiver.mjs'

const { OtelExporter, TCCMastraExporter } = createRequire(import.meta.url)('../index.js')
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
const spansOf = (rx) =>
  rx.payloads().flatMap((p) => p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))
const attrs = (span) => Object.fromEntries(span.attributes.map((a) => [a.key, Object.values(a.value)[0]]))

const span = (id, extra = {}) => ({
  id,
  traceId: 'ab'.repeat(16),
  name: `agent run: ${id}`,
  type: 'agent_run',
  entityName: 'weather',
  startTime: new Date('2026-01-01T00:00:00Z'),
  endTime: new Date('2026-01-01T00:00:01Z'),
  isRootSpan: true,
  isEvent: false,
  attributes: {},
  ...extra,
})

async function otel(t) {
  const rx = await startReceiver({ fallback: { status: 200, body: '{}', headers: { 'content-type': 'application/json' } } })
  t.after(() => rx.close())
  const e = new OtelExporter({ provider: { custom: { endpoint: rx.base, protocol: 'http/json' } } })
  return { rx, e }
}

test('OtelExporter: the entry points move onto the instance after the first event, unseen by Object.keys', async (t) => {
  const { rx, e } = await otel(t)
  assert.equal(Object.hasOwn(e, 'exportTracingEvent'), false)
  const first = e.exportTracingEvent({ type: 'span_started', exportedSpan: span('0000000000000001') })
  assert.ok(first instanceof Promise)
  for (const name of ['exportTracingEvent', 'exportEvent']) {
    assert.equal(Object.hasOwn(e, name), true, name)
    assert.equal(Object.prototype.propertyIsEnumerable.call(e, name), false, name)
    assert.notEqual(e[name], Object.getPrototypeOf(e)[name], name)
  }
  assert.deepEqual(Object.keys(e).filter((k) => k.startsWith('export')), [])
  // Detached, without `this`, as some callers pass it around.
  const detached = e.exportTracingEvent
  const r = detached({ type: 'span_ended', exportedSpan: span('0000000000000002') })
  assert.ok(r instanceof Promise)
  await r
  // exportEvent keeps the 0.24 (legacy) mapping, exportTracingEvent the mastra one.
  e.exportEvent({ type: 'span_ended', exportedSpan: span('0000000000000003') })
  // Bad input through the direct path: no throw, counted.
  for (const bad of [undefined, null, 7, {}, { type: 'span_ended' }]) assert.doesNotThrow(() => e.exportTracingEvent(bad))
  await e.flush()
  const byId = Object.fromEntries(spansOf(rx).map((s) => [s.spanId, s]))
  assert.equal(byId['0000000000000002'].name, 'invoke_agent weather')
  assert.equal(byId['0000000000000003'].name, 'agent.')
  assert.equal(attrs(byId['0000000000000003'])['span.kind'], 'server')
  assert.equal(e.stats().spansInvalid, 5)
})

test('OtelExporter: two exporters keep their own entry points', async (t) => {
  const a = await otel(t)
  const b = await otel(t)
  a.e.exportTracingEvent({ type: 'span_started', exportedSpan: span('00000000000000a0') })
  b.e.exportTracingEvent({ type: 'span_started', exportedSpan: span('00000000000000b0') })
  a.e.exportTracingEvent({ type: 'span_ended', exportedSpan: span('00000000000000a1') })
  b.e.exportTracingEvent({ type: 'span_ended', exportedSpan: span('00000000000000b1') })
  await Promise.all([a.e.flush(), b.e.flush()])
  assert.deepEqual(spansOf(a.rx).map((s) => s.spanId), ['00000000000000a1'])
  assert.deepEqual(spansOf(b.rx).map((s) => s.spanId), ['00000000000000b1'])
})

test('a kept entry point outlives its collected exporter without harm', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  let e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const root = { id: 'r', traceId: 't', name: 'run', type: 'agent_run', isRootSpan: true, startTime: new Date() }
  e.exportTracingEvent({ type: 'span_started', exportedSpan: root })
  const kept = e.exportTracingEvent
  assert.equal(Object.hasOwn(e, 'exportTracingEvent'), true)
  assert.equal(Object.prototype.propertyIsEnumerable.call(e, 'exportTracingEvent'), false)
  const child = { id: 'c', traceId: 't', name: 'tool', type: 'tool_call', isRootSpan: false, parentSpanId: 'r', startTime: new Date() }
  kept({ type: 'span_started', exportedSpan: child })
  kept({ type: 'span_ended', exportedSpan: { ...child, endTime: new Date() } })
  kept({ type: 'span_ended', exportedSpan: { ...root, endTime: new Date() } })
  await e.flush()
  assert.equal(rx.requests.length, 1)
  assert.deepEqual(rx.payloads()[0].spans.map((s) => s.id), ['r', 'c'])
  e = null
  for (let i = 0; i < 5; i++) {
    gc()
    await new Promise((r) => setImmediate(r))
  }
  // The exporter is gone; its entry point still answers with a resolved promise and throws nothing.
  await kept({ type: 'span_started', exportedSpan: { ...root, id: 'r2', traceId: 't2' } })
  await kept({ type: 'span_ended', exportedSpan: { ...root, id: 'r2', traceId: 't2', endTime: new Date() } })
})

// The entry points copy a span's text one byte per character when it has no character above U+00FF, and as UTF-16
// otherwise. Every width, and a wide character after a long narrow run, must arrive unchanged.
const TEXTS = [
  'plain ascii',
  'Latin-1: café ÿ \u0080 \u00a0 ñ',
  'wide: “quoted” 日本語',
  'astral: 🎉',
  `wide at the end: ${'x'.repeat(5000)}’`,
  `Latin-1 at the end: ${'x'.repeat(5000)}é`,
]

test('TCCMastraExporter: span text of every width arrives unchanged', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  const root = { id: 'r', traceId: 'tw', name: 'café “run”', type: 'agent_run', isRootSpan: true, input: TEXTS[1] }
  e.exportTracingEvent({ type: 'span_started', exportedSpan: root })
  TEXTS.forEach((input, i) => {
    const child = { id: `c${i}`, traceId: 'tw', name: 'tool', type: 'tool_call', isRootSpan: false, parentSpanId: 'r' }
    e.exportTracingEvent({ type: 'span_started', exportedSpan: child })
    e.exportTracingEvent({ type: 'span_ended', exportedSpan: { ...child, input, output: TEXTS.at(-1 - i) } })
  })
  e.exportTracingEvent({ type: 'span_ended', exportedSpan: { ...root, output: TEXTS[2] } })
  await e.flush()
  assert.equal(rx.requests.length, 1)
  const body = rx.payloads()[0]
  assert.equal(body.spans[0].name, 'café “run”')
  assert.equal(body.spans[0].input, TEXTS[1])
  assert.equal(body.spans[0].output, TEXTS[2])
  assert.deepEqual(body.spans.slice(1).map((s) => [s.input, s.output]), TEXTS.map((x, i) => [x, TEXTS.at(-1 - i)]))
})

test('OtelExporter: span text of every width arrives unchanged', async (t) => {
  const { rx, e } = await otel(t)
  TEXTS.forEach((input, i) => {
    const id = `00000000000000c${i}`
    e.exportTracingEvent({ type: 'span_ended', exportedSpan: span(id, { entityName: input.slice(0, 30), input }) })
  })
  await e.flush()
  const byId = Object.fromEntries(spansOf(rx).map((s) => [s.spanId, s]))
  TEXTS.forEach((input, i) => {
    const s = byId[`00000000000000c${i}`]
    assert.equal(s.name, `invoke_agent ${input.slice(0, 30)}`)
    const values = Object.values(attrs(s)).filter((v) => typeof v === 'string')
    assert.ok(values.some((v) => v.includes(input)), `input ${i} is in an attribute`)
  })
})

// What Mastra 1.x's bus does with an exporter (routeToHandler in @mastra/observability): onTracingEvent if present.
const mastraRoute = (exporter, event) =>
  (exporter.onTracingEvent ? exporter.onTracingEvent.bind(exporter) : exporter.exportTracingEvent.bind(exporter))(event)

test('OtelExporter: onTracingEvent returns nothing, goes direct and maps as exportTracingEvent does', async (t) => {
  const { rx, e } = await otel(t)
  assert.equal(e.onTracingEvent({ type: 'span_started', exportedSpan: span('0000000000000011') }), undefined)
  for (const name of ['exportTracingEvent', 'exportEvent', 'onTracingEvent']) assert.equal(Object.hasOwn(e, name), true, name)
  assert.equal(e.onTracingEvent({ type: 'span_ended', exportedSpan: span('0000000000000012') }), undefined)
  const detached = e.onTracingEvent
  assert.equal(detached({ type: 'span_ended', exportedSpan: span('0000000000000013') }), undefined)
  for (const bad of [undefined, null, 7, {}]) assert.equal(e.onTracingEvent(bad), undefined)
  await e.flush()
  const byId = Object.fromEntries(spansOf(rx).map((s) => [s.spanId, s]))
  assert.deepEqual(Object.keys(byId).sort(), ['0000000000000012', '0000000000000013'])
  assert.equal(byId['0000000000000012'].name, 'invoke_agent weather')
  assert.equal(e.stats().spansInvalid, 4)
})

test('TCCMastraExporter: a run through onTracingEvent alone is sent as through exportTracingEvent', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  const bodies = []
  for (const method of ['exportTracingEvent', 'onTracingEvent']) {
    const e = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
    const root = { id: 'r', traceId: 't', name: 'run', type: 'agent_run', isRootSpan: true, metadata: { 'tcc.runId': 'run-1' }, startTime: new Date(0) }
    const child = { id: 'c', traceId: 't', name: 'tool', type: 'tool_call', isRootSpan: false, parentSpanId: 'r', startTime: new Date(0) }
    const returned = [
      e[method]({ type: 'span_started', exportedSpan: root }),
      e[method]({ type: 'span_started', exportedSpan: child }),
      e[method]({ type: 'span_updated', exportedSpan: { ...child, output: 'partial' } }),
      e[method]({ type: 'span_ended', exportedSpan: { ...child, output: 'done', endTime: new Date(1) } }),
      e[method]({ type: 'span_ended', exportedSpan: { ...root, endTime: new Date(2) } }),
    ]
    if (method === 'onTracingEvent') assert.deepEqual(returned, [undefined, undefined, undefined, undefined, undefined])
    else assert.ok(returned.every((r) => r instanceof Promise))
    assert.equal(Object.hasOwn(e, 'onTracingEvent'), true)
    await e.flush()
    bodies.push(rx.requests.at(-1).body)
  }
  assert.equal(rx.requests.length, 2)
  assert.equal(bodies[1], bodies[0], 'byte for byte')
  const body = rx.payloads()[1]
  assert.equal(body.runId, 'run-1')
  assert.deepEqual(body.spans.map((s) => [s.id, s.output ?? null]), [['r', null], ['c', 'done']])
})

test('a subclass that overrides exportTracingEvent sees every event Mastra 1.x routes, and keeps its override', async (t) => {
  const rx = await startReceiver()
  t.after(() => rx.close())
  class Counting extends TCCMastraExporter {
    seen = []
    exportTracingEvent(event) {
      this.seen.push(event.type)
      return super.exportTracingEvent(event)
    }
  }
  const e = new Counting({ apiKey: 'k', endpoint: rx.url() })
  const root = { id: 'r', traceId: 't', name: 'run', type: 'agent_run', isRootSpan: true, startTime: new Date(0) }
  for (const event of [
    { type: 'span_started', exportedSpan: root },
    { type: 'span_ended', exportedSpan: { ...root, endTime: new Date(1) } },
    { type: 'span_started', exportedSpan: { ...root, id: 'r2', traceId: 't2' } },
    { type: 'span_ended', exportedSpan: { ...root, id: 'r2', traceId: 't2', endTime: new Date(1) } },
  ]) {
    assert.equal(mastraRoute(e, event), undefined)
  }
  assert.deepEqual(e.seen, ['span_started', 'span_ended', 'span_started', 'span_ended'])
  assert.equal(Object.hasOwn(e, 'exportTracingEvent'), false, 'the override is not shadowed')
  await e.flush()
  assert.deepEqual(rx.payloads().map((p) => p.traceId).sort(), ['t', 't2'])

  class Otel extends OtelExporter {
    seen = 0
    exportTracingEvent(event) {
      this.seen++
      return super.exportTracingEvent(event)
    }
  }
  const o = new Otel({ provider: { custom: { endpoint: rx.base, protocol: 'http/json' } } })
  mastraRoute(o, { type: 'span_ended', exportedSpan: span('0000000000000021') })
  mastraRoute(o, { type: 'span_ended', exportedSpan: span('0000000000000022') })
  assert.equal(o.seen, 2)
  await o.flush()
  assert.equal(o.stats().spansExported, 2)
})

test('the entry points keep their names and the fast path of bind, which Mastra calls on them for every event', async (t) => {
  // A function named at run time (`{ [name]() {} }`) has a data property for `name`, and every `bind` of it then
  // normalises the bound function's properties into a dictionary: slower than the event itself.
  v8.setFlagsFromString('--allow-natives-syntax')
  const hasFastProperties = new Function('f', 'return %HasFastProperties(f)')
  const dynamic = { ['onTracingEvent']() {} }.onTracingEvent
  assert.equal(hasFastProperties(dynamic.bind({})), false, 'the check tells the slow path apart')
  const { e: o } = await otel(t)
  const rx = await startReceiver({ fallback: { status: 200, body: '{}' } })
  t.after(() => rx.close())
  const tcc = new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() })
  for (const e of [o, tcc]) {
    e.onTracingEvent({ type: 'span_updated', exportedSpan: span('0000000000000031') })
    for (const name of ['exportTracingEvent', 'exportEvent', 'onTracingEvent']) {
      const label = `${e.name}.${name}`
      assert.equal(Object.hasOwn(e, name), true, label)
      assert.equal(e[name].name, name, label)
      assert.equal(e[name].length, 1, label)
      assert.equal(hasFastProperties(e[name].bind(e)), true, label)
    }
  }
  await Promise.all([o.flush(), tcc.flush()])
})

test('a method taken before the first event hands its events to the entry point the instance then has', async (t) => {
  const rx = await startReceiver({ fallback: { status: 200, body: '{}', headers: { 'content-type': 'application/json' } } })
  t.after(() => rx.close())
  const makers = {
    OtelExporter: () => new OtelExporter({ provider: { custom: { endpoint: rx.base, protocol: 'http/json' } } }),
    TCCMastraExporter: () => new TCCMastraExporter({ apiKey: 'k', endpoint: rx.url() }),
  }
  let n = 0x100
  for (const [label, make] of Object.entries(makers)) {
    for (const name of ['exportTracingEvent', 'exportEvent', 'onTracingEvent']) {
      const e = make()
      // Bound to the class method, before the instance has entry points of its own.
      const early = e[name].bind(e)
      // Where each span is serialised: the entry point's wrapper serialises in `serialise`; the class method's careful
      // path calls JSON.stringify from native code.
      const stacks = []
      const probe = { toJSON: () => (stacks.push(new Error().stack), 'probe') }
      const ids = []
      for (let i = 0; i < 3; i++) {
        const s = span((n++).toString(16).padStart(16, '0'), { input: probe, metadata: { 'tcc.runId': `early-${n}` } })
        ids.push(s.id)
        early({ type: 'span_started', exportedSpan: s })
        early({ type: 'span_ended', exportedSpan: s })
      }
      await e.flush()
      assert.equal(stacks.length, 3, `${label} ${name}`)
      for (const stack of stacks) assert.match(stack, /at serialise /, `${label} ${name}`)
      if (label === 'OtelExporter') {
        const sent = new Set(spansOf(rx).map((s) => s.spanId))
        for (const id of ids) assert.ok(sent.has(id), `${label} ${name} ${id}`)
      } else {
        const runs = rx.requests.filter((r) => r.url === '/v1/mastra').map((r) => JSON.parse(r.body).spans[0].id)
        for (const id of ids) assert.ok(runs.includes(id), `${label} ${name} ${id}`)
      }
    }
  }
})
