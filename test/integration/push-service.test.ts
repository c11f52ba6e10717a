import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/cli/service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startGatewayServer, type GatewayServer } from '../support/gateway-server.ts';
import { buildRequest, encodeJson } from '../support/otlp.ts';
import { makeDataDir } from '../support/service.ts';

const KEYS = `
    keys:
      - { id: key-a, quotas: [{ dimension: requests, window: day, limit: 1000 }] }
      - { id: key-b, quotas: [{ dimension: requests, window: day, limit: 4000 }] }`;

interface PoolsBody {
  pools: Array<{
    pool: string;
    advice_version: number | null;
    push: Array<{
      target: string;
      type: string;
      in_flight: boolean;
      last: { outcome: string; advice_version: number; attempts: number; error: string | null } | null;
    }>;
  }>;
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMillis: number): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMillis} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('pushing advice from the analytics cycle', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let healthy: GatewayServer;
  let hanging: GatewayServer;
  const services: Service[] = [];

  const start = async (name: string, push: string, drainMillis = 500): Promise<Service> => {
    const file = join(data.dir, `${name}.yaml`);
    await writeFile(
      file,
      `analytics: { interval_seconds: 5 }\npools:\n  - name: azure\n${KEYS}\n    push: ${push}\n`,
    );
    const config = loadConfig({
      env: { HEADROOM_LOG_LEVEL: 'silent', HEADROOM_CONFIG: file, GW_TOKEN: 'gw-admin' },
      overrides: { host: '127.0.0.1', port: 0, dataDir: join(data.dir, name), pushDrainMillis: drainMillis },
    });
    const service = await startService(config, { scheduleAnalytics: false });
    services.push(service);
    return service;
  };

  beforeAll(async () => {
    data = await makeDataDir('headroom-push-');
    healthy = await startGatewayServer();
    hanging = await startGatewayServer(() => 'hang');
  });
  afterAll(async () => {
    for (const s of services) await s.close();
    await healthy.close();
    await hanging.close();
    await data.remove();
  });

  it('a hanging gateway delays neither the cycle nor another target; pushes are recorded and shown', async () => {
    const targets = `[
      { type: webhook, name: stuck, url: '${hanging.url}/hook', secret: s, timeout_ms: 20000, deadline_ms: 60000 },
      { type: gateway, url: '${healthy.url}', token_env: GW_TOKEN }
    ]`;
    // chDB opens one data directory per process: the baseline runs first, on its own.
    const baseline = await start('baseline', '[]');
    const nowMs = Date.now();
    const durations = { baseline: [] as number[], pushing: [] as number[] };
    for (let i = 0; i < 7; i++) {
      durations.baseline.push((await baseline.analytics?.runCycle(nowMs + i * 5_000))?.durationMs ?? NaN);
    }
    await baseline.close();
    services.splice(services.indexOf(baseline), 1);

    const service = await start('pushing', targets, 500);
    for (let i = 0; i < 7; i++) {
      const run = await service.analytics?.runCycle(nowMs + i * 5_000);
      expect(run?.outcome).toBe('success');
      durations.pushing.push(run?.durationMs ?? NaN);
    }
    const median = (xs: number[]): number =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    console.log(
      `cycle ms without push targets: ${durations.baseline.map((d) => d.toFixed(1)).join(', ')} ` +
        `(median ${median(durations.baseline).toFixed(1)}); with a hanging target (20 s timeout): ` +
        `${durations.pushing.map((d) => d.toFixed(1)).join(', ')} (median ${median(durations.pushing).toFixed(1)})`,
    );
    // The hanging push takes at least its 20 s timeout; the cycles around it do not wait for it.
    expect(Math.max(...durations.pushing)).toBeLessThan(10_000);
    expect(service.pusher?.pending).toBeGreaterThan(0);

    // The healthy gateway got the advice at once, once (the advice did not change between cycles).
    await until(() => healthy.requests.length >= 1, 2_000);
    expect(healthy.requests).toHaveLength(1);
    expect(healthy.requests[0]?.path).toBe('/admin/pools/azure/weights');
    expect(hanging.requests).toHaveLength(1);

    await until(async () => {
      const body = (await (await fetch(`${service.url}/v1/pools`)).json()) as PoolsBody;
      return body.pools[0]?.push.find((p) => p.target === 'gateway')?.last?.outcome === 'success';
    }, 2_000);
    const pools = (await (await fetch(`${service.url}/v1/pools`)).json()) as PoolsBody;
    const azure = pools.pools.find((p) => p.pool === 'azure');
    expect(azure?.push).toMatchObject([
      { target: 'stuck', type: 'webhook', in_flight: true, last: null },
      {
        target: 'gateway',
        type: 'gateway',
        in_flight: false,
        last: { outcome: 'success', advice_version: azure?.advice_version, attempts: 1, error: null },
      },
    ]);

    // Shutdown waits for the stuck push only as long as the drain bound, and records it as abandoned.
    const closing = performance.now();
    await service.close();
    const closeMillis = performance.now() - closing;
    console.log(
      `shutdown with a push stuck in flight took ${closeMillis.toFixed(0)} ms (drain bound 500 ms)`,
    );
    expect(closeMillis).toBeLessThan(500 + 1_500);
    services.splice(services.indexOf(service), 1);

    const reopened = await start('pushing', targets, 500);
    const rows = await reopened.store.queryRows<{
      target: string;
      outcome: string;
      error: string;
      trigger: string;
    }>(`SELECT target, outcome, error, trigger FROM ${reopened.store.database}.pushes ORDER BY at`);
    expect(rows).toMatchObject([
      { target: 'gateway', outcome: 'success', error: '', trigger: 'advice' },
      { target: 'stuck', outcome: 'failure', trigger: 'advice' },
    ]);
    expect(rows[1]?.error).toMatch(/abandoned at shutdown/);
    // After a restart the last outcome per target is shown before any new push.
    await reopened.analytics?.stop();
    const restored = reopened.pusher?.status().map((s) => [s.target, s.last?.outcome]);
    expect(restored).toEqual([
      ['stuck', 'failure'],
      ['gateway', 'success'],
    ]);
    await reopened.close();
    services.splice(services.indexOf(reopened), 1);
  });

  it('re-enables a key in the gateway when its until passes, with no cycle in between', async () => {
    healthy.requests.length = 0;
    const service = await start(
      'reenable',
      `[{ type: gateway, url: '${healthy.url}', token_env: GW_TOKEN }]`,
    );
    const startMs = Date.now();
    // key-a was just rate limited with a retry-after of 1.5 s.
    const span = buildRequest({ 'service.name': 'gw' }, [
      {
        startMs,
        attributes: {
          'keypool.pool': 'azure',
          'keypool.key.id': 'key-a',
          'keypool.outcome': 'rate_limited',
          'keypool.retry_after_ms': 1_500,
          'http.response.status_code': 429,
        },
      },
    ]);
    const ingested = await fetch(`${service.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: encodeJson(span),
    });
    expect(ingested.status).toBe(200);
    expect((await service.analytics?.runCycle(Date.now()))?.outcome).toBe('success');

    await until(() => healthy.requests.length >= 1, 2_000);
    type Pushed = {
      version: number;
      keys: Array<{ key_id: string; weight: number; state: string; until?: string }>;
    };
    const first = JSON.parse(healthy.requests[0]?.body ?? '') as Pushed;
    expect(first.keys.find((k) => k.key_id === 'key-a')).toMatchObject({
      weight: 0,
      state: 'cooling_down',
      until: new Date(startMs + 1_500).toISOString(),
    });

    // No cycle runs; headroom puts the key back itself once the retry-after has passed.
    await until(() => healthy.requests.length >= 2, 4_000);
    const second = JSON.parse(healthy.requests[1]?.body ?? '') as Pushed;
    expect(healthy.requests[1]?.atMs).toBeGreaterThanOrEqual(startMs + 1_500);
    expect(second.version).toBe(first.version);
    const keyA = second.keys.find((k) => k.key_id === 'key-a');
    expect(keyA).toMatchObject({ state: 'active' });
    expect(keyA?.weight).toBeGreaterThan(0);
    expect(keyA?.until).toBeUndefined();
    await until(async () => {
      const rows = await service.store.queryRows<{ trigger: string }>(
        `SELECT trigger FROM ${service.store.database}.pushes ORDER BY at`,
      );
      return rows.map((r) => r.trigger).join(',') === 'advice,reenable';
    }, 2_000);
  });
});
