import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { instrumentFetch, recordApiCall, type Telemetry } from '../../src/sdk/index.ts';
import type { Store } from '../../src/store/index.ts';
import { fingerprintKey } from '../../src/telemetry/index.ts';
import {
  GEMINI_MODEL,
  OPENAI_LIMITS,
  OPENAI_MODEL,
  OPENAI_RESPONSE_MODEL,
  OPENAI_USAGE,
} from '../support/fake-provider.ts';
import { useSdkHarness } from '../support/sdk-harness.ts';
import type { StoredCallColumns } from '../support/stored-call.ts';

// The official OpenAI client (and plain fetch for Gemini) → instrumentFetch → startTelemetry's
// tracer provider → OTLP protobuf → headroom → ClickHouse. One telemetry per file: it registers globals.

interface StoredCall extends StoredCallColumns {
  requests_limit: string | null;
  requests_remaining: string | null;
  requests_reset_at_ms: string | null;
  tokens_limit: string | null;
  tokens_remaining: string | null;
  tokens_reset_at_ms: string | null;
}

async function readCalls(store: Store, pool: string): Promise<StoredCall[]> {
  return store.queryRows<StoredCall>(
    `SELECT span_name, service_name, gateway_node, key_id, partition, consumer, provider, operation, request_model,
            response_model, server_address, status_code, error_type, outcome,
            toString(input_tokens) AS input_tokens, toString(output_tokens) AS output_tokens,
            toString(cached_input_tokens) AS cached_input_tokens, toString(retry_after_ms) AS retry_after_ms, cost_usd,
            toString(rl_requests_limit) AS requests_limit, toString(rl_requests_remaining) AS requests_remaining,
            toString(toUnixTimestamp64Milli(rl_requests_reset_at)) AS requests_reset_at_ms,
            toString(rl_tokens_limit) AS tokens_limit, toString(rl_tokens_remaining) AS tokens_remaining,
            toString(toUnixTimestamp64Milli(rl_tokens_reset_at)) AS tokens_reset_at_ms
     FROM ${store.database}.api_calls WHERE pool = {pool:String} ORDER BY timestamp, span_id`,
    { pool },
  );
}

/** Every row of every table headroom keeps, as text: the secret must be in none of them. */
async function dumpAllTables(store: Store): Promise<string> {
  const tables = await store.queryRows<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = {database:String} AND engine NOT IN ('View', 'MaterializedView')`,
    { database: store.database },
  );
  expect(tables.map((table) => table.name)).toContain('api_calls');
  let text = '';
  for (const { name } of tables) {
    text += JSON.stringify(await store.queryRows(`SELECT * FROM ${store.database}.\`${name}\``));
  }
  return text;
}

/**
 * Flushes until `count` calls of `pool` are stored: a span ends when its response body has been
 * read, which for an error body read from a copy can come a moment after the caller moved on.
 */
async function flushAndRead(
  telemetry: Telemetry,
  store: Store,
  pool: string,
  count: number,
): Promise<StoredCall[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await telemetry.forceFlush();
    const rows = await readCalls(store, pool);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function expectResetNear(resetAtMs: string | null, respondedAtMs: number, delayMs: number): void {
  expect(resetAtMs).not.toBeNull();
  const value = Number(resetAtMs);
  // The SDK dates the relative reset from when it got the headers, a few ms after the server sent them.
  expect(value).toBeGreaterThanOrEqual(respondedAtMs + delayMs);
  expect(value).toBeLessThanOrEqual(respondedAtMs + delayMs + 2_000);
}

describe('SDK → headroom with the official OpenAI client', () => {
  const h = useSdkHarness('it-node-1');
  const canary = `sk-canary-${randomUUID().replaceAll('-', '')}`;

  it('stores JSON, streamed and quota-exhausted calls with their normalised limits and usage', async () => {
    const pool = 'it-openai';
    const client = new OpenAI({
      apiKey: canary,
      baseURL: `${h.fake.url}/v1`,
      maxRetries: 0,
      fetch: instrumentFetch(fetch, { pool, provider: 'openai', partition: 'org-fake', consumer: 'it-app' }),
    });

    const completion = await client.chat.completions.create({
      model: OPENAI_MODEL,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(completion.usage?.prompt_tokens).toBe(OPENAI_USAGE.prompt_tokens);

    const stream = await client.chat.completions.create({
      model: OPENAI_MODEL,
      messages: [{ role: 'user', content: 'Stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
    expect(streamed).toBe('Hello from the "usage" stream');

    await expect(
      client.chat.completions.create(
        { model: OPENAI_MODEL, messages: [{ role: 'user', content: 'More' }] },
        { headers: { 'x-fake-scenario': 'quota' } },
      ),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);

    const rows = await flushAndRead(h.telemetry, h.service.store, pool, 3);
    expect(rows).toHaveLength(3);
    const [json, streamedCall, quota] = rows as [StoredCall, StoredCall, StoredCall];
    const keyId = fingerprintKey(canary);
    const common = {
      span_name: `chat ${OPENAI_MODEL}`,
      service_name: 'sdk-it',
      gateway_node: 'it-node-1',
      key_id: keyId,
      partition: 'org-fake',
      consumer: 'it-app',
      provider: 'openai',
      operation: 'chat',
      request_model: OPENAI_MODEL,
      server_address: '127.0.0.1',
      requests_limit: String(OPENAI_LIMITS.requests.limit),
      tokens_limit: String(OPENAI_LIMITS.tokens.limit),
      tokens_remaining: String(OPENAI_LIMITS.tokens.remaining),
      cost_usd: null,
    };
    const tokens = {
      input_tokens: String(OPENAI_USAGE.prompt_tokens),
      output_tokens: String(OPENAI_USAGE.completion_tokens),
      cached_input_tokens: String(OPENAI_USAGE.cached_tokens),
    };
    for (const ok of [json, streamedCall]) {
      expect(ok).toMatchObject({
        ...common,
        ...tokens,
        response_model: OPENAI_RESPONSE_MODEL,
        status_code: 200,
        error_type: '',
        outcome: 'ok',
        requests_remaining: String(OPENAI_LIMITS.requests.remaining),
        retry_after_ms: null,
      });
    }
    expect(quota).toMatchObject({
      ...common,
      input_tokens: '0',
      output_tokens: '0',
      response_model: '',
      status_code: 429,
      error_type: 'insufficient_quota',
      outcome: 'quota_exhausted',
      requests_remaining: '0',
    });
    const sent = h.fake.requests.filter((request) => request.path === '/v1/chat/completions');
    expect(sent).toHaveLength(3);
    rows.forEach((row, index) => {
      const respondedAtMs = (sent[index] as (typeof sent)[number]).respondedAtMs;
      expectResetNear(row.requests_reset_at_ms, respondedAtMs, OPENAI_LIMITS.requests.resetDelayMs);
      expectResetNear(row.tokens_reset_at_ms, respondedAtMs, OPENAI_LIMITS.tokens.resetDelayMs);
    });
  });

  it('stores Gemini calls made with plain fetch and a ?key= secret', async () => {
    const pool = 'it-gemini';
    const fetchGemini = instrumentFetch(fetch, { pool, provider: 'gcp.gemini' });
    const base = `${h.fake.url}/v1beta/models/${GEMINI_MODEL}`;
    const body = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
    await (await fetchGemini(`${base}:generateContent?key=${canary}`, { method: 'POST', body })).json();
    await (
      await fetchGemini(`${base}:streamGenerateContent?alt=sse&key=${canary}`, { method: 'POST', body })
    ).text();
    const limited = await fetchGemini(`${base}:generateContent?key=${canary}`, {
      method: 'POST',
      headers: { 'x-fake-scenario': 'quota' },
      body,
    });
    expect(limited.status).toBe(429);

    const rows = await flushAndRead(h.telemetry, h.service.store, pool, 3);
    expect(
      rows.map((row) => [
        row.span_name,
        row.outcome,
        row.input_tokens,
        row.output_tokens,
        row.cached_input_tokens,
      ]),
    ).toStrictEqual([
      [`generate_content ${GEMINI_MODEL}`, 'ok', '640', '60', '512'],
      [`generate_content ${GEMINI_MODEL}`, 'ok', '640', '60', '512'],
      [`generate_content ${GEMINI_MODEL}`, 'quota_exhausted', '0', '0', '0'],
    ]);
    for (const row of rows) expect(row.key_id).toBe(fingerprintKey(canary));
    expect(rows[2]).toMatchObject({
      error_type: 'RESOURCE_EXHAUSTED',
      retry_after_ms: '38000',
      requests_limit: '250',
      requests_remaining: '0',
    });
  });

  it('stores what a gateway records with recordApiCall', async () => {
    const pool = 'it-gateway';
    const endTimeMs = Date.now();
    recordApiCall({
      pool,
      key: canary,
      alias: 'gw-key-1',
      provider: 'openai',
      requestModel: OPENAI_MODEL,
      responseModel: OPENAI_RESPONSE_MODEL,
      statusCode: 200,
      headers: {
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '499',
        'x-ratelimit-reset-requests': '120ms',
      },
      inputTokens: 10,
      outputTokens: 5,
      costUsd: 0.00042,
      startTimeMs: endTimeMs - 300,
      endTimeMs,
    });
    recordApiCall({
      pool,
      key: canary,
      provider: 'openai',
      requestModel: OPENAI_MODEL,
      errorType: 'ETIMEDOUT',
    });
    const rows = await flushAndRead(h.telemetry, h.service.store, pool, 2);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      key_id: 'gw-key-1',
      partition: 'gw-key-1',
      outcome: 'ok',
      input_tokens: '10',
      output_tokens: '5',
      cost_usd: 0.00042,
      requests_limit: '500',
      requests_remaining: '499',
      requests_reset_at_ms: String(endTimeMs + 120),
    });
    expect(rows[1]).toMatchObject({
      key_id: fingerprintKey(canary),
      outcome: 'timeout',
      error_type: 'ETIMEDOUT',
      status_code: 0,
    });
  });

  it('never lets the secret leave the process or reach storage', async () => {
    expect(h.recorder.bodies.length).toBeGreaterThan(0);
    for (const body of h.recorder.bodies) expect(body.toString('latin1')).not.toContain(canary);
    // The provider did receive it: the check above is not vacuous.
    expect(h.fake.requests.some((request) => request.headers['authorization'] === `Bearer ${canary}`)).toBe(
      true,
    );
    expect(await dumpAllTables(h.service.store)).not.toContain(canary);
  });
});
