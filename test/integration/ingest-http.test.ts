import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportTraceServiceResponse } from '../../src/ingest/index.ts';
import { buildRequest, encodeJson, encodeProtobuf } from '../support/otlp.ts';
import { startTestService } from '../support/service.ts';

const TOKEN = 'ingest-token-1';

describe('POST /v1/traces over a real port', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    service = await startTestService({
      ingest: { bodyLimitBytes: 64 * 1024, tokens: [TOKEN, 'second-token'] },
    });
  });
  afterAll(async () => {
    await service.cleanup();
  });

  const post = (body: Buffer | string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${service.url}/v1/traces`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${TOKEN}`, ...headers },
    });

  const countCalls = async (pool: string): Promise<number> => {
    const rows = await service.store.queryRows<{ n: string }>(
      `SELECT count() AS n FROM ${service.store.database}.api_calls WHERE pool = {pool:String}`,
      { pool },
    );
    return Number(rows[0]?.n);
  };

  const spans = (pool: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      attributes: { 'keypool.pool': pool, 'keypool.key.id': `key-${i % 3}`, 'gen_ai.usage.input_tokens': 10 },
    }));

  it('makes acknowledged rows readable immediately after the response', async () => {
    const response = await post(
      encodeProtobuf(buildRequest({ 'service.name': 'gw' }, spans('immediate', 25))),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-protobuf');
    const decoded = ExportTraceServiceResponse.toObject(
      ExportTraceServiceResponse.decode(new Uint8Array(await response.arrayBuffer())),
    );
    expect(decoded).toEqual({});
    expect(await countCalls('immediate')).toBe(25);
  });

  it('counts a request posted twice (a retry after a lost response) once', async () => {
    const body = encodeProtobuf(buildRequest({}, spans('retried', 10)));
    expect((await post(body)).status).toBe(200);
    expect((await post(body)).status).toBe(200);
    // Concurrent duplicates too: the second waits for the first instead of inserting again.
    const again = encodeProtobuf(buildRequest({}, spans('retried', 5)));
    const [a, b] = await Promise.all([post(again), post(again)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await countCalls('retried')).toBe(15);
    const rollup = await service.store.queryRows<{ n: string }>(
      `SELECT toString(sum(requests)) AS n FROM ${service.store.database}.usage_minute WHERE pool = 'retried'`,
    );
    expect(rollup[0]?.n).toBe('15');
  });

  it('accepts OTLP/JSON and gzip-compressed bodies', async () => {
    const json = encodeJson(buildRequest({}, spans('json-gzip', 4)));
    const response = await post(gzipSync(json), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    expect(await countCalls('json-gzip')).toBe(4);
  });

  it('rejects spans missing keypool.pool or keypool.key.id through partialSuccess and keeps the rest', async () => {
    const request = buildRequest({}, [
      { spanId: '00000000000000a1', attributes: { 'keypool.pool': 'partial', 'keypool.key.id': 'k1' } },
      { spanId: '00000000000000a2', attributes: { 'keypool.key.id': 'k1' } },
      { spanId: '00000000000000a3', attributes: { 'keypool.pool': 'partial' } },
      {
        spanId: '00000000000000a4',
        attributes: { 'keypool.pool': 'partial', 'keypool.key.id': 'k1', 'keypool.outcome': 'maybe' },
      },
      {
        spanId: '00000000000000a5',
        attributes: { 'keypool.pool': 'partial', 'keypool.key.id': 'k2', 'gen_ai.usage.input_tokens': -4 },
      },
    ]);
    const response = await post(encodeJson(request), { 'content-type': 'application/json' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      partialSuccess: { rejectedSpans: number; errorMessage: string };
    };
    expect(body.partialSuccess.rejectedSpans).toBe(4);
    expect(body.partialSuccess.errorMessage).toContain(
      'span 00000000000000a2: missing required attribute keypool.pool',
    );
    expect(body.partialSuccess.errorMessage).toContain(
      'span 00000000000000a3: missing required attribute keypool.key.id',
    );
    expect(body.partialSuccess.errorMessage).toContain('keypool.outcome="maybe" is invalid');
    expect(body.partialSuccess.errorMessage).toContain(
      'gen_ai.usage.input_tokens=-4 is invalid: expected a non-negative integer',
    );
    expect(await countCalls('partial')).toBe(1);

    const protobufResponse = await post(encodeProtobuf(request));
    const decoded = ExportTraceServiceResponse.toObject(
      ExportTraceServiceResponse.decode(new Uint8Array(await protobufResponse.arrayBuffer())),
      { longs: Number },
    ) as { partialSuccess: { rejectedSpans: number; errorMessage: string } };
    expect(decoded.partialSuccess.rejectedSpans).toBe(4);
  });

  it('never stores a key id that looks like a provider secret', async () => {
    const secret = 'sk-proj-' + 'Zx9'.repeat(16);
    await post(
      encodeProtobuf(
        buildRequest({}, [{ attributes: { 'keypool.pool': 'secretive', 'keypool.key.id': secret } }]),
      ),
    );
    const rows = await service.store.queryRows<{ key_id: string; partition: string }>(
      `SELECT key_id, partition FROM ${service.store.database}.api_calls WHERE pool = 'secretive'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.key_id).toMatch(/^fp_[0-9a-f]{12}$/);
    expect(rows[0]?.partition).toBe(rows[0]?.key_id);
  });

  it('answers 401 without a valid bearer token', async () => {
    const body = encodeProtobuf(buildRequest({}, spans('unauthorised', 1)));
    for (const authorization of [undefined, 'Bearer wrong', 'Basic aW5nZXN0']) {
      const response = await fetch(`${service.url}/v1/traces`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/x-protobuf', ...(authorization ? { authorization } : {}) },
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ code: 'HEADROOM_ERR_UNAUTHORIZED' });
    }
    expect((await post(body, { authorization: 'Bearer second-token' })).status).toBe(200);
    expect(await countCalls('unauthorised')).toBe(1);
  });

  it('answers 400 naming what was wrong for malformed protobuf, JSON and gzip', async () => {
    const bad = await post(Buffer.from([0x0a, 0xff, 0xff, 0x03, 0x01]));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      code: 'HEADROOM_ERR_MALFORMED_PAYLOAD',
      message: expect.stringMatching(/malformed protobuf ExportTraceServiceRequest/) as unknown,
    });
    const badJson = await post('{"resourceSpans": "nope"}', { 'content-type': 'application/json' });
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { message: string }).message).toBe(
      'resourceSpans: expected an array, got a string',
    );
    const badGzip = await post(Buffer.from('not gzip'), { 'content-encoding': 'gzip' });
    expect(badGzip.status).toBe(400);
    expect(((await badGzip.json()) as { message: string }).message).toMatch(/malformed gzip body/);
  });

  it('answers 413 over the body limit, compressed or not', async () => {
    const big = encodeProtobuf(buildRequest({ padding: 'x'.repeat(70 * 1024) }, spans('too-big', 1)));
    const response = await post(big);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'HEADROOM_ERR_PAYLOAD_TOO_LARGE' });
    const bomb = await post(gzipSync(big), { 'content-encoding': 'gzip' });
    expect(bomb.status).toBe(413);
    expect(await countCalls('too-big')).toBe(0);
  });

  it('answers 415 for an unsupported content type or encoding', async () => {
    const text = await post('hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({
      code: 'HEADROOM_ERR_UNSUPPORTED_MEDIA_TYPE',
      message: 'unsupported Content-Type "text/plain": expected application/x-protobuf or application/json',
    });
    const brotli = await post(encodeProtobuf(buildRequest({}, spans('br', 1))), { 'content-encoding': 'br' });
    expect(brotli.status).toBe(415);
  });

  it('reports readiness and liveness', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/headroom_ingest_duplicate_requests_total [1-9]/);
  });
});
