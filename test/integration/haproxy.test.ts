import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverWithRetry } from '../../src/delivery/index.ts';
import type { Advice, PushTarget } from '../../src/rebalance/index.ts';
import { haproxyAvailable, startHaproxy, type Haproxy } from '../support/haproxy.ts';
import { runHaproxyLoop, DEFAULT_SCENARIO } from '../support/haproxy-loop.ts';
import { pushTargetFrom, threeKeyAdvice } from '../support/push-target.ts';
import { startQuotaUpstreams, type QuotaUpstreams } from '../support/quota-upstream.ts';
import { freePort } from '../support/service.ts';

if (!haproxyAvailable()) {
  throw new Error("haproxy not found: install Debian's haproxy (apt-get install -y haproxy; .ci/run does)");
}

const NOW = Date.now();
const ADVICE = threeKeyAdvice({ nowMs: NOW, version: 2, weights: [0.6, 0.4], untilMs: NOW + 60_000 });
const POLICY = { baseDelayMillis: 50, maxDelayMillis: 100, maxAttempts: 5, deadlineMillis: 600 };

function haproxyTarget(address: string, keys: string): PushTarget {
  return pushTargetFrom(
    `{ type: haproxy, address: '${address}', backend: deployments, keys: ${keys}, timeout_ms: 500 }`,
  );
}

describe('HAProxy Runtime API target against a real HAProxy (TCP socket)', () => {
  let upstreams: QuotaUpstreams;
  let haproxy: Haproxy;
  beforeAll(async () => {
    upstreams = await startQuotaUpstreams(
      ['dep-a', 'dep-b', 'dep-c'].map((name) => ({ name, limit: 100 })),
      60_000,
    );
    haproxy = await startHaproxy(
      upstreams.deployments.map((d) => ({ name: d.name, port: d.port })),
      { runtime: 'tcp' },
    );
  });
  afterAll(async () => {
    await haproxy.stop();
    await upstreams.close();
  });

  it('sets scaled weights, puts a key taken out in maint, and brings it back ready', async () => {
    const target = haproxyTarget(haproxy.runtimeAddress, '{ key-a: dep-a, key-b: dep-b, key-c: dep-c }');
    const signal = new AbortController().signal;
    expect(await deliverWithRetry(() => target.push(ADVICE, signal), POLICY)).toMatchObject({
      kind: 'success',
    });
    expect(Object.fromEntries(await haproxy.serverStates())).toEqual({
      'dep-a': { maint: false, weight: 256 },
      'dep-b': { maint: false, weight: 171 },
      'dep-c': { maint: true, weight: 100 },
    });
    // Traffic follows: dep-c gets nothing, dep-a about 3 in 5.
    const served: string[] = [];
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${haproxy.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
      await response.text();
      served.push(response.headers.get('x-served-by') ?? '');
    }
    expect(served.filter((s) => s === 'dep-c')).toHaveLength(0);
    expect(served.filter((s) => s === 'dep-a').length).toBeGreaterThanOrEqual(10);

    const back: Advice = {
      ...ADVICE,
      version: 3,
      keys: ADVICE.keys.map((k) => ({ key_id: k.key_id, weight: 1 / 3, state: 'active', reason: 'r' })),
    };
    expect((await target.push(back, signal)).kind).toBe('success');
    expect(Object.fromEntries(await haproxy.serverStates())).toEqual({
      'dep-a': { maint: false, weight: 256 },
      'dep-b': { maint: false, weight: 256 },
      'dep-c': { maint: false, weight: 256 },
    });
  });

  it("takes HAProxy's error text as a failure and does not retry it", async () => {
    const target = haproxyTarget(haproxy.runtimeAddress, '{ key-a: no-such-server }');
    const result = await deliverWithRetry(() => target.push(ADVICE, new AbortController().signal), POLICY);
    expect(result).toMatchObject({ kind: 'failure', attempts: 1 });
    expect(result.kind !== 'success' && result.error.message).toMatch(
      /refused "set server deployments\/no-such-server state ready": No such server\./,
    );
  });

  it('retries a Runtime API that is not listening, within the deadline', async () => {
    const target = haproxyTarget(`127.0.0.1:${await freePort()}`, '{ key-a: dep-a }');
    const result = await deliverWithRetry(() => target.push(ADVICE, new AbortController().signal), POLICY);
    expect(result.kind).toBe('retryable');
    expect(result.attempts).toBeGreaterThanOrEqual(2);
    expect(result.elapsedMillis).toBeLessThan(POLICY.deadlineMillis + 500);
  });
});

describe('HAProxy end to end: headroom steers a real HAProxy over its Runtime API', () => {
  it('moves traffic off the deployment about to run dry, takes it out when spent and back at its reset, with fewer 429s', async () => {
    const result = await runHaproxyLoop();
    const { withoutHeadroom: plain, withHeadroom: pushed } = result;
    console.log(
      [
        `                        requests  ok  429s  dep-c share from weighted down to spent`,
        `round robin only        ${plain.requests}       ${plain.ok}  ${plain.rateLimited}    ${plain.shareBeforeSpentPercent.toFixed(1)} %`,
        `with headroom push      ${pushed.requests}       ${pushed.ok}  ${pushed.rateLimited}    ${pushed.shareBeforeSpentPercent.toFixed(1)} %`,
        `dep-c weighted down at ${result.weightedDownAtMs} ms, spent at ${DEFAULT_SCENARIO.spendAtMs} ms, ` +
          `maint at ${result.maintAtMs} ms, ready again at ${result.readyAgainAtMs} ms (reset at ${result.resetAtMs} ms); ` +
          `pushes: ${result.pushes.map((p) => `${p.trigger}:${p.outcome}`).join(' ')}`,
        `setup ${result.timings.setupMs} ms, traffic ${result.timings.runMs} ms, stop ${result.timings.cleanupMs} ms`,
      ].join('\n'),
    );
    // Round robin alone sends a third of the traffic to the small deployment, then 429s once it is spent.
    expect(plain.rateLimited).toBeGreaterThanOrEqual(10);
    // Traffic moves off the deployment about to run dry before it does.
    expect(result.weightedDownAtMs).toBeDefined();
    expect(result.weightedDownAtMs as number).toBeLessThan(DEFAULT_SCENARIO.spendAtMs);
    expect(pushed.shareBeforeSpentPercent).toBeLessThan(plain.shareBeforeSpentPercent / 2);
    // Spent: maint; back to ready once its quota resets, not before.
    expect(result.maintAtMs as number).toBeGreaterThan(DEFAULT_SCENARIO.spendAtMs);
    expect(result.maintAtMs as number).toBeLessThan(result.resetAtMs);
    expect(result.readyAgainAtMs as number).toBeGreaterThanOrEqual(result.resetAtMs - 50);
    // Timers run late while the embedded ClickHouse holds the event loop on a loaded machine.
    expect(result.readyAgainAtMs as number).toBeLessThan(result.resetAtMs + 3_000);
    expect(result.pushes.some((p) => p.trigger === 'reenable')).toBe(true);
    expect(result.pushes.every((p) => p.outcome === 'success')).toBe(true);
    // The app sees far fewer 429s for the same traffic and quotas.
    expect(pushed.rateLimited).toBeLessThan(plain.rateLimited / 3);
  }, 90_000); // about 33 s; the margin is for a machine loaded by other work
});
