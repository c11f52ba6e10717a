import { describe, expect, it } from 'vitest';
import { loadConfig, parseHeadroomFile } from '../../src/config/index.ts';
import {
  decidePush,
  haproxyCommands,
  nextReenableAtMs,
  reenableExpiredKeys,
  scaleHaproxyWeights,
  type Advice,
  type TargetPushState,
} from '../../src/rebalance/index.ts';

const NOW = 1_763_740_800_000;

function advice(version: number, keys: Advice['keys']): Advice {
  return { pool: 'p', version, generated_at: NOW, valid_until: NOW + 90_000, keys, pool_state: 'ok' };
}

const EXHAUSTED = advice(3, [
  { key_id: 'a', weight: 0.6, state: 'active', reason: 'r' },
  { key_id: 'b', weight: 0.4, state: 'active', reason: 'r' },
  {
    key_id: 'c',
    weight: 0,
    state: 'exhausted',
    until: NOW + 20_000,
    reason: 'requests_per_minute at its limit',
  },
]);

const fresh: TargetPushState = { decided: undefined, lastOutcome: undefined, inFlight: false };

describe('when to push', () => {
  it('pushes a new version once, and again only when the last push did not succeed', () => {
    const first = decidePush(fresh, EXHAUSTED, NOW);
    expect(first).toMatchObject({ trigger: 'advice', advice: EXHAUSTED });
    const pushed: TargetPushState = { decided: first?.identity, lastOutcome: 'success', inFlight: false };
    expect(decidePush(pushed, EXHAUSTED, NOW + 1_000)).toBeUndefined();
    expect(decidePush({ ...pushed, lastOutcome: 'retryable' }, EXHAUSTED, NOW + 1_000)?.trigger).toBe(
      'retry',
    );
    expect(decidePush({ ...pushed, lastOutcome: 'failure' }, EXHAUSTED, NOW + 1_000)?.trigger).toBe('retry');
    // Not while the previous push is still being tried.
    expect(decidePush({ ...pushed, lastOutcome: 'failure', inFlight: true }, EXHAUSTED, NOW)).toBeUndefined();
    expect(decidePush(pushed, { ...EXHAUSTED, version: 4 }, NOW)?.trigger).toBe('advice');
  });

  it('re-enables a key when its until passes, though the advice did not change', () => {
    const first = decidePush(fresh, EXHAUSTED, NOW);
    const pushed: TargetPushState = { decided: first?.identity, lastOutcome: 'success', inFlight: false };
    expect(nextReenableAtMs(EXHAUSTED, NOW)).toBe(NOW + 20_000);
    const later = decidePush(pushed, EXHAUSTED, NOW + 20_000);
    expect(later?.trigger).toBe('reenable');
    expect(later?.advice.version).toBe(3);
    const c = later?.advice.keys.find((k) => k.key_id === 'c');
    expect(c).toMatchObject({ state: 'active', weight: 0.333333 });
    expect(c?.until).toBeUndefined();
    expect(later?.advice.keys.reduce((s, k) => s + k.weight, 0)).toBeCloseTo(1, 5);
    expect(nextReenableAtMs(later?.advice as Advice, NOW + 20_000)).toBeUndefined();
    // Pushed once: the same expired advice does not push again.
    const again: TargetPushState = { decided: later?.identity, lastOutcome: 'success', inFlight: false };
    expect(decidePush(again, EXHAUSTED, NOW + 25_000)).toBeUndefined();
  });

  it('leaves advice alone while every until is ahead, and gives an equal share when no key is in use', () => {
    expect(reenableExpiredKeys(EXHAUSTED, NOW + 19_999)).toBe(EXHAUSTED);
    const allOut = advice(1, [
      { key_id: 'a', weight: 0, state: 'cooling_down', until: NOW, reason: 'r' },
      { key_id: 'b', weight: 0, state: 'exhausted', until: NOW + 60_000, reason: 'r' },
    ]);
    expect(reenableExpiredKeys(allOut, NOW).keys.map((k) => k.weight)).toEqual([1, 0]);
  });
});

describe('HAProxy Runtime API commands', () => {
  it('scales weights to 1..256 relative to the heaviest key, zero only for keys taken out', () => {
    expect(scaleHaproxyWeights([0.6, 0.4, 0, 0.0001])).toEqual([256, 171, 0, 1]);
    expect(scaleHaproxyWeights([0, 0])).toEqual([0, 0]);
  });

  it('puts a key taken out in maint and the others ready with their weight, only for mapped keys', () => {
    expect(haproxyCommands(EXHAUSTED, 'azure', { a: 'dep-a', c: 'dep-c' })).toEqual([
      'set server azure/dep-a state ready',
      'set server azure/dep-a weight 256',
      'set server azure/dep-c state maint',
    ]);
  });
});

describe('push target configuration', () => {
  const file = (push: string): string => `pools: [{ name: azure, push: [${push}] }]`;

  it('resolves each target with its secret from the environment, named by type by default', () => {
    const config = loadConfig({
      env: { LITELLM_MASTER_KEY: 'sk-master', HOOK_SECRET: 'whsec' },
      overrides: {
        file: parseHeadroomFile(
          file(`{ type: haproxy, address: 'unix:/run/haproxy/admin.sock', backend: azure, keys: { key-a: dep-a } },
                { type: litellm, url: 'http://litellm:4000', token_env: LITELLM_MASTER_KEY, keys: { key-a: m-1 } },
                { type: webhook, name: ops-hook, url: 'https://ops.example/hook', secret_env: HOOK_SECRET }`),
          'h.yaml',
        ),
      },
    });
    expect(config.pushTargets).toEqual([
      expect.objectContaining({
        pool: 'azure',
        name: 'haproxy',
        type: 'haproxy',
        timeout_ms: 5_000,
        deadline_ms: 30_000,
      }),
      expect.objectContaining({ name: 'litellm', token: 'sk-master', keys: { 'key-a': 'm-1' } }),
      expect.objectContaining({ name: 'ops-hook', secret: 'whsec' }),
    ]);
  });

  it('stops with the path, the value and what was expected', () => {
    const parse = (push: string): unknown =>
      loadConfig({ env: {}, overrides: { file: parseHeadroomFile(file(push), 'h.yaml') } });
    expect(() => parse(`{ type: nginx, url: 'http://x' }`)).toThrow(
      'h.yaml is invalid: pools[0].push[0].type: "nginx" is invalid: expected a push target type: one of haproxy, litellm, bifrost, gateway, webhook',
    );
    expect(() => parse(`{ type: bifrost, url: 'ftp://x', provider: openai, keys: {} }`)).toThrow(
      'pools[0].push[0].url: "ftp://x" is invalid: expected an absolute http:// or https:// URL',
    );
    expect(() => parse(`{ type: haproxy, address: 'localhost', backend: b, keys: {} }`)).toThrow(
      'pools[0].push[0].address: "localhost" is invalid: expected unix:/path/to/admin.sock, an absolute socket path, or host:port',
    );
    expect(() =>
      parse(
        `{ type: haproxy, address: '127.0.0.1:9999', backend: b, keys: { a: 'srv; shutdown sessions' } }`,
      ),
    ).toThrow(
      /pools\[0\]\.push\[0\]\.keys\.a: "srv; shutdown sessions" is invalid: expected an HAProxy name/,
    );
    expect(() => parse(`{ type: litellm, url: 'http://x', token_env: MISSING, keys: {} }`)).toThrow(
      'the configuration is invalid: pools[0].push[0].token_env: "MISSING" is invalid: expected the name of a set, non-empty environment variable',
    );
    expect(() => parse(`{ type: webhook, url: 'http://x' }`)).toThrow(
      'pools[0].push[0].secret is missing: expected a signing secret (secret or secret_env)',
    );
    expect(() => parse(`{ type: gateway, url: 'http://a' }, { type: gateway, url: 'http://b' }`)).toThrow(
      /pools\[0\]\.push\[1\]\.name: "gateway" is invalid: expected a name unique within pool "azure"/,
    );
    let message = '';
    try {
      parse(`{ type: litellm, url: 'http://x', token: 'sk-visible', keys: { a: '' } }`);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/pools\[0\]\.push\[0\]\.keys\.a: "" is invalid/);
    expect(message).not.toContain('sk-visible');
    expect(() =>
      parseHeadroomFile(
        "pools: [{ name: p, push: [{ type: litellm, url: 'http://x', master_key: sk-slip, keys: {} }] }]",
        'h.yaml',
      ),
    ).toThrow(/pools\[0\]\.push\[0\]\.master_key: \(hidden\) is not a known field/);
  });
});
