import { describe, expect, it } from 'vitest';
import { haproxyAvailable } from '../support/haproxy.ts';
import { runHaproxyLoop, type LoopScenario, type RunFigures } from '../support/haproxy-loop.ts';

if (!haproxyAvailable()) {
  throw new Error("haproxy not found: install Debian's haproxy (apt-get install -y haproxy; .ci/run does)");
}

const DURATION_MS = 24_000;

/** Three Azure OpenAI deployments, one key each; dep-c's 12 requests per minute run dry under round robin. */
const SCENARIO: LoopScenario = {
  deployments: [],
  spentDeployment: 'dep-c',
  spendAtMs: DURATION_MS,
  windowMs: 60_000,
  durationMs: DURATION_MS,
  requestsPerSecond: 6,
  analyticsIntervalSeconds: 1,
  simulator: {
    seed: 11,
    responses: { output_tokens: { min: 5, max: 20 } },
    latency: { base_ms: 20, per_output_token_ms: 0, jitter_ratio: 0.1 },
    keys: [
      { name: 'dep-a', rpm: 600 },
      { name: 'dep-b', rpm: 600 },
      { name: 'dep-c', rpm: 12 },
    ].map(({ name, rpm }) => ({
      id: name,
      secret: `azure-sim-${name}-secret`,
      provider: 'azure',
      deployment: `gpt-4o-mini-${name}`,
      limits: [{ dimension: 'requests', window: 'minute', limit: rpm }],
    })),
  },
};

const share = (f: RunFigures, name: string): number => (100 * (f.servedBy[name] ?? 0)) / f.requests;

describe('HAProxy end to end over provider simulator deployments', () => {
  it('balances one server per Azure deployment; headroom weights the small one down and the app sees fewer 429s', async () => {
    const result = await runHaproxyLoop(SCENARIO);
    const { withoutHeadroom: plain, withHeadroom: pushed } = result;
    const shares = (f: RunFigures) =>
      ['dep-a', 'dep-b', 'dep-c'].map((n) => `${n} ${share(f, n).toFixed(1)} %`).join(', ');
    console.log(
      [
        `                        requests  ok  429s  shares`,
        `round robin only        ${plain.requests}       ${plain.ok}  ${plain.rateLimited}    ${shares(plain)}`,
        `with headroom push      ${pushed.requests}       ${pushed.ok}  ${pushed.rateLimited}    ${shares(pushed)}`,
        `dep-c weighted down at ${result.weightedDownAtMs} ms, maint at ${result.maintAtMs} ms, ` +
          `ready again at ${result.readyAgainAtMs} ms; ` +
          `pushes: ${result.pushes.map((p) => `${p.trigger}:${p.outcome}`).join(' ')}`,
        `setup ${result.timings.setupMs} ms, traffic ${result.timings.runMs} ms, stop ${result.timings.cleanupMs} ms`,
      ].join('\n'),
    );
    // Every call went through HAProxy to a deployment that knew its key: no 401/404 and no failures.
    for (const f of [plain, pushed]) {
      expect(f.ok + f.rateLimited).toBe(f.requests);
      expect(Object.keys(f.servedBy).sort()).toEqual(['dep-a', 'dep-b', 'dep-c']);
    }
    // Round robin alone gives dep-c a third of the traffic and runs it dry.
    expect(share(plain, 'dep-c')).toBeGreaterThan(30);
    expect(plain.rateLimited).toBeGreaterThanOrEqual(15);
    // headroom learnt dep-c's per-minute limit from the simulator's headers and moved traffic off it.
    expect(result.pushes.length).toBeGreaterThan(0);
    expect(result.pushes.every((p) => p.outcome === 'success')).toBe(true);
    expect(share(pushed, 'dep-c')).toBeLessThan(share(plain, 'dep-c') / 2);
    // Same seeded run, same traffic: far fewer 429s reach the app.
    expect(pushed.rateLimited).toBeLessThan(plain.rateLimited / 3);
  }, 60_000); // about 28 s; the margin is for a machine loaded by other work
});
