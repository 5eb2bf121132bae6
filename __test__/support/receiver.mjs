// A real HTTP receiver on loopback for the tests: records every request and answers from a script.
//
// Script steps (consumed one per request, then `fallback`):
//   { status, headers, body }      answer at once
//   { hold: true }                 keep the response open until release() (or releaseAll())
//   { destroy: true }              reset the connection without answering
//   { hang: true }                 read the request and never answer
//   { drip: { bytes, everyMs } }   answer 200 but send the body one byte every `everyMs`
import http from 'node:http'

export async function startReceiver({ script = [], fallback = { status: 200, body: 'ok' }, port = 0 } = {}) {
  const requests = []
  const held = []
  const waiters = []
  const steps = [...script]
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const record = { method: req.method, url: req.url, headers: req.headers, body: raw.toString('utf8'), raw, at: Date.now() }
      const step = steps.length ? steps.shift() : fallback
      record.step = step
      requests.push(record)
      for (const w of waiters.slice()) w()
      if (step.destroy) return req.socket.destroy()
            if (step.hang) return
      if (step.drip) {
        // Answer one byte at a time, slowly.
        res.writeHead(200, { 'content-type': 'text/plain' })
        let left = step.drip.bytes ?? 20
        const timer = setInterval(() => {
          if (res.destroyed) return clearInterval(timer)
          if (left-- <= 0) {
            clearInterval(timer)
            return res.end()
          }
          res.write('.')
        }, step.drip.everyMs ?? 100)
        return
      }
      const answer = () => {
        res.writeHead(step.status ?? 200, { 'content-type': 'text/plain', ...step.headers })
        res.end(step.body ?? '')
      }
      if (step.hold) held.push(answer)
      else answer()
    })
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  const bound = server.address().port
  const base = `http://127.0.0.1:${bound}`
  return {
    base,
    port: bound,
    url: (path = '/v1/mastra') => base + path,
    requests,
    /** JSON bodies of the requests received so far. */
    payloads: () => requests.map((r) => JSON.parse(r.body)),
    push: (...more) => steps.push(...more),
    release: () => held.shift()?.(),
    releaseAll: () => {
      while (held.length) held.shift()()
    },
    heldCount: () => held.length,
    /** Resolves once `n` requests have arrived; rejects after `ms`. */
    waitFor(n, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (requests.length >= n) {
            clearTimeout(timer)
            waiters.splice(waiters.indexOf(check), 1)
            resolve(requests)
          }
        }
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1)
          reject(new Error(`receiver got ${requests.length} requests, wanted ${n} within ${ms} ms`))
        }, ms)
        waiters.push(check)
        check()
      })
    },
    async close() {
      this.releaseAll()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

/** Runs `fn` with `process.env` changed, restoring it afterwards. */
export async function withEnv(vars, fn) {
  const saved = {}
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k]
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

/** Records console output while `fn` runs (the exporters print through the console from Rust threads). */
export async function captureConsole(fn, settleMs = 50) {
  const lines = []
  const orig = { log: console.log, warn: console.warn, error: console.error }
  for (const level of ['log', 'warn', 'error']) {
    console[level] = (...args) => lines.push({ level, text: args.map(String).join(' '), args })
  }
  try {
    const result = await fn(lines)
    await new Promise((r) => setTimeout(r, settleMs))
    return { result, lines }
  } finally {
    Object.assign(console, orig)
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
