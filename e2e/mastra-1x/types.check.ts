// Compile-time check: the generated index.d.ts fits Mastra 1.x's exporter interface, so TypeScript users can list the
// exporters in `new Observability({ configs: { default: { exporters: [...] } } })` without casts.
import type { ObservabilityExporter } from '@mastra/core/observability'
import { OtelExporter, TCCMastraExporter, submitFeedback, type FlushResult } from '../../index.js'

const exporter: ObservabilityExporter = new TCCMastraExporter({ apiKey: 'k', debug: true, timeoutMs: 1000 })
const otel: ObservabilityExporter = new OtelExporter({ provider: { signoz: { apiKey: 'k', region: 'eu' } }, semconv: 'latest' })
const report: Promise<FlushResult> = new OtelExporter().flush(500)
const feedback: Promise<Response | undefined> = submitFeedback({ runId: 'x', score: 'thumbs_up' })
// @ts-expect-error an unknown score is a type error, as in the reference
submitFeedback({ runId: 'x', score: 'meh' })
// @ts-expect-error options are typed
new TCCMastraExporter({ timeoutMs: 'soon' })
// @ts-expect-error semconv is one of three modes
new OtelExporter({ semconv: 'v2' })
export { exporter, otel, report, feedback }
