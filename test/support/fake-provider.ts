/**
 * A local HTTP server that answers like the OpenAI, Anthropic and Gemini APIs, with their
 * rate-limit headers, token usage, streamed (SSE) bodies and quota errors, so the SDK can be
 * driven through the official clients without a network. The scenario comes from the request:
 * the path picks the provider, `stream` in the body (or `:streamGenerateContent`) picks SSE, and an
 * `x-fake-scenario` header picks an error:
 * - `quota`: OpenAI 429 `insufficient_quota`, Gemini 429 `RESOURCE_EXHAUSTED` (per-day quota);
 * - `overloaded`: Anthropic 529 `overloaded_error` (`overloaded-retry`: the same, retryable after 10 ms);
 * - `error-event`: Anthropic stream that breaks off with an `overloaded_error` event after a 200;
 * - `gated`: a stream that sends its first event, then waits for {@link FakeProvider.releaseStream}.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Response headers sent back. */
  responseHeaders: Record<string, string>;
  /** Epoch ms just before the response headers were sent. */
  respondedAtMs: number;
}

export interface FakeProvider {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Lets every `gated` stream waiting now send the rest of its events. */
  releaseStream(): void;
  close(): Promise<void>;
}

export const OPENAI_MODEL = 'gpt-4o-mini';
export const OPENAI_RESPONSE_MODEL = 'gpt-4o-mini-2024-07-18';
/** OpenAI chat completion usage (JSON and the streamed include_usage chunk). */
export const OPENAI_USAGE = { prompt_tokens: 1500, completion_tokens: 320, cached_tokens: 200 };
export const OPENAI_LIMITS = {
  requests: { limit: 10_000, remaining: 9_999, reset: '6m0s', resetDelayMs: 360_000 },
  tokens: { limit: 2_000_000, remaining: 1_998_180, reset: '2.5s', resetDelayMs: 2_500 },
};

export const ANTHROPIC_MODEL = 'claude-haiku-4-5';
export const ANTHROPIC_RESPONSE_MODEL = 'claude-haiku-4-5-20251001';
/** Anthropic usage: input_tokens excludes the 300 cache reads and 100 cache writes. */
export const ANTHROPIC_USAGE = {
  input_tokens: 1_100,
  cache_read_input_tokens: 300,
  cache_creation_input_tokens: 100,
  output_tokens: 90,
};
export const ANTHROPIC_LIMITS = {
  requests: { limit: 4_000, remaining: 3_999, resetInMs: 60_000 },
  tokens: { limit: 400_000, remaining: 398_000, resetInMs: 30_000 },
  input_tokens: { limit: 300_000, remaining: 298_000, resetInMs: 20_000 },
  output_tokens: { limit: 100_000, remaining: 99_000, resetInMs: 10_000 },
};

export const GEMINI_MODEL = 'gemini-2.5-flash';
export const GEMINI_USAGE = {
  promptTokenCount: 640,
  candidatesTokenCount: 48,
  thoughtsTokenCount: 12,
  cachedContentTokenCount: 512,
};

export async function startFakeProvider(): Promise<FakeProvider> {
  const requests: RecordedRequest[] = [];
  let gateWaiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const record: RecordedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        responseHeaders: {},
        respondedAtMs: 0,
      };
      requests.push(record);
      const gate = (): Promise<void> => new Promise((resolve) => gateWaiters.push(resolve));
      void respond(record, res, gate).catch((error: unknown) => res.destroy(error as Error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    releaseStream: () => {
      const waiters = gateWaiters;
      gateWaiters = [];
      for (const release of waiters) release();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function respond(
  record: RecordedRequest,
  res: ServerResponse,
  gate: () => Promise<void>,
): Promise<void> {
  const scenario = String(record.headers['x-fake-scenario'] ?? '');
  const path = record.path.split('?')[0] ?? '';
  const body = parseJson(record.body);
  const stream = body?.['stream'] === true;
  if (path.endsWith('/chat/completions')) return respondOpenAi(record, res, scenario, stream, gate);
  if (path.endsWith('/messages')) return respondAnthropic(record, res, scenario, stream, gate);
  if (path.includes(':generateContent') || path.includes(':streamGenerateContent')) {
    return respondGemini(record, res, scenario, path.includes(':streamGenerateContent'));
  }
  send(record, res, 404, {}, JSON.stringify({ error: { message: `no route ${path}` } }));
}

function openAiHeaders(): Record<string, string> {
  const { requests, tokens } = OPENAI_LIMITS;
  return {
    'x-ratelimit-limit-requests': String(requests.limit),
    'x-ratelimit-remaining-requests': String(requests.remaining),
    'x-ratelimit-reset-requests': requests.reset,
    'x-ratelimit-limit-tokens': String(tokens.limit),
    'x-ratelimit-remaining-tokens': String(tokens.remaining),
    'x-ratelimit-reset-tokens': tokens.reset,
    'openai-organization': 'org-fake',
    'x-request-id': 'req_fake',
  };
}

async function respondOpenAi(
  record: RecordedRequest,
  res: ServerResponse,
  scenario: string,
  stream: boolean,
  gate: () => Promise<void>,
): Promise<void> {
  if (scenario === 'quota') {
    send(
      record,
      res,
      429,
      {
        ...openAiHeaders(),
        'x-ratelimit-remaining-requests': '0',
        'x-should-retry': 'false',
      },
      JSON.stringify({
        error: {
          message: 'You exceeded your current quota, please check your plan and billing details.',
          type: 'insufficient_quota',
          param: null,
          code: 'insufficient_quota',
        },
      }),
    );
    return;
  }
  const usage = {
    prompt_tokens: OPENAI_USAGE.prompt_tokens,
    completion_tokens: OPENAI_USAGE.completion_tokens,
    total_tokens: OPENAI_USAGE.prompt_tokens + OPENAI_USAGE.completion_tokens,
    prompt_tokens_details: { cached_tokens: OPENAI_USAGE.cached_tokens, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
  const base = { id: 'chatcmpl-fake', created: Math.floor(Date.now() / 1000), model: OPENAI_RESPONSE_MODEL };
  if (!stream) {
    // The content quotes JSON with "usage" and "model" keys: escaped, it must not confuse the SDK.
    const content = 'Here is {"model": "not-this-one", "usage": {"prompt_tokens": 1}} as asked.';
    send(
      record,
      res,
      200,
      { ...openAiHeaders(), 'content-type': 'application/json' },
      JSON.stringify({
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage,
      }),
    );
    return;
  }
  startEventStream(record, res, openAiHeaders());
  const chunk = (extra: object): string =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', ...extra })}\n\n`;
  res.write(chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }], usage: null }));
  if (scenario === 'gated') await gate();
  for (const word of ['Hello', ' from', ' the', ' "usage"', ' stream']) {
    res.write(chunk({ choices: [{ index: 0, delta: { content: word } }], usage: null }));
  }
  res.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }));
  res.write(chunk({ choices: [], usage }));
  res.end('data: [DONE]\n\n');
}

function anthropicHeaders(): Record<string, string> {
  const headers: Record<string, string> = {
    'request-id': 'req_fake',
    'anthropic-organization-id': 'org-fake',
  };
  const nowMs = Date.now();
  for (const [dimension, bucket] of Object.entries(ANTHROPIC_LIMITS)) {
    const name = dimension.replace('_', '-');
    headers[`anthropic-ratelimit-${name}-limit`] = String(bucket.limit);
    headers[`anthropic-ratelimit-${name}-remaining`] = String(bucket.remaining);
    // RFC 3339 at whole seconds, as Anthropic sends it.
    headers[`anthropic-ratelimit-${name}-reset`] = new Date(
      Math.ceil((nowMs + bucket.resetInMs) / 1000) * 1000,
    )
      .toISOString()
      .replace('.000Z', 'Z');
  }
  return headers;
}

async function respondAnthropic(
  record: RecordedRequest,
  res: ServerResponse,
  scenario: string,
  stream: boolean,
  gate: () => Promise<void>,
): Promise<void> {
  if (scenario === 'overloaded') {
    send(
      record,
      res,
      529,
      { ...anthropicHeaders(), 'x-should-retry': 'false', 'content-type': 'application/json' },
      JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    );
    return;
  }
  if (scenario === 'overloaded-retry') {
    // Retryable: the client tries again after 10 ms, and every attempt is an upstream call.
    send(
      record,
      res,
      529,
      { ...anthropicHeaders(), 'retry-after-ms': '10', 'content-type': 'application/json' },
      JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    );
    return;
  }
  const message = {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model: ANTHROPIC_RESPONSE_MODEL,
  };
  if (!stream) {
    send(
      record,
      res,
      200,
      { ...anthropicHeaders(), 'content-type': 'application/json' },
      JSON.stringify({
        ...message,
        content: [{ type: 'text', text: 'Hello from "model" land.' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { ...ANTHROPIC_USAGE, service_tier: 'standard' },
      }),
    );
    return;
  }
  startEventStream(record, res, anthropicHeaders());
  const event = (name: string, data: object): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  res.write(
    event('message_start', {
      type: 'message_start',
      message: {
        ...message,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...ANTHROPIC_USAGE, output_tokens: 1 },
      },
    }),
  );
  if (scenario === 'gated') await gate();
  res.write(
    event('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }),
  );
  res.write(event('ping', { type: 'ping' }));
  if (scenario === 'error-event') {
    res.end(event('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
    return;
  }
  for (const text of ['Hello', ' from', ' Claude']) {
    res.write(
      event('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text },
      }),
    );
  }
  res.write(event('content_block_stop', { type: 'content_block_stop', index: 0 }));
  res.write(
    event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: ANTHROPIC_USAGE.output_tokens },
    }),
  );
  res.end(event('message_stop', { type: 'message_stop' }));
}

function respondGemini(
  record: RecordedRequest,
  res: ServerResponse,
  scenario: string,
  stream: boolean,
): void {
  if (scenario === 'quota') {
    send(
      record,
      res,
      429,
      { 'content-type': 'application/json' },
      JSON.stringify({
        error: {
          code: 429,
          message: 'You exceeded your current quota, please check your plan and billing details.',
          status: 'RESOURCE_EXHAUSTED',
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
              violations: [
                {
                  quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
                  quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier',
                  quotaValue: '250',
                },
              ],
            },
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '38s' },
          ],
        },
      }),
    );
    return;
  }
  const candidate = (text: string): object => ({ content: { role: 'model', parts: [{ text }] }, index: 0 });
  if (!stream) {
    send(
      record,
      res,
      200,
      { 'content-type': 'application/json; charset=UTF-8' },
      JSON.stringify({
        candidates: [{ ...candidate('Hello from Gemini'), finishReason: 'STOP' }],
        usageMetadata: { ...GEMINI_USAGE, totalTokenCount: 700 },
        modelVersion: GEMINI_MODEL,
        responseId: 'resp-fake',
      }),
    );
    return;
  }
  startEventStream(record, res, {});
  // Every chunk carries the running totals; the last one is final.
  res.write(
    `data: ${JSON.stringify({ candidates: [candidate('Hello')], usageMetadata: { promptTokenCount: GEMINI_USAGE.promptTokenCount, cachedContentTokenCount: GEMINI_USAGE.cachedContentTokenCount, totalTokenCount: 640 }, modelVersion: GEMINI_MODEL })}\r\n\r\n`,
  );
  res.end(
    `data: ${JSON.stringify({ candidates: [{ ...candidate(' there'), finishReason: 'STOP' }], usageMetadata: { ...GEMINI_USAGE, totalTokenCount: 700 }, modelVersion: GEMINI_MODEL })}\r\n\r\n`,
  );
}

export interface OtlpRecorder {
  /** `http://127.0.0.1:<port>/v1/traces` */
  readonly url: string;
  /** Every export request body, as received. */
  readonly bodies: Buffer[];
  close(): Promise<void>;
}

/**
 * An OTLP/HTTP hop that keeps a copy of every export request and forwards it unchanged to
 * `target` (headroom), answering with headroom's answer: lets a test search what left the process.
 */
export async function startOtlpRecorder(target: string): Promise<OtlpRecorder> {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(body);
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'content-encoding', 'authorization']) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      fetch(target, { method: 'POST', headers, body })
        .then(async (answer) => {
          const answerBody = Buffer.from(await answer.arrayBuffer());
          res.writeHead(answer.status, {
            'content-type': answer.headers.get('content-type') ?? 'application/x-protobuf',
          });
          res.end(answerBody);
        })
        .catch((error: unknown) => {
          res.writeHead(502);
          res.end(String(error));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function startEventStream(
  record: RecordedRequest,
  res: ServerResponse,
  headers: Record<string, string>,
): void {
  record.responseHeaders = { ...headers, 'content-type': 'text/event-stream; charset=utf-8' };
  record.respondedAtMs = Date.now();
  res.writeHead(200, { ...record.responseHeaders, 'cache-control': 'no-cache' });
  res.flushHeaders();
}

function send(
  record: RecordedRequest,
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string,
): void {
  record.responseHeaders = { 'content-type': 'application/json', ...headers };
  record.respondedAtMs = Date.now();
  res.writeHead(status, record.responseHeaders);
  res.end(body);
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
