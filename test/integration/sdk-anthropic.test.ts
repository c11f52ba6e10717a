import { randomUUID } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { instrumentFetch } from '../../src/sdk/index.ts';
import { fingerprintKey } from '../../src/telemetry/index.ts';
import {
  ANTHROPIC_LIMITS,
  ANTHROPIC_MODEL,
  ANTHROPIC_RESPONSE_MODEL,
  ANTHROPIC_USAGE,
} from '../support/fake-provider.ts';
import { useSdkHarness } from '../support/sdk-harness.ts';

// The official Anthropic client → instrumentFetch → startTelemetry's tracer provider → OTLP protobuf →
// headroom → ClickHouse. One telemetry per file: it registers process-wide globals.

const DIMENSIONS = ['requests', 'tokens', 'input_tokens', 'output_tokens'] as const;

type StoredCall = Record<string, string | number | null>;

describe('SDK → headroom with the official Anthropic client', () => {
  const h = useSdkHarness('it-node-2');
  const canary = `sk-ant-canary-${randomUUID().replaceAll('-', '')}`;
  const pool = 'it-anthropic';

  async function flushAndRead(count: number): Promise<StoredCall[]> {
    const limits = DIMENSIONS.map(
      (dimension) =>
        `toString(rl_${dimension}_limit) AS ${dimension}_limit, toString(rl_${dimension}_remaining) AS ${dimension}_remaining,
         toString(toUnixTimestamp64Milli(rl_${dimension}_reset_at)) AS ${dimension}_reset_at_ms`,
    ).join(', ');
    const deadline = Date.now() + 10_000;
    for (;;) {
      await h.telemetry.forceFlush();
      const rows = await h.service.store.queryRows<StoredCall>(
        `SELECT span_name, key_id, provider, request_model, response_model, status_code, error_type, outcome,
                toString(input_tokens) AS input_tokens, toString(output_tokens) AS output_tokens,
                toString(cached_input_tokens) AS cached_input_tokens, toString(retry_after_ms) AS retry_after_ms, ${limits}
         FROM ${h.service.store.database}.api_calls WHERE pool = {pool:String} ORDER BY timestamp, span_id`,
        { pool },
      );
      if (rows.length >= count || Date.now() > deadline) return rows;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('stores messages, streams, in-stream errors and every retried 529 attempt', async () => {
    const client = new Anthropic({
      apiKey: canary,
      baseURL: h.fake.url,
      maxRetries: 0,
      fetch: instrumentFetch(fetch, { pool, provider: 'anthropic' }),
    });
    const params = {
      model: ANTHROPIC_MODEL,
      max_tokens: 64,
      messages: [{ role: 'user' as const, content: 'Hi' }],
    };

    const message = await client.messages.create(params);
    expect(message.usage.output_tokens).toBe(ANTHROPIC_USAGE.output_tokens);

    let text = '';
    for await (const event of await client.messages.create({ ...params, stream: true })) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    expect(text).toBe('Hello from Claude');

    await expect(
      (async () => {
        const events = await client.messages.create(
          { ...params, stream: true },
          { headers: { 'x-fake-scenario': 'error-event' } },
        );
        for await (const event of events) void event;
      })(),
    ).rejects.toBeInstanceOf(Anthropic.APIError);

    // One retry: two upstream attempts, two calls against the key's limits.
    await expect(
      client.messages.create(params, { headers: { 'x-fake-scenario': 'overloaded-retry' }, maxRetries: 1 }),
    ).rejects.toBeInstanceOf(Anthropic.InternalServerError);

    const rows = await flushAndRead(5);
    expect(rows).toHaveLength(5);
    const sent = h.fake.requests.filter((request) => request.path === '/v1/messages');
    expect(sent).toHaveLength(5);

    const totalInput = String(
      ANTHROPIC_USAGE.input_tokens +
        ANTHROPIC_USAGE.cache_read_input_tokens +
        ANTHROPIC_USAGE.cache_creation_input_tokens,
    );
    const common = {
      span_name: `chat ${ANTHROPIC_MODEL}`,
      key_id: fingerprintKey(canary),
      provider: 'anthropic',
      request_model: ANTHROPIC_MODEL,
    };
    expect(
      rows.map((row) => [row.status_code, row.outcome, row.error_type, row.input_tokens, row.output_tokens]),
    ).toStrictEqual([
      [200, 'ok', '', totalInput, String(ANTHROPIC_USAGE.output_tokens)],
      [200, 'ok', '', totalInput, String(ANTHROPIC_USAGE.output_tokens)],
      // The stream broke off with an overloaded_error event after its 200 and message_start.
      [200, 'overloaded', 'overloaded_error', totalInput, '1'],
      [529, 'overloaded', 'overloaded_error', '0', '0'],
      [529, 'overloaded', 'overloaded_error', '0', '0'],
    ]);
    rows.forEach((row, index) => {
      expect(row).toMatchObject(common);
      if (index < 3) {
        expect(row).toMatchObject({
          response_model: ANTHROPIC_RESPONSE_MODEL,
          cached_input_tokens: String(ANTHROPIC_USAGE.cache_read_input_tokens),
        });
      } else {
        expect(row['retry_after_ms']).toBe('10');
      }
      // Every dimension, with the reset instant the server sent.
      const headers = (sent[index] as (typeof sent)[number]).responseHeaders;
      for (const dimension of DIMENSIONS) {
        const bucket = ANTHROPIC_LIMITS[dimension];
        const name = dimension.replace('_', '-');
        expect(row).toMatchObject({
          [`${dimension}_limit`]: String(bucket.limit),
          [`${dimension}_remaining`]: String(bucket.remaining),
          [`${dimension}_reset_at_ms`]: String(
            Date.parse(headers[`anthropic-ratelimit-${name}-reset`] ?? ''),
          ),
        });
      }
    });
  });

  it('never lets the key leave the process or reach storage', async () => {
    expect(h.recorder.bodies.length).toBeGreaterThan(0);
    for (const body of h.recorder.bodies) expect(body.toString('latin1')).not.toContain(canary);
    // The provider did receive the key: the checks are not vacuous.
    expect(JSON.stringify(h.fake.requests.map((request) => request.headers))).toContain(canary);
    const stored = await h.service.store.queryRows(`SELECT * FROM ${h.service.store.database}.api_calls`);
    expect(stored.length).toBeGreaterThan(0);
    expect(JSON.stringify(stored)).not.toContain(canary);
  });
});
