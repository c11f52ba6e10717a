import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/cli/service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startSlackServer, type SlackServer } from '../../src/demo/slack-server.ts';
import { arrivals, emitCall, zoneWithLocalHour } from '../../src/demo/traffic.ts';
import { createRandom } from '../../src/forecast/index.ts';
import { makeDataDir } from '../support/service.ts';

const HOUR = 3_600_000;
const KEYS = [
  { keyId: 'key-a', partition: 'org-1', requestsPerHour: 100 },
  { keyId: 'key-b', partition: 'org-1', requestsPerHour: 100 },
  { keyId: 'key-c', partition: 'org-2', requestsPerHour: 100 },
];

function configYaml(timeZone: string, keyBLimit: number): string {
  return `
analytics:
  interval_seconds: 30
  history_days: 3
alerts:
  forecast_horizon_minutes: 480
  slack_channel: '#llm-keys'
  route: { group_wait: 0s }
pools:
  - name: loop
    quotas: [{ dimension: requests, window: day, limit: 1000000, time_zone: ${timeZone} }]
    keys:
${KEYS.map(
  (k) => `      - id: ${k.keyId}
        partition: ${k.partition}
        quotas:
          - { dimension: requests, window: day, limit: ${k.keyId === 'key-b' ? keyBLimit : 10000}, time_zone: ${timeZone} }`,
).join('\n')}
`;
}

describe('the whole loop: spans → forecast → Slack alert → advice', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let slack: SlackServer;
  let service: Service | undefined;
  const nowMs = Date.now();
  const timeZone = zoneWithLocalHour(nowMs, 15);

  const start = async (keyBLimit: number): Promise<Service> => {
    const configFile = join(data.dir, 'headroom.yaml');
    await writeFile(configFile, configYaml(timeZone, keyBLimit));
    const config = loadConfig({
      env: {
        HEADROOM_LOG_LEVEL: 'silent',
        HEADROOM_CONFIG: configFile,
        HEADROOM_SLACK_TOKEN: 'xoxb-test-token',
        HEADROOM_SLACK_API_URL: slack.url,
      },
      overrides: { host: '127.0.0.1', port: 0, dataDir: join(data.dir, 'db') },
    });
    service = await startService(config, { scheduleAnalytics: false });
    return service;
  };

  beforeAll(async () => {
    data = await makeDataDir('headroom-loop-');
    slack = await startSlackServer();
  });
  afterAll(async () => {
    await service?.close();
    await slack.close();
    await data.remove();
  });

  it('alerts once for the key that will run out, steers weight away, survives a restart and resolves', async () => {
    let running = await start(2000);

    // Three days of traffic up to now, sent through the real OpenTelemetry SDK over OTLP/HTTP protobuf.
    const sdk = new NodeSDK({
      resource: resourceFromAttributes({ 'service.name': 'gateway', 'service.instance.id': 'gw-1' }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: `${running.url}/v1/traces` }),
          maxQueueSize: 100_000,
          maxExportBatchSize: 2_000,
          scheduledDelayMillis: 50,
        }),
      ],
      instrumentations: [],
      // Traces only: without these the SDK also starts OTLP metrics and logs exporters from defaults.
      metricReaders: [],
      logRecordProcessors: [],
      autoDetectResources: false,
    });
    sdk.start();
    const tracer = trace.getTracer('loop-test');
    const random = createRandom(42);
    let sent = 0;
    for (const key of KEYS) {
      for (const at of arrivals(key, nowMs - 63 * HOUR, nowMs - 60_000, random)) {
        emitCall(tracer, 'loop', key, at, random);
        sent++;
      }
    }
    await sdk.shutdown();
    const stored = await running.store.queryRows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${running.store.database}.api_calls WHERE pool = 'loop'`,
    );
    expect(Number(stored[0]?.n)).toBe(sent);

    // The first delivery attempt meets Slack's rate limit; the client honours Retry-After and retries.
    slack.rateLimitNext(1, 1);
    expect((await running.analytics?.runCycle(nowMs))?.outcome).toBe('success');
    await running.analytics?.drainDeliveries();

    const posted = slack.delivered('chat.postMessage');
    expect(posted).toHaveLength(1);
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && c.status === 429)).toHaveLength(1);
    const alert = posted[0];
    expect(alert?.token).toBe('xoxb-test-token');
    expect(alert?.args['channel']).toBe('#llm-keys');
    expect(String(alert?.args['text'])).toMatch(/key key-b in pool loop will run out of requests_per_day/);
    const blocksText = JSON.stringify(alert?.args['blocks']);
    for (const fragment of [
      'loop',
      'key-b',
      'requests_per_day',
      '2,000',
      'Runs out',
      'Resets',
      'What to do',
    ]) {
      expect(blocksText).toContain(fragment);
    }

    const keys = (await (await fetch(`${running.url}/v1/keys?pool=loop`)).json()) as {
      keys: Array<{
        key_id: string;
        quotas: Array<{
          used: number;
          limit: number;
          p_exhaust: number;
          eta_p50: string | null;
          status: string;
        }>;
      }>;
    };
    const byKey = new Map(keys.keys.map((k) => [k.key_id, k.quotas[0]]));
    expect(byKey.get('key-b')).toMatchObject({ limit: 2000, status: 'ok' });
    expect(byKey.get('key-b')?.p_exhaust).toBeGreaterThan(0.8);
    expect(byKey.get('key-b')?.eta_p50).not.toBeNull();
    expect(byKey.get('key-a')?.p_exhaust).toBeLessThan(0.05);
    expect(byKey.get('key-a')?.eta_p50).toBeNull();

    // The pool's own quota counts every key's usage (and is far from running out: no alert for it).
    const pools = (await (await fetch(`${running.url}/v1/pools`)).json()) as {
      pools: Array<{
        pool: string;
        quotas: Array<{ quota_id: string; used: number; limit: number; p_exhaust: number }>;
      }>;
    };
    const poolQuota = pools.pools.find((p) => p.pool === 'loop')?.quotas[0];
    const usedByKeys = [...byKey.values()].reduce((sum, quota) => sum + (quota?.used ?? 0), 0);
    expect(poolQuota).toMatchObject({ quota_id: 'requests_per_day', limit: 1_000_000 });
    expect(poolQuota?.used).toBeCloseTo(usedByKeys, 0);
    expect(poolQuota?.p_exhaust).toBe(0);

    const adviceResponse = await fetch(`${running.url}/v1/pools/loop/advice`);
    expect(adviceResponse.status).toBe(200);
    const advice = (await adviceResponse.json()) as {
      version: number;
      valid_until: string;
      keys: Array<{ key_id: string; weight: number; state: string }>;
      pool_state: string;
    };
    // key-b runs out, but the pool as a whole has plenty left until the reset.
    expect(advice.pool_state).toBe('ok');
    const weight = new Map(advice.keys.map((k) => [k.key_id, k.weight]));
    expect(advice.keys.reduce((s, k) => s + k.weight, 0)).toBeCloseTo(1, 5);
    expect(weight.get('key-b')).toBeLessThan((weight.get('key-a') ?? 0) / 2);
    expect(weight.get('key-b')).toBeLessThan((weight.get('key-c') ?? 0) / 2);
    const etag = adviceResponse.headers.get('etag');
    expect(etag).toBeTruthy();
    const notModified = await fetch(`${running.url}/v1/pools/loop/advice`, {
      headers: { 'if-none-match': etag ?? '' },
    });
    expect(notModified.status).toBe(304);

    // A restart sends nothing twice.
    await running.close();
    running = await start(2000);
    expect((await running.analytics?.runCycle(nowMs + 30_000))?.outcome).toBe('success');
    await running.analytics?.drainDeliveries();
    expect(slack.delivered('chat.postMessage')).toHaveLength(1);
    const active = (await (await fetch(`${running.url}/v1/alerts`)).json()) as {
      active: Array<{ subject_id: string; state: string }>;
    };
    expect(active.active).toEqual([expect.objectContaining({ subject_id: 'key-b', state: 'firing' })]);

    // The quota is raised: the condition clears and the original message is updated as resolved.
    await running.close();
    running = await start(20_000);
    expect((await running.analytics?.runCycle(nowMs + 60_000))?.outcome).toBe('success');
    await running.analytics?.drainDeliveries();
    const updates = slack.delivered('chat.update');
    expect(updates).toHaveLength(1);
    expect(updates[0]?.args['ts']).toBe(alert?.response['ts']);
    expect(updates[0]?.args['channel']).toBe('#llm-keys');
    expect(String(updates[0]?.args['text'])).toMatch(/^Resolved:/);
    expect(slack.delivered('chat.postMessage')).toHaveLength(2); // the thread reply saying it resolved
    expect(slack.delivered('chat.postMessage')[1]?.args['thread_ts']).toBe(updates[0]?.args['ts']);
  });
});
