// Loads the captured Mastra event streams and turns each line back into the event Mastra handed over:
// top-level Dates restored, present-but-undefined keys restored, non-finite number tags restored.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const fixturesDir = path.join(here, '..', 'fixtures')

function revive(v) {
  if (Array.isArray(v)) return v.map(revive)
  if (v && typeof v === 'object') {
    if (Object.keys(v).length === 1 && '__number' in v) return Number(v.__number)
    const out = {}
    for (const [k, x] of Object.entries(v)) out[k] = revive(x)
    return out
  }
  return v
}

/** The events of one fixture file, as Mastra's objects. */
export function loadEvents(version, file) {
  const text = fs.readFileSync(path.join(fixturesDir, version, file), 'utf8')
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const rec = JSON.parse(line)
      const span = revive(rec.exportedSpan)
      for (const key of ['startTime', 'endTime']) {
        if (rec.jsTypes[key] === 'Date' && typeof span[key] === 'string') span[key] = new Date(span[key])
      }
      // Rebuild in Mastra's key order with the undefined keys where they were.
      for (const key of rec.undefinedTopLevelKeys) if (!(key in span)) span[key] = undefined
      return { type: rec.type, exportedSpan: span }
    })
}

export function fixtureFiles(version) {
  return fs
    .readdirSync(path.join(fixturesDir, version))
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
}
