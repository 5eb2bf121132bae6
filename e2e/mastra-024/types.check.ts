// Compile-time check: the generated index.d.ts fits Mastra 0.24's AITracingExporter interface.
import type { AITracingExporter } from '@mastra/core/ai-tracing'
import { OtelExporter, TCCMastraExporter } from '../../index.js'

const exporter: AITracingExporter = new TCCMastraExporter({ apiKey: 'k' })
const otel: AITracingExporter = new OtelExporter({ provider: { custom: { endpoint: 'http://localhost:4318' } } })
export { exporter, otel }
