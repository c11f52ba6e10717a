import { spawn } from 'node:child_process';
import { once } from 'node:events';
import Anthropic from '@anthropic-ai/sdk';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentFetch, type FetchFunction } from '../../src/sdk/index.ts';
import {
  createSimulator,
  parseScenario,
  startSimulatorServer,
  type ScenarioInput,
  type SimState,
  type SimStats,
  type SimulatorServer,
} from '../../src/simulator/index.ts';
import { useInMemorySpans } from '../support/in-memory-spans.ts';

// The official clients → headroom's instrumentFetch → the simulator on a real port; the spans the SDK
// emits must carry exactly what the simulator decided. One tracer provider for this file.
const exporter = useInMemorySpans();

const SECRETS = {
  openaiMain: 'sk-sim-openai-main-canary',
  openaiTight: 'sk-sim-openai-tight-canary',
  openaiDaily: 'sk-sim-openai-daily-canary',
  openaiRevoked: 'sk-sim-openai-revoked-canary',
  claudeMain: 'sk-ant-sim-claude-main-canary',
  claudeTight: 'sk-ant-sim-claude-tight-canary',
  claudeCapped: 'sk-ant-sim-claude-capped-canary',
  azureTight: 'azure-sim-tight-canary',
  gemini: 'AIzaSim-gemini-canary',
};

const SCENARIO: ScenarioInput = {
  seed: 3,
  responses: { output_tokens: { min: 20, max: 40 } },
  latency: { base_ms: 10, per_output_token_ms: 0.5, jitter_ratio: 0.2 },
  quotas: [
    {
      id: 'org-main',
      limits: [
        { dimension: 'requests', window: 'minute', limit: 1_000 },
        { dimension: 'tokens', window: 'minute', limit: 1_000_000 },
      ],
    },
  ],
  keys: [
    { id: 'openai-main', secret: SECRETS.openaiMain, provider: 'openai', quotas: ['org-main'] },
    {
      id: 'openai-tight',
      secret: SECRETS.openaiTight,
      provider: 'openai',
      limits: [{ dimension: 'requests', window: 'minute', limit: 2 }],
    },
    {
      id: 'openai-daily',
      secret: SECRETS.openaiDaily,
      provider: 'openai',
      limits: [{ dimension: 'requests', window: 'day', limit: 1 }],
    },
    { id: 'openai-revoked', secret: SECRETS.openaiRevoked, provider: 'openai', revoked: true },
    {
      id: 'claude-main',
      secret: SECRETS.claudeMain,
      provider: 'anthropic',
      limits: [
        { dimension: 'requests', window: 'minute', limit: 1_000 },
        { dimension: 'input_tokens', window: 'minute', limit: 400_000 },
        { dimension: 'output_tokens', window: 'minute', limit: 80_000 },
      ],
    },
    {
      id: 'claude-tight',
      secret: SECRETS.claudeTight,
      provider: 'anthropic',
      limits: [{ dimension: 'requests', window: 'minute', limit: 1 }],
    },
    {
      id: 'claude-capped',
      secret: SECRETS.claudeCapped,
      provider: 'anthropic',
      // Every call costs at least 20 output tokens at $5 per million: $0.0001 > the cap.
      pricing: { input_per_million_usd: 0, output_per_million_usd: 5 },
      limits: [{ dimension: 'cost_usd', window: 'month', limit: 0.0001 }],
    },
    {
      id: 'azure-tight',
      secret: SECRETS.azureTight,
      provider: 'azure',
      deployment: 'gpt-4o-mini',
      model: 'gpt-4o-mini',
      limits: [{ dimension: 'requests', window: 'minute', limit: 60, sub_window_seconds: 1 }],
    },
    {
      id: 'gemini-free',
      secret: SECRETS.gemini,
      provider: 'gemini',
      limits: [{ dimension: 'requests', window: 'day', limit: 1, time_zone: 'America/Los_Angeles' }],
    },
  ],
};

let server: SimulatorServer;

beforeAll(async () => {
  server = await startSimulatorServer(createSimulator(parseScenario(SCENARIO), { startMs: Date.now() }));
});

afterAll(async () => {
  await server?.close();
});

/** A fetch that keeps the response headers the simulator sent, under headroom's instrumentation. */
function observedFetch(
  pool: string,
  provider: string,
  keyId: string,
): { fetch: FetchFunction; sent: Headers[] } {
  const sent: Headers[] = [];
  const inner: FetchFunction = async (input, init) => {
    const response = await fetch(input, init);
    sent.push(response.headers);
    return response;
  };
  return { fetch: instrumentFetch(inner, { pool, provider, keyId }), sent };
}

/** headroom's spans (the Anthropic client also emits spans of its own). */
function headroomSpans(): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.instrumentationScope.name === 'headroom-sdk');
}

/** The official OpenAI client for one scenario key, without retries, instrumented by headroom. */
function openAiClient(secret: string, keyId: string, fetchFunction?: FetchFunction): OpenAI {
  return new OpenAI({
    apiKey: secret,
    baseURL: `${server.url}/v1`,
    fetch: fetchFunction ?? observedFetch('sim', 'openai', keyId).fetch,
    maxRetries: 0,
  });
}

function anthropicClient(secret: string, keyId: string, fetchFunction?: FetchFunction): Anthropic {
  return new Anthropic({
    apiKey: secret,
    baseURL: server.url,
    fetch: fetchFunction ?? observedFetch('sim', 'anthropic', keyId).fetch,
    maxRetries: 0,
  });
}

async function waitForSpans(count: number): Promise<ReadableSpan[]> {
  const deadline = Date.now() + 5_000;
  while (headroomSpans().length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const spans = headroomSpans();
  expect(spans).toHaveLength(count);
  return spans;
}

function spanText(spans: readonly ReadableSpan[]): string {
  return JSON.stringify(
    spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })),
  );
}

describe('OpenAI client', () => {
  it('JSON and streamed calls: the span carries the usage and the x-ratelimit headers the simulator sent', async () => {
    const { fetch: observed, sent } = observedFetch('sim', 'openai', 'openai-main');
    const client = openAiClient(SECRETS.openaiMain, 'openai-main', observed);
    const beforeMs = Date.now();
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'What is left on this key?' }],
    });
    let streamedText = '';
    let streamedUsage: OpenAI.CompletionUsage | undefined;
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream it.' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      streamedText += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) streamedUsage = chunk.usage;
    }
    const afterMs = Date.now();

    const [json, streamed] = await waitForSpans(2);
    expect(completion.usage?.completion_tokens).toBeGreaterThanOrEqual(20);
    expect(streamedText.split(' ')).toHaveLength(streamedUsage?.completion_tokens ?? -1);
    for (const [span, usage, headers] of [
      [json, completion.usage, sent[0]],
      [streamed, streamedUsage, sent[1]],
    ] as const) {
      expect(span?.attributes).toMatchObject({
        'gen_ai.provider.name': 'openai',
        'keypool.key.id': 'openai-main',
        'keypool.outcome': 'ok',
        'http.response.status_code': 200,
        'gen_ai.usage.input_tokens': usage?.prompt_tokens,
        'gen_ai.usage.output_tokens': usage?.completion_tokens,
        'keypool.ratelimit.requests.limit': 1_000,
        'keypool.ratelimit.requests.remaining': Number(headers?.get('x-ratelimit-remaining-requests')),
        'keypool.ratelimit.tokens.limit': 1_000_000,
        'keypool.ratelimit.tokens.remaining': Number(headers?.get('x-ratelimit-remaining-tokens')),
      });
      // The reset (time until the bucket is full) became an instant inside the call's time span.
      const resetAtMs = Number(span?.attributes['keypool.ratelimit.requests.reset_at_ms']);
      expect(resetAtMs).toBeGreaterThanOrEqual(beforeMs);
      expect(resetAtMs).toBeLessThanOrEqual(afterMs + 60 * 2 + 5);
    }
    expect(json?.attributes['keypool.ratelimit.requests.remaining']).toBe(999);
  });

  it('a drained bucket is a rate_limit_exceeded 429, a spent daily quota insufficient_quota, a revoked key 401', async () => {
    const tight = openAiClient(SECRETS.openaiTight, 'openai-tight');
    const params = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
    await tight.chat.completions.create(params);
    await tight.chat.completions.create(params);
    const limited = await tight.chat.completions.create(params).catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('rate_limit_exceeded');

    const daily = openAiClient(SECRETS.openaiDaily, 'openai-daily');
    await daily.chat.completions.create(params);
    const spent = await daily.chat.completions.create(params).catch((error: unknown) => error);
    expect(spent).toBeInstanceOf(OpenAI.RateLimitError);
    expect((spent as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('insufficient_quota');

    const revoked = openAiClient(SECRETS.openaiRevoked, 'openai-revoked');
    await expect(revoked.chat.completions.create(params)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const spans = await waitForSpans(6);
    expect(
      spans.map((span) => [span.attributes['keypool.key.id'], span.attributes['keypool.outcome']]),
    ).toEqual([
      ['openai-tight', 'ok'],
      ['openai-tight', 'ok'],
      ['openai-tight', 'rate_limited'],
      ['openai-daily', 'ok'],
      ['openai-daily', 'quota_exhausted'],
      ['openai-revoked', 'auth_error'],
    ]);
    expect(spans[2]?.attributes).toMatchObject({
      'http.response.status_code': 429,
      'keypool.ratelimit.requests.limit': 2,
      'keypool.ratelimit.requests.remaining': 0,
    });
    expect(spanText(spans)).not.toMatch(/canary/);
  });
});

describe('Anthropic client', () => {
  it('JSON and streamed messages carry usage and anthropic-ratelimit-* buckets; a 429 carries retry-after', async () => {
    const { fetch: observed, sent } = observedFetch('sim', 'anthropic', 'claude-main');
    const client = anthropicClient(SECRETS.claudeMain, 'claude-main', observed);
    const params = {
      model: 'claude-haiku-4-5',
      max_tokens: 30,
      messages: [{ role: 'user' as const, content: 'How much is left?' }],
    };
    const message = await client.messages.create(params);
    expect(message.usage.output_tokens).toBeLessThanOrEqual(30);
    let streamedOutput = -1;
    for await (const event of await client.messages.create({ ...params, stream: true })) {
      if (event.type === 'message_delta') streamedOutput = event.usage.output_tokens;
    }
    expect(streamedOutput).toBeGreaterThanOrEqual(20);

    const tight = anthropicClient(SECRETS.claudeTight, 'claude-tight');
    await tight.messages.create(params);
    const limited = await tight.messages.create(params).catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect((limited as InstanceType<typeof Anthropic.RateLimitError>).headers.get('retry-after')).toBe('60');

    const spans = await waitForSpans(4);
    const [json, streamed, , refused] = spans;
    expect(json?.attributes).toMatchObject({
      'keypool.outcome': 'ok',
      'gen_ai.usage.output_tokens': message.usage.output_tokens,
      'keypool.ratelimit.requests.limit': 1_000,
      'keypool.ratelimit.requests.remaining': 999,
      'keypool.ratelimit.input_tokens.limit': 400_000,
      'keypool.ratelimit.output_tokens.limit': 80_000,
      'keypool.ratelimit.output_tokens.remaining': 80_000 - message.usage.output_tokens,
      'keypool.ratelimit.tokens.remaining': 80_000 - message.usage.output_tokens,
      'keypool.ratelimit.requests.reset_at_ms': Date.parse(
        sent[0]?.get('anthropic-ratelimit-requests-reset') ?? '',
      ),
    });
    expect(streamed?.attributes).toMatchObject({
      'keypool.outcome': 'ok',
      'gen_ai.usage.output_tokens': streamedOutput,
    });
    expect(refused?.attributes).toMatchObject({
      'keypool.key.id': 'claude-tight',
      'keypool.outcome': 'rate_limited',
      'keypool.retry_after_ms': 60_000,
      'keypool.ratelimit.requests.remaining': 0,
    });
  });

  it('a spent monthly cap is the error the official client knows as EnforcedSpendLimitReachedError', async () => {
    const client = anthropicClient(SECRETS.claudeCapped, 'claude-capped');
    const params = {
      model: 'claude-haiku-4-5',
      max_tokens: 40,
      messages: [{ role: 'user' as const, content: 'hi' }],
    };
    await client.messages.create(params);
    await expect(client.messages.create(params)).rejects.toBeInstanceOf(
      Anthropic.EnforcedSpendLimitReachedError,
    );
    const [, capped] = await waitForSpans(2);
    expect(capped?.attributes).toMatchObject({
      'keypool.outcome': 'quota_exhausted',
      'http.response.status_code': 429,
    });
  });
});

describe('Azure OpenAI client', () => {
  it('a burst inside one 1 s sub-window is a 429 with retry-after-ms that the span records', async () => {
    const client = new AzureOpenAI({
      endpoint: server.url,
      apiKey: SECRETS.azureTight,
      apiVersion: '2024-10-21',
      deployment: 'gpt-4o-mini',
      fetch: observedFetch('sim', 'azure.ai.openai', 'azure-tight').fetch,
      maxRetries: 0,
    });
    const params = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
    // Two calls at once land in the same 1 s sub-window (or the second in the next: then it passes).
    const results = await Promise.allSettled([
      client.chat.completions.create(params),
      client.chat.completions.create(params),
    ]);
    const spans = await waitForSpans(2);
    const refused = spans.filter((span) => span.attributes['keypool.outcome'] === 'rate_limited');
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(refused).toHaveLength(rejected.length);
    for (const span of refused) {
      expect(span.attributes['http.response.status_code']).toBe(429);
      expect(span.attributes['keypool.retry_after_ms']).toBeGreaterThan(0);
      expect(span.attributes['keypool.retry_after_ms']).toBeLessThanOrEqual(1_000);
    }
    expect(spans.some((span) => span.attributes['keypool.outcome'] === 'ok')).toBe(true);
    expect(spans[0]?.attributes).toMatchObject({
      'gen_ai.request.model': 'gpt-4o-mini',
      'keypool.ratelimit.requests.limit': 60,
    });
  });
});

describe('Gemini API', () => {
  it('a spent per-day quota is RESOURCE_EXHAUSTED, quota_exhausted until midnight Pacific', async () => {
    const { fetch: observed } = observedFetch('sim', 'gcp.gemini', 'gemini-free');
    const call = (): Promise<Response> =>
      observed(`${server.url}/v1beta/models/gemini-2.5-flash:generateContent?key=${SECRETS.gemini}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
      });
    const ok = await call();
    const okBody = (await ok.json()) as { usageMetadata: { candidatesTokenCount: number } };
    const spent = await call();
    expect(spent.status).toBe(429);
    expect(await spent.json()).toMatchObject({ error: { status: 'RESOURCE_EXHAUSTED' } });
    const [okSpan, spentSpan] = await waitForSpans(2);
    expect(okSpan?.attributes).toMatchObject({
      'keypool.outcome': 'ok',
      'gen_ai.request.model': 'gemini-2.5-flash',
      'gen_ai.usage.output_tokens': okBody.usageMetadata.candidatesTokenCount,
    });
    const state = (await (await fetch(`${server.url}/sim/state`)).json()) as SimState;
    const dayReset = state.keys.find((key) => key.keyId === 'gemini-free')?.quotas[0]?.resetAtMs;
    expect(spentSpan?.attributes).toMatchObject({
      'keypool.outcome': 'quota_exhausted',
      'keypool.ratelimit.requests.limit': 1,
      'keypool.ratelimit.requests.remaining': 0,
      'keypool.ratelimit.requests.reset_at_ms': dayReset,
    });
    expect(spanText([okSpan, spentSpan] as ReadableSpan[])).not.toContain(SECRETS.gemini);
  });
});

describe('introspection', () => {
  it('GET /sim/state and /sim/stats show every key by alias, never a secret', async () => {
    const stateText = await (await fetch(`${server.url}/sim/state`)).text();
    const statsText = await (await fetch(`${server.url}/sim/stats`)).text();
    for (const secret of Object.values(SECRETS)) {
      expect(stateText).not.toContain(secret);
      expect(statsText).not.toContain(secret);
    }
    const state = JSON.parse(stateText) as SimState;
    expect(state.nowMs).toBeGreaterThan(Date.now() - 60_000);
    expect(state.keys.map((key) => key.keyId)).toEqual(SCENARIO.keys.map((key) => key.id));
    const main = state.keys.find((key) => key.keyId === 'openai-main');
    // Two calls of a thousand per minute spent a moment ago: the requests bucket binds.
    expect(main?.usable).toBe(true);
    expect(main?.headroomRequests).toBeGreaterThanOrEqual(998);
    expect(main?.headroomRequests).toBeLessThanOrEqual(1_000);
    expect(main?.quotas.map((quota) => [quota.id, quota.dimension, quota.window, quota.limit])).toEqual([
      ['org-main', 'requests', 'minute', 1_000],
      ['org-main', 'tokens', 'minute', 1_000_000],
    ]);
    expect(state.keys.find((key) => key.keyId === 'openai-revoked')).toMatchObject({
      usable: false,
      headroomRequests: 0,
    });
    const stats = JSON.parse(statsText) as SimStats;
    expect(stats.keys.find((key) => key.keyId === 'openai-tight')?.outcomes).toMatchObject({
      ok: 2,
      rate_limited: 1,
    });
    // OpenAI's and Anthropic's tight buckets; Azure's second call may have fallen in the next sub-window.
    expect(stats.tooManyRequests).toMatchObject({ quotaExhausted: 2, spendCap: 1 });
    expect([2, 3]).toContain(stats.tooManyRequests.rateLimited);
  });

  it('runs a simulated clock faster than real time, latencies shrinking alike', async () => {
    const startMs = Date.parse('2026-03-07T20:00:00Z');
    const fast = await startSimulatorServer(
      createSimulator(
        parseScenario({
          latency: { base_ms: 2_000, per_output_token_ms: 0, jitter_ratio: 0 },
          keys: [
            {
              id: 'gemini-free',
              secret: SECRETS.gemini,
              provider: 'gemini',
              limits: [{ dimension: 'requests', window: 'day', limit: 1, time_zone: 'America/Los_Angeles' }],
            },
          ],
        }),
        { startMs },
      ),
      { speed: 100 },
    );
    try {
      const realStartMs = Date.now();
      const answer = await fetch(
        `${fast.url}/v1beta/models/gemini-2.5-flash:generateContent?key=${SECRETS.gemini}`,
        {
          method: 'POST',
          body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
        },
      );
      expect(answer.status).toBe(200);
      const realMs = Date.now() - realStartMs;
      // Two simulated seconds of latency take about 20 real milliseconds.
      expect(realMs).toBeGreaterThanOrEqual(15);
      expect(realMs).toBeLessThan(1_000);
      const state = (await (await fetch(`${fast.url}/sim/state`)).json()) as SimState;
      expect(state.nowMs - startMs).toBeGreaterThanOrEqual(realMs * 100 - 100);
      expect(state.keys[0]?.quotas[0]).toMatchObject({
        remaining: 0,
        resetAtMs: Date.parse('2026-03-08T08:00:00Z'),
      });
    } finally {
      await fast.close();
    }
  });

  it('headroom simulate-provider serves a scenario file until SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        'src/cli/main.ts',
        'simulate-provider',
        '--scenario',
        'bench/scenarios/shared-org.yaml',
        '--port',
        '0',
        '--seed',
        '9',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => (output += text));
    const deadline = Date.now() + 20_000;
    while (!/listening on (\S+)/.test(output) && Date.now() < deadline && child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const url = /listening on (\S+)/.exec(output)?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const state = (await (await fetch(`${url}/sim/state`)).json()) as SimState;
    expect(state.keys.map((key) => key.keyId)).toEqual([
      'openai-a',
      'openai-b',
      'claude-a',
      'azure-east',
      'gemini-free',
    ]);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
