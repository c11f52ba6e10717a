import { describe, expect, it } from 'vitest';
import type { AttributeValue, DecodedSpan } from '../../src/ingest/decoded-span.ts';
import { encodeDecodedSpans } from '../../src/ingest/span-to-row.ts';
import { API_CALL_COLUMNS } from '../../src/store/index.ts';

const NOW_MS = 1_763_700_001_000;

/** The span's stored row as column → TabSeparated text, or the rejection message. */
function mapSpanToRow(decoded: DecodedSpan): Record<string, string> | string {
  const encoded = encodeDecodedSpans([decoded], {
    digest: 'digest',
    receivedAtMs: NOW_MS,
    earliestMs: NOW_MS - 30 * 86_400_000,
    latestMs: NOW_MS + 3_600_000,
    retentionDays: 30,
    maxReported: 1,
  });
  if (encoded.rows === 0) return (encoded.rejections[0] ?? '').replace(/^span [^:]+: /, '');
  const fields = encoded.chunk.toString('utf8').replace(/\n$/, '').split('\t');
  return Object.fromEntries(API_CALL_COLUMNS.map((column, i) => [column, fields[i] ?? '']));
}

function span(attributes: Record<string, AttributeValue>, statusCode = 0): DecodedSpan {
  return {
    resource: { keys: ['service.name'], values: ['gw'] },
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    name: 'chat gpt-4o',
    kind: 3,
    startTimeMs: 1_763_700_000_000,
    endTimeMs: 1_763_700_000_500,
    attributes: { keys: Object.keys(attributes), values: Object.values(attributes) },
    statusCode,
    statusMessage: '',
  };
}

describe('span to row', () => {
  it('normalises raw provider headers from generic HTTP instrumentation', () => {
    const row = mapSpanToRow(
      span({
        'keypool.pool': 'p',
        'keypool.key.id': 'k',
        'gen_ai.provider.name': 'openai',
        'http.response.status_code': 429,
        'http.response.header.x-ratelimit-limit-requests': '["500"]',
        'http.response.header.x-ratelimit-remaining-requests': '["0"]',
        'http.response.header.x-ratelimit-reset-requests': '["1m30s"]',
        'http.response.header.retry-after': '["12"]',
      }),
    );
    expect(row).toMatchObject({
      outcome: 'rate_limited',
      retry_after_ms: '12000',
      rl_requests_limit: '500',
      rl_requests_remaining: '0',
      rl_requests_reset_at: String((1_763_700_000_500 + 90_000) / 1000),
    });
  });

  it('lets explicit keypool attributes win over parsed headers', () => {
    const row = mapSpanToRow(
      span({
        'keypool.pool': 'p',
        'keypool.key.id': 'k',
        'keypool.outcome': 'quota_exhausted',
        'keypool.ratelimit.requests.remaining': 7,
        'http.response.status_code': 429,
        'http.response.header.x-ratelimit-remaining-requests': '3',
        'http.response.header.x-ratelimit-limit-requests': '10',
      }),
    );
    expect(row).toMatchObject({
      outcome: 'quota_exhausted',
      rl_requests_limit: '10',
      rl_requests_remaining: '7',
    });
  });

  it('derives the outcome from the status when the producer did not classify the call', () => {
    const ok = mapSpanToRow(span({ 'keypool.pool': 'p', 'keypool.key.id': 'k' }));
    expect(ok).toMatchObject({ outcome: 'ok', partition: 'k', status_code: '0' });
    const failed = mapSpanToRow(
      span({ 'keypool.pool': 'p', 'keypool.key.id': 'k', 'http.response.status_code': 503 }),
    );
    expect(failed).toMatchObject({ outcome: 'overloaded' });
    const timedOut = mapSpanToRow(
      span({ 'keypool.pool': 'p', 'keypool.key.id': 'k', 'error.type': 'timeout' }, 2),
    );
    expect(timedOut).toMatchObject({ outcome: 'timeout' });
  });

  it('rejects spans with a message naming the attribute and what was expected', () => {
    expect(mapSpanToRow(span({ 'keypool.key.id': 'k' }))).toBe(
      'missing required attribute keypool.pool (the key pool the call was routed through)',
    );
    expect(
      mapSpanToRow(span({ 'keypool.pool': 'p', 'keypool.key.id': 'k', 'keypool.cost_usd': 'free' })),
    ).toBe('keypool.cost_usd="free" is invalid: expected a non-negative number of US dollars');
    expect(
      mapSpanToRow(
        span({ 'keypool.pool': 'p', 'keypool.key.id': 'k', 'keypool.ratelimit.tokens.reset_at_ms': -1 }),
      ),
    ).toBe(
      'keypool.ratelimit.tokens.reset_at_ms=-1 is invalid: expected epoch milliseconds (an integer from 1000000000000 to 9999999999999)',
    );
  });

  it('replaces a key id that looks like a secret with its fingerprint', () => {
    const row = mapSpanToRow(
      span({ 'keypool.pool': 'p', 'keypool.key.id': 'sk-ant-api03-' + 'a1B2'.repeat(12) }),
    );
    expect(typeof row === 'string' ? row : row['key_id']).toMatch(/^fp_[0-9a-f]{12}$/);
  });
});
