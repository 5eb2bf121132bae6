// Construction, URL selection, the origin restriction and the Mastra-facing surface.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { withEnv, captureConsole } from './support/receiver.mjs'

const { TCCMastraExporter } = createRequire(import.meta.url)('../index.js')
const clean = { TCC_API_KEY: undefined, TCC_BASE_URL: undefined, TCC_ALLOW_UNSAFE_BASE_URL: undefined }

test('name and methods', () => {
  const e = new TCCMastraExporter({ apiKey: 'k' })
  assert.equal(e.name, 'tcc-mastra-exporter')
  for (const m of ['init', 'exportTracingEvent', 'exportEvent', 'onTracingEvent', 'flush', 'shutdown', '__setLogger']) {
    assert.equal(typeof e[m], 'function', m)
  }
  assert.ok(e.flush() instanceof Promise)
  assert.ok(e.shutdown() instanceof Promise)
})

test('endpoint selection follows the reference', async () => {
  const cases = [
    [{ TCC_API_KEY: 'tcc_prod_1' }, {}, 'https://api.thecontext.company/v1/mastra'],
    [{ TCC_API_KEY: 'dev_abc' }, {}, 'https://dev.thecontext.company/v1/mastra'],
    [{ TCC_API_KEY: 'dev_abc' }, { apiKey: 'tcc_prod_2' }, 'https://api.thecontext.company/v1/mastra'],
    [{ TCC_API_KEY: 'k', TCC_BASE_URL: 'http://localhost:8787/' }, {}, 'http://localhost:8787/v1/mastra'],
    [{ TCC_API_KEY: 'k', TCC_BASE_URL: 'https://api.thecontext.company/v1' }, {}, 'https://api.thecontext.company/v1/v1/mastra'],
    [{ TCC_API_KEY: 'k', TCC_BASE_URL: 'https://evil.example', TCC_ALLOW_UNSAFE_BASE_URL: '1' }, {}, 'https://evil.example/v1/mastra'],
    [{ TCC_API_KEY: 'k' }, { endpoint: 'http://127.0.0.1:9/v1/mastra' }, 'http://127.0.0.1:9/v1/mastra'],
    [{ TCC_API_KEY: 'k', TCC_BASE_URL: 'https://evil.example' }, { endpoint: 'http://[::1]:9/x' }, 'http://[::1]:9/x'],
  ]
  for (const [env, opts, want] of cases) {
    await withEnv({ ...clean, ...env }, () => {
      assert.equal(new TCCMastraExporter(opts).endpoint, want, JSON.stringify({ env, opts }))
    })
  }
})

test('unsafe or invalid URLs are refused with the reference texts', async () => {
  const cases = [
    [{ TCC_BASE_URL: 'https://evil.example' }, {}, /^\[TCC\] Refusing unsafe TCC base URL \(https:\/\/evil\.example\)\. Use https:\/\/api\.thecontext\.company/],
    [{ TCC_BASE_URL: 'https://api.thecontext.company.evil.example' }, {}, /Refusing unsafe TCC base URL/],
    [{ TCC_BASE_URL: 'http://api.thecontext.company' }, {}, /Refusing unsafe TCC base URL/],
    [{ TCC_BASE_URL: 'not a url' }, {}, /^\[TCC\] Invalid TCC base URL: not a url$/],
    [{}, { endpoint: 'https://evil.example/v1/mastra' }, /^\[TCC\] Refusing to send credentials to unsafe URL \(https:\/\/evil\.example\)/],
    [{}, { endpoint: 'https://api.thecontext.company@evil.example/v1/mastra' }, /Refusing to send credentials/],
    [{}, { endpoint: 'http://localhost.evil.com/v1/mastra' }, /Refusing to send credentials/],
    [{}, { endpoint: 'http://[::2]:4318/' }, /Refusing to send credentials/],
    [{}, { endpoint: 'not a url' }, /^\[TCC\] Invalid TCC URL: not a url$/],
  ]
  for (const [env, opts, want] of cases) {
    await withEnv({ ...clean, TCC_API_KEY: 'tcc_secret_key', ...env }, () => {
      assert.throws(
        () => new TCCMastraExporter(opts),
        (err) => {
          assert.match(err.message, want)
          assert.ok(!err.message.includes('tcc_secret_key'), 'the key never appears in an error')
          return true
        },
        JSON.stringify({ env, opts }),
      )
    })
  }
})

test('init accepts the 1.x and 0.24 shapes and logs only with debug', async () => {
  const { lines } = await captureConsole(async () => {
    const quiet = new TCCMastraExporter({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra' })
    quiet.init({ config: { serviceName: 'silent' } })
    const e = new TCCMastraExporter({ apiKey: 'k', endpoint: 'http://127.0.0.1:9/v1/mastra', debug: true })
    const cyclic = {}
    cyclic.self = cyclic
    e.init({ mastra: cyclic, config: { serviceName: 'svc-1x' }, emitDropEvent() {} })
    e.init({ serviceName: 'svc-024', name: 'default' })
    e.init(undefined)
  }, 150)
  const texts = lines.map((l) => l.text)
  assert.ok(!texts.some((t) => t.includes('silent')), 'no debug output without debug')
  for (const name of ['svc-1x', 'svc-024', 'unknown']) {
    assert.ok(texts.includes(`[TCC] Initialized for service: ${name}`), `${name} in ${JSON.stringify(texts)}`)
  }
  assert.ok(texts.includes('[TCC] Endpoint: http://127.0.0.1:9/v1/mastra'))
  assert.ok(lines.filter((l) => l.text.startsWith('[TCC] Initialized')).every((l) => l.level === 'log'))
})
