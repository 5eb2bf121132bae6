// JavaScript-thread instructions per span, counted instead of timed: on this shared machine the same build's
// JavaScript-thread CPU moves by 20-40% between runs, while callgrind's count of the main thread's instructions, with
// V8 in `--predictable` mode (no concurrent compiler or GC threads, fixed heuristics), repeats to within a few
// instructions per span. Each subject replays the captured Mastra 1.x traces (100 copies with fresh ids, their Dates
// restored) several times in one process, calling its entry point per event as Mastra 1.x's bus does; the figure is
// the count at 8 passes less the count at 4 (which cancels start-up, imports and the events' construction), over the
// spans ended in 4 passes; ratios to the floor are taken less the no-op's figure (the replay's own loop). Exporters
// send to a closed port: their threads' work is not on the JavaScript thread.
//
// Run: node benchmark/js-instructions.mjs [subject,...]   (needs valgrind; about 30 s per subject and pass count)
// Subjects: noop, floor (JSON.stringify of each ended span), otel-json, otel-proto, tcc, and otel-json-early (the
// class method bound before the first event).
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freshEvents } from '../__test__/support/replay.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const FILES = ['a-generate.jsonl', 'b-tool-call.jsonl', 'c-stream.jsonl', 'd-workflow.jsonl', 'f-tool-error.jsonl']
const COPIES = 100
const SUBJECTS = ['noop', 'floor', 'otel-json', 'otel-proto', 'tcc', 'otel-json-early']

function events() {
  const out = []
  for (let i = 0; i < COPIES; i++) {
    for (const f of FILES) {
      for (const e of freshEvents('mastra-1.x', f)) {
        const s = e.exportedSpan
        for (const k of ['startTime', 'endTime']) if (typeof s[k] === 'string') s[k] = new Date(s[k])
        const a = s.attributes
        if (typeof a?.completionStartTime === 'string') a.completionStartTime = new Date(a.completionStartTime)
        out.push(e)
      }
    }
  }
  return out
}

function entry(subject) {
  const require = createRequire(import.meta.url)
  const { OtelExporter, TCCMastraExporter } = require('../index.js')
  const otel = (protocol) =>
    new OtelExporter({ provider: { custom: { endpoint: 'http://127.0.0.1:9', protocol } }, maxQueueSize: 10_000_000 })
  switch (subject) {
    case 'noop':
      return () => {}
    case 'floor':
      return (e) => {
        if (e.type === 'span_ended') JSON.stringify(e.exportedSpan)
      }
    case 'otel-json':
    case 'otel-proto': {
      const ex = otel(subject === 'otel-json' ? 'http/json' : 'http/protobuf')
      return (e) => ex.onTracingEvent(e)
    }
    case 'otel-json-early': {
      const ex = otel('http/json')
      return ex.onTracingEvent.bind(ex)
    }
    case 'tcc': {
      const ex = new TCCMastraExporter({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra', maxQueueSize: 10_000_000 })
      return (e) => ex.onTracingEvent(e)
    }
  }
  throw new Error(`unknown subject ${subject}`)
}

if (process.argv[2] === '--child') {
  const [subject, passes] = [process.argv[3], Number(process.argv[4])]
  const all = events()
  const f = entry(subject)
  for (let p = 0; p < passes; p++) for (const e of all) f(e)
  console.log(JSON.stringify({ ended: all.filter((e) => e.type === 'span_ended').length }))
  process.exit(0)
}

// The main thread's instruction count of one child run.
function count(subject, passes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'js-instr-'))
  const out = path.join(dir, 'cg.out')
  const r = spawnSync(
    'valgrind',
    ['--tool=callgrind', '--separate-threads=yes', '--dump-instr=no', `--callgrind-out-file=${out}`, process.execPath,
      '--predictable', '--max-semi-space-size=32', fileURLToPath(import.meta.url), '--child', subject, String(passes)],
    { encoding: 'utf8' },
  )
  if (r.error || r.status !== 0) throw new Error(`valgrind failed for ${subject}: ${r.error ?? r.stderr.slice(-2000)}`)
  const ended = JSON.parse(r.stdout.trim().split('\n').pop()).ended
  const text = fs.readFileSync(`${out}-01`, 'utf8')
  fs.rmSync(dir, { recursive: true })
  const total = Number(/^(?:summary|totals): (\d+)/m.exec(text)[1])
  return { total, ended }
}

const subjects = (process.argv[2] ?? SUBJECTS.join(',')).split(',')
const rows = []
for (const s of subjects) {
  const [a, b] = [count(s, 4), count(s, 8)]
  rows.push({ subject: s, instructionsPerSpan: Math.round((b.total - a.total) / (4 * a.ended)) })
  console.log(`${s.padEnd(16)} ${rows.at(-1).instructionsPerSpan} instructions per ended span on the JavaScript thread`)
}
// Over the no-op (the replay's own loop), as the timed benchmark subtracts it.
const noop = rows.find((r) => r.subject === 'noop')?.instructionsPerSpan ?? 0
for (const r of rows) r.overNoop = r.instructionsPerSpan - noop
const floor = rows.find((r) => r.subject === 'floor')
if (floor) {
  for (const r of rows) {
    if (r !== floor && r.subject !== 'noop') console.log(`${r.subject.padEnd(16)} ${(r.overNoop / floor.overNoop).toFixed(2)}x the floor (over the no-op)`)
  }
}
fs.mkdirSync(path.join(here, 'results'), { recursive: true })
fs.writeFileSync(path.join(here, 'results', 'js-instructions.json'), JSON.stringify({ node: process.version, rows }, null, 1))
