/**
 * SDK overhead benchmark: the CPU that `instrumentFetch` adds to one call, export excluded.
 *
 * A fake in-process fetch answers every call with a canned OpenAI chat completion (JSON, with
 * x-ratelimit-* headers) or a canned streamed completion (SSE, 24 events, usage in the last one).
 * The same calls run through the bare fake fetch and through the instrumented one, in alternating
 * rounds; each round waits until every span has ended and measures process.cpuUsage(). Overhead =
 * the median over rounds of (instrumented CPU per call - bare CPU per call), each round's pair run
 * back to back.
 *
 * Export excluded: the span processor lets each ended span go. The `json+batch` case also hands
 * every span to a BatchSpanProcessor whose exporter discards the batches, which shows what keeping
 * spans in memory until their batch is exported adds (mostly garbage collection).
 *
 * Environment: BENCH_CALLS (calls per round, default 500), BENCH_ROUNDS (default 61).
 * The last line is one JSON object with the figures.
 */
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { instrumentFetch, type FetchFunction } from '../src/sdk/index.ts';

const CALLS = Number(process.env['BENCH_CALLS'] ?? 500);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 61);
const WARM_UP_ROUNDS = 10;
const URL_CHAT = 'https://api.openai.com/v1/chat/completions';

const RESPONSE_HEADERS: Record<string, string> = {
  'content-type': 'application/json',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms',
  'x-ratelimit-limit-tokens': '2000000',
  'x-ratelimit-remaining-tokens': '1998180',
  'x-ratelimit-reset-tokens': '54ms',
  'openai-organization': 'org-bench',
  'openai-processing-ms': '312',
  'x-request-id': 'req_0123456789abcdef',
};

const COMPLETION = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_736_950_000,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'The capital of France is Paris. It has been the capital since the 10th century. '.repeat(4),
        refusal: null,
      },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: {
    prompt_tokens: 1500,
    completion_tokens: 320,
    total_tokens: 1820,
    prompt_tokens_details: { cached_tokens: 200, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
  },
  system_fingerprint: 'fp_0123456789',
});

const encoder = new TextEncoder();
const STREAM_CHUNKS: Uint8Array[] = (() => {
  const base = {
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created: 1_736_950_000,
    model: 'gpt-4o-mini-2024-07-18',
  };
  const events: string[] = [];
  events.push(
    JSON.stringify({
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' } }],
      usage: null,
    }),
  );
  for (let i = 0; i < 20; i++) {
    events.push(
      JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: ` word${i}` } }], usage: null }),
    );
  }
  events.push(
    JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }),
  );
  events.push(
    JSON.stringify({
      ...base,
      choices: [],
      usage: { prompt_tokens: 1500, completion_tokens: 20, total_tokens: 1520 },
    }),
  );
  return [...events.map((event) => encoder.encode(`data: ${event}\n\n`)), encoder.encode('data: [DONE]\n\n')];
})();

const REQUEST_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is the capital of France? '.repeat(20) },
  ],
  temperature: 0.2,
});
const STREAM_REQUEST_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Count to twenty.' }],
  stream: true,
  stream_options: { include_usage: true },
});

const jsonFetch: FetchFunction = async () =>
  new Response(COMPLETION, { status: 200, headers: RESPONSE_HEADERS });
const streamFetch: FetchFunction = async () =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of STREAM_CHUNKS) controller.enqueue(chunk);
        controller.close();
      },
    }),
    { status: 200, headers: { ...RESPONSE_HEADERS, 'content-type': 'text/event-stream; charset=utf-8' } },
  );

/** Exporter that drops every span: the benchmark measures the caller's side only. */
const discardingExporter: SpanExporter = {
  export: (_spans, resultCallback) => resultCallback({ code: ExportResultCode.SUCCESS }),
  shutdown: async () => {},
};

const batchProcessor = new BatchSpanProcessor({ exporter: discardingExporter });
let batchExport = false;
let endedSpans = 0;
/** Counts ended spans and, in the `json+batch` case only, hands them to the batch processor. */
const countingProcessor: SpanProcessor = {
  onStart: () => {},
  onEnd: (span: ReadableSpan) => {
    endedSpans++;
    if (batchExport) batchProcessor.onEnd(span);
  },
  forceFlush: () => batchProcessor.forceFlush(),
  shutdown: () => batchProcessor.shutdown(),
};

const sdk = new NodeSDK({
  resource: resourceFromAttributes({ 'service.name': 'bench', 'service.instance.id': 'bench-1' }),
  autoDetectResources: false,
  spanProcessors: [countingProcessor],
  instrumentations: [],
  metricReaders: [],
  logRecordProcessors: [],
});
sdk.start();

const options = { pool: 'bench', provider: 'openai', keyId: 'key-a', consumer: 'bench-app' };
const instrumentedJson = instrumentFetch(jsonFetch, options);
const instrumentedStream = instrumentFetch(streamFetch, options);
const requestHeaders = {
  authorization: 'Bearer sk-bench-0123456789abcdef',
  'content-type': 'application/json',
};

async function callJson(fetchFunction: FetchFunction): Promise<void> {
  const response = await fetchFunction(URL_CHAT, {
    method: 'POST',
    headers: requestHeaders,
    body: REQUEST_BODY,
  });
  await response.json();
}

async function callStream(fetchFunction: FetchFunction): Promise<void> {
  const response = await fetchFunction(URL_CHAT, {
    method: 'POST',
    headers: requestHeaders,
    body: STREAM_REQUEST_BODY,
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done } = await reader.read();
    if (done) return;
  }
}

/** CPU µs per call for one round, including the background work that ends the spans. */
async function measureRound(call: () => Promise<void>, expectSpans: boolean): Promise<number> {
  const spansBefore = endedSpans;
  const start = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) await call();
  if (expectSpans) {
    while (endedSpans - spansBefore < CALLS) await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / CALLS;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

interface Case {
  name: string;
  batchExport: boolean;
  bare: () => Promise<void>;
  instrumented: () => Promise<void>;
}

const cases: Case[] = [
  {
    name: 'json',
    batchExport: false,
    bare: () => callJson(jsonFetch),
    instrumented: () => callJson(instrumentedJson),
  },
  {
    name: 'stream',
    batchExport: false,
    bare: () => callStream(streamFetch),
    instrumented: () => callStream(instrumentedStream),
  },
  {
    name: 'json+batch',
    batchExport: true,
    bare: () => callJson(jsonFetch),
    instrumented: () => callJson(instrumentedJson),
  },
];

interface Samples {
  bare: number[];
  instrumented: number[];
  overhead: number[];
}

/** One paired round of `benchCase`: bare then instrumented, back to back. */
async function pairedRound(benchCase: Case, samples: Samples | undefined): Promise<void> {
  batchExport = benchCase.batchExport;
  const bareUs = await measureRound(benchCase.bare, false);
  const instrumentedUs = await measureRound(benchCase.instrumented, true);
  samples?.bare.push(bareUs);
  samples?.instrumented.push(instrumentedUs);
  samples?.overhead.push(instrumentedUs - bareUs);
}

// Warm-up: JIT every path (optimised code, settled heap) before measuring.
for (let round = 0; round < WARM_UP_ROUNDS; round++) {
  for (const benchCase of cases) await pairedRound(benchCase, undefined);
}
// The cases take turns round by round, so drift in machine load reaches them all alike.
const samples = new Map<string, Samples>(
  cases.map((benchCase) => [benchCase.name, { bare: [], instrumented: [], overhead: [] }]),
);
for (let round = 0; round < ROUNDS; round++) {
  for (const benchCase of cases) await pairedRound(benchCase, samples.get(benchCase.name));
}
const results: Record<string, { bareUs: number; instrumentedUs: number; overheadUs: number }> = {};
for (const [name, caseSamples] of samples) {
  results[name] = {
    bareUs: median(caseSamples.bare),
    instrumentedUs: median(caseSamples.instrumented),
    overheadUs: median(caseSamples.overhead),
  };
}
await sdk.shutdown();

const round2 = (value: number): number => Math.round(value * 100) / 100;
console.log(`instrumentFetch CPU per call, ${ROUNDS} paired rounds x ${CALLS} calls, medians (µs)`);
console.log('case         bare      instrumented  overhead');
for (const [name, result] of Object.entries(results)) {
  console.log(
    `${name.padEnd(12)} ${round2(result.bareUs).toFixed(2).padStart(8)}  ${round2(result.instrumentedUs).toFixed(2).padStart(12)}  ${round2(result.overheadUs).toFixed(2).padStart(8)}`,
  );
}
const json = results['json'] as { bareUs: number; instrumentedUs: number; overheadUs: number };
const stream = results['stream'] as { bareUs: number; instrumentedUs: number; overheadUs: number };
const batch = results['json+batch'] as { bareUs: number; instrumentedUs: number; overheadUs: number };
console.log(
  JSON.stringify({
    bench: 'sdk',
    overhead_us_per_call: round2(json.overheadUs),
    stream_overhead_us_per_call: round2(stream.overheadUs),
    with_batch_export_us_per_call: round2(batch.overheadUs),
    bare_us_per_call: round2(json.bareUs),
    stream_events_per_call: STREAM_CHUNKS.length,
    calls_per_round: CALLS,
    rounds: ROUNDS,
  }),
);
