import { describe, expect, it } from 'vitest';
import type { AttributeValue, DecodedSpan } from '../../src/ingest/decoded-span.ts';
import { mapSpanToRow } from '../../src/ingest/span-to-row.ts';

function span(attributes: Record<string, AttributeValue>, statusCode = 0): DecodedSpan {
  return {
    resource: { keys: ['service.name'], values: ['gw'] },
    traceId: 'ab',
    spanId: 'cd',
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
      'digest',
      0,
    );
    expect(row).toMatchObject({
      outcome: 'rate_limited',
      retryAfterMs: 12_000,
      rateLimits: { requests: { limit: 500, remaining: 0, resetAtMs: 1_763_700_000_500 + 90_000 } },
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
      'digest',
      0,
    );
    expect(row).toMatchObject({
      outcome: 'quota_exhausted',
      rateLimits: { requests: { limit: 10, remaining: 7 } },
    });
  });

  it('derives the outcome from the status when the producer did not classify the call', () => {
    const ok = mapSpanToRow(span({ 'keypool.pool': 'p', 'keypool.key.id': 'k' }), 'd', 0);
    expect(ok).toMatchObject({ outcome: 'ok', partition: 'k', statusCode: 0 });
    const failed = mapSpanToRow(
      span({ 'keypool.pool': 'p', 'keypool.key.id': 'k', 'http.response.status_code': 503 }),
      'd',
      0,
    );
    expect(failed).toMatchObject({ outcome: 'overloaded' });
    const timedOut = mapSpanToRow(
      span({ 'keypool.pool': 'p', 'keypool.key.id': 'k', 'error.type': 'timeout' }, 2),
      'd',
      0,
    );
    expect(timedOut).toMatchObject({ outcome: 'timeout' });
  });

  it('rejects spans with a message naming the attribute and what was expected', () => {
    expect(mapSpanToRow(span({ 'keypool.key.id': 'k' }), 'd', 0)).toBe(
      'missing required attribute keypool.pool (the key pool the call was routed through)',
    );
    expect(
      mapSpanToRow(span({ 'keypool.pool': 'p', 'keypool.key.id': 'k', 'keypool.cost_usd': 'free' }), 'd', 0),
    ).toBe('keypool.cost_usd="free" is invalid: expected a non-negative number of US dollars');
    expect(
      mapSpanToRow(
        span({ 'keypool.pool': 'p', 'keypool.key.id': 'k', 'keypool.ratelimit.tokens.reset_at_ms': -1 }),
        'd',
        0,
      ),
    ).toBe(
      'keypool.ratelimit.tokens.reset_at_ms=-1 is invalid: expected epoch milliseconds as a non-negative integer',
    );
  });

  it('replaces a key id that looks like a secret with its fingerprint', () => {
    const row = mapSpanToRow(
      span({ 'keypool.pool': 'p', 'keypool.key.id': 'sk-ant-api03-' + 'a1B2'.repeat(12) }),
      'd',
      0,
    );
    expect(typeof row === 'string' ? row : row.keyId).toMatch(/^fp_[0-9a-f]{12}$/);
  });
});
