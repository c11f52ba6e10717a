import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/config/index.ts';
import { KEY_HEADER, startGateway, type Gateway } from '../../src/gateway/index.ts';
import { startTelemetry, type Telemetry } from '../../src/sdk/index.ts';
import {
  startFakeProvider,
  startOtlpRecorder,
  type FakeProvider,
  type OtlpRecorder,
} from '../support/fake-provider.ts';
import { freePort, makeDataDir, startTestService } from '../support/service.ts';

const SECRETS = {
  a: 'sk-gw-loop-SECRET-aaaaaaaaaaaaaaaaaaaa',
  b: 'sk-gw-loop-SECRET-bbbbbbbbbbbbbbbbbbbb',
  c: 'sk-gw-loop-SECRET-cccccccccccccccccccc',
};
const ADMIN = 'headroom-admin-token';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function send(gateway: Gateway, n: number, stream = false): Promise<Record<string, number>> {
  const served: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-headroom-consumer': 'checkout' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await response.arrayBuffer();
    const key = response.status === 200 ? (response.headers.get(KEY_HEADER) ?? '?') : String(response.status);
    served[key] = (served[key] ?? 0) + 1;
  }
  return served;
}

interface PoolView {
  source: string;
  last_poll_result: string | null;
  keys: { key_id: string; weight: number; held_until: string | null }[];
}

describe('gateway ↔ headroom: spans in, advice out', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let service: Awaited<ReturnType<typeof startTestService>> | undefined;
  let fake: FakeProvider;
  let recorder: OtlpRecorder;
  let telemetry: Telemetry;
  let gateway: Gateway;

  beforeAll(async () => {
    data = await makeDataDir('headroom-gw-loop-');
    const configFile = join(data.dir, 'headroom.yaml');
    // One-second cycles: advice is valid for three of them, so its expiry is seen within the test.
    await writeFile(
      configFile,
      `analytics: { interval_seconds: 1, history_days: 1 }
pools:
  - name: gw
    keys:
      - { id: a }
      - { id: b, quotas: [{ dimension: requests, window: day, limit: 5 }] }
      - { id: c }
`,
    );
    service = await startTestService({}, { HEADROOM_CONFIG: configFile, HEADROOM_ADMIN_TOKEN: ADMIN });
    fake = await startFakeProvider();
    recorder = await startOtlpRecorder(`${service.url}/v1/traces`);
    telemetry = startTelemetry({
      endpoint: recorder.url,
      serviceName: 'headroom-gateway',
      serviceInstanceId: 'gw-it',
    });
    gateway = await startGateway(
      parseGatewayConfig(
        `
port: 0
headroom: { url: "${service.url}", token_env: HR_TOKEN, poll_interval_ms: 200 }
pools:
  - name: gw
    strategy: headroom
    base_url: ${fake.url}/v1
    keys:
      - { id: a, secret_env: KEY_A, requests_per_minute: 200, partition: org-1 }
      - { id: b, secret_env: KEY_B, requests_per_minute: 100, partition: org-1 }
      - { id: c, secret_env: KEY_C, requests_per_minute: 100 }
`,
        'gateway.yaml',
        { HR_TOKEN: ADMIN, KEY_A: SECRETS.a, KEY_B: SECRETS.b, KEY_C: SECRETS.c },
      ),
    );
  });
  afterAll(async () => {
    await gateway?.close(100);
    await telemetry?.shutdown();
    await recorder?.close();
    await fake?.close();
    await service?.cleanup();
    await data?.remove();
  });

  const view = async (): Promise<PoolView> =>
    (await (await fetch(`${gateway.url}/admin/pools/gw`)).json()) as PoolView;

  it('a key headroom sees exhausted is not used until its until; expired advice and headroom down fall back to the defaults', async () => {
    // Defaults (2:1:1) or the first advice (1:1:1: a and c have no known quota, so they get the
    // median weight), whichever arrives first: either way b serves at least its 5 requests a day.
    const json = await send(gateway, 12);
    const streamed = await send(gateway, 12, true);
    expect((json['b'] ?? 0) + (streamed['b'] ?? 0)).toBeGreaterThanOrEqual(5);
    expect(
      Object.values(json)
        .concat(Object.values(streamed))
        .reduce((x, y) => x + y, 0),
    ).toBe(24);
    await telemetry.forceFlush();

    // b has used its 5 requests of the day: headroom's next cycle advises against it until midnight.
    const advised = await until('advice with b exhausted', async () => {
      const v = await view();
      const b = v.keys.find((k) => k.key_id === 'b');
      return v.source.startsWith('advice') && b?.held_until !== null ? v : undefined;
    });
    const nextMidnight =
      new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z').getTime() + 86_400_000;
    expect(Date.parse(advised.keys.find((k) => k.key_id === 'b')!.held_until!)).toBe(nextMidnight);

    const during = await send(gateway, 20);
    expect(during['b']).toBeUndefined();
    // The advice weighs a and c alike (neither has a known quota), not by the defaults (2:1).
    expect(Math.abs((during['a'] ?? 0) - (during['c'] ?? 0))).toBeLessThanOrEqual(2);
    // Later polls find the advice unchanged (If-None-Match → 304).
    await until('a 304 from headroom', async () =>
      (await view()).last_poll_result === 'not_modified' ? true : undefined,
    );

    // One span per upstream call, with the alias and never the secret: in the store and on the wire.
    await telemetry.forceFlush();
    const rows = await until('every span stored', async () => {
      const stored = await service!.store.queryRows<Record<string, unknown>>(
        `SELECT * FROM ${service!.store.database}.api_calls WHERE pool = 'gw' `,
      );
      return stored.length >= 44 ? stored : undefined;
    });
    expect(rows).toHaveLength(44);
    expect(JSON.stringify(rows)).not.toContain('SECRET');
    expect(new Set(rows.map((r) => r['key_id']))).toEqual(new Set(['a', 'b', 'c']));
    expect(rows.filter((r) => r['key_id'] === 'b')).toHaveLength((json['b'] ?? 0) + (streamed['b'] ?? 0));
    expect(rows.find((r) => r['key_id'] === 'b')).toMatchObject({
      partition: 'org-1',
      consumer: 'checkout',
      provider: 'openai',
      outcome: 'ok',
      request_model: 'gpt-4o-mini',
      gateway_node: 'gw-it',
    });
    // Usage read from JSON bodies and from streams alike.
    expect(rows.every((r) => Number(r['input_tokens']) === 1500 && Number(r['output_tokens']) === 320)).toBe(
      true,
    );
    const wire = Buffer.concat(recorder.bodies).toString('latin1');
    expect(wire).toContain('checkout');
    expect(wire).not.toContain('SECRET');

    // headroom goes away: the advice expires (three one-second cycles) and the defaults return,
    // but b stays out until its reset: a reset time stays true without headroom.
    await service?.cleanup();
    service = undefined;
    const fallen = await until('the fallback to defaults', async () => {
      const v = await view();
      return v.source.includes('expired') ? v : undefined;
    });
    expect(fallen.last_poll_result).toBe('unreachable');
    // 2:1, give or take the picker's running scores carried over from the advice.
    const after = await send(gateway, 15);
    expect(after['b']).toBeUndefined();
    expect(Math.abs((after['a'] ?? 0) - 10)).toBeLessThanOrEqual(1);
  });
});

describe('gateway without headroom', () => {
  it('uses its defaults from the start when headroom is unreachable', async () => {
    const fake = await startFakeProvider();
    const port = await freePort();
    const gateway = await startGateway(
      parseGatewayConfig(
        `
port: 0
headroom: { url: "http://127.0.0.1:${port}", poll_interval_ms: 100, spans: false }
pools:
  - name: p
    base_url: ${fake.url}/v1
    keys: [{ id: a, secret: sk-1, weight: 3 }, { id: b, secret: sk-2, weight: 1 }]
`,
        'gateway.yaml',
        {},
      ),
    );
    try {
      expect(await send(gateway, 8)).toEqual({ a: 6, b: 2 });
      const v = (await (await fetch(`${gateway.url}/admin/pools/p`)).json()) as PoolView;
      expect(v.source).toBe('defaults (no advice)');
      expect(v.last_poll_result).toBe('unreachable');
    } finally {
      await gateway.close(100);
      await fake.close();
    }
  });
});
