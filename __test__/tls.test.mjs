// TLS: verification is always on; a custom CA (environment or option) and client certificates (mutual TLS) work.
// Certificates are made here with the openssl command line, for a loopback https receiver.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import https from 'node:https'
import { createRequire } from 'node:module'
import { withEnv, captureConsole } from './support/receiver.mjs'
import { loadEvents } from './support/fixtures.mjs'

const { OtelExporter } = createRequire(import.meta.url)('../index.js')
let dir
const file = (name) => path.join(dir, name)
const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mne-tls-'))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=mne-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  writeFileSync(file('client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const who of ['server', 'client']) {
    openssl('req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'mne-client'}`)
    openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`,
      '-days', '1', '-extfile', `${who}.ext`)
  }
})
after(() => rmSync(dir, { recursive: true, force: true }))

async function httpsReceiver(t, { mutual = false } = {}) {
  const got = []
  const server = https.createServer(
    {
      key: readFileSync(file('server.key')),
      cert: readFileSync(file('server.pem')),
      ca: readFileSync(file('ca.pem')),
      requestCert: mutual,
      rejectUnauthorized: mutual,
    },
    (req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        got.push({ client: req.socket.getPeerCertificate?.()?.subject?.CN, body: Buffer.concat(chunks) })
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{}')
      })
    },
  )
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => {
    server.closeAllConnections()
    return new Promise((r) => server.close(r))
  })
  return { base: `https://127.0.0.1:${server.address().port}`, got }
}

async function send(options) {
  const e = new OtelExporter({ maxRetries: 0, ...options })
  assert.equal(e.isDisabled, false)
  for (const ev of loadEvents('mastra-1.x', 'a-generate.jsonl')) e.exportTracingEvent(ev)
  await e.flush()
  return e.stats()
}

test('an unknown CA is refused: TLS verification is on', async (t) => {
  const rx = await httpsReceiver(t)
  const { result } = await captureConsole(() => send({ provider: { custom: { endpoint: rx.base } } }))
  assert.equal(result.spansExported, 0)
  assert.equal(result.failedNetwork, 1)
  assert.equal(rx.got.length, 0)
})

test('OTEL_EXPORTER_OTLP_CERTIFICATE adds a CA', async (t) => {
  const rx = await httpsReceiver(t)
  const stats = await withEnv({ OTEL_EXPORTER_OTLP_CERTIFICATE: file('ca.pem') }, () =>
    send({ provider: { custom: { endpoint: rx.base } } }),
  )
  assert.equal(stats.spansExported, 5)
  assert.equal(rx.got.length, 1)
})

test('the tls option takes PEM text', async (t) => {
  const rx = await httpsReceiver(t)
  const stats = await send({ provider: { custom: { endpoint: rx.base } }, tls: { ca: readFileSync(file('ca.pem'), 'utf8') } })
  assert.equal(stats.spansExported, 5)
})

test('mutual TLS: the client certificate is presented; without it the server refuses', async (t) => {
  const rx = await httpsReceiver(t, { mutual: true })
  const stats = await send({
    provider: { custom: { endpoint: rx.base, protocol: 'http/protobuf' } },
    tls: { ca: file('ca.pem'), cert: file('client.pem'), key: file('client.key') },
  })
  assert.equal(stats.spansExported, 5)
  assert.equal(rx.got[0].client, 'mne-client')
  const { result } = await captureConsole(() => send({ provider: { custom: { endpoint: rx.base } }, tls: { ca: file('ca.pem') } }))
  assert.equal(result.spansExported, 0)
  assert.equal(rx.got.length, 1)
})

test('a certificate without its key disables the exporter with a clear line', async () => {
  const { lines } = await captureConsole(async () => {
    const e = new OtelExporter({ provider: { custom: { endpoint: 'https://127.0.0.1:9' } }, tls: { cert: file('client.pem') } })
    assert.equal(e.isDisabled, true)
  })
  assert.ok(lines.some((l) => l.text.startsWith('[OtelExporter] TLS configuration: a client certificate needs its key')))
})
