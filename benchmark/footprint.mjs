// Install footprint, side by side: this package as published (packed with the release binary in place) installed into
// an empty project, against @mastra/otel-exporter@1.4.0 installed the same way from the registry. Reports packages
// installed and bytes on disk (apparent size and allocated blocks). Writes benchmark/results/footprint.json.
//
// Run: npm run bench:footprint   (needs the registry; run `npm run build` first for the published binary).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..')
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })

function measure(dir) {
  let apparent = 0
  let blocks = 0
  let packages = 0
  const walk = (d) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name)
      const st = fs.lstatSync(p)
      apparent += st.size
      blocks += st.blocks * 512
      if (ent.isDirectory()) walk(p)
    }
  }
  const nm = path.join(dir, 'node_modules')
  walk(nm)
  const count = (d) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      if (!ent.isDirectory() || ent.name.startsWith('.')) continue
      const p = path.join(d, ent.name)
      if (ent.name.startsWith('@')) count(p)
      else {
        if (fs.existsSync(path.join(p, 'package.json'))) packages++
        if (fs.existsSync(path.join(p, 'node_modules'))) count(path.join(p, 'node_modules'))
      }
    }
  }
  count(nm)
  return { packages, apparentBytes: apparent, diskBytes: blocks }
}

function project(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `footprint-${name}-`))
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `footprint-${name}`, version: '1.0.0', private: true }))
  return dir
}

const flags = ['--no-audit', '--no-fund', '--ignore-scripts', '--legacy-peer-deps']
const packDir = fs.mkdtempSync(path.join(os.tmpdir(), 'footprint-pack-'))
const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', packDir], root))
const ours = project('ours')
npm(['install', path.join(packDir, packed.filename), ...flags], ours)
const ref = project('reference')
npm(['install', '@mastra/otel-exporter@1.4.0', ...flags], ref)

const result = {
  tarballBytes: packed.size,
  ours: measure(ours),
  reference: measure(ref),
}
const mb = (n) => (n / 1e6).toFixed(1) + ' MB'
console.log(`mastra-native-exporters: ${result.ours.packages} package(s), ${mb(result.ours.apparentBytes)} (${mb(result.ours.diskBytes)} on disk), tarball ${mb(result.tarballBytes)}`)
console.log(`@mastra/otel-exporter@1.4.0: ${result.reference.packages} packages, ${mb(result.reference.apparentBytes)} (${mb(result.reference.diskBytes)} on disk)`)
console.log(`ratio on disk: ${(result.ours.diskBytes / result.reference.diskBytes).toFixed(3)}x`)
fs.mkdirSync(path.join(here, 'results'), { recursive: true })
fs.writeFileSync(path.join(here, 'results', 'footprint.json'), JSON.stringify(result, null, 2))
for (const d of [packDir, ours, ref]) fs.rmSync(d, { recursive: true, force: true })
