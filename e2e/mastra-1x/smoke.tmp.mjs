import { buildApp, readStream } from './scenarios.mjs'
import { TCCMastraExporter } from '../../index.js'
console.log(typeof TCCMastraExporter)
const rec = { name: 'rec', exportTracingEvent(e) {}, async flush() {}, async shutdown() {} }
const app = buildApp({ exporters: [rec] })
let r = await app.toolAgent.generate('weather?')
const s = await app.toolAgent.stream('w'); await readStream(s)
const run = await app.workflow.createRun(); const w = await run.start({ inputData: { n: 21 } })
console.log(r.traceId, s.traceId, w.traceId, typeof app.mastra.observability.flush)
await app.mastra.shutdown()
