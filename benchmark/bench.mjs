// Side-by-side benchmark of the exporters against the JavaScript references, each subject in a fresh process,
// alternating, several rounds; a receiver in its own process counts what was delivered.
//
// Run: npm run bench   (BENCH_SPANS=100000 BENCH_ROUNDS=5 by default; BENCH_RATE=<spans/s> for the sustained mode;
// BENCH_SUBJECTS=a,b to pick subjects; uses Node 22 and the references installed in e2e/mastra-1x).
// Writes benchmark/results/bench-<spans>[-at-<rate>-per-s].json and .svg.
import { fork } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const spans = Number(process.env.BENCH_SPANS ?? 100000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
// Sustained mode: BENCH_RATE spans per second for BENCH_SPANS spans; unset, a burst.
const rate = Number(process.env.BENCH_RATE ?? 0)
const tag = `${spans}${rate ? `-at-${rate}-per-s` : ''}`
const subjects = (process.env.BENCH_SUBJECTS ?? 'noop,floor,otel-js-json,otel-js-proto,otel-native-json,otel-native-proto,tcc-js,tcc-native').split(',')
const node = process.execPath

function child(file, args) {
  return fork(path.resolve(here, file), args, { execPath: node, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
}
const once = (p, ev) => new Promise((r) => p.once(ev, r))

async function runOne(name) {
  const receiver = child(process.env.BENCH_RECEIVER ?? 'receiver.mjs', [])
  const receiverExited = once(receiver, 'exit')
  const { port } = await once(receiver, 'message')
  const subject = child('subject.mjs', [name, String(spans), String(port), String(rate)])
  const exited = once(subject, 'exit')
  const r = await once(subject, 'message')
  // Wall time until the receiver has every span (or 120 s pass): the arrival of the last body that brought a new one.
  // A subject that drops spans never reaches the total: stop once no body arrived for 2 s.
  let got = { spans: 0, bytes: 0, requests: 0, lastAt: 0, lastNewAt: 0 }
  const deadline = Date.now() + 120000
  for (;;) {
    receiver.send('stats')
    got = await once(receiver, 'message')
    if (got.spans >= r.spans || name === 'noop' || name === 'floor' || Date.now() > deadline) break
    if (Date.now() - Math.max(got.lastAt, r.flushEnd) > 2000) break
    await new Promise((res) => setTimeout(res, 20))
  }
  receiver.kill()
  // Both processes are gone, and the machine has had a second to settle, before the next subject starts: right after
  // a reference's process had exited, the next subject's import measured 20 to 42 ms instead of about 10.
  await Promise.all([exited, receiverExited])
  await new Promise((res) => setTimeout(res, 1000))
  return {
    ...r,
    delivered: got.spans,
    bytes: got.bytes,
    requests: got.requests,
    // The receiver's CPU (from its start, decoding excluded): it runs on the same cores as the subject.
    receiverCpuMs: got.cpuMs,
    wallMs: (name === 'noop' || name === 'floor' ? r.replayEnd : got.lastNewAt || Date.now()) - r.wallStart,
  }
}

const all = Object.fromEntries(subjects.map((s) => [s, []]))
for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? [...subjects].reverse() : subjects
  for (const s of order) {
    const r = await runOne(s)
    all[s].push(r)
    const drops = Object.entries(r.stats ?? {}).filter(([k, v]) => /^dropped|Failed$|^spansFailed|^runsFailed/.test(k) && v > 0)
    if (drops.length) console.log(`         ${s} dropped or failed: ${drops.map(([k, v]) => `${k} ${v}`).join(', ')}`)
        console.log(`round ${round + 1} ${s.padEnd(18)} ${((r.cpuTotalMs * 1000) / r.spans).toFixed(2)} µs/span JS-thread CPU, ${((r.eluActiveMs * 1000) / r.spans).toFixed(2)} µs/span active, ${r.delivered}/${r.spans} delivered, ${r.wallMs} ms, JS thread waited ${Math.round(r.jsWaitMs)} ms for a CPU`)
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
// JS-thread CPU (process.threadCpuUsage) from the first event through the end of flush(): the references defer their
// mapping, encoding and HTTP to timers and microtasks on that thread. Event-loop active time is reported beside it.
const base = all.noop ? median(all.noop.map((r) => r.eluActiveMs)) : 0
const baseCpu = all.noop ? median(all.noop.map((r) => r.cpuTotalMs)) : 0
const baseCall = all.noop ? median(all.noop.map((r) => r.callMs)) : 0
const baseRss = all.noop ? median(all.noop.map((r) => r.peakRss)) : 0
const baseWall = all.noop ? median(all.noop.map((r) => r.wallMs)) : 0
const baseReceiver = all.noop ? median(all.noop.map((r) => r.receiverCpuMs ?? 0)) : 0
const table = subjects.map((s) => {
  const rs = all[s]
  return {
    subject: s,
        jsUsPerSpan: Math.max(0, (median(rs.map((r) => r.cpuTotalMs)) - baseCpu) * 1000) / rs[0].spans,
    activeUsPerSpan: Math.max(0, (median(rs.map((r) => r.eluActiveMs)) - base) * 1000) / rs[0].spans,
    syncCallUsPerSpan: Math.max(0, (median(rs.map((r) => r.callMs)) - baseCall) * 1000) / rs[0].spans,
    wallMs: median(rs.map((r) => r.wallMs)),
    // Minus the no-op's (the replay alone), like the other figures.
    wallOverNoopMs: median(rs.map((r) => r.wallMs)) - baseWall,
    peakRssOverNoopMiB: (median(rs.map((r) => r.peakRss)) - baseRss) / 1048576,
    bytesPerSpan: median(rs.map((r) => r.bytes)) / rs[0].spans,
    delivered: median(rs.map((r) => r.delivered)),
    sent: rs[0].spans,
    importMs: median(rs.map((r) => r.importMs)),
    // CPU of our exporters' own threads (mapping, encoding, network), off the JavaScript thread.
    exporterThreadsUsPerSpan: (median(rs.map((r) => r.workerCpuMs ?? 0)) * 1000) / rs[0].spans,
    peakQueue: median(rs.map((r) => r.peakQueue ?? 0)),
    // Minor page faults of the JavaScript thread per 1,000 spans.
    jsFaultsPerKSpan: (median(rs.map((r) => r.faults ?? 0)) * 1000) / rs[0].spans,
    // During the replay: how long the JavaScript thread was ready but waited for a CPU, and how often it was
    // preempted (on two cores, by the exporter's threads, the receiver and V8's helpers).
    jsWaitMs: median(rs.map((r) => r.jsWaitMs ?? 0)),
    jsPreempted: median(rs.map((r) => r.jsPreempted ?? 0)),
    // The receiver's CPU minus the no-op's (its own start-up), per span.
    receiverCpuUsPerSpan: Math.max(0, (median(rs.map((r) => r.receiverCpuMs ?? 0)) - baseReceiver) * 1000) / rs[0].spans,
  }
})
const by = Object.fromEntries(table.map((t) => [t.subject, t]))
const ratio = (a, b) => (by[a] && by[b] && by[b].jsUsPerSpan ? (by[a].jsUsPerSpan / by[b].jsUsPerSpan).toFixed(2) + 'x' : 'n/a')
console.log(`\n${spans} spans ${rate ? `at ${rate} spans/s` : 'in a burst'}, ${rounds} rounds, medians; jsUsPerSpan = JS-thread CPU per span through flush(), activeUsPerSpan = event-loop active time per span, both minus the no-op baseline; exporterThreadsUsPerSpan = CPU of our exporters' own threads per span\n`)
console.table(table.map((t) => ({ ...t, jsUsPerSpan: t.jsUsPerSpan.toFixed(2), activeUsPerSpan: t.activeUsPerSpan.toFixed(2), syncCallUsPerSpan: t.syncCallUsPerSpan.toFixed(2), peakRssOverNoopMiB: t.peakRssOverNoopMiB.toFixed(0), bytesPerSpan: t.bytesPerSpan.toFixed(0), importMs: t.importMs.toFixed(1), exporterThreadsUsPerSpan: t.exporterThreadsUsPerSpan.toFixed(2), jsFaultsPerKSpan: t.jsFaultsPerKSpan.toFixed(1), jsWaitMs: t.jsWaitMs.toFixed(0), receiverCpuUsPerSpan: t.receiverCpuUsPerSpan.toFixed(2) })))
// Paired: the ratio within each round (both minus that round's no-op), then the median and range over the rounds.
// Subjects of one round run within seconds of each other, so this cancels the drift between rounds of a shared
// machine, which moves every subject of a round alike (the floor alone ranged 6.0 to 7.1 µs/span raw in one run).
function paired(a, b) {
  if (!all[a]?.length || !all[b]?.length) return undefined
  const rs = all[a].map((r, i) => {
    const noop = all.noop?.[i]?.cpuTotalMs ?? 0
    return (r.cpuTotalMs - noop) / (all[b][i].cpuTotalMs - noop)
  })
  return { median: median(rs), min: Math.min(...rs), max: Math.max(...rs) }
}
const pairedText = (a, b) => {
  const p = paired(a, b)
  return p ? `${p.median.toFixed(2)}x (rounds ${p.min.toFixed(2)}-${p.max.toFixed(2)})` : 'n/a'
}
const pairs = [
  ['otel-native-proto', 'floor'],
  ['otel-native-json', 'floor'],
  ['tcc-native', 'floor'],
  ['otel-native-proto', 'otel-js-proto'],
  ['otel-native-json', 'otel-js-json'],
  ['tcc-native', 'tcc-js'],
].filter(([a, b]) => all[a] && all[b])
console.log(`OtelExporter (proto) vs floor: ${ratio('otel-native-proto', 'floor')}, vs @mastra/otel-exporter (proto): ${ratio('otel-native-proto', 'otel-js-proto')}`)
console.log(`TCCMastraExporter vs floor: ${ratio('tcc-native', 'floor')}, vs the JS TCC reference: ${ratio('tcc-native', 'tcc-js')}`)
console.log('JS-thread CPU, paired within rounds:')
for (const [a, b] of pairs) console.log(`  ${a} / ${b}: ${pairedText(a, b)}`)
const vs = (a, b, key) => (by[a] && by[b] && by[b][key] ? (by[a][key] / by[b][key]).toFixed(2) + 'x' : 'n/a')
console.log(`OtelExporter (proto) vs @mastra/otel-exporter (proto): wall ${vs('otel-native-proto', 'otel-js-proto', 'wallMs')} (${vs('otel-native-proto', 'otel-js-proto', 'wallOverNoopMs')} over the no-op), peak RSS over no-op ${vs('otel-native-proto', 'otel-js-proto', 'peakRssOverNoopMiB')}`)
console.log(`TCCMastraExporter vs the JS TCC reference: wall ${vs('tcc-native', 'tcc-js', 'wallMs')} (${vs('tcc-native', 'tcc-js', 'wallOverNoopMs')} over the no-op), peak RSS over no-op ${vs('tcc-native', 'tcc-js', 'peakRssOverNoopMiB')}`)

fs.mkdirSync(path.join(here, 'results'), { recursive: true })
fs.writeFileSync(path.join(here, 'results', `bench-${tag}.json`), JSON.stringify({ spans, rate, rounds, table, paired: Object.fromEntries(pairs.map(([a, b]) => [`${a}/${b}`, paired(a, b)])), raw: all }, null, 2))
// A bar chart of JS-thread µs per span and wall time per subject.
const w = 760
const rowH = 26
const maxUs = Math.max(...table.map((t) => t.jsUsPerSpan), 1)
const maxWall = Math.max(...table.map((t) => t.wallMs), 1)
const rows = table
  .map((t, i) => {
    const y = 40 + i * rowH
    const a = (t.jsUsPerSpan / maxUs) * 250
    const b = (t.wallMs / maxWall) * 250
    return `<text x="5" y="${y + 14}" font-size="12">${t.subject}</text>` +
      `<rect x="160" y="${y}" width="${a}" height="10" fill="#3b82f6"/><text x="${165 + a}" y="${y + 9}" font-size="10">${t.jsUsPerSpan.toFixed(1)} µs</text>` +
      `<rect x="480" y="${y}" width="${b}" height="10" fill="#f59e0b"/><text x="${485 + b}" y="${y + 9}" font-size="10">${t.wallMs} ms</text>`
  })
  .join('')
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${60 + table.length * rowH}" font-family="sans-serif">` +
  `<text x="160" y="25" font-size="13">JS-thread CPU per span</text><text x="480" y="25" font-size="13">wall time until delivered (${spans} spans${rate ? ` at ${rate}/s` : ''})</text>${rows}</svg>`
fs.writeFileSync(path.join(here, 'results', `bench-${tag}.svg`), svg)
