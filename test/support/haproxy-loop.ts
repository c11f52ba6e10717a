/**
 * The closed loop through a real HAProxy, run twice at the same time on identical deployments: once
 * with HAProxy left to its own round robin, once with headroom pushing weights and states over the
 * Runtime API. An app calls each HAProxy with `instrumentFetch`, taking the key id from the
 * `X-Served-By` header HAProxy sets; headroom ingests the spans, forecasts, and pushes. The
 * deployments are small fixed-window quota servers, or (with `simulator`) one provider simulator per
 * run whose Azure OpenAI keys are the deployments, one HAProxy server per key.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startService } from '../../src/cli/service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { instrumentFetch, startTelemetry } from '../../src/sdk/index.ts';
import {
  createSimulator,
  parseScenario,
  startSimulatorServer,
  type ScenarioInput,
} from '../../src/simulator/index.ts';
import { startHaproxy, type Haproxy, type HaproxyServer, type HaproxyServerState } from './haproxy.ts';
import { startQuotaUpstreams, type DeploymentSpec } from './quota-upstream.ts';
import { makeDataDir } from './service.ts';

export interface LoopScenario {
  deployments: readonly DeploymentSpec[];
  /** The deployment whose quota another consumer spends part-way through the first window. */
  spentDeployment: string;
  /** When, from the start, the other consumer spends it. */
  spendAtMs: number;
  windowMs: number;
  durationMs: number;
  requestsPerSecond: number;
  analyticsIntervalSeconds: number;
  /**
   * HAProxy's servers are this simulator scenario's Azure keys instead of `deployments`: one server
   * per key, named by its id, sending its deployment's path and its `api-key`. Nothing is spent from
   * outside at `spendAtMs` (the scenario's `consumers` do that); it only ends the share figure.
   */
  simulator?: ScenarioInput;
}

interface LoopUpstream {
  servers: HaproxyServer[];
  /** Starts the quotas afresh at `startMs`. */
  restart(startMs: number): void;
  spend(deployment: string): void;
  close(): Promise<void>;
}

async function startUpstream(scenario: LoopScenario, startMs: number): Promise<LoopUpstream> {
  if (scenario.simulator === undefined) {
    const u = await startQuotaUpstreams(scenario.deployments, scenario.windowMs, startMs);
    return {
      servers: u.deployments.map((d) => ({ name: d.name, port: d.port })),
      restart: (at) => u.restartWindows(at),
      spend: (name) => u.deployments.find((d) => d.name === name)?.spendRemaining(),
      close: () => u.close(),
    };
  }
  const parsed = parseScenario(scenario.simulator);
  // The wall clock, so the spans headroom ingests and the buckets agree on time.
  const server = await startSimulatorServer(createSimulator(parsed, { startMs: Date.now() }));
  const port = Number(new URL(server.url).port);
  return {
    servers: parsed.keys.map((k) => ({
      name: k.id,
      port,
      rewrite: {
        uri: `/openai/deployments/${k.deployment ?? k.id}/chat/completions?api-version=2024-10-21`,
        headers: { 'api-key': k.secret },
      },
    })),
    // Per-minute buckets start full and refill to full while idle: nothing to restart.
    restart: () => undefined,
    spend: () => undefined,
    close: () => server.close(),
  };
}

export const DEFAULT_SCENARIO: LoopScenario = {
  deployments: [
    { name: 'dep-a', limit: 90 },
    { name: 'dep-b', limit: 90 },
    { name: 'dep-c', limit: 18 },
  ],
  spentDeployment: 'dep-c',
  spendAtMs: 7_000,
  windowMs: 15_000,
  durationMs: 30_000,
  requestsPerSecond: 6,
  analyticsIntervalSeconds: 1,
};

export interface RunFigures {
  requests: number;
  ok: number;
  /** 429s the app saw. */
  rateLimited: number;
  /** Requests each deployment served (200 or 429), as HAProxy named it. */
  servedBy: Record<string, number>;
  /**
   * Share of the spent deployment among requests from the first time headroom weighted it down
   * (the start when it never did) until it was spent.
   */
  shareBeforeSpentPercent: number;
  /** Client-visible latency of every call, ms, in the order they were sent. */
  latenciesMs: number[];
}

export interface StateSample {
  atMs: number;
  states: Map<string, HaproxyServerState>;
}

export interface LoopResult {
  withoutHeadroom: RunFigures;
  withHeadroom: RunFigures;
  /** HAProxy server states of the pushed run, sampled every 100 ms. */
  timeline: StateSample[];
  /** First time the spent deployment weighed less than the heaviest one while ready, ms from start. */
  weightedDownAtMs: number | undefined;
  /** First time it was in maint, and first time it was ready again after that, ms from start. */
  maintAtMs: number | undefined;
  readyAgainAtMs: number | undefined;
  /** When its quota reset (the second window started), ms from start. */
  resetAtMs: number;
  /** Pushes headroom made, from its `pushes` table. */
  pushes: Array<{ trigger: string; outcome: string; attempts: number; duration_ms: number }>;
  /** Wall time of starting everything, of the traffic, and of stopping everything. */
  timings: { setupMs: number; runMs: number; cleanupMs: number };
}

interface CallRecord {
  atMs: number;
  status: number;
  servedBy: string;
  latencyMs: number;
}

function figures(calls: readonly CallRecord[], spent: string, fromMs: number, spendAtMs: number): RunFigures {
  const servedBy: Record<string, number> = {};
  for (const c of calls) servedBy[c.servedBy] = (servedBy[c.servedBy] ?? 0) + 1;
  const before = calls.filter((c) => c.atMs >= fromMs && c.atMs < spendAtMs);
  return {
    requests: calls.length,
    ok: calls.filter((c) => c.status === 200).length,
    rateLimited: calls.filter((c) => c.status === 429).length,
    servedBy,
    shareBeforeSpentPercent:
      before.length === 0 ? 0 : (100 * before.filter((c) => c.servedBy === spent).length) / before.length,
    latenciesMs: calls.map((c) => c.latencyMs),
  };
}

export async function runHaproxyLoop(scenario: LoopScenario = DEFAULT_SCENARIO): Promise<LoopResult> {
  const data = await makeDataDir('headroom-haproxy-loop-');
  const cleanups: Array<() => Promise<void>> = [() => data.remove()];
  const setupStartedMs = Date.now();
  let result: Omit<LoopResult, 'timings'>;
  let setupMs: number | undefined;
  let runMs: number | undefined;
  let cleanupMs: number | undefined;
  try {
    // Provisional: the windows start again once everything is up.
    let startMs = Date.now();
    const upstreams: LoopUpstream[] = [];
    const proxies: Haproxy[] = [];
    for (let i = 0; i < 2; i++) {
      const u = await startUpstream(scenario, startMs);
      cleanups.unshift(() => u.close());
      upstreams.push(u);
      const h = await startHaproxy(u.servers);
      cleanups.unshift(() => h.stop());
      proxies.push(h);
    }
    const [plain, pushed] = proxies as [Haproxy, Haproxy];

    const configFile = join(data.dir, 'headroom.yaml');
    const identity = (upstreams[0]?.servers ?? []).map((d) => `${d.name}: ${d.name}`).join(', ');
    await writeFile(
      configFile,
      `analytics: { interval_seconds: ${scenario.analyticsIntervalSeconds} }
pools:
  - name: round-robin
  - name: pushed
    push:
      - { type: haproxy, address: '${pushed.runtimeAddress}', backend: ${pushed.backend}, keys: { ${identity} }, timeout_ms: 1000, deadline_ms: 3000 }
`,
    );
    const config = loadConfig({
      env: { HEADROOM_LOG_LEVEL: 'silent', HEADROOM_CONFIG: configFile },
      overrides: { host: '127.0.0.1', port: 0, dataDir: join(data.dir, 'db') },
    });
    const service = await startService(config);
    cleanups.unshift(() => service.close());
    const telemetry = startTelemetry({ endpoint: `${service.url}/v1/traces`, serviceName: 'app' });
    cleanups.unshift(() => telemetry.shutdown());
    const flushing = setInterval(() => void telemetry.forceFlush(), 200);
    cleanups.unshift(() => Promise.resolve(clearInterval(flushing)));

    const app = (pool: string) =>
      instrumentFetch(fetch, {
        pool,
        provider: scenario.simulator === undefined ? 'openai' : 'azure.ai.openai',
        keyIdFromResponseHeader: 'x-served-by',
      });
    const runs = [
      { proxy: plain, fetch: app('round-robin'), calls: [] as CallRecord[] },
      { proxy: pushed, fetch: app('pushed'), calls: [] as CallRecord[] },
    ];
    const call = async (run: (typeof runs)[number]): Promise<void> => {
      const atMs = Date.now() - startMs;
      const sentAt = performance.now();
      try {
        const response = await run.fetch(`${run.proxy.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer sk-app' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
          // A call never waits long enough to stall the run (status 0 is counted as a failed call).
          signal: AbortSignal.timeout(10_000),
        });
        await response.text();
        run.calls.push({
          atMs,
          status: response.status,
          servedBy: response.headers.get('x-served-by') ?? '',
          latencyMs: performance.now() - sentAt,
        });
      } catch {
        run.calls.push({ atMs, status: 0, servedBy: '', latencyMs: performance.now() - sentAt });
      }
    };

    startMs = Date.now() + 200;
    for (const u of upstreams) u.restart(startMs);
    setupMs = startMs - setupStartedMs;
    const timeline: StateSample[] = [];
    const sampling = setInterval(() => {
      const atMs = Date.now() - startMs;
      void pushed.serverStates().then((states) => timeline.push({ atMs, states }));
    }, 100);
    cleanups.unshift(() => Promise.resolve(clearInterval(sampling)));
    await new Promise((r) => setTimeout(r, Math.max(0, startMs - Date.now())));
    const inFlight: Array<Promise<void>> = [];
    const gapMs = 1000 / scenario.requestsPerSecond;
    let spent = false;
    for (let n = 0; ; n++) {
      const dueMs = startMs + n * gapMs;
      if (dueMs - startMs >= scenario.durationMs) break;
      await new Promise((r) => setTimeout(r, Math.max(0, dueMs - Date.now())));
      if (!spent && Date.now() - startMs >= scenario.spendAtMs) {
        spent = true;
        for (const u of upstreams) u.spend(scenario.spentDeployment);
      }
      for (const run of runs) inFlight.push(call(run));
    }
    await Promise.all(inFlight);
    clearInterval(sampling);
    runMs = Date.now() - startMs;

    const target = scenario.spentDeployment;
    const ordered = timeline.sort((a, b) => a.atMs - b.atMs);
    const weightedDownAtMs = ordered.find((s) => {
      const mine = s.states.get(target);
      const heaviest = Math.max(...[...s.states.values()].map((v) => v.weight));
      return mine !== undefined && !mine.maint && mine.weight < heaviest;
    })?.atMs;
    const maintAtMs = ordered.find((s) => s.states.get(target)?.maint === true)?.atMs;
    const readyAgainAtMs =
      maintAtMs === undefined
        ? undefined
        : ordered.find((s) => s.atMs > maintAtMs && s.states.get(target)?.maint === false)?.atMs;
    const pushes = await service.store.queryRows<{
      trigger: string;
      outcome: string;
      attempts: number;
      duration_ms: number;
    }>(`SELECT trigger, outcome, attempts, duration_ms FROM ${service.store.database}.pushes ORDER BY at`);
    result = {
      withoutHeadroom: figures(runs[0]?.calls ?? [], target, weightedDownAtMs ?? 0, scenario.spendAtMs),
      withHeadroom: figures(runs[1]?.calls ?? [], target, weightedDownAtMs ?? 0, scenario.spendAtMs),
      timeline: ordered,
      weightedDownAtMs,
      maintAtMs,
      readyAgainAtMs,
      resetAtMs: scenario.windowMs,
      pushes,
    };
  } finally {
    const cleanupStartedMs = Date.now();
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    cleanupMs = Date.now() - cleanupStartedMs;
  }
  return { ...result, timings: { setupMs: setupMs ?? 0, runMs: runMs ?? 0, cleanupMs: cleanupMs ?? 0 } };
}
