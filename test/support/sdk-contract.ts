import { SpanKind, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.ts';
import { startTestService } from './service.ts';
import type { StoredCallColumns } from './stored-call.ts';

/** Sends two spans carrying the whole span contract through the real OpenTelemetry Node SDK. */
export async function sendContractSpans(exporter: SpanExporter, pool: string, baseMs: number): Promise<void> {
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'gateway', 'service.instance.id': 'gw-node-1' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    instrumentations: [],
    // Traces only: without these the SDK also starts OTLP metrics and logs exporters from defaults.
    metricReaders: [],
    logRecordProcessors: [],
    autoDetectResources: false,
  });
  sdk.start();
  try {
    const tracer = trace.getTracer('headroom-contract-test');
    const ok = tracer.startSpan('chat gpt-4o-mini', {
      kind: SpanKind.CLIENT,
      startTime: baseMs + 1_000,
      attributes: {
        'gen_ai.provider.name': 'openai',
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
        'gen_ai.usage.input_tokens': 1500,
        'gen_ai.usage.output_tokens': 320,
        'gen_ai.usage.cache_read.input_tokens': 200,
        'http.response.status_code': 200,
        'server.address': 'api.openai.com',
        'keypool.pool': pool,
        'keypool.key.id': 'key-a',
        'keypool.partition': 'org-1',
        'keypool.outcome': 'ok',
        'keypool.consumer': 'search-app',
        'keypool.cost_usd': 0.0042,
        'keypool.ratelimit.requests.limit': 10_000,
        'keypool.ratelimit.requests.remaining': 9_990,
        'keypool.ratelimit.requests.reset_at_ms': baseMs + 7_000,
        'keypool.ratelimit.tokens.limit': 2_000_000,
        'keypool.ratelimit.tokens.remaining': 1_990_000,
        'keypool.ratelimit.tokens.reset_at_ms': baseMs + 31_000,
        'keypool.ratelimit.input_tokens.limit': 1_600_000,
        'keypool.ratelimit.input_tokens.remaining': 1_598_500,
        'keypool.ratelimit.input_tokens.reset_at_ms': baseMs + 32_000,
        'keypool.ratelimit.output_tokens.limit': 400_000,
        'keypool.ratelimit.output_tokens.remaining': 399_680,
        'keypool.ratelimit.output_tokens.reset_at_ms': baseMs + 33_000,
      },
    });
    ok.end(baseMs + 1_250);
    const limited = tracer.startSpan('chat gpt-4o-mini', {
      kind: SpanKind.CLIENT,
      startTime: baseMs + 2_000,
      attributes: {
        'gen_ai.system': 'openai',
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'gpt-4o-mini',
        'http.response.status_code': 429,
        'error.type': '429',
        'keypool.pool': pool,
        'keypool.key.id': 'key-a',
        'keypool.partition': 'org-1',
        'keypool.outcome': 'rate_limited',
        'keypool.retry_after_ms': 1_500,
        'keypool.ratelimit.requests.remaining': 0,
      },
    });
    limited.end(baseMs + 2_040);
  } finally {
    await sdk.shutdown();
  }
}

interface StoredCall extends StoredCallColumns {
  ts_ms: string;
  duration_ms: number;
  trace_id: string;
  span_id: string;
  pool: string;
  rl: Array<string | null>;
}

/** Reads back what {@link sendContractSpans} sent and asserts every stored field, raw and rolled up. */
export async function expectContractStored(store: Store, pool: string, baseMs: number): Promise<void> {
  const db = store.database;
  const rows = await store.queryRows<StoredCall>(
    `SELECT toString(toUnixTimestamp64Milli(timestamp)) AS ts_ms, duration_ms, trace_id, span_id, span_name,
            service_name, gateway_node, pool, key_id, partition, consumer, provider, operation, request_model,
            response_model, server_address, status_code, error_type, outcome, toString(input_tokens) AS input_tokens,
            toString(output_tokens) AS output_tokens, toString(cached_input_tokens) AS cached_input_tokens, cost_usd,
            toString(retry_after_ms) AS retry_after_ms,
            [toString(rl_requests_limit), toString(rl_requests_remaining), toString(toUnixTimestamp64Milli(rl_requests_reset_at)),
             toString(rl_tokens_limit), toString(rl_tokens_remaining), toString(toUnixTimestamp64Milli(rl_tokens_reset_at)),
             toString(rl_input_tokens_limit), toString(rl_input_tokens_remaining), toString(toUnixTimestamp64Milli(rl_input_tokens_reset_at)),
             toString(rl_output_tokens_limit), toString(rl_output_tokens_remaining), toString(toUnixTimestamp64Milli(rl_output_tokens_reset_at))] AS rl
     FROM ${db}.api_calls WHERE pool = {pool:String} ORDER BY timestamp`,
    { pool },
  );
  expect(rows).toHaveLength(2);
  const [ok, limited] = rows as [StoredCall, StoredCall];
  expect(ok.trace_id).toMatch(/^[0-9a-f]{32}$/);
  expect(ok.span_id).toMatch(/^[0-9a-f]{16}$/);
  expect(ok).toMatchObject({
    ts_ms: String(baseMs + 1_000),
    duration_ms: 250,
    span_name: 'chat gpt-4o-mini',
    service_name: 'gateway',
    gateway_node: 'gw-node-1',
    pool,
    key_id: 'key-a',
    partition: 'org-1',
    consumer: 'search-app',
    provider: 'openai',
    operation: 'chat',
    request_model: 'gpt-4o-mini',
    response_model: 'gpt-4o-mini-2024-07-18',
    server_address: 'api.openai.com',
    status_code: 200,
    error_type: '',
    outcome: 'ok',
    input_tokens: '1500',
    output_tokens: '320',
    cached_input_tokens: '200',
    cost_usd: 0.0042,
    retry_after_ms: null,
    rl: [
      '10000',
      '9990',
      String(baseMs + 7_000),
      '2000000',
      '1990000',
      String(baseMs + 31_000),
      '1600000',
      '1598500',
      String(baseMs + 32_000),
      '400000',
      '399680',
      String(baseMs + 33_000),
    ],
  });
  expect(limited).toMatchObject({
    ts_ms: String(baseMs + 2_000),
    duration_ms: 40,
    provider: 'openai',
    status_code: 429,
    error_type: '429',
    outcome: 'rate_limited',
    input_tokens: '0',
    cost_usd: null,
    retry_after_ms: '1500',
    rl: [null, '0', null, null, null, null, null, null, null, null, null, null],
  });

  const rollup = await store.queryRows<Record<string, string | number | null>>(
    `SELECT toString(toUnixTimestamp(minute) * 1000) AS minute_ms, key_id, partition, provider, model,
            toString(sum(requests)) AS requests, toString(sum(input_tokens)) AS input_tokens,
            toString(sum(output_tokens)) AS output_tokens, toString(sum(cached_input_tokens)) AS cached_input_tokens,
            round(sum(cost_usd), 6) AS cost_usd, toString(sum(ok)) AS ok, toString(sum(rate_limited)) AS rate_limited,
            toString(argMaxMerge(rl_requests_limit)) AS requests_limit,
            toString(argMaxMerge(rl_requests_remaining)) AS requests_remaining,
            toString(argMaxMerge(rl_tokens_remaining)) AS tokens_remaining
     FROM ${db}.usage_minute WHERE pool = {pool:String}
     GROUP BY minute, key_id, partition, provider, model ORDER BY model`,
    { pool },
  );
  const minuteMs = String(Math.floor((baseMs + 1_000) / 60_000) * 60_000);
  expect(rollup).toEqual([
    {
      minute_ms: minuteMs,
      key_id: 'key-a',
      partition: 'org-1',
      provider: 'openai',
      model: 'gpt-4o-mini',
      requests: '1',
      input_tokens: '0',
      output_tokens: '0',
      cached_input_tokens: '0',
      cost_usd: 0,
      ok: '0',
      rate_limited: '1',
      requests_limit: null,
      requests_remaining: '0',
      tokens_remaining: null,
    },
    {
      minute_ms: minuteMs,
      key_id: 'key-a',
      partition: 'org-1',
      provider: 'openai',
      model: 'gpt-4o-mini-2024-07-18',
      requests: '1',
      input_tokens: '1500',
      output_tokens: '320',
      cached_input_tokens: '200',
      cost_usd: 0.0042,
      ok: '1',
      rate_limited: '0',
      requests_limit: '10000',
      requests_remaining: '9990',
      tokens_remaining: '1990000',
    },
  ]);

  const latest = await store.queryRows<Record<string, string | null>>(
    `SELECT dimension, toString(limit) AS limit, toString(remaining) AS remaining,
            toString(toUnixTimestamp64Milli(reset_at)) AS reset_at_ms
     FROM ${db}.ratelimit_latest WHERE pool = {pool:String} AND key_id = 'key-a' ORDER BY dimension`,
    { pool },
  );
  expect(latest).toEqual([
    {
      dimension: 'input_tokens',
      limit: '1600000',
      remaining: '1598500',
      reset_at_ms: String(baseMs + 32_000),
    },
    {
      dimension: 'output_tokens',
      limit: '400000',
      remaining: '399680',
      reset_at_ms: String(baseMs + 33_000),
    },
    // The 429 reported only requests.remaining = 0: it is the latest remaining; the limit and reset
    // reported before it still stand.
    { dimension: 'requests', limit: '10000', remaining: '0', reset_at_ms: String(baseMs + 7_000) },
    { dimension: 'tokens', limit: '2000000', remaining: '1990000', reset_at_ms: String(baseMs + 31_000) },
  ]);
}

/** The whole contract round trip for one exporter: real SDK → real port → ClickHouse → assertions. */
export function describeSdkContract(label: string, makeExporter: (url: string) => SpanExporter): void {
  describe(`OpenTelemetry SDK → ${label} → ClickHouse`, () => {
    let service: Awaited<ReturnType<typeof startTestService>>;
    beforeAll(async () => {
      service = await startTestService();
    });
    afterAll(async () => {
      await service.cleanup();
    });

    it('stores every attribute of the span contract and rolls it up per minute', async () => {
      const pool = `pool-${label.replace(/\W+/g, '-').toLowerCase()}`;
      const baseMs = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
      await sendContractSpans(makeExporter(`${service.url}/v1/traces`), pool, baseMs);
      await expectContractStored(service.store, pool, baseMs);
    });
  });
}
