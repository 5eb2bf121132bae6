// Compile-time check: the generated index.d.ts fits Mastra 1.x's exporter interface, so TypeScript users can list the
// exporter in `new Observability({ configs: { default: { exporters: [...] } } })` without casts.
import type { ObservabilityExporter } from '@mastra/core/observability'
import { TCCMastraExporter, submitFeedback } from '../../index.js'

const exporter: ObservabilityExporter = new TCCMastraExporter({ apiKey: 'k', debug: true, timeoutMs: 1000 })
const feedback: Promise<Response | undefined> = submitFeedback({ runId: 'x', score: 'thumbs_up' })
// @ts-expect-error an unknown score is a type error, as in the reference
submitFeedback({ runId: 'x', score: 'meh' })
// @ts-expect-error options are typed
new TCCMastraExporter({ timeoutMs: 'soon' })
export { exporter, feedback }
