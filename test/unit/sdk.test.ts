import { Buffer } from 'node:buffer';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadroomError } from '../../src/errors/index.ts';
import { instrumentFetch, recordApiCall, type FetchFunction } from '../../src/sdk/index.ts';
import { EventStreamScanner } from '../../src/sdk/event-stream-scanner.ts';
import { readRequestModel, readRequestSecret } from '../../src/sdk/request-facts.ts';
import { readRequestTarget } from '../../src/sdk/request-target.ts';
import { UsageCollector } from '../../src/sdk/usage-collector.ts';
import { fingerprintKey } from '../../src/telemetry/index.ts';
import {
  ANTHROPIC_LIMITS,
  OPENAI_LIMITS,
  OPENAI_RESPONSE_MODEL,
  startFakeProvider,
  type FakeProvider,
} from '../support/fake-provider.ts';
import { useInMemorySpans } from '../support/in-memory-spans.ts';

// One tracer provider for this file (and process): the SDK uses the global tracer.
const exporter = useInMemorySpans();

const encoder = new TextEncoder();
const SECRET = 'sk-proj-canary0123456789abcdefSECRET';

/** Spans that have ended so far, waiting up to a second for `count` of them. */
async function waitForSpans(count: number): Promise<ReadableSpan[]> {
  const deadline = Date.now() + 1_000;
  while (exporter.getFinishedSpans().length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const spans = exporter.getFinishedSpans();
  expect(spans).toHaveLength(count);
  return spans;
}

async function onlySpan(): Promise<ReadableSpan> {
  return (await waitForSpans(1))[0] as ReadableSpan;
}

/** Everything a span exports, as text, to search for secrets. */
function exportedText(span: ReadableSpan): string {
  return JSON.stringify({
    name: span.name,
    attributes: span.attributes,
    status: span.status,
    events: span.events,
    resource: span.resource.attributes,
  });
}

function chunked(text: string, size: number): Uint8Array[] {
  const bytes = encoder.encode(text);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.slice(at, at + size));
  return chunks;
}

function scanEvents(text: string, chunkSize: number): UsageCollector {
  const collector = new UsageCollector();
  const scanner = new EventStreamScanner(collector);
  for (const chunk of chunked(text, chunkSize)) scanner.write(chunk);
  scanner.end();
  return collector;
}

function sse(events: readonly object[], named = false): string {
  return events
    .map((event) => {
      const data = `data: ${JSON.stringify(event)}\n\n`;
      return named ? `event: ${(event as { type: string }).type}\n${data}` : data;
    })
    .join('');
}

const OPENAI_CHAT_JSON = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_736_950_000,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      // Escaped JSON inside content must not be mistaken for the response's own keys.
      message: { role: 'assistant', content: 'Try {"model": "fake", "usage": {"prompt_tokens": 9}}' },
      finish_reason: 'stop',
    },
  ],
  usage: {
    prompt_tokens: 1500,
    completion_tokens: 320,
    total_tokens: 1820,
    prompt_tokens_details: { cached_tokens: 200 },
  },
});

const OPENAI_CHAT_STREAM =
  sse([
    {
      id: 'c',
      object: 'chat.completion.chunk',
      model: 'gpt-4o-mini-2024-07-18',
      choices: [{ index: 0, delta: { role: 'assistant', content: '' } }],
      usage: null,
    },
    {
      id: 'c',
      object: 'chat.completion.chunk',
      model: 'gpt-4o-mini-2024-07-18',
      choices: [{ index: 0, delta: { content: 'héllo wörld 🌍 "usage": {"prompt_tokens": 1}' } }],
      usage: null,
    },
    {
      id: 'c',
      object: 'chat.completion.chunk',
      model: 'gpt-4o-mini-2024-07-18',
      choices: [],
      usage: {
        prompt_tokens: 42,
        completion_tokens: 7,
        total_tokens: 49,
        prompt_tokens_details: { cached_tokens: 0 },
      },
    },
  ]) + 'data: [DONE]\n\n';

const ANTHROPIC_MESSAGE_JSON = JSON.stringify({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-haiku-4-5-20251001',
  content: [{ type: 'text', text: 'Hi' }],
  stop_reason: 'end_turn',
  usage: {
    input_tokens: 1100,
    cache_creation_input_tokens: 100,
    cache_read_input_tokens: 300,
    output_tokens: 90,
  },
});

const ANTHROPIC_STREAM = sse(
  [
    {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-haiku-4-5-20251001',
        content: [],
        usage: {
          input_tokens: 25,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 5,
          output_tokens: 1,
        },
      },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'ping' },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 15 } },
    { type: 'message_stop' },
  ],
  true,
);

const GEMINI_JSON = JSON.stringify({
  candidates: [{ content: { role: 'model', parts: [{ text: 'Hi' }] }, finishReason: 'STOP' }],
  usageMetadata: {
    promptTokenCount: 640,
    candidatesTokenCount: 48,
    thoughtsTokenCount: 12,
    cachedContentTokenCount: 512,
    totalTokenCount: 700,
  },
  modelVersion: 'gemini-2.5-flash',
});

const GEMINI_STREAM =
  `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: 'Hi' }] } }], usageMetadata: { promptTokenCount: 640, totalTokenCount: 640 }, modelVersion: 'gemini-2.5-flash' })}\r\n\r\n` +
  `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: ' there' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 640, candidatesTokenCount: 48, totalTokenCount: 688 }, modelVersion: 'gemini-2.5-flash' })}\r\n\r\n`;

const OPENAI_RESPONSES_STREAM = sse(
  [
    {
      type: 'response.created',
      response: {
        id: 'resp_1',
        object: 'response',
        status: 'in_progress',
        model: 'gpt-4.1-2025-04-14',
        error: null,
        usage: null,
      },
    },
    { type: 'response.output_text.delta', delta: 'Hi' },
    {
      type: 'response.completed',
      response: {
        id: 'resp_1',
        object: 'response',
        status: 'completed',
        model: 'gpt-4.1-2025-04-14',
        error: null,
        output: [{ type: 'message', content: [{ type: 'output_text', text: 'Hi' }] }],
        usage: {
          input_tokens: 300,
          input_tokens_details: { cached_tokens: 128 },
          output_tokens: 20,
          total_tokens: 320,
        },
      },
    },
  ],
  true,
);

describe('UsageCollector: whole JSON bodies', () => {
  it.each([
    [
      'OpenAI chat completion',
      OPENAI_CHAT_JSON,
      'gpt-4o-mini-2024-07-18',
      { inputTokens: 1500, outputTokens: 320, cachedInputTokens: 200 },
    ],
    [
      'OpenAI Responses API',
      JSON.stringify({
        id: 'resp_1',
        object: 'response',
        model: 'gpt-4.1-2025-04-14',
        output: [],
        usage: { input_tokens: 300, input_tokens_details: { cached_tokens: 128 }, output_tokens: 20 },
      }),
      'gpt-4.1-2025-04-14',
      { inputTokens: 300, outputTokens: 20, cachedInputTokens: 128 },
    ],
    [
      'OpenAI embeddings',
      JSON.stringify({
        object: 'list',
        data: [
          { object: 'embedding', index: 0, embedding: Array.from({ length: 1536 }, (_, i) => i / 1536) },
        ],
        model: 'text-embedding-3-small',
        usage: { prompt_tokens: 8, total_tokens: 8 },
      }),
      'text-embedding-3-small',
      { inputTokens: 8 },
    ],
    [
      // Anthropic counts cache reads and writes apart; the GenAI conventions count all input.
      'Anthropic message',
      ANTHROPIC_MESSAGE_JSON,
      'claude-haiku-4-5-20251001',
      { inputTokens: 1500, outputTokens: 90, cachedInputTokens: 300 },
    ],
    [
      'Gemini generateContent',
      GEMINI_JSON,
      'gemini-2.5-flash',
      { inputTokens: 640, outputTokens: 60, cachedInputTokens: 512 },
    ],
    [
      'Gemini streamGenerateContent as a JSON array (running totals, last wins)',
      JSON.stringify([
        {
          candidates: [],
          usageMetadata: { promptTokenCount: 640, totalTokenCount: 640 },
          modelVersion: 'gemini-2.5-flash',
        },
        {
          candidates: [],
          usageMetadata: { promptTokenCount: 640, candidatesTokenCount: 48, totalTokenCount: 688 },
          modelVersion: 'gemini-2.5-flash',
        },
      ]),
      'gemini-2.5-flash',
      { inputTokens: 640, outputTokens: 48 },
    ],
  ])('reads %s', (_label, body, model, usage) => {
    const fromText = new UsageCollector();
    fromText.scanDocument(body);
    expect(fromText.responseModel).toBe(model);
    expect(fromText.readUsage()).toStrictEqual(usage);
    const fromBytes = new UsageCollector();
    fromBytes.scanDocumentBytes(Buffer.from(body));
    expect(fromBytes.responseModel).toBe(model);
    expect(fromBytes.readUsage()).toStrictEqual(usage);
    // What json() hands over: the parsed value, read without scanning the text again.
    const fromValue = new UsageCollector();
    fromValue.readDocument(JSON.parse(body));
    expect(fromValue.responseModel).toBe(model);
    expect(fromValue.readUsage()).toStrictEqual(usage);
  });

  it('takes only non-negative whole counts from a parsed value', () => {
    const collector = new UsageCollector();
    collector.readDocument({
      model: 'm',
      usage: { prompt_tokens: -3, completion_tokens: 1.5, total_tokens: '9' },
    });
    expect(collector.readUsage()).toStrictEqual({});
    expect(collector.responseModel).toBe('m');
    const nothing = new UsageCollector();
    for (const value of [null, 'text', 42, [], [null], { usage: null }]) nothing.readDocument(value);
    expect(nothing.readUsage()).toStrictEqual({});
    expect(nothing.responseModel).toBeUndefined();
  });

  it('reports nothing for a body without usage', () => {
    const collector = new UsageCollector();
    collector.scanDocument('{"object":"list","data":[]}');
    expect(collector.readUsage()).toStrictEqual({});
    expect(collector.responseModel).toBeUndefined();
  });

  it('survives garbled JSON', () => {
    const collector = new UsageCollector();
    collector.scanDocument('{"model": "m", "usage": {"prompt_tokens": 12, "completion_tokens": ');
    collector.scanDocument('{"usage": {"prompt_tokens": -3, "completion_tokens": 1.5, "total_tokens": "9"}}');
    expect(collector.readUsage()).toStrictEqual({});
    expect(collector.responseModel).toBe('m');
  });
});

describe('UsageCollector: streamed events', () => {
  it.each([
    [
      'OpenAI chat with include_usage',
      OPENAI_CHAT_STREAM,
      'gpt-4o-mini-2024-07-18',
      { inputTokens: 42, outputTokens: 7, cachedInputTokens: 0 },
    ],
    [
      'OpenAI Responses API',
      OPENAI_RESPONSES_STREAM,
      'gpt-4.1-2025-04-14',
      { inputTokens: 300, outputTokens: 20, cachedInputTokens: 128 },
    ],
    // message_start carries input (and cache) tokens, message_delta the cumulative output.
    [
      'Anthropic messages',
      ANTHROPIC_STREAM,
      'claude-haiku-4-5-20251001',
      { inputTokens: 30, outputTokens: 15, cachedInputTokens: 5 },
    ],
    ['Gemini alt=sse (CRLF)', GEMINI_STREAM, 'gemini-2.5-flash', { inputTokens: 640, outputTokens: 48 }],
  ])('reads %s whatever the chunk boundaries', (_label, stream, model, usage) => {
    for (const chunkSize of [1, 2, 3, 7, 64, 1 << 20]) {
      const collector = scanEvents(stream, chunkSize);
      expect(collector.responseModel, `chunk size ${chunkSize}`).toBe(model);
      expect(collector.readUsage(), `chunk size ${chunkSize}`).toStrictEqual(usage);
      expect(collector.errorBody).toBeUndefined();
    }
  });

  it('reads a stream without a final line feed', () => {
    const collector = scanEvents(OPENAI_CHAT_STREAM.trimEnd().replace(/\n\ndata: \[DONE\]$/, ''), 5);
    expect(collector.readUsage()).toStrictEqual({ inputTokens: 42, outputTokens: 7, cachedInputTokens: 0 });
  });

  it('finds an error event that arrives after a 200 (Anthropic overloaded_error)', () => {
    const stream =
      ANTHROPIC_STREAM.split('event: content_block_delta')[0] +
      sse([{ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }], true);
    const collector = scanEvents(stream, 9);
    expect(collector.errorBody).toStrictEqual({ error: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(collector.readUsage()).toStrictEqual({ inputTokens: 30, outputTokens: 1, cachedInputTokens: 5 });
  });

  it('does not mistake "error": null for an error', () => {
    expect(scanEvents(OPENAI_RESPONSES_STREAM, 11).errorBody).toBeUndefined();
  });
});

describe('request facts', () => {
  it.each([
    ['https://api.openai.com/v1/chat/completions', 'api.openai.com', 'chat', undefined],
    ['https://api.openai.com/v1/responses', 'api.openai.com', 'chat', undefined],
    ['https://api.openai.com/v1/completions', 'api.openai.com', 'text_completion', undefined],
    ['https://api.openai.com/v1/embeddings', 'api.openai.com', 'embeddings', undefined],
    ['https://api.openai.com/v1/audio/transcriptions', 'api.openai.com', 'transcriptions', undefined],
    ['https://api.anthropic.com/v1/messages', 'api.anthropic.com', 'chat', undefined],
    ['https://api.anthropic.com/v1/messages/count_tokens', 'api.anthropic.com', 'count_tokens', undefined],
    [
      'https://contoso.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21',
      'contoso.openai.azure.com',
      'chat',
      'gpt-4o-prod',
    ],
    [
      'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent',
      'generativelanguage.googleapis.com',
      'generate_content',
      'gemini-2.5-flash',
    ],
    [
      'https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse',
      'us-central1-aiplatform.googleapis.com',
      'generate_content',
      'gemini-2.5-pro',
    ],
    ['http://[::1]:8080/v1/embeddings/', '::1', 'embeddings', undefined],
    ['http://user:pw@LOCALHOST:4000/v1/chat/completions#frag', 'localhost', 'chat', undefined],
  ])('reads %s', (url, serverAddress, operation, pathModel) => {
    expect(readRequestTarget(url)).toStrictEqual({
      serverAddress,
      operation,
      pathModel,
      querySecret: undefined,
    });
  });

  it('takes a ?key= secret for fingerprinting only', () => {
    const target = readRequestTarget(
      `https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?alt=sse&key=${SECRET}`,
    );
    expect(target.querySecret).toBe(SECRET);
  });

  it('reads the request model without parsing the prompt', () => {
    const body = JSON.stringify({
      messages: [{ role: 'user', content: 'say "model": "wrong"' }],
      tools: [
        {
          type: 'function',
          function: { name: 'pick', parameters: { properties: { model: { type: 'string' } } } },
        },
      ],
      model: 'gpt-4o-mini',
    });
    expect(readRequestModel(body)).toBe('gpt-4o-mini');
    expect(readRequestModel(encoder.encode(body))).toBe('gpt-4o-mini');
    expect(readRequestModel(encoder.encode(body).buffer)).toBe('gpt-4o-mini');
    expect(readRequestModel('{"model": "a\\"b"}')).toBe('a"b');
    const form = new FormData();
    form.set('model', 'whisper-1');
    expect(readRequestModel(form)).toBe('whisper-1');
    expect(readRequestModel(new URLSearchParams({ model: 'm' }))).toBe('m');
    expect(readRequestModel(undefined)).toBeUndefined();
    expect(readRequestModel('not json')).toBeUndefined();
  });

  it('finds the API key in any header shape', () => {
    expect(readRequestSecret(new Headers({ Authorization: `Bearer ${SECRET}` }))).toBe(SECRET);
    expect(readRequestSecret({ 'X-Api-Key': SECRET })).toBe(SECRET);
    expect(readRequestSecret([['api-key', SECRET]])).toBe(SECRET);
    expect(readRequestSecret({ 'x-goog-api-key': SECRET })).toBe(SECRET);
    expect(readRequestSecret({ 'content-type': 'application/json' })).toBeUndefined();
    expect(readRequestSecret(undefined)).toBeUndefined();
  });
});

const OPENAI_RESPONSE_HEADERS: Record<string, string> = {
  'content-type': 'application/json',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6m0s',
  'x-ratelimit-limit-tokens': '2000000',
  'x-ratelimit-remaining-tokens': '1998180',
  'x-ratelimit-reset-tokens': '2.5s',
};

function fakeFetch(
  makeResponse: () => Response,
): FetchFunction & { calls: Array<{ input: unknown; init?: RequestInit }> } {
  const calls: Array<{ input: unknown; init?: RequestInit }> = [];
  const fetchFunction = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    calls.push({ input, init });
    return makeResponse();
  };
  return Object.assign(fetchFunction, { calls });
}

const CHAT_URL = 'https://api.openai.com/v1/chat/completions';
const CHAT_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

describe('instrumentFetch', () => {
  it('emits one CLIENT span of the contract for a JSON call and hands back the very response', async () => {
    let returned: Response | undefined;
    const inner = fakeFetch(
      () => (returned = new Response(OPENAI_CHAT_JSON, { status: 200, headers: OPENAI_RESPONSE_HEADERS })),
    );
    const fetchFunction = instrumentFetch(inner, {
      pool: 'pool-a',
      provider: 'openai',
      keyId: 'key-a',
      consumer: 'app-1',
    });
    const beforeMs = Date.now();
    const init: RequestInit = {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}` },
      body: CHAT_BODY,
    };
    const response = await fetchFunction(CHAT_URL, init);
    expect(response).toBe(returned);
    expect(inner.calls).toStrictEqual([{ input: CHAT_URL, init }]);
    expect(response instanceof Response).toBe(true);
    expect(await response.json()).toStrictEqual(JSON.parse(OPENAI_CHAT_JSON));
    const afterMs = Date.now();

    const span = await onlySpan();
    expect(span.name).toBe('chat gpt-4o-mini');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.instrumentationScope.name).toBe('headroom-sdk');
    const attributes = span.attributes;
    expect(attributes).toMatchObject({
      'gen_ai.provider.name': 'openai',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'gen_ai.usage.input_tokens': 1500,
      'gen_ai.usage.output_tokens': 320,
      'gen_ai.usage.cache_read.input_tokens': 200,
      'http.response.status_code': 200,
      'server.address': 'api.openai.com',
      'keypool.pool': 'pool-a',
      'keypool.key.id': 'key-a',
      'keypool.consumer': 'app-1',
      'keypool.outcome': 'ok',
      'keypool.ratelimit.requests.limit': 10_000,
      'keypool.ratelimit.requests.remaining': 9_999,
      'keypool.ratelimit.tokens.limit': 2_000_000,
      'keypool.ratelimit.tokens.remaining': 1_998_180,
    });
    expectResetWithin(attributes, 'requests', beforeMs + 360_000, afterMs + 360_000);
    expectResetWithin(attributes, 'tokens', beforeMs + 2_500, afterMs + 2_500);
    expect(attributes['error.type']).toBeUndefined();
    // No partition configured: the key is its own partition, which ingest fills in.
    expect(attributes['keypool.partition']).toBeUndefined();
    expect(exportedText(span)).not.toContain(SECRET);
  });

  it('derives the key id from the request when none is configured, and never exports the secret', async () => {
    const inner = fakeFetch(() => new Response(OPENAI_CHAT_JSON, { headers: OPENAI_RESPONSE_HEADERS }));
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'openai' });
    const cases: Array<[string, RequestInit]> = [
      [
        CHAT_URL,
        { method: 'POST', headers: new Headers({ Authorization: `Bearer ${SECRET}` }), body: CHAT_BODY },
      ],
      [
        'https://api.anthropic.com/v1/messages',
        { method: 'POST', headers: { 'x-api-key': SECRET }, body: CHAT_BODY },
      ],
      [
        'https://x.openai.azure.com/openai/deployments/d/chat/completions',
        { method: 'POST', headers: [['api-key', SECRET]], body: CHAT_BODY },
      ],
      [
        `https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key=${SECRET}`,
        { method: 'POST', body: '{}' },
      ],
    ];
    for (const [url, init] of cases) await (await fetchFunction(url, init)).text();
    const spans = await waitForSpans(cases.length);
    for (const span of spans) {
      expect(span.attributes['keypool.key.id']).toBe(fingerprintKey(SECRET));
      expect(exportedText(span)).not.toContain(SECRET);
      expect(exportedText(span)).not.toContain('canary');
    }
    expect(spans[3]?.name).toBe('generate_content gemini-2.5-flash');
  });

  it('takes the key id from the response header a gateway names the chosen key in', async () => {
    let served = 'deployment-b';
    const inner = fakeFetch(
      () =>
        new Response(OPENAI_CHAT_JSON, {
          headers: { ...OPENAI_RESPONSE_HEADERS, ...(served === '' ? {} : { 'X-Served-By': served }) },
        }),
    );
    const fetchFunction = instrumentFetch(inner, {
      pool: 'p',
      provider: 'azure.ai.openai',
      keyId: 'via-gateway',
      keyIdFromResponseHeader: 'X-Served-By',
    });
    await (await fetchFunction(CHAT_URL, { method: 'POST', body: CHAT_BODY })).text();
    served = SECRET;
    await (await fetchFunction(CHAT_URL, { method: 'POST', body: CHAT_BODY })).text();
    served = '';
    await (await fetchFunction(CHAT_URL, { method: 'POST', body: CHAT_BODY })).text();
    const spans = await waitForSpans(3);
    expect(spans.map((s) => s.attributes['keypool.key.id'])).toEqual([
      'deployment-b',
      fingerprintKey(SECRET),
      'via-gateway',
    ]);
    expect(spans[0]?.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(() =>
      instrumentFetch(inner, { pool: 'p', provider: 'openai', keyIdFromResponseHeader: 'x served' }),
    ).toThrow(/options\.keyIdFromResponseHeader is invalid: got "x served", expected an HTTP header name/);
  });

  it('fingerprints a configured key, or a key id that looks like a secret', async () => {
    const inner = fakeFetch(() => new Response(null, { status: 204 }));
    await instrumentFetch(inner, { pool: 'p', provider: 'openai', key: SECRET })(CHAT_URL);
    await instrumentFetch(inner, { pool: 'p', provider: 'openai', keyId: SECRET })(CHAT_URL);
    const spans = await waitForSpans(2);
    for (const span of spans) {
      expect(span.attributes['keypool.key.id']).toBe(fingerprintKey(SECRET));
      expect(exportedText(span)).not.toContain(SECRET);
    }
  });

  it('passes a streamed body through unchanged and unbuffered, ending the span with the stream', async () => {
    let source!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({ start: (controller) => void (source = controller) });
    const inner = fakeFetch(
      () =>
        new Response(stream, {
          headers: { ...OPENAI_RESPONSE_HEADERS, 'content-type': 'text/event-stream' },
        }),
    );
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'openai', keyId: 'k' });
    const response = await fetchFunction(CHAT_URL, { method: 'POST', body: CHAT_BODY });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const chunks = chunked(OPENAI_CHAT_STREAM, 37);

    // The caller gets each chunk as soon as the source has it: nothing waits for later chunks.
    source.enqueue(chunks[0] as Uint8Array);
    const first = await reader.read();
    expect(first.value).toBe(chunks[0]);
    expect(exporter.getFinishedSpans()).toHaveLength(0);

    const received: Uint8Array[] = [first.value as Uint8Array];
    for (const chunk of chunks.slice(1)) {
      source.enqueue(chunk);
      const next = await reader.read();
      received.push(next.value as Uint8Array);
    }
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    source.close();
    expect((await reader.read()).done).toBe(true);
    expect(Buffer.concat(received).toString('utf8')).toBe(OPENAI_CHAT_STREAM);

    const span = await onlySpan();
    expect(span.attributes).toMatchObject({
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'gen_ai.usage.input_tokens': 42,
      'gen_ai.usage.output_tokens': 7,
      'gen_ai.usage.cache_read.input_tokens': 0,
      'keypool.outcome': 'ok',
      'keypool.ratelimit.requests.remaining': 9_999,
    });
  });

  it('keeps the response usable when the caller only looks at body before reading text()', async () => {
    const inner = fakeFetch(
      () => new Response(ANTHROPIC_MESSAGE_JSON, { headers: { 'content-type': 'application/json' } }),
    );
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'anthropic', keyId: 'k' });
    const response = await fetchFunction('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      body: CHAT_BODY,
    });
    expect(response.body).toBe(response.body);
    expect(response.bodyUsed).toBe(false);
    expect(await response.text()).toBe(ANTHROPIC_MESSAGE_JSON);
    expect(response.bodyUsed).toBe(true);
    const span = await onlySpan();
    expect(span.attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 1500,
      'gen_ai.usage.output_tokens': 90,
    });
  });

  it('reads usage whichever way the caller consumes a JSON body', async () => {
    const readers: Array<(response: Response) => Promise<unknown>> = [
      (response) => response.json(),
      (response) => response.text(),
      (response) => response.arrayBuffer(),
      (response) => response.bytes(),
      (response) => response.blob(),
      async (response) => {
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        while (!(await reader.read()).done);
      },
      async (response) => {
        for await (const chunk of response.body as ReadableStream<Uint8Array>) void chunk;
      },
      async (response) => {
        // A bring-your-own-buffer reader, in small pieces.
        const reader = (response.body as ReadableStream<Uint8Array>).getReader({ mode: 'byob' });
        while (!(await reader.read(new Uint8Array(100))).done);
      },
      (response) => new Response(response.body).text(),
    ];
    const inner = fakeFetch(
      () => new Response(GEMINI_JSON, { headers: { 'content-type': 'application/json' } }),
    );
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'gcp.gemini', keyId: 'k' });
    const url = 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent';
    for (const read of readers) await read(await fetchFunction(url, { method: 'POST', body: '{}' }));
    const spans = await waitForSpans(readers.length);
    for (const span of spans) {
      expect(span.attributes).toMatchObject({
        'gen_ai.request.model': 'gemini-2.5-flash',
        'gen_ai.response.model': 'gemini-2.5-flash',
        'gen_ai.usage.input_tokens': 640,
        'gen_ai.usage.output_tokens': 60,
        'gen_ai.usage.cache_read.input_tokens': 512,
      });
    }
  });

  it('ends the span when the caller cancels a stream, and cancels the source', async () => {
    let cancelled: unknown;
    const inner = fakeFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start: (controller) => controller.enqueue(encoder.encode(ANTHROPIC_STREAM.slice(0, 400))),
            cancel: (reason) => void (cancelled = reason ?? 'cancelled'),
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        ),
    );
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'anthropic', keyId: 'k' });
    const response = await fetchFunction('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      body: CHAT_BODY,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel('user stopped');
    expect(cancelled).toBe('user stopped');
    const span = await onlySpan();
    expect(span.attributes).toMatchObject({ 'keypool.outcome': 'ok', 'gen_ai.usage.input_tokens': 30 });
  });

  it('ends the span when the caller leaves a for-await loop early, cancelling the source', async () => {
    let cancelled = false;
    const inner = fakeFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start: (controller) => {
              for (const chunk of chunked(ANTHROPIC_STREAM, 64)) controller.enqueue(chunk);
            },
            cancel: () => void (cancelled = true),
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        ),
    );
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'anthropic', keyId: 'k' });
    const response = await fetchFunction('https://api.anthropic.com/v1/messages', { method: 'POST' });
    let received = 0;
    for await (const chunk of response.body as ReadableStream<Uint8Array>) {
      received += chunk.length;
      if (received >= 400) break;
    }
    expect(cancelled).toBe(true);
    expect((response.body as ReadableStream<Uint8Array>).locked).toBe(false);
    const span = await onlySpan();
    expect(span.attributes).toMatchObject({ 'keypool.outcome': 'ok', 'gen_ai.usage.input_tokens': 30 });
  });

  it('still observes the body after the caller clones the response', async () => {
    const inner = fakeFetch(
      () => new Response(OPENAI_CHAT_STREAM, { headers: { 'content-type': 'text/event-stream' } }),
    );
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'openai', keyId: 'k' });
    for (const touchBodyFirst of [false, true]) {
      const response = await fetchFunction(CHAT_URL, { method: 'POST' });
      if (touchBodyFirst) expect(response.body).not.toBeNull();
      const copy = response.clone();
      expect(await copy.text()).toBe(OPENAI_CHAT_STREAM);
      expect(await new Response(response.body).text()).toBe(OPENAI_CHAT_STREAM);
    }
    const spans = await waitForSpans(2);
    for (const span of spans) {
      expect(span.attributes).toMatchObject({
        'gen_ai.usage.input_tokens': 42,
        'gen_ai.usage.output_tokens': 7,
      });
    }
  });

  it('records a stream that breaks off as a failed call and passes the error on', async () => {
    const failure = Object.assign(new TypeError('terminated'), { cause: { code: 'ECONNRESET' } });
    const inner = fakeFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull: (controller) => controller.error(failure),
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        ),
    );
    const response = await instrumentFetch(inner, { pool: 'p', provider: 'openai', keyId: 'k' })(CHAT_URL);
    await expect(response.text()).rejects.toBe(failure);
    const span = await onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes).toMatchObject({
      'http.response.status_code': 200,
      'error.type': 'ECONNRESET',
      'keypool.outcome': 'upstream_error',
    });
  });

  it('records an error body (OpenAI insufficient_quota) even when the caller cancels it unread', async () => {
    const body = JSON.stringify({
      error: {
        message: 'You exceeded your current quota',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    });
    const inner = fakeFetch(
      () =>
        new Response(body, {
          status: 429,
          headers: { ...OPENAI_RESPONSE_HEADERS, 'x-ratelimit-remaining-requests': '0', 'retry-after': '20' },
        }),
    );
    const response = await instrumentFetch(inner, { pool: 'p', provider: 'openai', keyId: 'k' })(CHAT_URL);
    expect(response.status).toBe(429);
    await response.body?.cancel();
    const span = await onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes).toMatchObject({
      'http.response.status_code': 429,
      'error.type': 'insufficient_quota',
      'keypool.outcome': 'quota_exhausted',
      'keypool.ratelimit.requests.remaining': 0,
      'keypool.retry_after_ms': 20_000,
    });
  });

  it('classifies a Gemini RESOURCE_EXHAUSTED body', async () => {
    const fake = await startFakeProvider();
    try {
      const fetchFunction = instrumentFetch(fetch, { pool: 'p', provider: 'gcp.gemini' });
      const url = `${fake.url}/v1beta/models/gemini-2.5-flash:generateContent?key=${SECRET}`;
      const response = await fetchFunction(url, {
        method: 'POST',
        headers: { 'x-fake-scenario': 'quota' },
        body: '{}',
      });
      expect(response.status).toBe(429);
      await response.text();
      const span = await onlySpan();
      expect(span.attributes).toMatchObject({
        'error.type': 'RESOURCE_EXHAUSTED',
        'keypool.outcome': 'quota_exhausted',
        'keypool.ratelimit.requests.limit': 250,
        'keypool.ratelimit.requests.remaining': 0,
        'keypool.retry_after_ms': 38_000,
        'keypool.key.id': fingerprintKey(SECRET),
      });
      expect(exportedText(span)).not.toContain(SECRET);
    } finally {
      await fake.close();
    }
  });

  it('records a network failure and rethrows the very error', async () => {
    const failure = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const fetchFunction = instrumentFetch(
      async () => {
        throw failure;
      },
      { pool: 'p', provider: 'openai', keyId: 'k' },
    );
    await expect(fetchFunction(CHAT_URL, { method: 'POST', body: CHAT_BODY })).rejects.toBe(failure);
    const span = await onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes).toMatchObject({
      'error.type': 'ECONNREFUSED',
      'keypool.outcome': 'upstream_error',
    });
    expect(span.attributes['http.response.status_code']).toBeUndefined();
  });

  it('records an aborted or timed-out call as a timeout', async () => {
    const fetchFunction = instrumentFetch(fetch, { pool: 'p', provider: 'openai', keyId: 'k' });
    const fake = await startFakeProvider();
    try {
      // The gated stream never finishes, so the timeout hits while the body is being read.
      const response = await fetchFunction(`${fake.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'x-fake-scenario': 'gated' },
        body: JSON.stringify({ model: 'gpt-4o-mini', stream: true }),
        signal: AbortSignal.timeout(200),
      });
      await expect(response.text()).rejects.toMatchObject({ name: 'TimeoutError' });
      await expect(
        fetchFunction(`${fake.url}/v1/chat/completions`, { method: 'POST', signal: AbortSignal.abort() }),
      ).rejects.toMatchObject({ name: 'AbortError' });
      const spans = await waitForSpans(2);
      expect(
        spans.map((span) => [span.attributes['error.type'], span.attributes['keypool.outcome']]),
      ).toStrictEqual([
        ['TimeoutError', 'timeout'],
        ['AbortError', 'timeout'],
      ]);
    } finally {
      fake.releaseStream();
      await fake.close();
    }
  });

  it('makes its span the parent of whatever the wrapped fetch traces', async () => {
    let activeSpanId: string | undefined;
    const fetchFunction = instrumentFetch(
      async () => {
        activeSpanId = trace.getActiveSpan()?.spanContext().spanId;
        return new Response(null, { status: 204 });
      },
      { pool: 'p', provider: 'openai', keyId: 'k' },
    );
    await trace.getTracer('app').startActiveSpan('request', async (parent) => {
      await fetchFunction(CHAT_URL);
      parent.end();
    });
    const [span, parent] = await waitForSpans(2);
    expect(activeSpanId).toBe(span?.spanContext().spanId);
    expect(span?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
  });

  it('never lets an instrumentation failure reach the caller', async () => {
    const inner = fakeFetch(() => new Response('{}', { headers: { 'content-type': 'application/json' } }));
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'openai' });
    const hostileHeaders = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('boom');
        },
      },
    );
    const response = await fetchFunction(CHAT_URL, { headers: hostileHeaders as RequestInit['headers'] });
    expect(await response.json()).toStrictEqual({});
    expect(inner.calls).toHaveLength(1);
  });

  it('hands json() of a body that is not JSON its own error, and still ends the span', async () => {
    const inner = fakeFetch(
      () => new Response('{"usage": {"prompt_tokens": 12}', { headers: OPENAI_RESPONSE_HEADERS }),
    );
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'openai', keyId: 'k' });
    const response = await fetchFunction(CHAT_URL, { method: 'POST', body: CHAT_BODY });
    await expect(response.json()).rejects.toThrow(SyntaxError);
    const span = await onlySpan();
    expect(span.attributes).toMatchObject({
      'http.response.status_code': 200,
      'keypool.outcome': 'ok',
      'keypool.ratelimit.requests.remaining': 9_999,
    });
    // The text is still scanned: the usage object in it is whole, though the document is not.
    expect(span.attributes['gen_ai.usage.input_tokens']).toBe(12);
  });

  it('ends the span of a response dropped unread once it is garbage collected', async () => {
    v8.setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as () => void;
    const inner = fakeFetch(() => new Response(OPENAI_CHAT_JSON, { headers: OPENAI_RESPONSE_HEADERS }));
    const fetchFunction = instrumentFetch(inner, { pool: 'p', provider: 'openai', keyId: 'k' });
    // Dropped without reading the body, in a frame of its own so nothing keeps it alive.
    await (async () => {
      const response = await fetchFunction(CHAT_URL, { method: 'POST', body: CHAT_BODY });
      expect(response.status).toBe(200);
    })();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    for (let attempt = 0; attempt < 200 && exporter.getFinishedSpans().length === 0; attempt++) {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const span = await onlySpan();
    expect(span.attributes).toMatchObject({
      'keypool.outcome': 'ok',
      'keypool.ratelimit.requests.remaining': 9_999,
    });
    expect(span.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
  });

  it('refuses invalid options up front', () => {
    expect(() => instrumentFetch(fetch, { pool: ' ', provider: 'openai' })).toThrow(HeadroomError);
    expect(() => instrumentFetch(fetch, { pool: 'p', provider: '' })).toThrow(/options.provider/);
    expect(() =>
      instrumentFetch(undefined as unknown as FetchFunction, { pool: 'p', provider: 'openai' }),
    ).toThrow(/fetch function/);
    const error = (() => {
      try {
        instrumentFetch(fetch, { pool: 'p', provider: 'openai', key: 42 as unknown as string });
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message).toMatch(/options\.key is invalid: got \(hidden\)/);
  });
});

describe('instrumentFetch over HTTP', () => {
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('delivers the first streamed event before the server has sent the rest', async () => {
    const fetchFunction = instrumentFetch(fetch, { pool: 'p', provider: 'openai', key: SECRET });
    const response = await fetchFunction(`${fake.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'x-fake-scenario': 'gated', authorization: `Bearer ${SECRET}` },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true } }),
    });
    const reader = (response.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .getReader();
    const first = await reader.read();
    expect(first.value).toContain('"role":"assistant"');
    // The server still holds the rest back: the caller was not made to wait for it.
    expect(first.value).not.toContain('[DONE]');
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    fake.releaseStream();
    let rest = '';
    for (let next = await reader.read(); !next.done; next = await reader.read()) rest += next.value;
    expect(rest).toContain('data: [DONE]');
    const span = await onlySpan();
    expect(span.attributes).toMatchObject({
      'gen_ai.response.model': OPENAI_RESPONSE_MODEL,
      'gen_ai.usage.input_tokens': 1500,
      'gen_ai.usage.output_tokens': 320,
      'keypool.ratelimit.requests.limit': OPENAI_LIMITS.requests.limit,
      'keypool.key.id': fingerprintKey(SECRET),
    });
  });

  it('reads Anthropic limits of every dimension', async () => {
    const fetchFunction = instrumentFetch(fetch, { pool: 'p', provider: 'anthropic', keyId: 'ws-key' });
    const response = await fetchFunction(`${fake.url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [] }),
    });
    await response.json();
    const span = await onlySpan();
    const sent = fake.requests.at(-1)?.responseHeaders ?? {};
    for (const [dimension, bucket] of Object.entries(ANTHROPIC_LIMITS)) {
      const name = dimension.replace('_', '-');
      expect(span.attributes).toMatchObject({
        [`keypool.ratelimit.${dimension}.limit`]: bucket.limit,
        [`keypool.ratelimit.${dimension}.remaining`]: bucket.remaining,
        [`keypool.ratelimit.${dimension}.reset_at_ms`]: Date.parse(
          sent[`anthropic-ratelimit-${name}-reset`] ?? '',
        ),
      });
    }
  });
});

describe('recordApiCall', () => {
  it('emits the contract span for a call a gateway already made', async () => {
    const endTimeMs = Date.UTC(2025, 0, 15, 14, 23, 0);
    recordApiCall({
      pool: 'gw-pool',
      key: SECRET,
      alias: 'team-a-key',
      partition: 'org-1',
      provider: 'anthropic',
      operation: 'chat',
      requestModel: 'claude-haiku-4-5',
      responseModel: 'claude-haiku-4-5-20251001',
      statusCode: 200,
      headers: {
        'anthropic-ratelimit-requests-limit': '4000',
        'anthropic-ratelimit-requests-remaining': '3999',
        'anthropic-ratelimit-requests-reset': '2025-01-15T14:24:00Z',
      },
      inputTokens: 1200,
      outputTokens: 90,
      cachedInputTokens: 300,
      costUsd: 0.0042,
      consumer: 'search',
      serverAddress: 'api.anthropic.com',
      startTimeMs: endTimeMs - 850,
      endTimeMs,
    });
    const span = await onlySpan();
    expect(span.name).toBe('chat claude-haiku-4-5');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.startTime).toStrictEqual([
      Math.floor((endTimeMs - 850) / 1000),
      ((endTimeMs - 850) % 1000) * 1e6,
    ]);
    expect(span.duration).toStrictEqual([0, 850_000_000]);
    expect(span.attributes).toStrictEqual({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'claude-haiku-4-5',
      'gen_ai.response.model': 'claude-haiku-4-5-20251001',
      'gen_ai.usage.input_tokens': 1200,
      'gen_ai.usage.output_tokens': 90,
      'gen_ai.usage.cache_read.input_tokens': 300,
      'http.response.status_code': 200,
      'server.address': 'api.anthropic.com',
      'keypool.pool': 'gw-pool',
      'keypool.key.id': 'team-a-key',
      'keypool.partition': 'org-1',
      'keypool.consumer': 'search',
      'keypool.cost_usd': 0.0042,
      'keypool.outcome': 'ok',
      'keypool.ratelimit.requests.limit': 4000,
      'keypool.ratelimit.requests.remaining': 3999,
      'keypool.ratelimit.requests.reset_at_ms': Date.UTC(2025, 0, 15, 14, 24, 0),
    });
  });

  it('fingerprints the secret, classifies the error body and drops invalid numbers', async () => {
    recordApiCall({
      pool: 'gw-pool',
      key: SECRET,
      provider: 'openai',
      requestModel: 'gpt-4o-mini',
      statusCode: 429,
      headers: new Headers({
        'retry-after-ms': '1500',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-limit-requests': '500',
      }),
      errorBody: '{"error":{"type":"insufficient_quota","code":"insufficient_quota","message":"quota"}}',
      inputTokens: -1,
      outputTokens: Number.NaN,
      costUsd: Number.POSITIVE_INFINITY,
    });
    recordApiCall({ pool: 'gw-pool', keyId: SECRET, provider: 'openai', errorType: 'ETIMEDOUT' });
    recordApiCall({
      pool: 'gw-pool',
      keyId: 'k',
      provider: 'openai',
      statusCode: 529,
      errorBody: { type: 'error', error: { type: 'overloaded_error' } },
    });
    recordApiCall({ pool: 'gw-pool', keyId: 'k', provider: 'openai' });
    const [quota, timeout, overloaded, silent] = await waitForSpans(4);
    expect(quota?.attributes).toMatchObject({
      'keypool.key.id': fingerprintKey(SECRET),
      'keypool.outcome': 'quota_exhausted',
      'error.type': 'insufficient_quota',
      'keypool.retry_after_ms': 1500,
      'keypool.ratelimit.requests.limit': 500,
      'keypool.ratelimit.requests.remaining': 0,
    });
    expect(quota?.status.code).toBe(SpanStatusCode.ERROR);
    for (const name of ['gen_ai.usage.input_tokens', 'gen_ai.usage.output_tokens', 'keypool.cost_usd']) {
      expect(quota?.attributes[name]).toBeUndefined();
    }
    expect(timeout?.attributes).toMatchObject({
      'keypool.key.id': fingerprintKey(SECRET),
      'keypool.outcome': 'timeout',
      'error.type': 'ETIMEDOUT',
    });
    expect(timeout?.name).toBe('chat');
    expect(overloaded?.attributes).toMatchObject({
      'keypool.outcome': 'overloaded',
      'error.type': 'overloaded_error',
    });
    expect(silent?.attributes['keypool.outcome']).toBe('ok');
    expect(silent?.status.code).toBe(SpanStatusCode.UNSET);
    for (const span of [quota, timeout, overloaded, silent])
      expect(exportedText(span as ReadableSpan)).not.toContain(SECRET);
  });

  it('never throws, whatever it is given', async () => {
    expect(() => recordApiCall(null as never)).not.toThrow();
    expect(() => recordApiCall({ pool: ' ', keyId: 'k', provider: 'openai' })).not.toThrow();
    expect(() => recordApiCall({ pool: 'p', provider: 'openai' } as never)).not.toThrow();
    // Only the last one is recorded: without a pool headroom would reject the span anyway.
    const span = await onlySpan();
    expect(span.attributes['keypool.key.id']).toBe('unknown');
  });
});

function expectResetWithin(attributes: Attributes, dimension: string, fromMs: number, toMs: number): void {
  const reset = attributes[`keypool.ratelimit.${dimension}.reset_at_ms`];
  expect(typeof reset).toBe('number');
  expect(reset as number).toBeGreaterThanOrEqual(fromMs);
  expect(reset as number).toBeLessThanOrEqual(toMs + 1);
}
