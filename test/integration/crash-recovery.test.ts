import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createStore } from '../../src/store/index.ts';
import { buildRequest, encodeProtobuf } from '../support/otlp.ts';
import { freePort, makeDataDir, spawnServe, waitForExit } from '../support/service.ts';

const WORKERS = 6;
const SPANS_PER_REQUEST = 40;
const MAX_REQUESTS_PER_WORKER = 2_000;

describe('crash safety', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('keeps every span whose request got a 2xx when the service is killed with SIGKILL under load', async () => {
    const data = await makeDataDir('headroom-crash-');
    cleanups.push(data.remove);
    const env = {
      HEADROOM_DATA_DIR: data.dir,
      HEADROOM_PORT: String(await freePort()),
      HEADROOM_LOG_LEVEL: 'warn',
    };
    const first = await spawnServe(env);
    cleanups.push(async () => void first.child.kill('SIGKILL'));

    const acknowledged: string[] = [];
    let stopped = false;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; i < MAX_REQUESTS_PER_WORKER && !stopped; i++) {
        const spanIds = Array.from(
          { length: SPANS_PER_REQUEST },
          (_, j) =>
            w.toString(16).padStart(2, '0') +
            i.toString(16).padStart(8, '0') +
            j.toString(16).padStart(6, '0'),
        );
        const body = encodeProtobuf(
          buildRequest(
            { 'service.name': 'crash-test' },
            spanIds.map((spanId) => ({
              spanId,
              attributes: { 'keypool.pool': 'crash', 'keypool.key.id': `k${w}` },
            })),
          ),
        );
        try {
          const response = await fetch(`${first.url}/v1/traces`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/x-protobuf' },
          });
          await response.arrayBuffer();
          if (response.ok) acknowledged.push(...spanIds);
        } catch {
          // Connection reset by the kill: not acknowledged, so no promise was made.
          if (stopped) return;
        }
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    // Kill once a good number of requests has been acknowledged, while requests are still in flight.
    const deadline = Date.now() + 20_000;
    while (acknowledged.length < 200 * SPANS_PER_REQUEST && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    first.child.kill('SIGKILL');
    stopped = true;
    await load;
    await waitForExit(first.child);
    expect(acknowledged.length).toBeGreaterThan(0);

    // Restart on the same directory: the embedded engine recovers, then stops gracefully.
    const second = await spawnServe(env);
    second.child.kill('SIGTERM');
    expect(await waitForExit(second.child)).toBe(0);

    const store = createStore(loadConfig({ env: { HEADROOM_DATA_DIR: data.dir } }));
    try {
      const rows = await store.queryRows<{ span_id: string }>(
        `SELECT span_id FROM ${store.database}.api_calls WHERE pool = 'crash'`,
      );
      const stored = new Set(rows.map((r) => r.span_id));
      const missing = acknowledged.filter((id) => !stored.has(id));
      expect(missing).toEqual([]);
      // Nothing acknowledged was stored twice either.
      expect(rows.length).toBe(stored.size);
    } finally {
      await store.close();
    }
  });
});
