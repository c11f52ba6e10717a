/** What one strategy did in one scenario, as the clients and the provider saw it. */
import { quantile } from '../forecast/random.ts';

export interface StrategyResult {
  strategy: string;
  requests: number;
  /** Client requests answered 2xx. */
  ok: number;
  /** Client requests answered 429 (after the gateway's retry on another key). */
  client429: number;
  /** Other client-visible failures (401 passed through, 5xx). */
  clientOtherErrors: number;
  /** Calls the gateway made to the provider. */
  upstreamCalls: number;
  /** Of them, answered 429 (rate limited or quota exhausted). */
  upstream429: number;
  /** Upstream calls that served no client: every call but the successful ones. */
  wasted: number;
  /** Successful client requests per second of the run. */
  goodputPerSecond: number;
  /** p95 of the client-visible latency (every request, retries included), ms. */
  p95Ms: number;
}

export interface ScenarioResult {
  scenario: string;
  description: string;
  clock: 'real' | 'virtual';
  enoughCapacity: boolean;
  durationSeconds: number;
  strategies: StrategyResult[];
  /** Under-provisioned day-long scenarios: the pool-dry signal against the first pool-wide 429. */
  poolDry?: PoolDryResult;
  /** Enough capacity: analytics cycles whose advice said the pool runs dry (false alarms). */
  falseDryCycles?: number;
  /** The HAProxy scenario: where the traffic went and what headroom pushed. */
  haproxy?: HaproxyFigures;
}

export interface HaproxyFigures {
  /** The deployment another consumer spends part-way through the first window. */
  spentDeployment: string;
  /** Its share of the requests from when headroom weighted it down until it was spent, %. */
  shareBeforeSpentWithoutPct: number;
  shareBeforeSpentWithPct: number;
  /** Share of the requests each deployment served, %. */
  sharesWithoutPct: Record<string, number>;
  sharesWithPct: Record<string, number>;
  /** ms from the start of the traffic. */
  weightedDownAtMs: number | null;
  maintAtMs: number | null;
  readyAgainAtMs: number | null;
  resetAtMs: number;
  pushes: number;
  pushFailures: number;
}

export interface PoolDryResult {
  /** Per simulated day: first client-visible 429 with every key refused or held out, and the lead. */
  days: Array<{
    day: number;
    firstPoolWide429Ms: number | null;
    signalSinceMs: number | null;
    leadMinutes: number | null;
  }>;
  /** The smallest lead over the days after the first (which has no history), minutes. */
  minLeadMinutes: number | null;
}

/** Accumulates one strategy's client-side figures. */
export class ClientTally {
  readonly latencies: number[] = [];
  requests = 0;
  ok = 0;
  client429 = 0;
  otherErrors = 0;

  record(status: number, latencyMs: number): void {
    this.requests += 1;
    this.latencies.push(latencyMs);
    if (status >= 200 && status < 300) this.ok += 1;
    else if (status === 429) this.client429 += 1;
    else this.otherErrors += 1;
  }

  result(
    strategy: string,
    upstream: { calls: number; tooMany: number; ok: number },
    seconds: number,
  ): StrategyResult {
    return {
      strategy,
      requests: this.requests,
      ok: this.ok,
      client429: this.client429,
      clientOtherErrors: this.otherErrors,
      upstreamCalls: upstream.calls,
      upstream429: upstream.tooMany,
      wasted: Math.max(0, upstream.calls - upstream.ok),
      goodputPerSecond: seconds > 0 ? this.ok / seconds : 0,
      p95Ms: this.latencies.length === 0 ? 0 : quantile(this.latencies, 0.95),
    };
  }
}

function pad(text: string, width: number, left = false): string {
  return left ? text.padEnd(width) : text.padStart(width);
}

/** One table for every scenario: a row per strategy, goodput relative to the oracle. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push('');
    lines.push(
      `${r.scenario} (${r.clock === 'real' ? 'real time' : 'virtual clock'}, ${Math.round(r.durationSeconds)} s${r.enoughCapacity ? '' : ', not enough capacity'}): ${r.description}`,
    );
    lines.push(
      `  ${pad('strategy', 22, true)}${pad('requests', 9)}${pad('client 429', 11)}${pad('other err', 10)}${pad('upstream 429', 13)}${pad('wasted', 8)}${pad('goodput/s', 10)}${pad('vs oracle', 10)}${pad('p95 ms', 8)}`,
    );
    const oracle = r.strategies.find((s) => s.strategy === 'oracle');
    for (const s of r.strategies) {
      const relative =
        oracle !== undefined && oracle.ok > 0 ? `${((s.ok / oracle.ok - 1) * 100).toFixed(1)} %` : '-';
      lines.push(
        `  ${pad(s.strategy, 22, true)}${pad(String(s.requests), 9)}${pad(String(s.client429), 11)}${pad(String(s.clientOtherErrors), 10)}${pad(String(s.upstream429), 13)}${pad(String(s.wasted), 8)}${pad(s.goodputPerSecond.toFixed(3), 10)}${pad(relative, 10)}${pad(String(Math.round(s.p95Ms)), 8)}`,
      );
    }
    if (r.poolDry !== undefined) {
      for (const d of r.poolDry.days) {
        lines.push(
          `  day ${d.day}: first pool-wide 429 ${d.firstPoolWide429Ms === null ? 'none' : new Date(d.firstPoolWide429Ms).toISOString()}, ` +
            `pool-dry advice since ${d.signalSinceMs === null ? 'never' : new Date(d.signalSinceMs).toISOString()}, ` +
            `lead ${d.leadMinutes === null ? '-' : `${Math.round(d.leadMinutes)} min`}`,
        );
      }
    }
    const h = r.haproxy;
    if (h !== undefined) {
      const list = (shares: Record<string, number>): string =>
        Object.entries(shares)
          .map(([name, pct]) => `${name} ${pct.toFixed(1)} %`)
          .join(', ');
      lines.push(
        `  shares without headroom: ${list(h.sharesWithoutPct)}; with push: ${list(h.sharesWithPct)}`,
      );
      lines.push(
        `  ${h.spentDeployment}: share once weighted down, before spent ${h.shareBeforeSpentWithoutPct.toFixed(1)} % without, ` +
          `${h.shareBeforeSpentWithPct.toFixed(1)} % with push; weighted down at ${h.weightedDownAtMs ?? '-'} ms, ` +
          `maint at ${h.maintAtMs ?? '-'} ms, ready again at ${h.readyAgainAtMs ?? '-'} ms (reset at ${h.resetAtMs} ms); ` +
          `${h.pushes} pushes, ${h.pushFailures} failed`,
      );
    }
    if (r.falseDryCycles !== undefined)
      lines.push(`  cycles advising runs_dry (false alarms): ${r.falseDryCycles}`);
  }
  return lines.join('\n');
}
