// submitFeedback: validation texts, the request it sends, and the Response it resolves with.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startReceiver, withEnv, captureConsole } from './support/receiver.mjs'

const { submitFeedback } = createRequire(import.meta.url)('../index.js')
const RUN = '11111111-1111-4111-8111-111111111111'

test('feedback is posted to TCC_BASE_URL/v1/feedback with the env key and resolves with a Response', async (t) => {
  const rx = await startReceiver({ fallback: { status: 200, body: '{"ok":true}' } })
  t.after(() => rx.close())
  await withEnv({ TCC_API_KEY: 'tcc_fb_key', TCC_BASE_URL: rx.base, TCC_FEEDBACK_URL: undefined }, async () => {
    const res = await submitFeedback({ runId: RUN, score: 'thumbs_up', text: 'great' })
    assert.ok(res instanceof Response)
    assert.equal(res.ok, true)
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { ok: true })
  })
  assert.equal(rx.requests[0].url, '/v1/feedback')
  assert.equal(rx.requests[0].body, JSON.stringify({ runId: RUN, score: 'thumbs_up', text: 'great' }))
  assert.equal(rx.requests[0].headers.authorization, 'Bearer tcc_fb_key')
  assert.equal(rx.requests[0].headers['content-type'], 'application/json')
})

test('TCC_FEEDBACK_URL: a trailing /v1/feedback is stripped and re-appended; a non-2xx is logged and returned', async (t) => {
  const rx = await startReceiver({ fallback: { status: 422, body: 'bad score' } })
  t.after(() => rx.close())
  const { lines } = await captureConsole(() =>
    withEnv({ TCC_API_KEY: 'k', TCC_FEEDBACK_URL: `${rx.base}/custom/v1/feedback/` }, async () => {
      const res = await submitFeedback({ runId: RUN, text: 'meh' })
      assert.equal(res.status, 422)
      assert.equal(res.ok, false)
    }),
  )
  assert.equal(rx.requests[0].url, '/custom/v1/feedback')
  assert.ok(lines.some((l) => l.level === 'error' && l.text === '[TCC] Failed to submit feedback: 422 bad score'))
})

test('invalid feedback resolves undefined with the reference texts; an unsafe URL rejects', async () => {
  const cases = [
    [{ runId: 'run-1', score: 'thumbs_up' }, {}, '[TCC] Cannot submit feedback: runId must be a UUID'],
    [{ runId: RUN }, {}, "[TCC] Cannot submit feedback: at least one of 'score' or 'text' must be provided"],
    [{ runId: RUN, text: 'a'.repeat(2001) }, {}, '[TCC] Cannot submit feedback: text length (2001) exceeds maximum of 2000 characters'],
    [{ runId: RUN, score: 'thumbs_down' }, { TCC_API_KEY: undefined }, '[TCC] Cannot submit feedback: TCC_API_KEY environment variable is not set'],
  ]
  for (const [args, env, want] of cases) {
    const { lines, result } = await captureConsole(() =>
      withEnv({ TCC_API_KEY: 'k', TCC_BASE_URL: 'http://127.0.0.1:9', ...env }, () => submitFeedback(args)),
    )
    assert.equal(result, undefined)
    assert.ok(lines.some((l) => l.level === 'error' && l.text === want), `${want} in ${JSON.stringify(lines)}`)
  }
  await withEnv({ TCC_API_KEY: 'k', TCC_FEEDBACK_URL: 'https://evil.example' }, async () => {
    await assert.rejects(submitFeedback({ runId: RUN, score: 'thumbs_up' }), /Refusing unsafe TCC base URL/)
  })
})
