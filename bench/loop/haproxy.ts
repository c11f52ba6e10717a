/**
 * The loop's HAProxy scenario: the same app traffic through a real HAProxy to deployments with their
 * own quotas, once with HAProxy's own round robin, once with headroom pushing weights and states over
 * the Runtime API (the run of `npm run bench:haproxy`), as rows of the loop's table.
 */
import { DEFAULT_SCENARIO, runHaproxyLoop, type RunFigures } from '../../test/support/haproxy-loop.ts';
import { haproxyAvailable } from '../../test/support/haproxy.ts';
import { quantile } from '../forecast/random.ts';
import type { HaproxyFigures, ScenarioResult, StrategyResult } from './metrics.ts';

export const HAPROXY_SCENARIO = 'haproxy';
export const HAPROXY_WITHOUT = 'haproxy alone';
export const HAPROXY_WITH = 'haproxy+headroom push';

/** Why the scenario cannot run here, or undefined when it can. */
export function haproxyMissing(): string | undefined {
  return haproxyAvailable()
    ? undefined
    : 'haproxy is not installed (Debian: apt-get install -y haproxy); the HAProxy scenario is skipped';
}

function row(strategy: string, f: RunFigures, seconds: number): StrategyResult {
  // HAProxy does not retry: every call that reached a deployment is one upstream call.
  const failed = f.requests - f.ok - f.rateLimited;
  return {
    strategy,
    requests: f.requests,
    ok: f.ok,
    client429: f.rateLimited,
    clientOtherErrors: failed,
    upstreamCalls: f.ok + f.rateLimited,
    upstream429: f.rateLimited,
    wasted: f.rateLimited,
    goodputPerSecond: seconds > 0 ? f.ok / seconds : 0,
    p95Ms: f.latenciesMs.length === 0 ? 0 : quantile(f.latenciesMs, 0.95),
  };
}

function shares(f: RunFigures): Record<string, number> {
  const total = Object.values(f.servedBy).reduce((a, b) => a + b, 0);
  return Object.fromEntries(
    Object.entries(f.servedBy)
      .filter(([name]) => name !== '')
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, n]) => [name, total === 0 ? 0 : Math.round((1000 * n) / total) / 10]),
  );
}

export async function runHaproxyScenario(): Promise<ScenarioResult> {
  const scenario = DEFAULT_SCENARIO;
  const result = await runHaproxyLoop(scenario);
  const seconds = scenario.durationMs / 1000;
  const haproxy: HaproxyFigures = {
    spentDeployment: scenario.spentDeployment,
    shareBeforeSpentWithoutPct: Math.round(result.withoutHeadroom.shareBeforeSpentPercent * 10) / 10,
    shareBeforeSpentWithPct: Math.round(result.withHeadroom.shareBeforeSpentPercent * 10) / 10,
    sharesWithoutPct: shares(result.withoutHeadroom),
    sharesWithPct: shares(result.withHeadroom),
    weightedDownAtMs: result.weightedDownAtMs ?? null,
    maintAtMs: result.maintAtMs ?? null,
    readyAgainAtMs: result.readyAgainAtMs ?? null,
    resetAtMs: result.resetAtMs,
    pushes: result.pushes.length,
    pushFailures: result.pushes.filter((p) => p.outcome !== 'success').length,
  };
  return {
    scenario: HAPROXY_SCENARIO,
    description:
      `HAProxy without headroom / with headroom push: ${scenario.deployments.map((d) => `${d.name} ${d.limit}`).join(', ')} ` +
      `requests per ${scenario.windowMs / 1000} s window, ${scenario.requestsPerSecond} req/s; ` +
      `${scenario.spentDeployment} spent by another consumer at ${scenario.spendAtMs / 1000} s`,
    clock: 'real',
    enoughCapacity: true,
    durationSeconds: seconds,
    strategies: [
      row(HAPROXY_WITHOUT, result.withoutHeadroom, seconds),
      row(HAPROXY_WITH, result.withHeadroom, seconds),
    ],
    haproxy,
  };
}
