import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/config/index.ts';
import { KEY_HEADER, startGateway, type Gateway } from '../../src/gateway/index.ts';
import { useInMemorySpans } from '../support/in-memory-spans.ts';
import { startKeyUpstream, type KeyUpstream } from '../support/key-upstream.ts';
import { freePort } from '../support/service.ts';

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const ADMIN = 'admin-secret';

describe('reference gateway: carrying out the advice’s spill to a fallback pool', () => {
  const spans = useInMemorySpans();
  let primaryUpstream: KeyUpstream;
  let fallbackUpstream: KeyUpstream;
  let gateway: Gateway;

  beforeAll(async () => {
    primaryUpstream = await startKeyUpstream();
    fallbackUpstream = await startKeyUpstream();
    const closedPort = await freePort();
    gateway = await startGateway(
      parseGatewayConfig(
        `
port: 0
admin_token_env: GW_ADMIN
headroom: { url: "http://127.0.0.1:${closedPort}", poll_interval_ms: 60000, spans: true }
pools:
  - name: primary
    base_url: ${primaryUpstream.baseUrl}
    keys: [{ id: p1, secret: sk-p1 }, { id: p2, secret: sk-p2 }]
  - name: fallback
    base_url: ${fallbackUpstream.baseUrl}
    keys: [{ id: f1, secret: sk-f1 }, { id: f2, secret: sk-f2 }]
`,
        'gateway.yaml',
        { GW_ADMIN: ADMIN },
      ),
    );
  });
  afterAll(async () => {
    await gateway.close(100);
    await primaryUpstream.close();
    await fallbackUpstream.close();
  });

  const push = async (spill: unknown[]): Promise<Response> => {
    const response = await fetch(`${gateway.url}/admin/pools/primary/weights`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({
        pool: 'primary',
        version: 3,
        generated_at: new Date().toISOString(),
        valid_until: new Date(Date.now() + 60_000).toISOString(),
        pool_state: 'runs_dry',
        keys: [
          { key_id: 'p1', weight: 0.5, state: 'active', reason: 'ok' },
          { key_id: 'p2', weight: 0.5, state: 'active', reason: 'ok' },
        ],
        spill,
      }),
    });
    return response;
  };
  /** Sends `n` requests to `primary`, four at a time; the keys that answered them. */
  const send = async (n: number): Promise<string[]> => {
    const keys: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < n) {
          next++;
          const response = await fetch(`${gateway.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-headroom-pool': 'primary' },
            body: BODY,
          });
          await response.arrayBuffer();
          keys.push(
            response.status === 200 ? (response.headers.get(KEY_HEADER) ?? '?') : String(response.status),
          );
        }
      }),
    );
    return keys;
  };
  const servedByFallback = (keys: string[]): number => keys.filter((k) => k === 'f1' || k === 'f2').length;

  it('sends the advised share of primary’s requests to the fallback pool’s keys, and none once the spill is gone', async () => {
    const applied = await push([
      { pool: 'fallback', share: 0.3, reason: 'primary runs dry before its reset' },
    ]);
    expect(applied.status).toBe(200);
    expect(await applied.json()).toMatchObject({
      pool: 'primary',
      spill: [{ pool: 'fallback', share: 0.3 }],
    });

    const keys = await send(200);
    expect(keys.every((k) => ['p1', 'p2', 'f1', 'f2'].includes(k))).toBe(true);
    const spilled = servedByFallback(keys);
    // About 30 %, never more than the advised share.
    expect(spilled).toBeGreaterThanOrEqual(55);
    expect(spilled).toBeLessThanOrEqual(60);
    // The fallback's own key choice applies: both its keys serve.
    expect(keys.filter((k) => k === 'f1').length).toBeGreaterThan(0);
    expect(keys.filter((k) => k === 'f2').length).toBeGreaterThan(0);
    expect(fallbackUpstream.calls.length).toBe(spilled);
    expect(primaryUpstream.calls.length).toBe(200 - spilled);
    expect(gateway.metrics.value('headroom_gateway_spilled_total', { pool: 'primary', to: 'fallback' })).toBe(
      spilled,
    );

    // Each span names the pool that served the call, and the spilled ones the pool they came from.
    const ended = spans.getFinishedSpans().map((s) => s.attributes);
    const fallbackSpans = ended.filter((a) => a['keypool.pool'] === 'fallback');
    expect(fallbackSpans.length).toBe(spilled);
    expect(fallbackSpans.every((a) => a['keypool.spilled_from'] === 'primary')).toBe(true);
    const primarySpans = ended.filter((a) => a['keypool.pool'] === 'primary');
    expect(primarySpans.length).toBe(200 - spilled);
    expect(primarySpans.every((a) => a['keypool.spilled_from'] === undefined)).toBe(true);

    expect((await push([])).status).toBe(200);
    expect(servedByFallback(await send(60))).toBe(0);
  });

  it('warns once about a fallback pool the gateway does not have, and keeps that share in the pool', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.message);
    };
    process.on('warning', onWarning);
    try {
      expect((await push([{ pool: 'other-provider', share: 0.5 }])).status).toBe(200);
      expect((await push([{ pool: 'other-provider', share: 0.5 }])).status).toBe(200);
      expect(servedByFallback(await send(20))).toBe(0);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.includes('"other-provider"'))).toEqual([
      'headroom gateway: the advice for pool "primary" spills to "other-provider", which is not a pool of this gateway; that share stays in "primary"',
    ]);
  });
});
