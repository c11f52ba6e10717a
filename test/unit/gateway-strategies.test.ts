import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/config/index.ts';
import {
  KeyRouter,
  createStrategy,
  parseAdvice,
  parseSimulatorState,
  type KeyChoiceStrategy,
  type PoolAdvice,
  type StrategyKey,
  type UpstreamOutcome,
} from '../../src/gateway/index.ts';

const KEYS: StrategyKey[] = [
  { keyId: 'a', weight: 300, priority: 0 },
  { keyId: 'b', weight: 100, priority: 1 },
  { keyId: 'c', weight: 100, priority: 2 },
];
const ALL = ['a', 'b', 'c'];
const T0 = 1_800_000_000_000;

function counts(
  strategy: KeyChoiceStrategy,
  nowMs: number,
  n: number,
  candidates = ALL,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const key = strategy.choose(nowMs, candidates) ?? 'none';
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

const outcome = (
  keyId: string,
  atMs: number,
  kind: UpstreamOutcome['outcome'],
  retryAfterMs?: number,
): UpstreamOutcome => ({
  keyId,
  atMs,
  outcome: kind,
  ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
});

function advice(
  keys: Record<string, { weight: number; state?: string; until?: number }>,
  validUntilMs: number,
): PoolAdvice {
  const parsed = parseAdvice({
    version: 3,
    generated_at: new Date(validUntilMs - 90_000).toISOString(),
    valid_until: new Date(validUntilMs).toISOString(),
    keys: Object.entries(keys).map(([key_id, k]) => ({
      key_id,
      weight: k.weight,
      state: k.state ?? 'active',
      ...(k.until === undefined ? {} : { until: new Date(k.until).toISOString() }),
      reason: 'test',
    })),
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.advice;
}

describe('key-choice strategies', () => {
  it('round-robin takes every key in turn, static follows the configured limits', () => {
    const rr = createStrategy('round-robin', KEYS);
    expect([0, 1, 2, 3, 4, 5].map(() => rr.choose(T0, ALL))).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(counts(createStrategy('static', KEYS), T0, 500)).toEqual({ a: 300, b: 100, c: 100 });
    // Only candidates are chosen: the gateway's rule has already left the others out.
    expect(counts(createStrategy('static', KEYS), T0, 10, ['b'])).toEqual({ b: 10 });
  });

  it('litellm-cooldown: a 429 takes a key out for its Retry-After (else 5 s); other failures only beyond allowed_fails a minute', () => {
    const s = createStrategy('litellm-cooldown', KEYS, { allowedFails: 2 });
    s.observe(outcome('a', T0, 'rate_limited', 2_000));
    expect(counts(s, T0 + 1_999, 50).a).toBeUndefined();
    expect(s.readyAtMs('a', T0 + 1_000)).toBe(T0 + 2_000);
    expect(counts(s, T0 + 2_000, 50).a).toBeGreaterThan(0);
    s.observe(outcome('b', T0, 'rate_limited'));
    expect(s.readyAtMs('b', T0)).toBe(T0 + 5_000);
    s.observe(outcome('c', T0, 'upstream_error'));
    s.observe(outcome('c', T0 + 10, 'timeout'));
    expect(s.readyAtMs('c', T0 + 20)).toBe(T0 + 20);
    s.observe(outcome('c', T0 + 20, 'overloaded'));
    expect(s.readyAtMs('c', T0 + 20)).toBe(T0 + 5_020);
    // A new minute starts the count again.
    s.observe(outcome('a', T0 + 70_000, 'upstream_error'));
    s.observe(outcome('a', T0 + 70_001, 'upstream_error'));
    expect(s.readyAtMs('a', T0 + 70_002)).toBe(T0 + 70_002);
  });

  it('kong-circuit-breaker: three consecutive failures open the circuit for 10 s; a success in between resets the count', () => {
    const s = createStrategy('kong-circuit-breaker', KEYS);
    s.observe(outcome('a', T0, 'rate_limited'));
    s.observe(outcome('a', T0 + 1, 'upstream_error'));
    s.observe(outcome('a', T0 + 2, 'ok'));
    s.observe(outcome('a', T0 + 3, 'timeout'));
    s.observe(outcome('a', T0 + 4, 'timeout'));
    expect(s.readyAtMs('a', T0 + 5)).toBe(T0 + 5);
    s.observe(outcome('a', T0 + 5, 'timeout'));
    expect(s.readyAtMs('a', T0 + 6)).toBe(T0 + 10_005);
    expect(counts(s, T0 + 6, 20).a).toBeUndefined();
    expect(counts(s, T0 + 10_005, 20).a).toBeGreaterThan(0);
    // A client error is the request's fault, not the key's.
    for (let i = 0; i < 5; i++) s.observe(outcome('b', T0 + i, 'client_error'));
    expect(s.readyAtMs('b', T0 + 10)).toBe(T0 + 10);
  });

  it('apipark-priority sends everything to the first key by priority the gateway allows', () => {
    const s = createStrategy('apipark-priority', [
      { keyId: 'a', weight: 1, priority: 5 },
      { keyId: 'b', weight: 1, priority: 1 },
      { keyId: 'c', weight: 1, priority: 3 },
    ]);
    expect(counts(s, T0, 10)).toEqual({ b: 10 });
    expect(counts(s, T0, 10, ['a', 'c'])).toEqual({ c: 10 });
  });

  it('bifrost-reweight moves weight by each key’s error rate at every interval, not in between', () => {
    const s = createStrategy('bifrost-reweight', [
      { keyId: 'a', weight: 1, priority: 0 },
      { keyId: 'b', weight: 1, priority: 1 },
    ]);
    s.choose(T0, ['a', 'b']);
    for (let i = 0; i < 10; i++) {
      s.observe(outcome('a', T0 + i, i < 8 ? 'rate_limited' : 'ok'));
      s.observe(outcome('b', T0 + i, 'ok'));
    }
    expect(counts(s, T0 + 4_999, 100, ['a', 'b'])).toEqual({ a: 50, b: 50 });
    // a: 80 % errors → weight 0.2 against b's 1.
    const after = counts(s, T0 + 5_000, 120, ['a', 'b']);
    // The picker's running scores carry over the change, so the split is 1:5 within a call or two.
    expect(Math.abs((after['a'] ?? 0) - 20)).toBeLessThanOrEqual(2);
  });

  it('headroom follows the advice, keeps a key held by `until` out until then, falls back to defaults after valid_until', () => {
    const s = createStrategy('headroom', KEYS);
    // Before any advice: the configured defaults.
    expect(counts(s, T0, 500)).toEqual({ a: 300, b: 100, c: 100 });
    s.applyAdvice?.(
      advice(
        {
          a: { weight: 0, state: 'exhausted', until: T0 + 60_000 },
          b: { weight: 0.25 },
          c: { weight: 0.75 },
        },
        T0 + 30_000,
      ),
      T0,
    );
    expect(counts(s, T0 + 1, 400)).toEqual({ b: 100, c: 300 });
    expect(s.readyAtMs('a', T0 + 1)).toBe(T0 + 60_000);
    // Advice expired: defaults again, but the exhausted key still waits for its until.
    expect(counts(s, T0 + 30_001, 200)).toEqual({ b: 100, c: 100 });
    expect(s.describe(T0 + 30_001).source).toMatch(/expired/);
    // Its until passed: back in with the defaults.
    expect(counts(s, T0 + 60_000, 500)).toEqual({ a: 300, b: 100, c: 100 });
  });

  it('headroom: a 304 keeps the advice valid; keys at weight 0 carry traffic only when no other key may', () => {
    const s = createStrategy('headroom', KEYS);
    s.applyAdvice?.(
      advice(
        { a: { weight: 1 }, b: { weight: 0 }, c: { weight: 0, state: 'cooling_down', until: T0 + 10_000 } },
        T0 + 90_000,
      ),
      T0,
    );
    expect(counts(s, T0, 10)).toEqual({ a: 10 });
    expect(counts(s, T0, 10, ['b', 'c'])).toEqual({ b: 10 });
    expect(s.choose(T0, ['c'])).toBeUndefined();
    s.confirmAdvice?.(T0 + 80_000);
    expect(s.describe(T0 + 120_000).source).toBe('advice v3');
    // A key the advice does not list gets the median advised weight.
    const withNew = createStrategy('headroom', [...KEYS, { keyId: 'd', weight: 1, priority: 3 }]);
    withNew.applyAdvice?.(
      advice({ a: { weight: 0.5 }, b: { weight: 0.3 }, c: { weight: 0.2 } }, T0 + 90_000),
      T0,
    );
    expect(withNew.describe(T0).weights['d']).toBeCloseTo(0.3 / 1.3, 5);
  });

  it('oracle weights usable keys by the requests they have left', () => {
    const s = createStrategy('oracle', KEYS);
    const state = parseSimulatorState({
      nowMs: T0,
      keys: [
        { keyId: 'a', usable: false, headroomRequests: 500, quotas: [] },
        { keyId: 'b', usable: true, headroomRequests: 30, quotas: [] },
        { keyId: 'c', usable: true, headroomRequests: 10, quotas: [] },
      ],
    });
    expect(state).toBeDefined();
    s.applySimulatorState?.(state!, T0);
    expect(counts(s, T0, 40)).toEqual({ b: 30, c: 10 });
    expect(s.choose(T0, ['a'])).toBeUndefined();
    expect(parseSimulatorState({ keys: [] })).toBeUndefined();
  });
});

describe('advice parsing', () => {
  it('names the offending field and value', () => {
    expect(parseAdvice({ version: 1, valid_until: 'soon', keys: [] })).toEqual({
      ok: false,
      error: 'valid_until="soon" is invalid: expected an RFC 3339 time or epoch ms',
    });
    const bad = parseAdvice({
      version: 1,
      valid_until: T0,
      keys: [{ key_id: 'a', weight: -1, state: 'active' }],
    });
    expect(bad.ok ? '' : bad.error).toBe('keys[0].weight=-1 is invalid: expected a number >= 0');
  });
});

describe('the gateway rule around every strategy', () => {
  const rule = { cooldownMs: 1_000, quotaCooldownMs: 60_000, authCooldownMs: 30_000 };

  it('cools a key down after a 429 for its Retry-After, and says when the first key is back when none is left', () => {
    const router = new KeyRouter(createStrategy('round-robin', KEYS), ALL, rule);
    router.observe(outcome('a', T0, 'rate_limited', 4_000));
    router.observe(outcome('b', T0, 'rate_limited'));
    router.observe(outcome('c', T0, 'quota_exhausted'));
    expect(router.choose(T0 + 500)).toEqual({ keyId: undefined, retryAtMs: T0 + 1_000 });
    expect(router.choose(T0 + 1_000)).toEqual({ keyId: 'b' });
    expect(router.choose(T0 + 1_000, new Set(['b']))).toEqual({ keyId: undefined, retryAtMs: T0 + 4_000 });
    expect(router.coolingUntilMs('c', T0)).toBe(T0 + 60_000);
  });

  it('takes a refused (revoked) key out, and combines its own cooldown with the strategy’s', () => {
    const router = new KeyRouter(createStrategy('kong-circuit-breaker', KEYS), ALL, rule);
    router.observe(outcome('a', T0, 'auth_error'));
    for (let i = 0; i < 3; i++) router.observe(outcome('b', T0, 'upstream_error'));
    const chosen = new Set<string>();
    for (let i = 0; i < 10; i++) chosen.add(router.choose(T0 + 1).keyId ?? 'none');
    expect([...chosen]).toEqual(['c']);
    expect(router.choose(T0 + 1, new Set(['c']))).toEqual({ keyId: undefined, retryAtMs: T0 + 10_000 });
  });
});

describe('gateway configuration', () => {
  const base = (keys: string): string => `
admin_token_env: GW_ADMIN
headroom: { url: "http://127.0.0.1:4318" }
pools:
  - name: prod
    base_url: http://127.0.0.1:9/v1
    keys:
${keys}
`;

  it('resolves secrets from the environment and defaults the weights to the limits', () => {
    const config = parseGatewayConfig(
      base(
        `      - { id: a, secret_env: KEY_A, requests_per_minute: 500 }\n      - { id: b, secret: sk-inline, format: azure, base_url: "https://x.openai.azure.com/openai/deployments/d1", query: { api-version: "2024-10-21" } }`,
      ),
      'gw.yaml',
      { KEY_A: 'sk-from-env', GW_ADMIN: 'admin' },
    );
    expect(config.adminToken).toBe('admin');
    expect(config.pools[0]?.strategy).toBe('headroom');
    expect(config.pools[0]?.keys.map((k) => [k.id, k.secret, k.weight, k.format])).toEqual([
      ['a', 'sk-from-env', 500, 'openai'],
      ['b', 'sk-inline', 1, 'azure'],
    ]);
    expect(Object.isFrozen(config.pools[0]?.keys[0])).toBe(true);
  });

  it('names the path, the value and what was expected, never quoting a secret', () => {
    const env = { GW_ADMIN: 'x' };
    expect(() =>
      parseGatewayConfig(base(`      - { id: a, secret: sk-123, requests_per_minute: -5 }`), 'gw.yaml', env),
    ).toThrow('pools[0].keys[0].requests_per_minute: -5 is invalid');
    expect(() => parseGatewayConfig(base(`      - { id: a, secret_env: MISSING }`), 'gw.yaml', env)).toThrow(
      'pools[0].keys[0].secret_env: "MISSING" is invalid: expected the name of a set environment variable (MISSING is not set)',
    );
    expect(() =>
      parseGatewayConfig(
        base(`      - { id: a, secret: sk-123 }`).replace('name: prod', 'name: prod\n    strategy: fastest'),
        'gw.yaml',
        env,
      ),
    ).toThrow('pools[0].strategy: "fastest" is invalid: expected one of headroom, round-robin,');
    expect(() =>
      parseGatewayConfig(base(`      - { id: a, secret: [sk-live-123] }`), 'gw.yaml', env),
    ).toThrow('pools[0].keys[0].secret: (hidden) is invalid');
    expect(() =>
      parseGatewayConfig(
        base(`      - { id: a, secret: sk-1 }\n      - { id: a, secret: sk-2 }`),
        'gw.yaml',
        env,
      ),
    ).toThrow('pools[0].keys[1].id: "a" is invalid: expected an id no other key of the pool has');
  });
});
