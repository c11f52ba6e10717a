/**
 * Real-time runs over real ports: `headroom serve` in a child process (embedded ClickHouse), the
 * provider simulator and the reference gateway in this process, and a load generator replaying the
 * scenario's arrivals against every strategy's pool at once (each pool has its own copies of the
 * keys and of their quotas at the simulator, so the strategies never share a bucket).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGatewayConfig } from '../../src/config/index.ts';
import { POOL_HEADER, CONSUMER_HEADER, startGateway } from '../../src/gateway/index.ts';
import { startTelemetry } from '../../src/sdk/index.ts';
import { createSimulator, parseScenario, startSimulatorServer } from '../../src/simulator/index.ts';
import { freePort, makeDataDir, spawnServe, waitForExit } from '../../test/support/service.ts';
import { buildArrivals } from './demand.ts';
import { ClientTally, type ScenarioResult } from './metrics.ts';
import { gatewayPool, simulatorScenario, type LoopScenario, type StrategyName } from './scenarios.ts';

/** headroom's analytics cycle in the real-time runs, and how often the gateway polls the advice. */
const CYCLE_SECONDS = 2;
const POLL_MS = 1_000;

export async function runRealtime(
  scenario: LoopScenario,
  strategies: readonly StrategyName[],
): Promise<ScenarioResult> {
  const data = await makeDataDir(`headroom-loop-${scenario.name}-`);
  const configFile = join(data.dir, 'headroom.yaml');
  await writeFile(configFile, `analytics: { interval_seconds: ${CYCLE_SECONDS}, history_days: 1 }\n`);
  const { child, url: headroomUrl } = await spawnServe(
    {
      HEADROOM_HOST: '127.0.0.1',
      HEADROOM_PORT: String(await freePort()),
      HEADROOM_DATA_DIR: join(data.dir, 'data'),
      HEADROOM_CONFIG: configFile,
      HEADROOM_LOG_LEVEL: 'warn',
    },
    60_000,
  );
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const simulator = createSimulator(parseScenario(simulatorScenario(scenario, strategies), scenario.name), {
      startMs: Date.now(),
    });
    const simServer = await startSimulatorServer(simulator);
    cleanups.push(() => simServer.close());
    const telemetry = startTelemetry({
      endpoint: `${headroomUrl}/v1/traces`,
      serviceName: 'bench-loop-gateway',
    });
    cleanups.push(() => telemetry.shutdown());
    // The gateway's spans reach headroom within a second rather than the batch processor's five.
    const flusher = setInterval(() => void telemetry.forceFlush(), 1_000);
    cleanups.push(async () => clearInterval(flusher));
    const gatewayConfig = parseGatewayConfig(
      JSON.stringify({
        host: '127.0.0.1',
        port: 0,
        headroom: { url: headroomUrl, poll_interval_ms: POLL_MS, spans: true },
        simulator_poll_interval_ms: 250,
        pools: strategies.map((s) => gatewayPool(scenario, s, simServer.url)),
      }),
      `${scenario.name} gateway`,
      {},
    );
    const gateway = await startGateway(gatewayConfig);
    cleanups.push(() => gateway.close(2_000));

    const arrivals = buildArrivals(scenario.demand);
    const tallies = new Map(strategies.map((s) => [s, new ClientTally()]));
    const inFlight = new Set<Promise<void>>();
    const send = (strategy: StrategyName, client: string, body: string): void => {
      const started = performance.now();
      const call = fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [POOL_HEADER]: strategy, [CONSUMER_HEADER]: client },
        body,
      })
        .then(async (response) => {
          await response.arrayBuffer();
          tallies.get(strategy)?.record(response.status, performance.now() - started);
        })
        .catch(() => tallies.get(strategy)?.record(599, performance.now() - started));
      inFlight.add(call);
      void call.finally(() => inFlight.delete(call));
    };
    const startedAt = performance.now();
    let turn = 0;
    for (const arrival of arrivals) {
      const waitMs = arrival.atMs - (performance.now() - startedAt);
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      const body = JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x'.repeat(arrival.inputTokens) }],
        max_tokens: arrival.maxOutputTokens,
      });
      // Every strategy gets the same request at the same moment; who goes first rotates.
      turn += 1;
      for (let i = 0; i < strategies.length; i += 1)
        send(strategies[(i + turn) % strategies.length] as StrategyName, arrival.client, body);
    }
    await Promise.all([...inFlight]);
    const seconds = (scenario.demand.windows * scenario.demand.windowMs) / 1000;

    const stats = simulator.stats();
    const upstream = new Map<string, { calls: number; tooMany: number; ok: number }>();
    for (const key of stats.keys) {
      const strategy = key.keyId.slice(0, key.keyId.indexOf('.'));
      const u = upstream.get(strategy) ?? { calls: 0, tooMany: 0, ok: 0 };
      u.calls += key.requests;
      u.tooMany += key.outcomes.rate_limited + key.outcomes.quota_exhausted + key.outcomes.spend_cap;
      u.ok += key.outcomes.ok;
      upstream.set(strategy, u);
    }
    return {
      scenario: scenario.name,
      description: scenario.description,
      clock: 'real',
      enoughCapacity: scenario.enoughCapacity,
      durationSeconds: seconds,
      strategies: strategies.map((s) =>
        (tallies.get(s) as ClientTally).result(
          s,
          upstream.get(s) ?? { calls: 0, tooMany: 0, ok: 0 },
          seconds,
        ),
      ),
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    child.kill('SIGTERM');
    await waitForExit(child);
    await data.remove();
  }
}
