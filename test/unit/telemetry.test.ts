import { describe, expect, it } from 'vitest';
import {
  fingerprintKey,
  normaliseResponse,
  parseGoDuration,
  parseRetryAfter,
  type ResponseFacts,
} from '../../src/telemetry/index.ts';

const NOW_MS = Date.UTC(2025, 0, 15, 14, 23, 0); // 2025-01-15T14:23:00Z

function normalise(facts: Omit<ResponseFacts, 'nowMs'> & { nowMs?: number }) {
  return normaliseResponse({ nowMs: NOW_MS, ...facts });
}

describe('parseGoDuration', () => {
  it.each([
    ['6m0s', 360_000],
    ['2m59.56s', 179_560],
    ['7.66s', 7_660],
    ['12ms', 12],
    ['1h2m3s', 3_723_000],
    ['500us', 0.5],
    ['500\u00b5s', 0.5],
    ['500\u03bcs', 0.5],
    ['1500000ns', 1.5],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['1.s', 1_000],
    ['0', 0],
    ['0s', 0],
    ['+3s', 3_000],
    [' 6s ', 6_000],
  ])('parses %j as %d ms', (text, expectedMs) => {
    expect(parseGoDuration(text)).toBe(expectedMs);
  });

  it.each(['', 'abc', '1', '5x', 's', '.s', '-1s', '1s2', '1 s', 'NaN', '1e3s', '6m0s;'])(
    'rejects %j',
    (text) => {
      expect(parseGoDuration(text)).toBeUndefined();
    },
  );
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds as milliseconds', () => {
    expect(parseRetryAfter('120', NOW_MS)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW_MS)).toBe(0);
    expect(parseRetryAfter('1.5', NOW_MS)).toBe(1_500);
  });

  it('reads all three HTTP-date forms relative to nowMs', () => {
    expect(parseRetryAfter('Wed, 15 Jan 2025 14:24:30 GMT', NOW_MS)).toBe(90_000);
    expect(parseRetryAfter('Wednesday, 15-Jan-25 14:24:30 GMT', NOW_MS)).toBe(90_000);
    expect(parseRetryAfter('Wed Jan 15 14:24:30 2025', NOW_MS)).toBe(90_000);
    expect(parseRetryAfter('Sat Feb  1 00:00:00 2025', NOW_MS)).toBe(Date.UTC(2025, 1, 1) - NOW_MS);
  });

  it('never returns a negative wait for a date in the past', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW_MS)).toBe(0);
  });

  it.each([
    'soon',
    '-5',
    '1e3',
    '',
    'Wed, 31 Feb 2025 14:24:30 GMT',
    'Wed, 15 Jan 2025 25:00:00 GMT',
    '2025-01-15',
  ])('ignores %j', (value) => {
    expect(parseRetryAfter(value, NOW_MS)).toBeUndefined();
  });
});

describe('fingerprintKey', () => {
  it('is fp_ plus the first 12 hex characters of SHA-256', () => {
    // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2 test vector)
    expect(fingerprintKey('abc')).toBe('fp_ba7816bf8f01');
  });

  it('is stable and distinguishes keys', () => {
    const key = 'sk-proj-0123456789abcdef';
    expect(fingerprintKey(key)).toBe(fingerprintKey(key));
    expect(fingerprintKey(key)).toMatch(/^fp_[0-9a-f]{12}$/);
    expect(fingerprintKey(key)).not.toBe(fingerprintKey(`${key}x`));
  });
});

describe('OpenAI headers', () => {
  const headers = {
    'x-ratelimit-limit-requests': '5000',
    'x-ratelimit-remaining-requests': '4999',
    'x-ratelimit-reset-requests': '12ms',
    'x-ratelimit-limit-tokens': '160000',
    'x-ratelimit-remaining-tokens': '159976',
    'x-ratelimit-reset-tokens': '6m0s',
  };

  it('normalises both buckets with absolute resets', () => {
    expect(normalise({ provider: 'openai', statusCode: 200, headers })).toStrictEqual({
      outcome: 'ok',
      rateLimits: {
        requests: { limit: 5000, remaining: 4999, resetAtMs: NOW_MS + 12 },
        tokens: { limit: 160_000, remaining: 159_976, resetAtMs: NOW_MS + 360_000 },
      },
    });
  });

  it('reads a fetch Headers object the same way', () => {
    expect(
      normalise({ provider: 'openai', statusCode: 200, headers: new Headers(headers) }).rateLimits,
    ).toStrictEqual({
      requests: { limit: 5000, remaining: 4999, resetAtMs: NOW_MS + 12 },
      tokens: { limit: 160_000, remaining: 159_976, resetAtMs: NOW_MS + 360_000 },
    });
  });

  it('ignores garbled values one by one and never guesses', () => {
    const result = normalise({
      provider: 'openai',
      statusCode: 200,
      headers: {
        'x-ratelimit-limit-requests': '-5',
        'x-ratelimit-remaining-requests': 'abc',
        'x-ratelimit-reset-requests': 'soon',
        'x-ratelimit-limit-tokens': '1e5',
        'x-ratelimit-remaining-tokens': '12.5',
        'x-ratelimit-reset-tokens': '2m59.56s',
      },
    });
    expect(result.rateLimits).toStrictEqual({ tokens: { resetAtMs: NOW_MS + 179_560 } });
  });

  it('classifies a 429 rate limit with its Retry-After', () => {
    expect(
      normalise({
        provider: 'openai',
        statusCode: 429,
        headers: { 'retry-after': '20', 'x-ratelimit-remaining-requests': '0' },
        body: {
          error: {
            message:
              'Rate limit reached for gpt-4o on requests per min (RPM): Limit 500, Used 500, Requested 1.',
            type: 'requests',
            param: null,
            code: 'rate_limit_exceeded',
          },
        },
      }),
    ).toStrictEqual({
      outcome: 'rate_limited',
      rateLimits: { requests: { remaining: 0 } },
      retryAfterMs: 20_000,
    });
  });

  it.each([
    ['insufficient_quota', 'insufficient_quota'],
    ['insufficient_quota', 'credit_balance_exhausted'],
    ['insufficient_quota', 'organization_usage_limit_exceeded'],
    ['insufficient_quota', 'organization_spend_limit_exceeded'],
    ['insufficient_quota', 'project_spend_limit_exceeded'],
    ['invalid_request_error', 'insufficient_quota'],
    ['insufficient_quota', null],
  ])('classifies a 429 with type %s and code %s as quota_exhausted', (type, code) => {
    const body = { error: { message: 'You exceeded your current quota.', type, param: null, code } };
    expect(normalise({ provider: 'openai', statusCode: 429, body }).outcome).toBe('quota_exhausted');
  });

  it('classifies the Images API billing hard limit (a 400) as quota_exhausted', () => {
    const body = {
      error: {
        code: 'billing_hard_limit_reached',
        message: 'Billing hard limit has been reached',
        param: null,
        type: 'invalid_request_error',
      },
    };
    expect(normalise({ provider: 'openai', statusCode: 400, body }).outcome).toBe('quota_exhausted');
  });

  it('reads the error body from raw JSON text and from an SDK-unwrapped error object', () => {
    const text =
      '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}';
    expect(normalise({ provider: 'openai', statusCode: 429, body: text }).outcome).toBe('quota_exhausted');
    expect(
      normalise({ provider: 'openai', statusCode: 429, body: { code: 'insufficient_quota' } }).outcome,
    ).toBe('quota_exhausted');
    expect(normalise({ provider: 'openai', statusCode: 429, body: 'Too Many Requests' }).outcome).toBe(
      'rate_limited',
    );
    expect(normalise({ provider: 'openai', statusCode: 429, body: '{"error": truncated' }).outcome).toBe(
      'rate_limited',
    );
  });

  it('does not turn a successful call into quota_exhausted', () => {
    expect(
      normalise({ provider: 'openai', statusCode: 200, body: { error: { code: 'insufficient_quota' } } })
        .outcome,
    ).toBe('ok');
  });
});

describe('Azure OpenAI headers', () => {
  it('drops a dimension reported as -1 / 0 (unknown) and keeps the valid one', () => {
    const result = normalise({
      provider: 'azure.ai.openai',
      statusCode: 200,
      headers: {
        'x-ratelimit-limit-tokens': '-1',
        'x-ratelimit-remaining-tokens': '-1',
        'x-ratelimit-reset-tokens': '0',
        'x-ratelimit-limit-requests': '0',
        'x-ratelimit-remaining-requests': '0',
      },
    });
    expect(result).toStrictEqual({ outcome: 'ok', rateLimits: {} });
  });

  it('reads remaining-only headers and resets given as plain seconds', () => {
    const result = normalise({
      provider: 'az.ai.openai',
      statusCode: 200,
      headers: {
        'x-ratelimit-remaining-requests': '59',
        'x-ratelimit-remaining-tokens': '89000',
        'x-ratelimit-reset-tokens': '60',
        'x-ratelimit-reset-requests': '0',
      },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { remaining: 59 },
      tokens: { remaining: 89_000, resetAtMs: NOW_MS + 60_000 },
    });
  });

  it('prefers retry-after-ms, then x-ms-retry-after-ms, then retry-after', () => {
    const retryAfter = (headers: Record<string, string>) =>
      normalise({ provider: 'azure_openai', statusCode: 429, headers }).retryAfterMs;
    expect(
      retryAfter({ 'retry-after-ms': '1500.5', 'x-ms-retry-after-ms': '9000', 'retry-after': '9' }),
    ).toBe(1501);
    expect(retryAfter({ 'x-ms-retry-after-ms': '9000', 'retry-after': '2' })).toBe(9000);
    expect(retryAfter({ 'retry-after-ms': 'later', 'retry-after': '2' })).toBe(2000);
    expect(retryAfter({ 'retry-after': 'Wed, 15 Jan 2025 14:23:05 GMT' })).toBe(5000);
  });

  it('reads a wait only from a failed call: Retry-After on a success or redirect is not a rate limit', () => {
    const headers = { 'retry-after-ms': '1500', 'retry-after': '9' };
    expect(normalise({ provider: 'openai', statusCode: 200, headers }).retryAfterMs).toBeUndefined();
    expect(normalise({ provider: 'openai', statusCode: 301, headers }).retryAfterMs).toBeUndefined();
    expect(normalise({ provider: 'openai', statusCode: 503, headers }).retryAfterMs).toBe(1500);
    expect(normalise({ provider: 'openai', headers, errorType: 'timeout' }).retryAfterMs).toBe(1500);
  });

  it('classifies a 429 as rate_limited', () => {
    const body = {
      error: { code: '429', message: 'Requests to the ChatCompletions_Create Operation ... have exceeded' },
    };
    expect(normalise({ provider: 'azure.ai.openai', statusCode: 429, body }).outcome).toBe('rate_limited');
  });
});

describe('Anthropic headers', () => {
  const headers = {
    'anthropic-ratelimit-requests-limit': '4000',
    'anthropic-ratelimit-requests-remaining': '3999',
    'anthropic-ratelimit-requests-reset': '2025-01-15T14:23:01Z',
    'anthropic-ratelimit-tokens-limit': '480000',
    'anthropic-ratelimit-tokens-remaining': '479000',
    'anthropic-ratelimit-tokens-reset': '2025-01-15T14:23:00.250Z',
    'anthropic-ratelimit-input-tokens-limit': '400000',
    'anthropic-ratelimit-input-tokens-remaining': '400000',
    'anthropic-ratelimit-input-tokens-reset': '2025-01-15T15:23:00+01:00',
    'anthropic-ratelimit-output-tokens-limit': '80000',
    'anthropic-ratelimit-output-tokens-remaining': '79000',
    'anthropic-ratelimit-output-tokens-reset': '2025-01-15T06:24:00-08:00',
  };

  it('normalises all four dimensions with RFC 3339 resets', () => {
    expect(normalise({ provider: 'anthropic', statusCode: 200, headers }).rateLimits).toStrictEqual({
      requests: { limit: 4000, remaining: 3999, resetAtMs: NOW_MS + 1_000 },
      tokens: { limit: 480_000, remaining: 479_000, resetAtMs: NOW_MS + 250 },
      input_tokens: { limit: 400_000, remaining: 400_000, resetAtMs: NOW_MS },
      output_tokens: { limit: 80_000, remaining: 79_000, resetAtMs: NOW_MS + 60_000 },
    });
  });

  it('ignores resets that are not RFC 3339', () => {
    const result = normalise({
      provider: 'anthropic',
      statusCode: 200,
      headers: {
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': '1736951000',
        'anthropic-ratelimit-tokens-remaining': '10',
        'anthropic-ratelimit-tokens-reset': '2025-02-30T00:00:00Z',
      },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 50, remaining: 0 },
      tokens: { remaining: 10 },
    });
  });

  it('classifies a 429 rate_limit_error with retry-after seconds', () => {
    const result = normalise({
      provider: 'anthropic',
      statusCode: 429,
      headers: { 'retry-after': '17' },
      body: {
        type: 'error',
        error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded...' },
      },
    });
    expect(result).toStrictEqual({ outcome: 'rate_limited', rateLimits: {}, retryAfterMs: 17_000 });
  });

  it('classifies the enforced monthly spend limit as quota_exhausted', () => {
    const body = {
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: 'You have reached your usage tier spend limit.',
        details: { error_code: 'enforced_spend_limit_reached' },
      },
    };
    expect(normalise({ provider: 'anthropic', statusCode: 429, body }).outcome).toBe('quota_exhausted');
  });

  it('classifies credit and spend-limit 400s and 402 billing_error as quota_exhausted', () => {
    const credit = {
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing.',
      },
    };
    const workspace = {
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message:
          'You have reached your specified workspace API usage limits. You will regain access on 2025-02-01.',
      },
    };
    const billing = { type: 'error', error: { type: 'billing_error', message: 'Billing error' } };
    expect(normalise({ provider: 'anthropic', statusCode: 400, body: credit }).outcome).toBe(
      'quota_exhausted',
    );
    expect(normalise({ provider: 'anthropic', statusCode: 400, body: workspace }).outcome).toBe(
      'quota_exhausted',
    );
    expect(normalise({ provider: 'anthropic', statusCode: 402, body: billing }).outcome).toBe(
      'quota_exhausted',
    );
    const invalid = {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'max_tokens: Field required' },
    };
    expect(normalise({ provider: 'anthropic', statusCode: 400, body: invalid }).outcome).toBe('client_error');
  });

  it('classifies 529 and overloaded_error as overloaded, even mid-stream without a status', () => {
    const body = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    expect(normalise({ provider: 'anthropic', statusCode: 529, body }).outcome).toBe('overloaded');
    expect(normalise({ provider: 'anthropic', statusCode: 529 }).outcome).toBe('overloaded');
    expect(normalise({ provider: 'anthropic', body }).outcome).toBe('overloaded');
    expect(normalise({ provider: 'anthropic', statusCode: 200, body }).outcome).toBe('overloaded');
  });
});

describe('Groq headers', () => {
  it('reads requests per day and tokens per minute with fractional Go-duration resets', () => {
    const result = normalise({
      provider: 'groq',
      statusCode: 200,
      headers: {
        'x-ratelimit-limit-requests': '14400',
        'x-ratelimit-limit-tokens': '18000',
        'x-ratelimit-remaining-requests': '14370',
        'x-ratelimit-remaining-tokens': '17997',
        'x-ratelimit-reset-requests': '2m59.56s',
        'x-ratelimit-reset-tokens': '7.66s',
      },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 14_400, remaining: 14_370, resetAtMs: NOW_MS + 179_560 },
      tokens: { limit: 18_000, remaining: 17_997, resetAtMs: NOW_MS + 7_660 },
    });
  });

  it('classifies a 429 with retry-after', () => {
    const result = normalise({
      provider: 'groq',
      statusCode: 429,
      headers: {
        'retry-after': '2',
        'x-ratelimit-remaining-tokens': '0',
        'x-ratelimit-reset-tokens': '1.2s',
      },
    });
    expect(result).toStrictEqual({
      outcome: 'rate_limited',
      rateLimits: { tokens: { remaining: 0, resetAtMs: NOW_MS + 1_200 } },
      retryAfterMs: 2_000,
    });
  });
});

describe('Mistral headers', () => {
  it('reads the ratelimitbysize per-minute token bucket with its reset in seconds', () => {
    const result = normalise({
      provider: 'mistral_ai',
      statusCode: 200,
      headers: {
        'ratelimitbysize-limit': '500000',
        'ratelimitbysize-remaining': '468000',
        'ratelimitbysize-reset': '40',
        'ratelimitbysize-query-cost': '32000',
        'x-ratelimitbysize-limit-minute': '500000',
        'x-ratelimitbysize-remaining-minute': '468000',
        'x-ratelimitbysize-limit-month': '1000000000',
        'x-ratelimitbysize-remaining-month': '997912692',
      },
    });
    expect(result).toStrictEqual({
      outcome: 'ok',
      rateLimits: { tokens: { limit: 500_000, remaining: 468_000, resetAtMs: NOW_MS + 40_000 } },
    });
  });

  it('reads the older x-ratelimitbysize-*-minute headers alone', () => {
    const result = normalise({
      provider: 'mistral',
      statusCode: 200,
      headers: {
        'x-ratelimitbysize-limit-minute': '2000000',
        'x-ratelimitbysize-remaining-minute': '1999000',
      },
    });
    expect(result.rateLimits).toStrictEqual({ tokens: { limit: 2_000_000, remaining: 1_999_000 } });
  });

  it('reads the newest token and request per-minute headers', () => {
    const result = normalise({
      provider: 'mistral_ai',
      statusCode: 200,
      headers: {
        'x-ratelimit-limit-tokens-minute': '5000000',
        'x-ratelimit-remaining-tokens-minute': '4999911',
        'x-ratelimit-tokens-query-cost': '52',
        'x-ratelimit-limit-req-minute': '720',
        'x-ratelimit-remaining-req-minute': '717',
      },
    });
    expect(result.rateLimits).toStrictEqual({
      tokens: { limit: 5_000_000, remaining: 4_999_911 },
      requests: { limit: 720, remaining: 717 },
    });
  });

  it('classifies a 429 with the monthly budget at zero as quota_exhausted, a plain 429 as rate_limited', () => {
    const spent = { 'x-ratelimitbysize-limit-month': '1000000000', 'x-ratelimitbysize-remaining-month': '0' };
    expect(normalise({ provider: 'mistral_ai', statusCode: 429, headers: spent }).outcome).toBe(
      'quota_exhausted',
    );
    expect(normalise({ provider: 'mistral_ai', statusCode: 200, headers: spent }).outcome).toBe('ok');
    const minute = { 'ratelimitbysize-remaining': '0', 'ratelimitbysize-reset': '3', 'retry-after': '3' };
    expect(normalise({ provider: 'mistral_ai', statusCode: 429, headers: minute })).toStrictEqual({
      outcome: 'rate_limited',
      rateLimits: { tokens: { remaining: 0, resetAtMs: NOW_MS + 3_000 } },
      retryAfterMs: 3_000,
    });
  });
});

describe('GitHub headers', () => {
  const resetEpochSeconds = 1_736_951_400; // 2025-01-15T14:30:00Z

  it('reads requests with the reset in epoch seconds', () => {
    const result = normalise({
      provider: 'github',
      statusCode: 200,
      headers: {
        'X-RateLimit-Limit': '5000',
        'X-RateLimit-Remaining': '4990',
        'X-RateLimit-Used': '10',
        'X-RateLimit-Reset': String(resetEpochSeconds),
        'X-RateLimit-Resource': 'core',
      },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 5000, remaining: 4990, resetAtMs: resetEpochSeconds * 1000 },
    });
  });

  it('derives a missing limit from used + remaining', () => {
    const result = normalise({
      provider: 'github',
      statusCode: 200,
      headers: { 'x-ratelimit-remaining': '55', 'x-ratelimit-used': '5' },
    });
    expect(result.rateLimits).toStrictEqual({ requests: { limit: 60, remaining: 55 } });
  });

  it('trusts unsuffixed x-ratelimit-* from an unknown provider only next to GitHub-specific headers', () => {
    const generic = { 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '20', 'x-ratelimit-reset': '30' };
    expect(normalise({ statusCode: 200, headers: generic }).rateLimits).toStrictEqual({});
    const gitHubLike = {
      ...generic,
      'x-ratelimit-resource': 'search',
      'x-ratelimit-reset': String(resetEpochSeconds),
    };
    expect(normalise({ statusCode: 200, headers: gitHubLike }).rateLimits).toStrictEqual({
      requests: { limit: 100, remaining: 20, resetAtMs: resetEpochSeconds * 1000 },
    });
  });

  it('classifies a 403 at zero remaining or with retry-after as rate_limited, else auth_error', () => {
    const exhausted = {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-resource': 'core',
    };
    expect(normalise({ provider: 'github', statusCode: 403, headers: exhausted }).outcome).toBe(
      'rate_limited',
    );
    expect(normalise({ provider: 'github', statusCode: 403, headers: { 'retry-after': '60' } }).outcome).toBe(
      'rate_limited',
    );
    const healthy = {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4000',
      'x-ratelimit-resource': 'core',
    };
    expect(normalise({ provider: 'github', statusCode: 403, headers: healthy }).outcome).toBe('auth_error');
  });
});

describe('IETF RateLimit header fields', () => {
  it('reads the current form with a named policy', () => {
    const result = normalise({
      statusCode: 200,
      headers: { RateLimit: '"default";r=50;t=30', 'RateLimit-Policy': '"default";q=100;w=60' },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 100, remaining: 50, resetAtMs: NOW_MS + 30_000 },
    });
  });

  it('picks the policy that runs out first when several apply', () => {
    const result = normalise({
      statusCode: 200,
      headers: {
        ratelimit: '"permin";r=40;t=20, "perday";r=3;t=3600, "bytes";r=0;t=1',
        'ratelimit-policy':
          '"permin";q=50;w=60, "perday";q=1000;w=86400, "bytes";q=65535;qu="content-bytes";w=10',
      },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 1000, remaining: 3, resetAtMs: NOW_MS + 3_600_000 },
    });
  });

  it('reads policies split over repeated fields and token policy names', () => {
    const result = normalise({
      statusCode: 200,
      headers: {
        ratelimit: ['burst;r=9;t=1', 'daily;r=9;t=500'],
        'ratelimit-policy': ['burst;q=10;w=1', 'daily;q=900'],
      },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 900, remaining: 9, resetAtMs: NOW_MS + 500_000 },
    });
  });

  it('reads the older dictionary form', () => {
    const result = normalise({
      statusCode: 429,
      headers: { RateLimit: 'limit=100, remaining=0, reset=30', 'Retry-After': '30' },
    });
    expect(result).toStrictEqual({
      outcome: 'rate_limited',
      rateLimits: { requests: { limit: 100, remaining: 0, resetAtMs: NOW_MS + 30_000 } },
      retryAfterMs: 30_000,
    });
  });

  it('reads the oldest split RateLimit-Limit / -Remaining / -Reset fields', () => {
    const result = normalise({
      statusCode: 200,
      headers: { 'RateLimit-Limit': '100, 100;w=60', 'RateLimit-Remaining': '42', 'RateLimit-Reset': '7' },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 100, remaining: 42, resetAtMs: NOW_MS + 7_000 },
    });
  });

  it('ignores an epoch timestamp where delay seconds belong', () => {
    const result = normalise({
      statusCode: 200,
      headers: { 'ratelimit-limit': '100', 'ratelimit-remaining': '42', 'ratelimit-reset': '1736951400' },
    });
    expect(result.rateLimits).toStrictEqual({ requests: { limit: 100, remaining: 42 } });
  });

  it('ignores malformed structured fields and non-request quota units', () => {
    expect(
      normalise({ statusCode: 200, headers: { ratelimit: '"default";r=abc;t=30' } }).rateLimits,
    ).toStrictEqual({});
    expect(normalise({ statusCode: 200, headers: { ratelimit: '"default";r=5,' } }).rateLimits).toStrictEqual(
      {},
    );
    expect(
      normalise({ statusCode: 200, headers: { ratelimit: '"default";r=-5;t=3' } }).rateLimits,
    ).toStrictEqual({});
    const bytes = { ratelimit: '"b";r=10;t=3', 'ratelimit-policy': '"b";q=65535;qu="content-bytes";w=10' };
    expect(normalise({ statusCode: 200, headers: bytes }).rateLimits).toStrictEqual({});
  });

  it('reports the quota of a single policy sent without a RateLimit field', () => {
    const result = normalise({ statusCode: 200, headers: { 'ratelimit-policy': '"default";q=100;w=60' } });
    expect(result.rateLimits).toStrictEqual({ requests: { limit: 100 } });
    const two = { 'ratelimit-policy': '"permin";q=50;w=60, "perhr";q=1000;w=3600' };
    expect(normalise({ statusCode: 200, headers: two }).rateLimits).toStrictEqual({});
  });

  it('fills only dimensions a known provider left empty', () => {
    const result = normalise({
      provider: 'openai',
      statusCode: 200,
      headers: {
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '499',
        ratelimit: '"gateway";r=1;t=1',
        'ratelimit-policy': '"gateway";q=10;w=1',
      },
    });
    expect(result.rateLimits).toStrictEqual({ requests: { limit: 500, remaining: 499 } });
    const gatewayOnly = normalise({
      provider: 'openai',
      statusCode: 200,
      headers: { ratelimit: '"g";r=1;t=1' },
    });
    expect(gatewayOnly.rateLimits).toStrictEqual({ requests: { remaining: 1, resetAtMs: NOW_MS + 1_000 } });
  });
});

function geminiQuotaBody(violations: object[], retryDelay = '38s') {
  return {
    error: {
      code: 429,
      message: 'You exceeded your current quota, please check your plan and billing details.',
      status: 'RESOURCE_EXHAUSTED',
      details: [
        { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations },
        { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Learn more' }] },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
      ],
    },
  };
}

const perDayRequests = {
  quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
  quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier',
  quotaDimensions: { location: 'global', model: 'gemini-2.0-flash' },
  quotaValue: '200',
};
const perMinuteRequests = {
  quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
  quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
  quotaValue: '15',
};
const perMinuteInputTokens = {
  quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_input_token_count',
  quotaId: 'GenerateContentInputTokensPerModelPerMinute-FreeTier',
  quotaValue: '1000000',
};

describe('Gemini / Vertex AI 429 bodies', () => {
  it('treats a per-day quota violation as quota_exhausted until midnight Pacific', () => {
    const nowMs = Date.UTC(2025, 6, 10, 18, 0); // 11:00 PDT on 10 July
    const result = normaliseResponse({
      provider: 'gcp.gemini',
      statusCode: 429,
      body: geminiQuotaBody([perDayRequests]),
      nowMs,
    });
    expect(result).toStrictEqual({
      outcome: 'quota_exhausted',
      rateLimits: { requests: { limit: 200, remaining: 0, resetAtMs: Date.UTC(2025, 6, 11, 7, 0) } },
      retryAfterMs: 38_000,
    });
  });

  it.each([
    // 02:00 PST on 2 Nov 2025, one hour after DST ended: next midnight is 3 Nov 00:00 PST.
    ['the morning DST ends', Date.UTC(2025, 10, 2, 10, 0), Date.UTC(2025, 10, 3, 8, 0)],
    // 23:00 PDT on 1 Nov 2025, DST still in force: next midnight is 2 Nov 00:00 PDT.
    ['the evening before DST ends', Date.UTC(2025, 10, 2, 6, 0), Date.UTC(2025, 10, 2, 7, 0)],
    // 05:00 PDT on 8 Mar 2026, the day DST starts: next midnight is 9 Mar 00:00 PDT.
    ['the day DST starts, after the change', Date.UTC(2026, 2, 8, 12, 0), Date.UTC(2026, 2, 9, 7, 0)],
    // 23:30 PST on 7 Mar 2026: next midnight is 8 Mar 00:00 PST, before the change.
    ['the evening before DST starts', Date.UTC(2026, 2, 8, 7, 30), Date.UTC(2026, 2, 8, 8, 0)],
    // Exactly midnight PST on 15 Jan 2025: the next one is a day later.
    ['exactly at midnight', Date.UTC(2025, 0, 15, 8, 0), Date.UTC(2025, 0, 16, 8, 0)],
    // 31 Dec 2025 20:00 PST: the next midnight is in the next year.
    ['new year', Date.UTC(2026, 0, 1, 4, 0), Date.UTC(2026, 0, 1, 8, 0)],
  ])('computes the Pacific midnight on %s', (_label, nowMs, expectedResetMs) => {
    const result = normaliseResponse({
      provider: 'gemini',
      statusCode: 429,
      body: geminiQuotaBody([perDayRequests]),
      nowMs,
    });
    expect(result.rateLimits.requests?.resetAtMs).toBe(expectedResetMs);
  });

  it('treats per-minute violations as rate_limited until the retry delay', () => {
    const result = normalise({
      provider: 'gcp.gemini',
      statusCode: 429,
      body: geminiQuotaBody([perMinuteRequests, perMinuteInputTokens], '12.5s'),
    });
    expect(result).toStrictEqual({
      outcome: 'rate_limited',
      rateLimits: {
        requests: { limit: 15, remaining: 0, resetAtMs: NOW_MS + 12_500 },
        input_tokens: { limit: 1_000_000, remaining: 0, resetAtMs: NOW_MS + 12_500 },
      },
      retryAfterMs: 12_500,
    });
  });

  it('lets the per-day violation decide when a dimension violates both windows', () => {
    const nowMs = Date.UTC(2025, 6, 10, 18, 0);
    const result = normaliseResponse({
      provider: 'gcp.gemini',
      statusCode: 429,
      body: geminiQuotaBody([perMinuteRequests, perDayRequests, perMinuteInputTokens]),
      nowMs,
    });
    expect(result.outcome).toBe('quota_exhausted');
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 200, remaining: 0, resetAtMs: Date.UTC(2025, 6, 11, 7, 0) },
      input_tokens: { limit: 1_000_000, remaining: 0, resetAtMs: nowMs + 38_000 },
    });
  });

  it('reads array-wrapped bodies, raw JSON text, and unknown providers', () => {
    const text = JSON.stringify([geminiQuotaBody([perDayRequests])]);
    const result = normalise({ statusCode: 429, body: text });
    expect(result.outcome).toBe('quota_exhausted');
    expect(result.rateLimits.requests?.remaining).toBe(0);
  });

  it('treats a bare Vertex RESOURCE_EXHAUSTED (no details) as rate_limited with nothing learned', () => {
    const body = [
      {
        error: {
          code: 429,
          message: 'Resource exhausted. Please try again later.',
          status: 'RESOURCE_EXHAUSTED',
        },
      },
    ];
    expect(normalise({ provider: 'gcp.vertex_ai', statusCode: 429, body })).toStrictEqual({
      outcome: 'rate_limited',
      rateLimits: {},
    });
  });

  it('leaves the reset out rather than throwing when nowMs is not a usable clock', () => {
    for (const nowMs of [Number.NaN, 1e20]) {
      const result = normaliseResponse({
        provider: 'gcp.gemini',
        statusCode: 429,
        body: geminiQuotaBody([perDayRequests]),
        nowMs,
      });
      expect(result.outcome).toBe('quota_exhausted');
      expect(result.rateLimits).toStrictEqual({ requests: { limit: 200, remaining: 0 } });
    }
  });

  it('reads a 400 API_KEY_INVALID (an invalid, deleted or expired key) as auth_error, other 400s as client_error', () => {
    const invalidKey = {
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
          },
        ],
      },
    };
    expect(normalise({ provider: 'gcp.gemini', statusCode: 400, body: invalidKey }).outcome).toBe(
      'auth_error',
    );
    const badRequest = {
      error: { code: 400, message: 'contents is not specified', status: 'INVALID_ARGUMENT' },
    };
    expect(normalise({ provider: 'gcp.gemini', statusCode: 400, body: badRequest }).outcome).toBe(
      'client_error',
    );
    // Only the status decides a success.
    expect(normalise({ provider: 'gcp.gemini', statusCode: 200, body: invalidKey }).outcome).toBe('ok');
  });

  it('ignores a garbled quota value and retry delay', () => {
    const body = geminiQuotaBody([{ ...perMinuteRequests, quotaValue: 'lots' }], 'soon');
    expect(normalise({ provider: 'gcp.gemini', statusCode: 429, body })).toStrictEqual({
      outcome: 'rate_limited',
      rateLimits: { requests: { remaining: 0 } },
    });
  });
});

describe('outcome classification', () => {
  it.each([
    [200, 'ok'],
    [201, 'ok'],
    [304, 'ok'],
    [400, 'client_error'],
    [401, 'auth_error'],
    [403, 'auth_error'],
    [404, 'client_error'],
    [413, 'client_error'],
    [422, 'client_error'],
    [429, 'rate_limited'],
    [500, 'upstream_error'],
    [502, 'upstream_error'],
    [503, 'overloaded'],
    [504, 'upstream_error'],
    [529, 'overloaded'],
  ])('maps status %d to %s', (statusCode, outcome) => {
    expect(normalise({ statusCode }).outcome).toBe(outcome);
  });

  it.each([
    'timeout',
    'TimeoutError',
    'AbortError',
    'ABORT_ERR',
    'ETIMEDOUT',
    'ESOCKETTIMEDOUT',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
  ])('maps a call without a response and error type %s to timeout', (errorType) => {
    expect(normalise({ errorType }).outcome).toBe('timeout');
  });

  it('maps a call without a response and any other error to upstream_error', () => {
    expect(normalise({ errorType: 'ECONNRESET' }).outcome).toBe('upstream_error');
    expect(normalise({ errorType: 'ENOTFOUND' }).outcome).toBe('upstream_error');
    expect(normalise({}).outcome).toBe('upstream_error');
  });

  it('treats an impossible status as no response at all', () => {
    expect(normalise({ statusCode: 0, errorType: 'ETIMEDOUT' }).outcome).toBe('timeout');
    expect(normalise({ statusCode: 1000 }).outcome).toBe('upstream_error');
    expect(normalise({ statusCode: 200.5 }).outcome).toBe('upstream_error');
  });

  it('lets the status win over a timeout error type when a response arrived', () => {
    expect(normalise({ statusCode: 504, errorType: 'timeout' }).outcome).toBe('upstream_error');
  });
});

describe('header sources and provider selection', () => {
  it('matches mixed-case record keys and joins repeated values', () => {
    const result = normalise({
      provider: 'openai',
      statusCode: 200,
      headers: {
        'X-RateLimit-Limit-Requests': ['60'],
        'x-ratelimit-remaining-requests': '59',
        'X-RATELIMIT-RESET-REQUESTS': '1s',
        'x-ratelimit-limit-tokens': ['1000', '2000'],
      },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 60, remaining: 59, resetAtMs: NOW_MS + 1_000 },
    });
  });

  it('accepts provider names in any case and legacy gen_ai.system spellings', () => {
    const headers = {
      'x-ratelimit-limit-tokens': '-1',
      'x-ratelimit-remaining-tokens': '5',
      'x-ratelimit-reset-tokens': '30',
    };
    // Azure reads a bare "30" as seconds; OpenAI only accepts Go durations.
    expect(normalise({ provider: 'Azure.AI.OpenAI', statusCode: 200, headers }).rateLimits).toStrictEqual({});
    const remainingOnly = { 'x-ratelimit-remaining-tokens': '5', 'x-ratelimit-reset-tokens': '30' };
    expect(
      normalise({ provider: 'az.ai.openai', statusCode: 200, headers: remainingOnly }).rateLimits,
    ).toStrictEqual({
      tokens: { remaining: 5, resetAtMs: NOW_MS + 30_000 },
    });
    expect(
      normalise({ provider: 'OpenAI', statusCode: 200, headers: remainingOnly }).rateLimits,
    ).toStrictEqual({
      tokens: { remaining: 5 },
    });
  });

  it('tries every header family when the provider is unknown', () => {
    const result = normalise({
      provider: 'some.gateway',
      statusCode: 200,
      headers: {
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '49',
        'x-ratelimit-limit-tokens': '1000',
        'x-ratelimit-remaining-tokens': '900',
      },
    });
    expect(result.rateLimits).toStrictEqual({
      requests: { limit: 50, remaining: 49 },
      tokens: { limit: 1000, remaining: 900 },
    });
  });

  it('returns no buckets and no retry delay for a response without rate-limit headers', () => {
    expect(
      normalise({ provider: 'openai', statusCode: 200, headers: { 'content-type': 'application/json' } }),
    ).toStrictEqual({
      outcome: 'ok',
      rateLimits: {},
    });
    expect(normalise({ provider: 'openai', statusCode: 200 })).toStrictEqual({
      outcome: 'ok',
      rateLimits: {},
    });
  });
});
