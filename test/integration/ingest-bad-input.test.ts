import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportTraceServiceResponse } from '../../src/ingest/index.ts';
import { buildRequest, encodeJson, encodeProtobuf, type SpanInput } from '../support/otlp.ts';
import { startTestService } from '../support/service.ts';

interface PartialSuccess {
  partialSuccess?: { rejectedSpans: number | string; errorMessage: string };
}

describe('one client’s bad spans never hurt another’s', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    // A long flush interval puts concurrent requests into one group commit.
    service = await startTestService({ ingest: { flushIntervalMillis: 150 } });
  });
  afterAll(async () => {
    await service.cleanup();
  });

  const post = (body: Buffer | string, contentType = 'application/x-protobuf'): Promise<Response> =>
    fetch(`${service.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': contentType } });

  const decodeProtobuf = async (response: Response): Promise<PartialSuccess> =>
    ExportTraceServiceResponse.toObject(
      ExportTraceServiceResponse.decode(new Uint8Array(await response.arrayBuffer())),
      { longs: Number },
    );

  const storedSpanIds = async (pool: string): Promise<string[]> =>
    (
      await service.store.queryRows<{ span_id: string }>(
        `SELECT span_id FROM ${service.store.database}.api_calls WHERE pool = {pool:String} ORDER BY span_id`,
        { pool },
      )
    ).map((r) => r.span_id);

  const valid = (pool: string, spanId: string): SpanInput => ({
    spanId,
    attributes: { 'keypool.pool': pool, 'keypool.key.id': 'k1', 'gen_ai.usage.input_tokens': 10 },
  });

  it('rejects spans whose times are in the wrong unit while another client’s request in the same group commit is stored', async () => {
    const nowMs = Date.now();
    const bad = buildRequest({ 'service.name': 'client-a' }, [
      valid('units-a', '00000000000000a1'),
      // Milliseconds where nanoseconds belong, microseconds too, 1970 and far in the future.
      { ...valid('units-a', '00000000000000a2'), startMs: nowMs / 1e6 },
      { ...valid('units-a', '00000000000000a3'), startMs: nowMs / 1e3 },
      { ...valid('units-a', '00000000000000a4'), startMs: 12_345 },
      { ...valid('units-a', '00000000000000a5'), startMs: nowMs + 200 * 365 * 86_400_000 },
    ]);
    const good = buildRequest({ 'service.name': 'client-b' }, [
      valid('units-b', '00000000000000b1'),
      valid('units-b', '00000000000000b2'),
    ]);
    const [badResponse, goodResponse, goodJsonResponse] = await Promise.all([
      post(encodeProtobuf(bad)),
      post(encodeProtobuf(good)),
      post(encodeJson(buildRequest({}, [valid('units-c', '00000000000000c1')])), 'application/json'),
    ]);
    expect(goodResponse.status).toBe(200);
    expect(await decodeProtobuf(goodResponse)).toEqual({});
    expect(goodJsonResponse.status).toBe(200);
    expect(await goodJsonResponse.json()).toEqual({});
    expect(badResponse.status).toBe(200);
    const { partialSuccess } = await decodeProtobuf(badResponse);
    expect(partialSuccess?.rejectedSpans).toBe(4);
    expect(partialSuccess?.errorMessage).toContain(
      'span 00000000000000a2: startTimeUnixNano reads as 1970-01-01T',
    );
    expect(partialSuccess?.errorMessage).toContain('(milliseconds sent as nanoseconds?)');
    expect(partialSuccess?.errorMessage).toContain('(microseconds sent as nanoseconds?)');
    expect(partialSuccess?.errorMessage).toContain('span 00000000000000a5: startTimeUnixNano reads as 22');
    expect(await storedSpanIds('units-a')).toEqual(['00000000000000a1']);
    expect(await storedSpanIds('units-b')).toEqual(['00000000000000b1', '00000000000000b2']);
    expect(await storedSpanIds('units-c')).toEqual(['00000000000000c1']);
  });

  it('rejects values their columns cannot hold, naming span and attribute', async () => {
    const request = buildRequest({}, [
      valid('columns', '00000000000000d1'),
      {
        spanId: '00000000000000d2',
        attributes: { ...valid('columns', '').attributes, 'http.response.status_code': 70_000 },
      },
      {
        spanId: '00000000000000d3',
        attributes: { ...valid('columns', '').attributes, 'gen_ai.usage.output_tokens': 2 ** 64 },
      },
      {
        spanId: '00000000000000d4',
        attributes: { ...valid('columns', '').attributes, 'keypool.cost_usd': Infinity },
      },
      {
        spanId: '00000000000000d5',
        attributes: { ...valid('columns', '').attributes, 'keypool.ratelimit.requests.reset_at_ms': 1e15 },
      },
      {
        spanId: '00000000000000d6',
        attributes: { ...valid('columns', '').attributes, 'gen_ai.request.model': 'x'.repeat(5000) },
      },
    ]);
    const response = await post(encodeProtobuf(request));
    expect(response.status).toBe(200);
    const { partialSuccess } = await decodeProtobuf(response);
    expect(partialSuccess?.rejectedSpans).toBe(5);
    const message = partialSuccess?.errorMessage ?? '';
    expect(message).toContain('span 00000000000000d2: http.response.status_code=70000 is invalid');
    expect(message).toMatch(/span 00000000000000d3: gen_ai.usage.output_tokens=\d+ is invalid/);
    expect(message).toContain('span 00000000000000d4: keypool.cost_usd=Infinity is invalid');
    expect(message).toContain(
      'span 00000000000000d5: keypool.ratelimit.requests.reset_at_ms=1000000000000000',
    );
    expect(message).toContain('span 00000000000000d6: gen_ai.request.model is 5000 characters long');
    expect(await storedSpanIds('columns')).toEqual(['00000000000000d1']);
  });

  it('commits everyone else’s rows when ClickHouse refuses some, and names the refused span', async () => {
    // A constraint makes ClickHouse itself refuse rows that pass headroom's own checks.
    await service.store.queryRows(
      `ALTER TABLE ${service.store.database}.api_calls ADD CONSTRAINT no_poison CHECK consumer != 'poison'`,
    );
    try {
      const mixed = buildRequest({}, [
        valid('refused-a', '00000000000000e1'),
        {
          spanId: '00000000000000e2',
          attributes: { ...valid('refused-a', '').attributes, 'keypool.consumer': 'poison' },
        },
        valid('refused-a', '00000000000000e3'),
      ]);
      const other = buildRequest({}, [valid('refused-b', '00000000000000f1')]);
      const mixedBody = encodeProtobuf(mixed);
      const [mixedResponse, otherResponse, otherJson] = await Promise.all([
        post(mixedBody),
        post(encodeProtobuf(other)),
        post(encodeJson(buildRequest({}, [valid('refused-c', '00000000000000f2')])), 'application/json'),
      ]);
      expect(otherResponse.status).toBe(200);
      expect(await decodeProtobuf(otherResponse)).toEqual({});
      expect(otherJson.status).toBe(200);
      expect(mixedResponse.status).toBe(200);
      const { partialSuccess } = await decodeProtobuf(mixedResponse);
      expect(partialSuccess?.rejectedSpans).toBe(1);
      expect(partialSuccess?.errorMessage).toMatch(
        /^1 of 3 spans rejected: span 00000000000000e2: refused by ClickHouse: .*no_poison/,
      );
      expect(await storedSpanIds('refused-a')).toEqual(['00000000000000e1', '00000000000000e3']);
      expect(await storedSpanIds('refused-b')).toEqual(['00000000000000f1']);
      expect(await storedSpanIds('refused-c')).toEqual(['00000000000000f2']);

      // The same request again (a retry after a lost response) adds nothing.
      expect((await post(mixedBody)).status).toBe(200);
      expect(await storedSpanIds('refused-a')).toEqual(['00000000000000e1', '00000000000000e3']);
    } finally {
      await service.store.queryRows(
        `ALTER TABLE ${service.store.database}.api_calls DROP CONSTRAINT no_poison`,
      );
    }
  });
});

describe('OTLP/JSON as the proto3 JSON mapping allows', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service.cleanup();
  });

  const postJson = (body: string): Promise<Response> =>
    fetch(`${service.url}/v1/traces`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });

  it('answers 400 naming the expected field when nothing in the body is an OTLP trace request', async () => {
    for (const [body, message] of [
      [
        '{"foo":1}',
        'not an OTLP trace request: expected field resourceSpans (or resource_spans) at the top level, found "foo"',
      ],
      [
        '{"resourceMetrics":[]}',
        'this is an OTLP metrics request; POST /v1/traces takes an OTLP trace request',
      ],
      [
        '{"resourceSpans":[{"scopeSpanz":[{"spans":[]}]}]}',
        'expected field scopeSpans (or scope_spans) at resourceSpans[0], found "scopeSpanz"',
      ],
    ] as const) {
      const response = await postJson(body);
      expect(response.status).toBe(400);
      const answer = (await response.json()) as { code: string; message: string; expected: string };
      expect(answer.code).toBe('HEADROOM_ERR_NOT_OTLP_TRACES');
      expect(answer.message).toContain(message);
    }
    // An empty request is a valid one.
    expect((await postJson('{}')).status).toBe(200);
    expect((await postJson('{"resourceSpans":[]}')).status).toBe(200);
  });

  it('reads original proto field names, int64 as numbers, enums as names and bytes as base64', async () => {
    const startNs = BigInt(Date.now()) * 1_000_000n;
    const body = JSON.stringify({
      resource_spans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { string_value: 'snake-gw' } }] },
          scope_spans: [
            {
              scope: { name: 'x' },
              spans: [
                {
                  trace_id: '0AF7651916CD43DD8448EB211C80319C',
                  span_id: 'b7ad6b7169203331',
                  name: 'chat gpt-4o',
                  kind: 'SPAN_KIND_CLIENT',
                  start_time_unix_nano: Number(startNs),
                  end_time_unix_nano: String(startNs + 250_000_000n),
                  status: { code: 'STATUS_CODE_OK' },
                  attributes: [
                    { key: 'keypool.pool', value: { string_value: 'snake' } },
                    { key: 'keypool.key.id', value: { stringValue: 'k1' } },
                    { key: 'gen_ai.usage.input_tokens', value: { int_value: '1200' } },
                    { key: 'gen_ai.usage.output_tokens', value: { intValue: 34 } },
                    { key: 'keypool.cost_usd', value: { double_value: 0.5 } },
                    { key: 'blob', value: { bytes_value: 'AQID' } },
                    { key: 'odd', value: { doubleValue: 'NaN' } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    const response = await postJson(body);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    const rows = await service.store.queryRows<Record<string, unknown>>(
      `SELECT trace_id, span_id, service_name, input_tokens, output_tokens, cost_usd, duration_ms
       FROM ${service.store.database}.api_calls WHERE pool = 'snake'`,
    );
    expect(rows).toEqual([
      {
        trace_id: '0af7651916cd43dd8448eb211c80319c',
        span_id: 'b7ad6b7169203331',
        service_name: 'snake-gw',
        input_tokens: 1200,
        output_tokens: 34,
        cost_usd: 0.5,
        duration_ms: 250,
      },
    ]);
  });
});
