import { describe, expect, it } from 'vitest';
import { HeadroomError } from '../../src/errors/index.ts';
import {
  createSimulator,
  formatGoDuration,
  parseScenario,
  type ProviderFormat,
  type ProviderSimulator,
  type ScenarioInput,
  type SimResponse,
} from '../../src/simulator/index.ts';
import { normaliseResponse, parseGoDuration, type NormalisedResponse } from '../../src/telemetry/index.ts';

const T0 = Date.parse('2026-06-01T12:00:00Z');

/** `gen_ai.provider.name` per simulated API, as a span would carry it. */
const PROVIDER_NAMES: Record<ProviderFormat, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  azure: 'azure.ai.openai',
  gemini: 'gcp.gemini',
};

/** A scenario of one key. */
function simulateKey(
  key: ScenarioInput['keys'][number],
  scenario: Omit<ScenarioInput, 'keys'> = {},
  startMs = T0,
): ProviderSimulator {
  return simulate({ ...scenario, keys: [key] }, startMs);
}

function simulate(input: ScenarioInput, startMs = T0, seed?: number): ProviderSimulator {
  return createSimulator(parseScenario(input), { startMs, ...(seed === undefined ? {} : { seed }) });
}

interface Answer {
  response: SimResponse;
  body: Record<string, unknown>;
  /** What headroom's own parsers read from the answer. */
  normalised: NormalisedResponse;
}

function send(
  sim: ProviderSimulator,
  format: ProviderFormat,
  secret: string,
  nowMs: number,
  options: { maxTokens?: number; content?: string; deployment?: string } = {},
): Answer {
  const content = options.content ?? 'How many tokens do I have left?';
  let request;
  switch (format) {
    case 'openai':
      request = {
        method: 'POST',
        url: '/v1/chat/completions',
        headers: { authorization: `Bearer ${secret}` },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content }],
          ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens }),
        }),
      };
      break;
    case 'anthropic':
      request = {
        method: 'POST',
        url: '/v1/messages',
        headers: { 'x-api-key': secret },
        body: JSON.stringify({
          model: 'claude-haiku-4-5',
          max_tokens: options.maxTokens ?? 1024,
          messages: [{ role: 'user', content }],
        }),
      };
      break;
    case 'azure':
      request = {
        method: 'POST',
        url: `/openai/deployments/${options.deployment ?? 'gpt-4o-mini'}/chat/completions?api-version=2024-10-21`,
        headers: { 'api-key': secret },
        body: JSON.stringify({ messages: [{ role: 'user', content }] }),
      };
      break;
    case 'gemini':
      request = {
        method: 'POST',
        url: `/v1beta/models/gemini-2.5-flash:generateContent?key=${encodeURIComponent(secret)}`,
        headers: {},
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: content }] }] }),
      };
      break;
  }
  const response = sim.handle(request, nowMs);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  const normalised = normaliseResponse({
    provider: PROVIDER_NAMES[format],
    statusCode: response.status,
    headers: response.headers,
    body: response.status >= 400 ? body : undefined,
    nowMs,
  });
  return { response, body, normalised };
}

function errorOf(body: Record<string, unknown>): Record<string, unknown> {
  return body['error'] as Record<string, unknown>;
}

describe('per-minute token buckets', () => {
  const scenario: ScenarioInput = {
    responses: { output_tokens: { min: 100, max: 100 } },
    keys: [
      {
        id: 'key-a',
        secret: 'sk-sim-key-a-secret',
        provider: 'openai',
        limits: [
          { dimension: 'requests', window: 'minute', limit: 60 },
          { dimension: 'tokens', window: 'minute', limit: 100_000 },
        ],
      },
    ],
  };

  it('refuses the request past the bucket, refills continuously, and reports it in OpenAI headers headroom reads', () => {
    const sim = simulate(scenario);
    for (let i = 0; i < 60; i++)
      expect(send(sim, 'openai', 'sk-sim-key-a-secret', T0).response.status).toBe(200);
    const refused = send(sim, 'openai', 'sk-sim-key-a-secret', T0);
    expect(refused.response.status).toBe(429);
    expect(errorOf(refused.body)).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests' });
    expect(refused.response.headers['x-ratelimit-remaining-requests']).toBe('0');
    // Empty now, full again after a whole minute of refilling at one request per second.
    expect(refused.response.headers['x-ratelimit-reset-requests']).toBe('1m0s');
    expect(refused.normalised.outcome).toBe('rate_limited');
    expect(refused.normalised.rateLimits.requests).toEqual({
      limit: 60,
      remaining: 0,
      resetAtMs: T0 + 60_000,
    });
    expect(refused.normalised.rateLimits.tokens?.limit).toBe(100_000);

    // One request per second comes back: not yet after 999 ms, yes after 1 s.
    expect(send(sim, 'openai', 'sk-sim-key-a-secret', T0 + 999).response.status).toBe(429);
    const refilled = send(sim, 'openai', 'sk-sim-key-a-secret', T0 + 1_000);
    expect(refilled.response.status).toBe(200);
    expect(refilled.normalised.outcome).toBe('ok');
    expect(refilled.normalised.rateLimits.requests).toEqual({
      limit: 60,
      remaining: 0,
      resetAtMs: T0 + 61_000,
    });
    // Tokens: 61 calls of (input + 100 output) taken from 100 000, which refilled 1 667 in the second.
    const used =
      100_000 + Math.floor(100_000 / 60) - Number(refilled.response.headers['x-ratelimit-remaining-tokens']);
    expect(used).toBeGreaterThan(61 * 100);
    expect(used).toBeLessThan(61 * 130);

    const state = sim.state(T0 + 30_000);
    const key = state.keys[0];
    expect(key?.quotas.find((q) => q.dimension === 'requests')).toEqual({
      id: 'key-a',
      dimension: 'requests',
      window: 'minute',
      limit: 60,
      remaining: 29,
      resetAtMs: T0 + 61_000,
    });
    expect(key?.headroomRequests).toBe(29);
    expect(key?.usable).toBe(true);
  });

  it('refuses a request larger than the whole token bucket, with a reset when it is full', () => {
    const sim = simulateKey(
      {
        id: 'small',
        secret: 'sk-sim-small-secret',
        provider: 'openai',
        limits: [{ dimension: 'tokens', window: 'minute', limit: 50 }],
      },
      {
        responses: { output_tokens: { min: 10, max: 10 } },
      },
    );
    const refused = send(sim, 'openai', 'sk-sim-small-secret', T0, { content: 'x'.repeat(400) });
    expect(refused.response.status).toBe(429);
    expect(errorOf(refused.body)).toMatchObject({ code: 'rate_limit_exceeded', type: 'tokens' });
    expect(sim.stats().keys[0]?.outcomes.rate_limited).toBe(1);
  });
});

describe('shared quota entities and background consumers', () => {
  function scenario(consumerRpm: number | undefined): ScenarioInput {
    return {
      seed: 7,
      responses: { output_tokens: { min: 50, max: 50 } },
      average_request: { input_tokens: 100, output_tokens: 50 },
      quotas: [{ id: 'org-1', limits: [{ dimension: 'requests', window: 'minute', limit: 100 }] }],
      keys: [
        { id: 'key-a', secret: 'sk-sim-key-a-secret', provider: 'openai', quotas: ['org-1'] },
        { id: 'key-b', secret: 'sk-sim-key-b-secret', provider: 'openai', quotas: ['org-1'] },
      ],
      consumers:
        consumerRpm === undefined
          ? []
          : [{ id: 'other-team', quota: 'org-1', requests_per_minute: consumerRpm }],
    };
  }

  it('two keys drawing on one organisation bucket share it', () => {
    const sim = simulate(scenario(undefined));
    for (let i = 0; i < 100; i++) {
      const secret = i % 2 === 0 ? 'sk-sim-key-a-secret' : 'sk-sim-key-b-secret';
      expect(send(sim, 'openai', secret, T0).response.status).toBe(200);
    }
    expect(send(sim, 'openai', 'sk-sim-key-a-secret', T0).response.status).toBe(429);
    const state = sim.state(T0);
    expect(state.keys.map((k) => [k.keyId, k.usable, k.headroomRequests])).toEqual([
      ['key-a', false, 0],
      ['key-b', false, 0],
    ]);
    expect(state.keys[1]?.quotas[0]).toMatchObject({ id: 'org-1', remaining: 0 });
  });

  it('an outside consumer drains the organisation bucket the keys draw on', () => {
    const quiet = simulate(scenario(undefined));
    const busy = simulate(scenario(600));
    // A minute of another team's traffic at six times the organisation's rate.
    expect(quiet.state(T0 + 60_000).keys[0]?.headroomRequests).toBe(100);
    const drained = busy.state(T0 + 60_000).keys[0];
    expect(drained?.headroomRequests).toBeLessThanOrEqual(1);
    const consumer = busy.stats().consumers[0];
    expect(consumer?.requests).toBeGreaterThan(500);
    expect(consumer?.requests).toBeLessThan(700);
    // The bucket's first 100 plus one per 600 ms of refill were admitted, the rest refused.
    expect(consumer?.admitted).toBeGreaterThan(180);
    expect(consumer?.admitted).toBeLessThanOrEqual(201);
    expect(consumer?.refused).toBe((consumer?.requests ?? 0) - (consumer?.admitted ?? 0));
    const answer = send(busy, 'openai', 'sk-sim-key-b-secret', T0 + 60_000);
    expect(answer.response.status).toBe(429);
    expect(answer.body['error']).toMatchObject({ code: 'rate_limit_exceeded' });
    expect(String(errorOf(answer.body)['message'])).toContain('org-1');
  });

  it('is deterministic per seed', () => {
    const run = (seed: number): number[] => {
      const sim = simulate(
        {
          ...scenario(300),
          responses: { output_tokens: { min: 1, max: 500 } },
          latency: { base_ms: 100, per_output_token_ms: 1, jitter_ratio: 0.5 },
        },
        T0,
        seed,
      );
      const figures: number[] = [];
      for (let i = 0; i < 20; i++) {
        const { response } = send(sim, 'openai', 'sk-sim-key-a-secret', T0 + i * 500);
        figures.push(response.delayMs, response.decision?.outputTokens ?? -1);
      }
      figures.push(sim.stats().consumers[0]?.requests ?? -1);
      return figures;
    };
    expect(run(1)).toEqual(run(1));
    expect(run(2)).not.toEqual(run(1));
  });
});

describe('daily quotas in a time zone', () => {
  // 2026-03-07 12:00 PST; Pacific daylight time starts on 2026-03-08 at 02:00.
  const SATURDAY_NOON_PST = Date.parse('2026-03-07T20:00:00Z');
  const MIDNIGHT_PST = Date.parse('2026-03-08T08:00:00Z');
  const MIDNIGHT_PDT = Date.parse('2026-03-09T07:00:00Z');

  it('a Gemini per-day quota resets at midnight Pacific, across the DST change, and headroom reads it as exhausted', () => {
    const sim = simulate(
      {
        keys: [
          {
            id: 'gemini-free',
            secret: 'AIzaSim-gemini-free-secret',
            provider: 'gemini',
            limits: [{ dimension: 'requests', window: 'day', limit: 3, time_zone: 'America/Los_Angeles' }],
          },
        ],
      },
      SATURDAY_NOON_PST,
    );
    for (let i = 0; i < 3; i++) {
      const ok = send(sim, 'gemini', 'AIzaSim-gemini-free-secret', SATURDAY_NOON_PST);
      expect(ok.response.status).toBe(200);
      expect(
        (ok.body['usageMetadata'] as { candidatesTokenCount: number }).candidatesTokenCount,
      ).toBeGreaterThan(0);
    }
    const spent = send(sim, 'gemini', 'AIzaSim-gemini-free-secret', SATURDAY_NOON_PST);
    expect(spent.response.status).toBe(429);
    expect(errorOf(spent.body)['status']).toBe('RESOURCE_EXHAUSTED');
    expect(spent.normalised.outcome).toBe('quota_exhausted');
    expect(spent.normalised.rateLimits.requests).toEqual({ limit: 3, remaining: 0, resetAtMs: MIDNIGHT_PST });
    expect(spent.normalised.retryAfterMs).toBe(MIDNIGHT_PST - SATURDAY_NOON_PST);
    expect(sim.state(MIDNIGHT_PST - 1).keys[0]).toMatchObject({ usable: false, headroomRequests: 0 });
    expect(send(sim, 'gemini', 'AIzaSim-gemini-free-secret', MIDNIGHT_PST - 1).response.status).toBe(429);

    // Midnight PST: a new day; the next midnight is PDT, 23 hours later.
    expect(send(sim, 'gemini', 'AIzaSim-gemini-free-secret', MIDNIGHT_PST).response.status).toBe(200);
    expect(sim.state(MIDNIGHT_PST).keys[0]?.quotas[0]).toEqual({
      id: 'gemini-free',
      dimension: 'requests',
      window: 'day',
      limit: 3,
      remaining: 2,
      resetAtMs: MIDNIGHT_PDT,
    });
    expect(MIDNIGHT_PDT - MIDNIGHT_PST).toBe(23 * 3_600_000);
    expect(sim.stats().tooManyRequests).toEqual({ rateLimited: 0, quotaExhausted: 2, spendCap: 0 });
  });

  it('an OpenAI key whose daily quota is spent answers insufficient_quota', () => {
    const sim = simulateKey({
      id: 'key-a',
      secret: 'sk-sim-key-a-secret',
      provider: 'openai',
      limits: [{ dimension: 'requests', window: 'day', limit: 1 }],
    });
    expect(send(sim, 'openai', 'sk-sim-key-a-secret', T0).response.status).toBe(200);
    const spent = send(sim, 'openai', 'sk-sim-key-a-secret', T0);
    expect(spent.response.status).toBe(429);
    expect(errorOf(spent.body)).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(spent.normalised.outcome).toBe('quota_exhausted');
  });
});

describe('spend caps', () => {
  it('admits calls while spend is below the monthly cap, then answers the spend-cap error until the 1st', () => {
    const sim = simulateKey(
      {
        id: 'claude-a',
        secret: 'sk-ant-sim-claude-a-secret',
        provider: 'anthropic',
        limits: [{ dimension: 'cost_usd', window: 'month', limit: 0.25 }],
      },
      {
        pricing: { input_per_million_usd: 0, output_per_million_usd: 1_000 },
        responses: { output_tokens: { min: 100, max: 100 } },
      },
    );
    // Each call costs 100 output tokens at $1000 per million: $0.10. $0.20 spent < $0.25 admits a third.
    for (let i = 0; i < 3; i++) {
      expect(send(sim, 'anthropic', 'sk-ant-sim-claude-a-secret', T0).response.status).toBe(200);
    }
    const capped = send(sim, 'anthropic', 'sk-ant-sim-claude-a-secret', T0);
    expect(capped.response.status).toBe(429);
    expect(capped.body).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error', details: { error_code: 'enforced_spend_limit_reached' } },
    });
    expect(capped.response.headers['retry-after']).toBeUndefined();
    expect(capped.normalised.outcome).toBe('quota_exhausted');
    expect(sim.stats().keys[0]).toMatchObject({ costUsd: 0.3, outcomes: { ok: 3, spend_cap: 1 } });
    const july = Date.parse('2026-07-01T00:00:00Z');
    expect(sim.state(T0).keys[0]?.quotas[0]).toMatchObject({ dimension: 'cost_usd', resetAtMs: july });
    expect(send(sim, 'anthropic', 'sk-ant-sim-claude-a-secret', july).response.status).toBe(200);
  });

  it('OpenAI answers a hard spend limit with its spend-limit code', () => {
    const sim = simulateKey(
      {
        id: 'key-a',
        secret: 'sk-sim-key-a-secret',
        provider: 'openai',
        limits: [{ dimension: 'cost_usd', window: 'month', limit: 1 }],
      },
      {
        pricing: { input_per_million_usd: 1_000_000, output_per_million_usd: 0 },
      },
    );
    expect(send(sim, 'openai', 'sk-sim-key-a-secret', T0).response.status).toBe(200);
    const capped = send(sim, 'openai', 'sk-sim-key-a-secret', T0);
    expect(errorOf(capped.body)).toMatchObject({ code: 'project_spend_limit_exceeded' });
    expect(capped.normalised.outcome).toBe('quota_exhausted');
  });
});

describe('revoked keys', () => {
  const formats: ProviderFormat[] = ['openai', 'anthropic', 'azure'];
  it.each(formats)('%s: a key revoked mid-run answers 401 from then on', (format) => {
    const secret = `secret-${format}-0123456789`;
    const sim = simulate({
      keys: [{ id: `key-${format}`, secret, provider: format, revoked_after_seconds: 60 }],
    });
    expect(send(sim, format, secret, T0 + 59_999).response.status).toBe(200);
    const revoked = send(sim, format, secret, T0 + 60_000);
    expect(revoked.response.status).toBe(401);
    expect(revoked.normalised.outcome).toBe('auth_error');
    expect(revoked.response.body).not.toContain(secret);
    expect(sim.state(T0 + 60_000).keys[0]).toMatchObject({ usable: false, headroomRequests: 0 });
    expect(sim.stats().outcomes.unauthorized).toBe(1);
  });

  it('revokeKey revokes from the given time; unknown secrets and other providers’ keys are refused', () => {
    const sim = simulate({
      keys: [
        { id: 'key-a', secret: 'sk-sim-key-a-secret', provider: 'openai' },
        { id: 'gemini-a', secret: 'AIzaSim-gemini-a-secret', provider: 'gemini' },
      ],
    });
    sim.revokeKey('key-a', T0 + 10);
    expect(send(sim, 'openai', 'sk-sim-key-a-secret', T0).response.status).toBe(200);
    expect(send(sim, 'openai', 'sk-sim-key-a-secret', T0 + 10).response.status).toBe(401);
    expect(send(sim, 'openai', 'sk-sim-unknown-secret', T0 + 10).response.status).toBe(401);
    expect(send(sim, 'anthropic', 'AIzaSim-gemini-a-secret', T0 + 10).response.status).toBe(401);
    const gemini = send(sim, 'gemini', 'sk-sim-unknown-secret', T0 + 10);
    expect(gemini.response.status).toBe(400);
    expect(JSON.stringify(gemini.body)).toContain('API_KEY_INVALID');
    expect(gemini.normalised.outcome).toBe('auth_error');
    expect(() => sim.revokeKey('nope')).toThrow(/nope/);
  });
});

describe('Azure sub-windows', () => {
  it('refuses a burst above the 10 s share of the minute although the minute has room, with retry-after-ms', () => {
    const sim = simulateKey({
      id: 'azure-east',
      secret: 'azure-sim-east-secret',
      provider: 'azure',
      deployment: 'gpt-4o-mini',
      limits: [{ dimension: 'requests', window: 'minute', limit: 60, sub_window_seconds: 10 }],
    });
    const windowStart = Math.ceil(T0 / 10_000) * 10_000;
    for (let i = 0; i < 10; i++) {
      expect(send(sim, 'azure', 'azure-sim-east-secret', windowStart + i).response.status).toBe(200);
    }
    const burst = send(sim, 'azure', 'azure-sim-east-secret', windowStart + 2_500);
    expect(burst.response.status).toBe(429);
    // The minute bucket has 50 left plus 2.5 refilled.
    expect(burst.response.headers['x-ratelimit-remaining-requests']).toBe('52');
    expect(burst.response.headers['retry-after-ms']).toBe('7500');
    expect(burst.response.headers['retry-after']).toBe('8');
    expect(errorOf(burst.body)['code']).toBe('429');
    expect(burst.normalised).toMatchObject({ outcome: 'rate_limited', retryAfterMs: 7_500 });
    expect(burst.normalised.rateLimits.requests).toMatchObject({ limit: 60, remaining: 52 });
    expect(sim.state(windowStart + 2_500).keys[0]?.quotas.map((q) => [q.window, q.remaining])).toEqual([
      ['minute', 52],
      ['10s', 0],
    ]);
    expect(send(sim, 'azure', 'azure-sim-east-secret', windowStart + 10_000).response.status).toBe(200);
  });

  it('answers 404 for another deployment than the key’s and without an api-version', () => {
    const sim = simulate({
      keys: [
        { id: 'azure-east', secret: 'azure-sim-east-secret', provider: 'azure', deployment: 'gpt-4o-mini' },
      ],
    });
    expect(send(sim, 'azure', 'azure-sim-east-secret', T0, { deployment: 'gpt-4o' }).response.status).toBe(
      404,
    );
    const response = sim.handle(
      {
        method: 'POST',
        url: '/openai/deployments/gpt-4o-mini/chat/completions',
        headers: { 'api-key': 'azure-sim-east-secret' },
        body: '{"messages":[{"role":"user","content":"hi"}]}',
      },
      T0,
    );
    expect(response.status).toBe(404);
  });
});

describe('responses', () => {
  it('Anthropic headers carry RFC 3339 resets and the most restrictive token bucket; a 429 carries retry-after', () => {
    const sim = simulateKey(
      {
        id: 'claude-a',
        secret: 'sk-ant-sim-claude-a-secret',
        provider: 'anthropic',
        limits: [
          { dimension: 'requests', window: 'minute', limit: 2 },
          { dimension: 'input_tokens', window: 'minute', limit: 10_000 },
          { dimension: 'output_tokens', window: 'minute', limit: 1_000 },
        ],
      },
      {
        responses: { output_tokens: { min: 100, max: 100 } },
      },
    );
    const ok = send(sim, 'anthropic', 'sk-ant-sim-claude-a-secret', T0);
    expect(ok.response.headers).toMatchObject({
      'anthropic-ratelimit-requests-limit': '2',
      'anthropic-ratelimit-requests-remaining': '1',
      'anthropic-ratelimit-requests-reset': '2026-06-01T12:00:30Z',
      'anthropic-ratelimit-output-tokens-remaining': '900',
      // Output has 90 % left, input more: tokens reports output.
      'anthropic-ratelimit-tokens-limit': '1000',
      'anthropic-ratelimit-tokens-remaining': '900',
      'anthropic-ratelimit-output-tokens-reset': '2026-06-01T12:00:06Z',
    });
    expect(ok.body['usage']).toMatchObject({ output_tokens: 100 });
    expect(ok.normalised.rateLimits).toMatchObject({
      requests: { limit: 2, remaining: 1, resetAtMs: T0 + 30_000 },
      output_tokens: { limit: 1_000, remaining: 900, resetAtMs: T0 + 6_000 },
    });
    send(sim, 'anthropic', 'sk-ant-sim-claude-a-secret', T0);
    const refused = send(sim, 'anthropic', 'sk-ant-sim-claude-a-secret', T0 + 100);
    expect(refused.response.status).toBe(429);
    expect(refused.body).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    // One request comes back every 30 s.
    expect(refused.response.headers['retry-after']).toBe('30');
    expect(refused.normalised).toMatchObject({ outcome: 'rate_limited', retryAfterMs: 30_000 });
  });

  it('caps output at max_tokens and models latency as base plus per output token, with bounded jitter', () => {
    const sim = simulate({
      responses: { output_tokens: { min: 200, max: 400 } },
      latency: { base_ms: 100, per_output_token_ms: 2, jitter_ratio: 0.1 },
      keys: [{ id: 'key-a', secret: 'sk-sim-key-a-secret', provider: 'openai' }],
    });
    for (let i = 0; i < 50; i++) {
      const { response, body } = send(sim, 'openai', 'sk-sim-key-a-secret', T0 + i, { maxTokens: 300 });
      const usage = body['usage'] as { completion_tokens: number };
      expect(usage.completion_tokens).toBeGreaterThanOrEqual(200);
      expect(usage.completion_tokens).toBeLessThanOrEqual(300);
      const nominal = 100 + 2 * usage.completion_tokens;
      expect(response.delayMs).toBeGreaterThanOrEqual(nominal * 0.9 - 1e-9);
      expect(response.delayMs).toBeLessThanOrEqual(nominal * 1.1 + 1e-9);
    }
  });

  it('streams OpenAI chunks with a usage chunk only when include_usage is asked for', () => {
    const sim = simulate({
      responses: { output_tokens: { min: 30, max: 30 } },
      latency: { base_ms: 50, per_output_token_ms: 1, jitter_ratio: 0 },
      keys: [{ id: 'key-a', secret: 'sk-sim-key-a-secret', provider: 'openai' }],
    });
    const stream = (includeUsage: boolean): SimResponse =>
      sim.handle(
        {
          method: 'POST',
          url: '/v1/chat/completions',
          headers: { authorization: 'Bearer sk-sim-key-a-secret' },
          body: JSON.stringify({
            model: 'gpt-4o-mini',
            stream: true,
            ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
            messages: [{ role: 'user', content: 'hi' }],
          }),
        },
        T0,
      );
    const withUsage = stream(true);
    const events = withUsage.events ?? [];
    expect(withUsage.headers['content-type']).toContain('text/event-stream');
    expect(events[0]?.atMs).toBe(50);
    expect(events.at(-1)).toEqual({ atMs: 80, data: 'data: [DONE]\n\n' });
    expect(events.at(-2)?.data).toContain('"completion_tokens":30');
    expect(stream(false).events?.some((event) => event.data.includes('"usage"'))).toBe(false);
  });

  it('answers bad requests in the provider’s format and unknown routes with 404', () => {
    const sim = simulate({ keys: [{ id: 'key-a', secret: 'sk-sim-key-a-secret', provider: 'anthropic' }] });
    const missing = sim.handle(
      {
        method: 'POST',
        url: '/v1/messages',
        headers: { 'x-api-key': 'sk-sim-key-a-secret' },
        body: '{"model":"m"}',
      },
      T0,
    );
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.body)).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(sim.stats()).toMatchObject({ requests: 1, outcomes: { bad_request: 1 } });
    expect(sim.handle({ method: 'POST', url: '/v2/other', headers: {} }, T0).status).toBe(404);
  });
});

describe('scenario validation', () => {
  it('names the field of an unknown quota reference, and never echoes a secret', () => {
    const secret = 'sk-sim-do-not-echo-this';
    const attempt = (): unknown =>
      parseScenario({
        keys: [{ id: 'a', secret, provider: 'openai', quotas: ['org-missing'] }],
      });
    expect(attempt).toThrow(HeadroomError);
    expect(attempt).toThrow(
      'scenario is invalid: keys[0].quotas[0]: "org-missing" is invalid: expected one of the ids under quotas',
    );
    const duplicate = (): unknown =>
      parseScenario({
        keys: [
          { id: 'a', secret, provider: 'openai' },
          { id: 'b', secret, provider: 'openai' },
        ],
      });
    expect(duplicate).toThrow(/keys\[1\]\.secret is invalid: expected a secret no other key uses/);
    expect(duplicate).not.toThrow(new RegExp(secret));
    // A secret the schema refuses is not printed either.
    const short = (): unknown =>
      parseScenario({ keys: [{ id: 'a', secret: 'sk-shrt', provider: 'openai' }] });
    expect(short).toThrow(
      /keys\[0\]\.secret: \(hidden\) is invalid: expected a secret of at least 8 characters/,
    );
    expect(short).not.toThrow(/sk-shrt/);
  });

  it('rejects a bad limit with its path', () => {
    expect(() =>
      parseScenario({
        keys: [
          {
            id: 'a',
            secret: 'sk-sim-secret-a',
            provider: 'openai',
            limits: [{ dimension: 'cost_usd', window: 'minute', limit: 1 }],
          },
        ],
      }),
    ).toThrow(
      /keys\[0\]\.limits\[0\]\.window: "minute" is invalid: expected day or month \(a cost_usd limit/,
    );
    expect(() =>
      parseScenario({
        keys: [
          {
            id: 'a',
            secret: 'sk-sim-secret-a',
            provider: 'openai',
            limits: [{ dimension: 'requests', window: 'day', limit: 1, time_zone: 'Mars/Olympus' }],
          },
        ],
      }),
    ).toThrow(/keys\[0\]\.limits\[0\]\.time_zone: "Mars\/Olympus" is invalid: expected an IANA time zone/);
  });
});

describe('formatGoDuration', () => {
  it.each([
    [0, '0s'],
    [12, '12ms'],
    [11.2, '12ms'],
    [999, '999ms'],
    [1_500, '1.5s'],
    [59_999, '59.999s'],
    [60_000, '1m0s'],
    [360_000, '6m0s'],
    [86_400, '1m26.4s'],
    [3_600_000, '1h0m0s'],
    [3_723_004, '1h2m3.004s'],
  ])('%d ms is %s, which headroom parses back', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
    expect(parseGoDuration(text)).toBe(Math.ceil(ms));
  });
});
