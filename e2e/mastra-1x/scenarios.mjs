// A small real Mastra 1.x app for the end-to-end tests and the demo: three agents backed by mock models from
// `ai/test` (ai@6, LanguageModelV3), the `getWeather` tool and the two-step workflow `double -> describe`.
// Mastra 1.x `generate()` calls the model's `doGenerate` and `stream()` calls `doStream`, so every mock has both.
import { Mastra } from '@mastra/core/mastra'
import { Agent } from '@mastra/core/agent'
import { createTool } from '@mastra/core/tools'
import { createWorkflow, createStep } from '@mastra/core/workflows'
import { Observability } from '@mastra/observability'
import { MockLanguageModelV3 } from 'ai/test'
import { z } from 'zod'

const usage = (input, output) => ({
  inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: output, text: output, reasoning: undefined },
})
const response = (id) => ({ id, modelId: 'mock-model-id', timestamp: new Date(0) })
const stop = { unified: 'stop', raw: 'stop' }
const toolCalls = { unified: 'tool-calls', raw: 'tool_calls' }

function textResult(text) {
  return {
    content: [{ type: 'text', text }],
    finishReason: stop,
    usage: usage(10, 5),
    warnings: [],
    response: response('resp-g'),
  }
}

function textStream(text) {
  return {
    stream: new ReadableStream({
      start(c) {
        c.enqueue({ type: 'stream-start', warnings: [] })
        c.enqueue({ type: 'response-metadata', ...response('resp-s') })
        c.enqueue({ type: 'text-start', id: 't1' })
        for (const word of text.split(' ')) c.enqueue({ type: 'text-delta', id: 't1', delta: word + ' ' })
        c.enqueue({ type: 'text-end', id: 't1' })
        c.enqueue({ type: 'finish', finishReason: stop, usage: usage(10, 5) })
        c.close()
      },
    }),
  }
}

const weatherCall = { type: 'tool-call', toolCallId: 'call-1', toolName: 'getWeather', input: '{"city":"Paris"}' }

// Whether the prompt already holds a tool result: the tool model then answers instead of calling the tool again.
// Deciding from the prompt (not from a call counter) keeps the mock correct however often the agent runs.
const hasToolResult = (options) => (options?.prompt ?? []).some((m) => m.role === 'tool')

function simpleModel(text) {
  return new MockLanguageModelV3({
    provider: 'mock-provider',
    modelId: 'mock-model',
    doGenerate: async () => textResult(text),
    doStream: async () => textStream(text),
  })
}

function toolModel() {
  const answer = 'It is sunny in Paris.'
  return new MockLanguageModelV3({
    provider: 'mock-provider',
    modelId: 'mock-tool-model',
    doGenerate: async (options) =>
      hasToolResult(options)
        ? textResult(answer)
        : {
            content: [weatherCall],
            finishReason: toolCalls,
            usage: usage(20, 8),
            warnings: [],
            response: response('resp-t'),
          },
    doStream: async (options) => {
      if (hasToolResult(options)) return textStream(answer)
      return {
        stream: new ReadableStream({
          start(c) {
            c.enqueue({ type: 'stream-start', warnings: [] })
            c.enqueue({ type: 'response-metadata', ...response('resp-t') })
            c.enqueue(weatherCall)
            c.enqueue({ type: 'finish', finishReason: toolCalls, usage: usage(20, 8) })
            c.close()
          },
        }),
      }
    },
  })
}

export const weatherTool = createTool({
  id: 'getWeather',
  description: 'Get the weather for a city',
  inputSchema: z.object({ city: z.string() }),
  outputSchema: z.object({ city: z.string(), forecast: z.string(), tempC: z.number() }),
  // Mastra 1.x calls execute(inputData, context).
  execute: async (input) => ({ city: input.city, forecast: 'sunny', tempC: 21 }),
})

/**
 * Builds the Mastra 1.x app with `exporters` registered on the default observability config.
 * Returns `{ mastra, plainAgent, toolAgent, streamAgent, workflow }`.
 */
export function buildApp({ exporters, serviceName = 'tcc-e2e-1x' }) {
  const plainAgent = new Agent({
    id: 'plain-agent',
    name: 'Plain Agent',
    instructions: 'You are a terse test agent.',
    model: simpleModel('Hello from the mock model.'),
  })
  const toolAgent = new Agent({
    id: 'tool-agent',
    name: 'Tool Agent',
    instructions: 'Use tools when asked about weather.',
    model: toolModel(),
    tools: { getWeather: weatherTool },
  })
  const streamAgent = new Agent({
    id: 'stream-agent',
    name: 'Stream Agent',
    instructions: 'Stream things.',
    model: simpleModel('Streaming words one by one.'),
  })

  const double = createStep({
    id: 'double',
    inputSchema: z.object({ n: z.number() }),
    outputSchema: z.object({ n: z.number() }),
    execute: async ({ inputData }) => ({ n: inputData.n * 2 }),
  })
  const describe = createStep({
    id: 'describe',
    inputSchema: z.object({ n: z.number() }),
    outputSchema: z.object({ text: z.string() }),
    execute: async ({ inputData }) => ({ text: `value is ${inputData.n}` }),
  })
  const workflow = createWorkflow({
    id: 'two-step-wf',
    inputSchema: z.object({ n: z.number() }),
    outputSchema: z.object({ text: z.string() }),
  })
    .then(double)
    .then(describe)
    .commit()

  const mastra = new Mastra({
    agents: { plainAgent, toolAgent, streamAgent },
    workflows: { workflow },
    logger: false,
    observability: new Observability({ configs: { default: { serviceName, exporters } } }),
  })

  return {
    mastra,
    plainAgent: mastra.getAgent('plainAgent'),
    toolAgent: mastra.getAgent('toolAgent'),
    streamAgent: mastra.getAgent('streamAgent'),
    workflow: mastra.getWorkflow('workflow'),
  }
}

/** Reads a streamed agent answer to the end and returns its text. */
export async function readStream(output) {
  let text = ''
  for await (const chunk of output.textStream) text += chunk
  return text
}
