/**
 * Day-long runs on a virtual clock. The provider simulator and the gateway's key router (its
 * strategies, cooldowns and one retry on another key) take time as an argument, so days pass in
 * seconds. headroom is the real service in this process: the headroom pool's calls become spans
 * through the SDK's `recordApiCall` (with their virtual times), exported over OTLP to its ingest and
 * committed to embedded ClickHouse; the analytics cycle runs every ten virtual minutes with the
 * virtual `nowMs`; the gateway's strategy takes the advice from `GET /v1/pools/:pool/advice`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startService } from '../../src/cli/service.ts';
import { loadConfig, parseGatewayConfig } from '../../src/config/index.ts';
import { zonedTimeToUtc, zoneOffsetMs } from '../../src/forecast/index.ts';
import { createStrategy, isRateLimit, isRetryable, KeyRouter, parseAdvice } from '../../src/gateway/index.ts';
import { recordApiCall, startTelemetry } from '../../src/sdk/index.ts';
import { createSimulator, parseScenario, type ProviderSimulator } from '../../src/simulator/index.ts';
import { normaliseResponse } from '../../src/telemetry/index.ts';
import { makeDataDir } from '../../test/support/service.ts';
import { buildArrivals, type Arrival } from './demand.ts';
import { ClientTally, type PoolDryResult, type ScenarioResult } from './metrics.ts';
import {
  gatewayPool,
  keyIdOf,
  partitionIdOf,
  simulatorScenario,
  type LoopScenario,
  type StrategyName,
} from './scenarios.ts';

const DAY_MS = 86_400_000;
const CYCLE_MS = 10 * 60_000;
const ATTEMPTS = 2;

/** Local midnight in `timeZone`, four days before today: the run ends in the recent past. */
function startOfRun(timeZone: string): number {
  const local = new Date(Date.now() + zoneOffsetMs(timeZone, Date.now()) - 4 * DAY_MS);
  return zonedTimeToUtc(timeZone, local.getUTCFullYear(), local.getUTCMonth() + 1, local.getUTCDate());
}

function headroomYaml(scenario: LoopScenario): string {
  const keys = scenario.keys
    .map((k) => {
      const quotas =
        k.requestsPerDay === undefined
          ? '[]'
          : `[{ dimension: requests, window: day, limit: ${k.requestsPerDay}, time_zone: ${scenario.timeZone} }]`;
      const partition =
        k.partition === undefined ? '' : `, partition: ${partitionIdOf('headroom', k.partition)}`;
      return `      - { id: ${keyIdOf('headroom', k)}${partition}, quotas: ${quotas} }`;
    })
    .join('\n');
  return `analytics: { interval_seconds: ${CYCLE_MS / 1000}, history_days: 3 }
pools:
  - name: headroom
    keys:
${keys}
`;
}

interface Attempt {
  status: number;
  latencyMs: number;
  outcome: ReturnType<typeof normaliseResponse>['outcome'];
  retryAfterMs: number | undefined;
}

interface Run {
  strategy: StrategyName;
  simulator: ProviderSimulator;
  router: KeyRouter;
  secrets: Map<string, string>;
  partitions: Map<string, string | undefined>;
  tally: ClientTally;
  /** Times of client-visible 429s while no key of the pool could take a call. */
  poolWide429Ms: number[];
}

function callOnce(run: Run, keyId: string, arrival: Arrival, atMs: number, spans: boolean): Attempt {
  const body = JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'x'.repeat(Math.min(64, arrival.inputTokens)) }],
    max_tokens: arrival.maxOutputTokens,
  });
  const answer = run.simulator.handle(
    {
      method: 'POST',
      url: '/v1/chat/completions',
      headers: {
        authorization: `Bearer ${run.secrets.get(keyId) ?? ''}`,
        'content-type': 'application/json',
      },
      body,
    },
    atMs,
  );
  const endMs = atMs + answer.delayMs;
  const errorBody = answer.status >= 400 ? answer.body : undefined;
  const normalised = normaliseResponse({
    provider: 'openai',
    statusCode: answer.status,
    headers: answer.headers,
    body: errorBody,
    nowMs: endMs,
  });
  run.router.observe({
    keyId,
    atMs: endMs,
    outcome: normalised.outcome,
    statusCode: answer.status,
    ...(normalised.retryAfterMs === undefined ? {} : { retryAfterMs: normalised.retryAfterMs }),
  });
  if (spans) {
    const decision = answer.decision;
    const partition = run.partitions.get(keyId);
    recordApiCall({
      pool: run.strategy,
      keyId,
      provider: 'openai',
      requestModel: 'gpt-4o-mini',
      statusCode: answer.status,
      headers: answer.headers,
      consumer: arrival.client,
      startTimeMs: atMs,
      endTimeMs: endMs,
      ...(partition === undefined ? {} : { partition }),
      ...(errorBody === undefined ? {} : { errorBody }),
      ...(decision !== undefined && answer.status < 400
        ? { inputTokens: decision.inputTokens, outputTokens: decision.outputTokens }
        : {}),
    });
  }
  return {
    status: answer.status,
    latencyMs: answer.delayMs,
    outcome: normalised.outcome,
    retryAfterMs: normalised.retryAfterMs,
  };
}

/** One client request through the gateway's rule: a key, one retry on another key, 429 when none. */
function serve(run: Run, arrival: Arrival, atMs: number, spans: boolean): void {
  const tried = new Set<string>();
  let latencyMs = 0;
  let last: Attempt | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const choice = run.router.choose(atMs + latencyMs, tried);
    if (choice.keyId === undefined) break;
    tried.add(choice.keyId);
    last = callOnce(run, choice.keyId, arrival, atMs + latencyMs, spans);
    latencyMs += last.latencyMs;
    if (last.status < 400) {
      run.tally.record(last.status, latencyMs);
      return;
    }
    if (!isRetryable(last.outcome)) break;
  }
  const status = last === undefined || isRateLimit(last.outcome) ? 429 : last.status;
  run.tally.record(status, latencyMs);
  if (status === 429 && run.simulator.state(atMs + latencyMs).keys.every((k) => !k.usable))
    run.poolWide429Ms.push(atMs);
}

function createRun(
  scenario: LoopScenario,
  strategy: StrategyName,
  startMs: number,
  headroomUrl: string,
): Run {
  const simulator = createSimulator(parseScenario(simulatorScenario(scenario, [strategy]), scenario.name), {
    startMs,
  });
  const config = parseGatewayConfig(
    // The gateway's own spans and polling are not used: this run records spans and applies advice itself.
    JSON.stringify({
      headroom: { url: headroomUrl, spans: false },
      pools: [gatewayPool(scenario, strategy, 'http://127.0.0.1:9')],
    }),
    `${scenario.name} gateway`,
    {},
  );
  const pool = config.pools[0];
  if (pool === undefined) throw new Error('the gateway configuration has no pool');
  const router = new KeyRouter(
    createStrategy(
      pool.strategy,
      pool.keys.map((k) => ({ keyId: k.id, weight: k.weight, priority: k.priority })),
      pool.strategyOptions,
    ),
    pool.keys.map((k) => k.id),
    config,
  );
  return {
    strategy,
    simulator,
    router,
    secrets: new Map(pool.keys.map((k) => [k.id, k.secret])),
    partitions: new Map(pool.keys.map((k) => [k.id, k.partition])),
    tally: new ClientTally(),
    poolWide429Ms: [],
  };
}

/** Per day, from the first pool-wide 429 back: since when every cycle's advice said runs_dry. */
function poolDryLead(
  startMs: number,
  days: number,
  poolWide429Ms: readonly number[],
  cycles: ReadonlyArray<{ atMs: number; dry: boolean }>,
): PoolDryResult {
  const result: PoolDryResult['days'] = [];
  for (let day = 0; day < days; day += 1) {
    const dayStart = startMs + day * DAY_MS;
    const first = poolWide429Ms.find((t) => t >= dayStart && t < dayStart + DAY_MS) ?? null;
    let since: number | null = null;
    if (first !== null) {
      for (let i = cycles.length - 1; i >= 0; i -= 1) {
        const c = cycles[i] as { atMs: number; dry: boolean };
        if (c.atMs > first) continue;
        if (c.atMs < dayStart || !c.dry) break;
        since = c.atMs;
      }
    }
    result.push({
      day: day + 1,
      firstPoolWide429Ms: first,
      signalSinceMs: since,
      leadMinutes: first === null ? null : since === null ? 0 : (first - since) / 60_000,
    });
  }
  const later = result.slice(1).filter((d) => d.leadMinutes !== null);
  return {
    days: result,
    minLeadMinutes: later.length === 0 ? null : Math.min(...later.map((d) => d.leadMinutes as number)),
  };
}

export async function runVirtual(
  scenario: LoopScenario,
  strategies: readonly StrategyName[],
): Promise<ScenarioResult> {
  const days = scenario.days ?? 1;
  const startMs = startOfRun(scenario.timeZone);
  const arrivals = buildArrivals(scenario.demand);
  const data = await makeDataDir(`headroom-loop-${scenario.name}-`);
  const configFile = join(data.dir, 'headroom.yaml');
  await writeFile(configFile, headroomYaml(scenario));
  const service = await startService(
    loadConfig({
      env: { HEADROOM_LOG_LEVEL: 'silent', HEADROOM_CONFIG: configFile },
      overrides: { host: '127.0.0.1', port: 0, dataDir: join(data.dir, 'data') },
    }),
    { scheduleAnalytics: false },
  );
  const telemetry = startTelemetry({
    endpoint: `${service.url}/v1/traces`,
    serviceName: 'bench-loop-virtual',
  });
  const cycles: Array<{ atMs: number; dry: boolean }> = [];
  try {
    const results = [];
    let poolDry: PoolDryResult | undefined;
    for (const strategy of strategies) {
      const run = createRun(scenario, strategy, startMs, service.url);
      const withHeadroom = strategy === 'headroom';
      let nextCycleMs = startMs + CYCLE_MS;
      let etag: string | undefined;
      const cycle = async (nowMs: number): Promise<void> => {
        await telemetry.forceFlush();
        const outcome = await service.analytics?.runCycle(nowMs);
        if (outcome?.outcome !== 'success')
          throw new Error(`analytics cycle failed: ${outcome?.error ?? 'no analytics'}`);
        const response = await fetch(`${service.url}/v1/pools/${strategy}/advice`, {
          headers: etag === undefined ? {} : { 'if-none-match': etag },
        });
        if (response.status === 304) {
          run.router.strategy.confirmAdvice?.(nowMs);
        } else if (response.ok) {
          const body = (await response.json()) as { pool_state?: string };
          const parsed = parseAdvice(body);
          if (parsed.ok) run.router.strategy.applyAdvice?.(parsed.advice, nowMs);
          etag = response.headers.get('etag') ?? undefined;
        } else {
          await response.body?.cancel();
        }
        const state = service.analytics?.snapshot()?.poolStates.get(strategy);
        cycles.push({ atMs: nowMs, dry: state?.state === 'runs_dry' });
      };
      for (const arrival of arrivals) {
        const atMs = startMs + arrival.atMs;
        if (withHeadroom) {
          while (nextCycleMs <= atMs) {
            await cycle(nextCycleMs);
            nextCycleMs += CYCLE_MS;
          }
        }
        if (strategy === 'oracle') run.router.strategy.applySimulatorState?.(run.simulator.state(atMs), atMs);
        serve(run, arrival, atMs, withHeadroom);
      }
      const stats = run.simulator.stats();
      const upstream = { calls: 0, tooMany: 0, ok: 0 };
      for (const key of stats.keys) {
        upstream.calls += key.requests;
        upstream.tooMany += key.outcomes.rate_limited + key.outcomes.quota_exhausted + key.outcomes.spend_cap;
        upstream.ok += key.outcomes.ok;
      }
      results.push(run.tally.result(strategy, upstream, (days * DAY_MS) / 1000));
      if (withHeadroom) poolDry = poolDryLead(startMs, days, run.poolWide429Ms, cycles);
    }
    return {
      scenario: scenario.name,
      description: scenario.description,
      clock: 'virtual',
      enoughCapacity: scenario.enoughCapacity,
      durationSeconds: (days * DAY_MS) / 1000,
      strategies: results,
      ...(scenario.enoughCapacity
        ? { falseDryCycles: cycles.filter((c) => c.dry).length }
        : poolDry === undefined
          ? {}
          : { poolDry }),
    };
  } finally {
    await telemetry.shutdown();
    await service.close();
    await data.remove();
  }
}
