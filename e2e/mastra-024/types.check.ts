// Compile-time check: the generated index.d.ts fits Mastra 0.24's AITracingExporter interface.
import type { AITracingExporter } from '@mastra/core/ai-tracing'
import { TCCMastraExporter } from '../../index.js'

const exporter: AITracingExporter = new TCCMastraExporter({ apiKey: 'k' })
export { exporter }
