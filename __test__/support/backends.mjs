// Real OpenTelemetry trace backends for the tests, started on loopback from <repo>/.backends/
// (installed by scripts/backends/setup.sh; see shared/spec/real-backends.md for the background):
//   Phoenix  OTLP http/protobuf (`otlpHttp`) + gRPC (`otlpGrpc`), REST query API at `base`
//   MLflow   OTLP http/json + protobuf (`otlpHttp`, header x-mlflow-experiment-id), REST query API at `base`
//   rotel    OTLP gRPC + http (json and protobuf), forwards over gRPC (e.g. to Phoenix) or discards (blackhole)
// Every server gets a fresh temp dir for its data and its log (`<dir>/server.log`), runs in its own process
// group, and is killed with its whole group by stopBackend() or, failing that, when this process exits.
// A server that cannot start makes the start function throw with the path of its log: never a skip.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const backendsDir = path.join(root, '.backends')
const venv = path.join(backendsDir, 'venv')
const phoenixLauncher = path.join(root, 'scripts', 'backends', 'phoenix_loopback.py')

// No telemetry, no external resources, no assistant/MCP, no MLflow job runner (an extra ~700 MB process).
const OFFLINE = {
  PHOENIX_TELEMETRY_ENABLED: 'false',
  PHOENIX_ALLOW_EXTERNAL_RESOURCES: 'false',
  PHOENIX_DISABLE_AGENT_ASSISTANT: 'true',
  PHOENIX_ENABLE_MCP_SERVER: 'false',
  MLFLOW_DISABLE_TELEMETRY: 'true',
  DO_NOT_TRACK: 'true',
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
}
// Inherited settings of these families could redirect a server (another DB, self-instrumentation, other ports).
const HERMETIC = /^(PHOENIX_|MLFLOW_|ROTEL_|OTEL_)/

const READY_TIMEOUT = { phoenix: 120_000, mlflow: 120_000, rotel: 20_000 }
const running = new Set()

function requireInstall() {
  if (!existsSync(path.join(venv, 'bin', 'python'))) {
    throw new Error(
      `Real trace backends are not installed (${venv} is missing): run scripts/backends/setup.sh first`,
    )
  }
}

function rotelBinary() {
  const lib = path.join(venv, 'lib')
  for (const py of existsSync(lib) ? readdirSync(lib) : []) {
    const bin = path.join(lib, py, 'site-packages', 'rotel', 'rotel-agent')
    if (existsSync(bin)) return bin
  }
  throw new Error(`rotel-agent not found under ${lib}/python3*/site-packages/rotel: run scripts/backends/setup.sh`)
}

/** A free TCP port on 127.0.0.1 (there is a small close-then-bind race; launch() retries once on it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = s.address()
        s.close(() => resolve(port))
      })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const isOk = async (url, init = {}) => (await fetch(url, { ...init, signal: AbortSignal.timeout(2000) })).ok

function logTail(file, lines = 25) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

function hermeticEnv(extra) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!HERMETIC.test(k)) env[k] = v
  return { ...env, ...OFFLINE, ...extra }
}

function killGroup(proc, signal) {
  try {
    process.kill(-proc.pid, signal)
  } catch {
    // already gone
  }
}

function installSafetyNet() {
  if (installSafetyNet.done) return
  installSafetyNet.done = true
  const killAll = () => {
    for (const b of running) {
      killGroup(b.proc, 'SIGKILL')
      if (!b.keepDir) rmSync(b.dir, { recursive: true, force: true })
    }
    running.clear()
  }
  process.on('exit', killAll)
  // Signals end the process without 'exit': clean up, then die of the same signal as before.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      killAll()
      process.kill(process.pid, sig)
    })
  }
}

/** Spawns one server in a fresh temp dir and waits until isReady(ports) says yes. */
async function launch({ name, cmd, args, env = () => ({}), ports: portCount, isReady }) {
  requireInstall()
  installSafetyNet()
  const timeoutMs = READY_TIMEOUT[name]
  for (let attempt = 1; ; attempt++) {
    const ports = []
    for (let i = 0; i < portCount; i++) ports.push(await freePort())
    const dir = mkdtempSync(path.join(tmpdir(), `${name}-`))
    const log = path.join(dir, 'server.log')
    const fd = openSync(log, 'w')
    let proc
    try {
      proc = spawn(cmd, args(dir, ports), {
        env: hermeticEnv(env(dir, ports)),
        stdio: ['ignore', fd, fd],
        detached: true, // own process group: MLflow forks uvicorn workers, stop must reach them all
      })
    } finally {
      closeSync(fd)
    }
    proc.unref() // a forgotten backend must not keep the test process alive (the exit hook kills it)
    const b = { name, proc, pid: proc.pid, dir, log, ports, keepDir: false }
    running.add(b)
    let spawnError
    proc.once('error', (e) => (spawnError = e))

    const t0 = Date.now()
    let failure
    for (;;) {
      if (spawnError) {
        failure = `${name} could not be spawned (${cmd}): ${spawnError.message}`
        break
      }
      if (proc.exitCode !== null || proc.signalCode !== null) {
        failure = `${name} exited (code ${proc.exitCode}, signal ${proc.signalCode}) before it was ready`
        break
      }
      try {
        if (await isReady(ports)) return Object.assign(b, { readyMs: Date.now() - t0 })
      } catch {
        // not listening yet
      }
      if (Date.now() - t0 > timeoutMs) {
        failure = `${name} was not ready after ${timeoutMs} ms`
        break
      }
      await sleep(200)
    }
    b.keepDir = true // keep the log for the message below
    await stopBackend(b)
    const tail = logTail(log)
    if (attempt === 1 && /address already in use|EADDRINUSE|Errno 98/i.test(tail)) {
      rmSync(dir, { recursive: true, force: true }) // lost the free-port race: try once more with new ports
      continue
    }
    throw new Error(`${failure}; server log: ${log}\n--- last lines ---\n${tail}`)
  }
}

/**
 * Stops a backend: SIGTERM to its whole process group, SIGKILL after 10 s, then removes its temp dir
 * (data and log) unless `b.keepDir` is set. Safe to call twice.
 */
export async function stopBackend(b) {
  if (!b?.proc) return
  const { proc } = b
  if (proc.exitCode === null && proc.signalCode === null) {
    const gone = new Promise((r) => proc.once('exit', r))
    killGroup(proc, 'SIGTERM')
    const t = setTimeout(() => killGroup(proc, 'SIGKILL'), 10_000)
    await gone
    clearTimeout(t)
  }
  killGroup(proc, 'SIGKILL') // stragglers of the group (forked workers) that outlived their parent
  running.delete(b)
  if (!b.keepDir) rmSync(b.dir, { recursive: true, force: true })
}

/**
 * Arize Phoenix: OTLP http/protobuf at `otlpHttp` (content-type must be exactly application/x-protobuf),
 * OTLP gRPC at `otlpGrpc`, REST API at `base`. gRPC is bound to 127.0.0.1 by phoenix_loopback.py.
 */
export async function startPhoenix() {
  const b = await launch({
    name: 'phoenix',
    cmd: path.join(venv, 'bin', 'python'),
    args: () => [phoenixLauncher],
    ports: 2,
    env: (dir, [http, grpc]) => ({
      PHOENIX_WORKING_DIR: dir,
      PHOENIX_HOST: '127.0.0.1',
      PHOENIX_PORT: `${http}`,
      PHOENIX_GRPC_PORT: `${grpc}`,
    }),
    isReady: ([http]) => isOk(`http://127.0.0.1:${http}/readyz`), // /readyz also checks the DB
  })
  const [http, grpc] = b.ports
  return Object.assign(b, {
    base: `http://127.0.0.1:${http}`,
    otlpHttp: `http://127.0.0.1:${http}/v1/traces`,
    otlpGrpc: `http://127.0.0.1:${grpc}`,
  })
}

/**
 * MLflow tracking server (sqlite in the temp dir): OTLP http/json or protobuf at `otlpHttp`, which needs the
 * header `x-mlflow-experiment-id` (experiment "0" always exists); REST API at `base`. A 200 means stored.
 */
export async function startMlflow() {
  const b = await launch({
    name: 'mlflow',
    cmd: path.join(venv, 'bin', 'mlflow'),
    args: (dir, [port]) => [
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      `${port}`,
      '--workers',
      '1',
      '--backend-store-uri',
      `sqlite:///${dir}/mlflow.db`,
      '--default-artifact-root',
      `${dir}/artifacts`,
    ],
    ports: 1,
    isReady: ([port]) => isOk(`http://127.0.0.1:${port}/health`),
  })
  const [port] = b.ports
  return Object.assign(b, { base: `http://127.0.0.1:${port}`, otlpHttp: `http://127.0.0.1:${port}/v1/traces` })
}

/**
 * rotel OTLP collector: receives gRPC at `otlpGrpc` and http (json or protobuf) at `otlpHttp`. With
 * `forwardGrpcUrl` (e.g. `phoenix.otlpGrpc`) it exports there over gRPC; without it, it discards (blackhole).
 * It has no query API. Request headers (e.g. x-project-name) are not forwarded: use resource attributes.
 */
export async function startRotel(forwardGrpcUrl) {
  requireInstall()
  const exporter = forwardGrpcUrl
    ? ['--exporter', 'otlp', '--otlp-exporter-endpoint', forwardGrpcUrl, '--otlp-exporter-protocol', 'grpc']
    : ['--exporter', 'blackhole']
  const b = await launch({
    name: 'rotel',
    cmd: rotelBinary(),
    args: (dir, [grpc, http]) => [
      'start',
      '--otlp-grpc-endpoint',
      `127.0.0.1:${grpc}`,
      '--otlp-http-endpoint',
      `127.0.0.1:${http}`,
      // the defaults are fixed paths in /tmp, which parallel runs would share
      '--pid-file',
      `${dir}/rotel.pid`,
      '--log-file',
      `${dir}/rotel.log`,
      ...exporter,
    ],
    ports: 2,
    // rotel answers 404 to GET; an empty protobuf export gets a 200
    isReady: ([, http]) =>
      isOk(`http://127.0.0.1:${http}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: new Uint8Array(),
      }),
  })
  const [grpc, http] = b.ports
  return Object.assign(b, {
    forward: forwardGrpcUrl ?? null,
    otlpHttp: `http://127.0.0.1:${http}/v1/traces`,
    otlpGrpc: `http://127.0.0.1:${grpc}`,
  })
}

async function getJson(url, what) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  // Phoenix answers unknown GET paths with its SPA's HTML and a 200: never trust the status alone.
  if (!/application\/json/.test(res.headers.get('content-type') ?? '')) {
    return { status: res.status, json: undefined, text: `${what}: not JSON (${res.status}): ${text.slice(0, 200)}` }
  }
  return { status: res.status, json: JSON.parse(text), text }
}

/**
 * The spans of one trace in a Phoenix project, polled until at least `want` are stored (ingest is async;
 * the project answers 404 until its first span is stored). Returns Phoenix's REST span objects:
 *   { id, name, context: { trace_id, span_id }, parent_id (hex or null), span_kind, start_time, end_time,
 *     status_code, status_message, attributes: { [key]: value }, events: [{ name, timestamp, attributes }] }
 * Throws on timeout, saying how many spans it saw and what Phoenix last answered.
 */
export async function phoenixSpans(phoenix, project, traceIdHex, { want = 1, timeoutMs = 30_000 } = {}) {
  const url =
    `${phoenix.base}/v1/projects/${encodeURIComponent(project)}/spans` +
    `?trace_id=${encodeURIComponent(traceIdHex)}&limit=1000`
  const t0 = Date.now()
  let last = 'no answer yet'
  let seen = 0
  for (;;) {
    try {
      const { status, json, text } = await getJson(url, 'phoenix spans')
      if (status === 200 && Array.isArray(json?.data)) {
        seen = json.data.length
        if (seen >= want) return json.data
        last = `200 with ${seen} span(s)`
      } else {
        last = `${status}: ${text.slice(0, 300)}`
      }
    } catch (e) {
      last = `request failed: ${e.message}`
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(
        `Phoenix (${phoenix.base}) has ${seen} of ${want} wanted span(s) of trace ${traceIdHex} in project ` +
          `"${project}" after ${timeoutMs} ms; last answer: ${last}; server log: ${phoenix.log}`,
      )
    }
    await sleep(100)
  }
}

/**
 * One MLflow trace by its OTLP trace id (hex); MLflow stores synchronously, so no polling. Returns
 *   { trace_info: { trace_id: 'tr-<hex>', tags: {…}, state, … },
 *     spans: [{ trace_id, span_id, parent_span_id, name, start_time_unix_nano, end_time_unix_nano,
 *               attributes: [{ key, value: { string_value | int_value | … } }], events, links, status }] }
 * with span/trace ids in base64 (see b64ToHex). Throws with MLflow's answer if the trace is not there.
 */
export async function mlflowTrace(mlflow, traceIdHex) {
  const url = `${mlflow.base}/api/3.0/mlflow/traces/get?trace_id=tr-${encodeURIComponent(traceIdHex)}`
  const { status, json, text } = await getJson(url, 'mlflow trace')
  if (status !== 200 || !json?.trace) {
    throw new Error(
      `MLflow (${mlflow.base}) has no trace tr-${traceIdHex}: ${status} ${text.slice(0, 300)}; server log: ${mlflow.log}`,
    )
  }
  return json.trace
}

/** base64 (as MLflow's REST API returns ids) to lowercase hex; '' and null stay as they are. */
export const b64ToHex = (b64) => (b64 ? Buffer.from(b64, 'base64').toString('hex') : b64)
