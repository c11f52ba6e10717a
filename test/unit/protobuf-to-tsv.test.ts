import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeExportRequestProtobuf } from '../../src/ingest/decode-protobuf.ts';
import { encodeProtobufRequestRows } from '../../src/ingest/protobuf-to-tsv.ts';
import type { RowContext } from '../../src/ingest/span-row.ts';
import { encodeDecodedSpans } from '../../src/ingest/span-to-row.ts';
import { buildRequest, encodeProtobuf, type SpanInput } from '../support/otlp.ts';

const START_MS = 1_763_700_000_123;
const RECEIVED_AT_MS = 1_763_700_001_234.5;

function context(digest: string, maxReported = 100): RowContext {
  return {
    digest,
    receivedAtMs: RECEIVED_AT_MS,
    earliestMs: RECEIVED_AT_MS - 30 * 86_400_000,
    latestMs: RECEIVED_AT_MS + 3_600_000,
    retentionDays: 30,
    maxReported,
  };
}

/** What the decoded-span path (decodeExportRequestProtobuf → row builder) makes of a request. */
function encodeGeneric(body: Buffer, digest: string): { tsv: string; rows: number; rejections: string[] } {
  const encoded = encodeDecodedSpans(decodeExportRequestProtobuf(body), context(digest));
  return { tsv: encoded.chunk.toString('utf8'), rows: encoded.rows, rejections: encoded.rejections };
}

function span(attributes: SpanInput['attributes'], extra: Partial<SpanInput> = {}): SpanInput {
  return { startMs: START_MS, durationMs: 250, ...extra, attributes };
}

const key = { 'keypool.pool': 'prod', 'keypool.key.id': 'key-a' };

const spans: SpanInput[] = [
  span(
    {
      ...key,
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o\twith\ttabs\nand\\backslash\r',
      'gen_ai.response.model': 'modèle-ünïcödé-🙂',
      'keypool.consumer': 'tenant\\1',
      'keypool.outcome': 'ok',
      'gen_ai.usage.input_tokens': 1200,
      'gen_ai.usage.output_tokens': 12.6,
      'gen_ai.usage.cache_read.input_tokens': '  300 ',
      'keypool.cost_usd': '0.25',
      'keypool.retry_after_ms': ' 1200 ',
      'keypool.ratelimit.tokens.limit': 2_000_000,
      'keypool.ratelimit.tokens.remaining': '1999000',
      'keypool.ratelimit.tokens.reset_at_ms': START_MS + 30_000.5,
      'something.else': true,
      'another.number': -7,
    },
    { name: 'chat\tgpt-4o\n' },
  ),
  // Raw headers from generic HTTP instrumentation, no outcome: normaliseResponse decides.
  span({
    'keypool.pool': '  spaced pool  ',
    'keypool.key.id': 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789',
    'gen_ai.system': 'openai',
    'http.response.status_code': 429,
    'http.response.header.x-ratelimit-limit-requests': '["500"]',
    'http.response.header.x-ratelimit-remaining-requests': '["0"]',
    'http.response.header.x-ratelimit-reset-requests': '["1m30s"]',
    'http.response.header.retry-after': '12',
    'keypool.ratelimit.requests.remaining': 7,
  }),
  span({ ...key, 'error.type': 'timeout', 'keypool.partition': ' org-1', 'service.name': 'span-level' }),
  span({
    ...key,
    'keypool.key.id': 'ABCDEFGHIJ0123456789abcdefghij0123456789xyz',
    'gen_ai.usage.input_tokens': 0,
  }),
  span({ ...key, 'keypool.key.id': 'fp_0123456789ab' }),
  span({ ...key, 'keypool.pool': '\u00a0nbsp\u00a0', 'keypool.partition': 'p\u2028' }),
  // Rejected, each with the row builder's message.
  span({ ...key, 'gen_ai.usage.input_tokens': -5 }),
  span({ ...key, 'gen_ai.usage.output_tokens': 2 ** 60 }),
  span({ ...key, 'gen_ai.usage.input_tokens': true }),
  span({ ...key, 'http.response.status_code': 1000 }),
  span({ ...key, 'keypool.cost_usd': 'free' }),
  span({ ...key, 'keypool.ratelimit.requests.reset_at_ms': 'soon' }),
  span({ ...key, 'keypool.outcome': 'exploded' }),
  span({ 'keypool.key.id': 'k' }),
  span({ 'keypool.pool': 'p', 'keypool.key.id': '   ' }),
  span({ ...key }, { startMs: 0 }),
  span({ ...key, 'gen_ai.usage.input_tokens': 'x' }, { spanId: '' }),
  // Values their columns cannot hold.
  span({ ...key }, { startMs: START_MS / 1e6 }),
  span({ ...key }, { startMs: START_MS + 400 * 86_400_000 }),
  span({ ...key, 'keypool.ratelimit.tokens.reset_at_ms': 1_763_700_060 }),
  span({ ...key, 'gen_ai.request.model': 'm'.repeat(1025) }),
  span({ ...key }, { name: 'n'.repeat(2000) }),
  span({ ...key }, { spanId: '0102' }),
  span({ ...key, 'http.response.header.retry-after': '9'.repeat(9000) }),
];

function request(): Buffer {
  return encodeProtobuf(
    buildRequest(
      { 'service.name': 'gate\tway', 'service.instance.id': 'nœud-7', 'telemetry.sdk.language': 'nodejs' },
      spans,
    ),
  );
}

function digestOf(body: Buffer): string {
  return createHash('sha256').update('protobuf').update(body).digest('hex').slice(0, 32);
}

describe('protobuf to TabSeparated in one pass', () => {
  it('encodes exactly the rows and rejections of the generic path', () => {
    const body = request();
    const digest = digestOf(body);
    const generic = encodeGeneric(body, digest);
    const fast = encodeProtobufRequestRows(body, context(digest));
    expect(fast).toBeDefined();
    expect(fast?.spanCount).toBe(spans.length);
    expect(fast?.rows).toBe(generic.rows);
    expect(fast?.rejectedSpans).toBe(generic.rejections.length);
    expect(fast?.rejections).toEqual(generic.rejections);
    expect(fast?.chunk.toString('utf8')).toBe(generic.tsv);
    expect(fast?.chunk.equals(Buffer.from(generic.tsv))).toBe(true);
    // The comparison is only worth something if the request exercised what it claims to.
    expect(generic.rows).toBe(6);
    expect(generic.tsv).toContain('chat\\tgpt-4o\\n\tgate\\tway\tnœud-7');
    expect(generic.tsv).toContain('modèle-ünïcödé-🙂');
    expect(generic.tsv).toContain('\tspaced pool\tfp_');
    expect(generic.tsv).toContain('\trate_limited\t');
    const reasons = generic.rejections.join('\n');
    expect(reasons).toMatch(
      /startTimeUnixNano reads as 1970-01-01T00:29:23\.700Z: .*\(milliseconds sent as nanoseconds\?\)/,
    );
    expect(reasons).toMatch(/startTimeUnixNano reads as 2026-12-26T.*at most 60 minutes ahead/);
    expect(reasons).toContain(
      'keypool.ratelimit.tokens.reset_at_ms=1763700060 is invalid: expected epoch milliseconds',
    );
    expect(reasons).toContain('gen_ai.request.model is 1025 characters long: expected at most 1024');
    expect(reasons).toContain('name is 2000 characters long: expected at most 1024');
    expect(reasons).toContain('spanId is 2 bytes long: expected 8 bytes (or none)');
    expect(reasons).toContain(
      'http.response.header.retry-after is 9000 characters long: expected at most 8192',
    );
  });

  it('decodes invalid UTF-8 as the generic path does', () => {
    const body = request();
    const marker = Buffer.from('tenant\\1');
    const at = body.indexOf(marker);
    body[at + 1] = 0xff;
    body[at + 2] = 0xc3;
    const digest = digestOf(body);
    const generic = encodeGeneric(body, digest);
    expect(generic.tsv).toContain('\ufffd');
    expect(encodeProtobufRequestRows(body, context(digest))?.chunk.toString('utf8')).toBe(generic.tsv);
  });

  it('keeps the requested number of rejection messages', () => {
    const body = request();
    expect(encodeProtobufRequestRows(body, context(digestOf(body), 5))?.rejections).toHaveLength(5);
  });

  it('declines a malformed request so the generic path can describe it', () => {
    const body = request();
    expect(encodeProtobufRequestRows(body.subarray(0, body.length - 7), context('d', 5))).toBeUndefined();
    expect(
      encodeProtobufRequestRows(Buffer.from('this is not protobuf at all'), context('d', 5)),
    ).toBeUndefined();
  });
});
