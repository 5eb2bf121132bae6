// The soak benchmark's collector, in a process of its own so it can be killed and restarted: accepts TCC runs on
// /v1/mastra and OTLP/JSON on /v1/traces, and appends every received span id to a file (which survives restarts).
import http from 'node:http'
import fs from 'node:fs'

const [port, file] = [Number(process.argv[2]), process.argv[3]]
const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    let lines = ''
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      if (req.url === '/v1/mastra') for (const s of body.spans) lines += `tcc ${s.id}\n`
      else for (const r of body.resourceSpans) for (const ss of r.scopeSpans) for (const s of ss.spans) lines += `otel ${s.spanId}\n`
    } catch {
      res.writeHead(400)
      return res.end()
    }
    fs.appendFileSync(file, lines)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{}')
  })
})
server.listen(port, '127.0.0.1', () => process.send?.('ready'))
