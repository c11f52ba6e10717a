import { afterEach, describe, expect, it } from 'vitest';
import {
  deliverWithRetry,
  verifyWebhookSignature,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from '../../src/delivery/index.ts';
import { parseGatewayConfig } from '../../src/config/index.ts';
import { startGateway } from '../../src/gateway/index.ts';
import type { PushTarget } from '../../src/rebalance/index.ts';
import { startGatewayServer, type GatewayServer } from '../support/gateway-server.ts';
import { pushTargetFrom, threeKeyAdvice } from '../support/push-target.ts';
import { freePort } from '../support/service.ts';

const NOW = Date.UTC(2026, 0, 5, 12);
const ADVICE = threeKeyAdvice({
  nowMs: NOW,
  version: 7,
  weights: [0.75, 0.25],
  untilMs: NOW + 30_000,
  reasons: ['requests_per_minute: 400 left', 'requests_per_minute: 100 left', 'at its limit'],
});
const POLICY = { baseDelayMillis: 50, maxDelayMillis: 200, maxAttempts: 5, deadlineMillis: 3_000 };

function pushWithRetry(target: PushTarget, deadlineMillis = POLICY.deadlineMillis, advice = ADVICE) {
  return deliverWithRetry(() => target.push(advice, new AbortController().signal), {
    ...POLICY,
    deadlineMillis,
  });
}

let servers: GatewayServer[] = [];
async function gateway(...args: Parameters<typeof startGatewayServer>): Promise<GatewayServer> {
  const server = await startGatewayServer(...args);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describe('LiteLLM target', () => {
  const yaml = (url: string): string =>
    `{ type: litellm, url: '${url}', token_env: LITELLM_MASTER_KEY, keys: { key-a: model-a, key-c: 'model/c' } }`;

  it('PATCHes /model/{id}/update with litellm_params.weight and the master key as bearer', async () => {
    const server = await gateway();
    const result = await pushWithRetry(
      pushTargetFrom(yaml(server.url), { LITELLM_MASTER_KEY: 'sk-master-1' }),
    );
    expect(result).toMatchObject({ kind: 'success', attempts: 1 });
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'PATCH /model/model-a/update',
      'PATCH /model/model%2Fc/update',
    ]);
    expect(server.requests.map((r) => JSON.parse(r.body) as unknown)).toEqual([
      { litellm_params: { weight: 0.75 } },
      { litellm_params: { weight: 0 } },
    ]);
    for (const r of server.requests) {
      expect(r.headers.authorization).toBe('Bearer sk-master-1');
      expect(r.headers['content-type']).toBe('application/json');
    }
  });

  it('does not retry a 4xx: a wrong master key cannot start working', async () => {
    const server = await gateway(() => ({
      status: 401,
      body: { error: { message: 'Authentication Error' } },
    }));
    const result = await pushWithRetry(pushTargetFrom(yaml(server.url), { LITELLM_MASTER_KEY: 'wrong' }));
    expect(result).toMatchObject({ kind: 'failure', attempts: 1 });
    expect(result.kind !== 'success' && result.error.message).toMatch(
      /PATCH http:\/\/127\.0\.0\.1:\d+\/model\/model-a\/update: HTTP 401: .*Authentication Error/,
    );
    expect(server.requests).toHaveLength(1);
  });

  it('retries a 5xx with backoff and succeeds', async () => {
    const server = await gateway((_r, i) =>
      i < 2 ? { status: 503, body: 'busy' } : { status: 200, body: {} },
    );
    const result = await pushWithRetry(pushTargetFrom(yaml(server.url), { LITELLM_MASTER_KEY: 'k' }));
    expect(result).toMatchObject({ kind: 'success', attempts: 3 });
    expect(server.requests).toHaveLength(4); // two refused, then both keys
    const gaps = server.requests
      .slice(1, 3)
      .map((r, i) => r.atMs - (server.requests[i] as { atMs: number }).atMs);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(20);
  });
});

describe('Bifrost target', () => {
  const stored = (id: string, weight: number) => ({
    id,
    name: `openai-${id}`,
    value: 'sk-pr...cdef',
    models: ['*'],
    weight,
    enabled: true,
    network_config: { retries: 1 },
  });

  it('reads each key and PUTs it back whole with only weight and enabled changed', async () => {
    const server = await gateway((r) => {
      const id = r.path.split('/').pop() as string;
      return r.method === 'GET' ? { status: 200, body: stored(id, 1) } : { status: 200, body: {} };
    });
    const target = pushTargetFrom(
      `{ type: bifrost, url: '${server.url}/', provider: openai, token: bf-admin, keys: { key-a: k-1, key-c: k-3 } }`,
    );
    expect(await pushWithRetry(target)).toMatchObject({ kind: 'success', attempts: 1 });
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/providers/openai/keys/k-1',
      'PUT /api/providers/openai/keys/k-1',
      'GET /api/providers/openai/keys/k-3',
      'PUT /api/providers/openai/keys/k-3',
    ]);
    expect(JSON.parse(server.requests[1]?.body ?? '')).toEqual({
      ...stored('k-1', 1),
      weight: 0.75,
      enabled: true,
    });
    // A key headroom takes out is disabled and keeps its weight for when it comes back.
    expect(JSON.parse(server.requests[3]?.body ?? '')).toEqual({
      ...stored('k-3', 1),
      weight: 1,
      enabled: false,
    });
    for (const r of server.requests) expect(r.headers.authorization).toBe('Bearer bf-admin');
  });

  it('does not retry an unknown key (404)', async () => {
    const server = await gateway(() => ({
      status: 404,
      body: { error: { message: 'Provider key not found' } },
    }));
    const target = pushTargetFrom(
      `{ type: bifrost, url: '${server.url}', provider: openai, keys: { key-a: nope } }`,
    );
    const result = await pushWithRetry(target);
    expect(result).toMatchObject({ kind: 'failure', attempts: 1 });
    expect(result.kind !== 'success' && result.error.message).toMatch(/HTTP 404: .*Provider key not found/);
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });
});

describe('reference gateway target', () => {
  it('PUTs the advice document to /admin/pools/{pool}/weights with the admin token', async () => {
    const server = await gateway();
    const target = pushTargetFrom(`{ type: gateway, url: '${server.url}', token: gw-admin }`);
    expect(await pushWithRetry(target)).toMatchObject({ kind: 'success' });
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(`${request?.method} ${request?.path}`).toBe('PUT /admin/pools/azure/weights');
    expect(request?.headers.authorization).toBe('Bearer gw-admin');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      pool: 'azure',
      version: 7,
      generated_at: '2026-01-05T12:00:00.000Z',
      valid_until: '2026-01-05T12:01:30.000Z',
      pool_state: 'ok',
      keys: [
        { key_id: 'key-a', weight: 0.75, state: 'active', reason: 'requests_per_minute: 400 left' },
        { key_id: 'key-b', weight: 0.25, state: 'active', reason: 'requests_per_minute: 100 left' },
        {
          key_id: 'key-c',
          weight: 0,
          state: 'exhausted',
          until: '2026-01-05T12:00:30.000Z',
          reason: 'at its limit',
        },
      ],
    });
  });
});

describe("push to headroom's reference gateway (the real one)", () => {
  it('the gateway takes the pushed weights and holds the exhausted key out until its until; a wrong token is refused once', async () => {
    const gateway = await startGateway(
      parseGatewayConfig(
        `
port: 0
admin_token_env: GW_ADMIN
headroom: { url: "http://127.0.0.1:${await freePort()}", poll_interval_ms: 60000, spans: false }
pools:
  - name: azure
    base_url: http://127.0.0.1:${await freePort()}
    keys: [{ id: key-a, secret: sk-a }, { id: key-b, secret: sk-b }, { id: key-c, secret: sk-c }]
`,
        'gateway.yaml',
        { GW_ADMIN: 'gw-admin' },
      ),
    );
    try {
      const advice = threeKeyAdvice({
        nowMs: Date.now(),
        version: 4,
        weights: [0.75, 0.25],
        untilMs: Date.now() + 60_000,
      });
      const signal = new AbortController().signal;
      const target = pushTargetFrom(`{ type: gateway, url: '${gateway.url}', token: gw-admin }`);
      expect(await deliverWithRetry(() => target.push(advice, signal), POLICY)).toMatchObject({
        kind: 'success',
        attempts: 1,
      });
      const view = (await (
        await fetch(`${gateway.url}/admin/pools/azure`, { headers: { authorization: 'Bearer gw-admin' } })
      ).json()) as {
        source: string;
        keys: Array<{ key_id: string; weight: number; held_until: string | null }>;
      };
      expect(view.source).toBe('advice v4');
      expect(view.keys).toMatchObject([
        { key_id: 'key-a', weight: 0.75, held_until: null },
        { key_id: 'key-b', weight: 0.25, held_until: null },
        { key_id: 'key-c', held_until: new Date(advice.keys[2]?.until ?? 0).toISOString() },
      ]);

      const wrong = pushTargetFrom(`{ type: gateway, url: '${gateway.url}', token: not-the-token }`);
      const refused = await deliverWithRetry(() => wrong.push(advice, signal), POLICY);
      expect(refused).toMatchObject({ kind: 'failure', attempts: 1 });
      expect(refused.kind !== 'success' && refused.error.message).toMatch(/HTTP 401/);
    } finally {
      await gateway.close(100);
    }
  });
});

describe('webhook target', () => {
  it('POSTs the advice signed over timestamp and body, which a receiver can verify', async () => {
    const server = await gateway();
    const target = pushTargetFrom(
      `{ type: webhook, url: '${server.url}/hooks/advice', secret_env: HOOK_SECRET, keys: { key-a: A } }`,
      {
        HOOK_SECRET: 'whsec-test',
      },
    );
    const spill = [{ pool: 'openai-fallback', share: 0.3, reason: 'azure runs dry before its reset' }];
    const spilling = { ...ADVICE, pool_state: 'runs_dry' as const, spill };
    expect(await pushWithRetry(target, POLICY.deadlineMillis, spilling)).toMatchObject({ kind: 'success' });
    const [request] = server.requests;
    expect(`${request?.method} ${request?.path}`).toBe('POST /hooks/advice');
    expect(request?.headers['x-headroom-event']).toBe('advice');
    const headers = {
      timestamp: request?.headers[WEBHOOK_TIMESTAMP_HEADER] as string | undefined,
      signature: request?.headers[WEBHOOK_SIGNATURE_HEADER] as string | undefined,
    };
    const body = request?.body ?? '';
    const nowSeconds = Math.floor(Date.now() / 1000);
    expect(headers.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature('whsec-test', body, headers, nowSeconds)).toBe(true);
    expect(verifyWebhookSignature('whsec-test', body, headers, nowSeconds + 301)).toBe(false);
    expect(verifyWebhookSignature('whsec-other', body, headers, nowSeconds)).toBe(false);
    // Only the keys the receiver knows, under its names.
    expect((JSON.parse(request?.body ?? '') as { keys: Array<{ key_id: string }> }).keys).toEqual([
      expect.objectContaining({ key_id: 'A', weight: 0.75 }),
    ]);
    // The spill travels in the body, for the receiver to carry out.
    expect((JSON.parse(request?.body ?? '') as { spill?: unknown }).spill).toEqual(spill);
  });

  it('retries a receiver that does not answer, within the deadline, then gives up', async () => {
    const server = await gateway(() => 'hang');
    const target = pushTargetFrom(
      `{ type: webhook, url: '${server.url}', secret: s, timeout_ms: 300, deadline_ms: 1000 }`,
    );
    const started = performance.now();
    const result = await pushWithRetry(target, 1_000);
    const elapsed = performance.now() - started;
    expect(result.kind).toBe('retryable');
    expect(result.kind !== 'success' && result.error.message).toMatch(/no answer within 300 ms/);
    expect(result.attempts).toBeGreaterThanOrEqual(2);
    // The last attempt starts before the deadline and lasts at most one timeout.
    expect(elapsed).toBeLessThan(1_000 + 300 + 250);
    expect(server.requests.length).toBe(result.attempts);
  });

  it('treats a refused connection as retryable', async () => {
    const server = await gateway();
    const url = server.url;
    await server.close();
    servers = [];
    const result = await pushWithRetry(pushTargetFrom(`{ type: webhook, url: '${url}', secret: s }`), 400);
    expect(result.kind).toBe('retryable');
    expect(result.attempts).toBeGreaterThanOrEqual(2);
  });
});
