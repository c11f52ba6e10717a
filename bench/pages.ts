/**
 * Status pages benchmark: one pool of BENCH_KEYS keys (default 1000) with a day of per-minute rollups
 * on embedded ClickHouse, one real analytics cycle, then the pages rendered through the whole app
 * (`buildApp` + `inject`: routing, auth hook, ClickHouse reads, view model, HTML). `first_render_ms`
 * is the pool page's first render after the cycle; the other figures are medians of BENCH_RENDERS
 * (default 5) renders. The last line is one JSON object with the figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAnalytics } from '../src/analytics/index.ts';
import { buildApp } from '../src/http/index.ts';
import { median } from './forecast/random.ts';
import { BENCH_LOG, openStoreWithRollups } from './support/minute-rollups.ts';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 1000);
const RENDERS = Number(process.env['BENCH_RENDERS'] ?? 5);
const POOL = 'pool-0';
const KEY_QUOTAS = [
  { dimension: 'requests', window: 'day', limit: 1_500 },
  { dimension: 'tokens', window: 'day', limit: 2_000_000 },
];

const dir = await mkdtemp(join(tmpdir(), 'headroom-bench-pages-'));
const { config, store, nowMs } = await openStoreWithRollups(
  dir,
  {
    analytics: { interval_seconds: 30, history_days: 1 },
    pools: [
      {
        name: POOL,
        key_quotas: KEY_QUOTAS,
      },
    ],
  },
  { keys: KEYS, pools: 1 },
);
try {
  const analytics = createAnalytics({ config, store, log: BENCH_LOG });
  await analytics.start({ schedule: false });
  const run = await analytics.runCycle(nowMs);
  if (run.outcome !== 'success') throw new Error(`cycle failed: ${run.error}`);
  const app = await buildApp({ config, store, analytics, logger: false });

  const render = async (url: string): Promise<{ ms: number; bytes: number }> => {
    const started = performance.now();
    const response = await app.inject(url);
    const ms = performance.now() - started;
    if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`);
    return { ms, bytes: response.rawPayload.length };
  };
  const first = await render(`/pools/${POOL}`);
  const pages: Array<[string, string]> = [
    ['pool', `/pools/${POOL}`],
    ['overview', '/'],
    ['key', `/pools/${POOL}/keys/key-0`],
    ['alerts', '/alerts'],
    ['api_keys', `/v1/keys?pool=${POOL}`],
  ];
  const results: Record<string, { median_ms: number; bytes: number }> = {};
  for (const [name, url] of pages) {
    const runs: number[] = [];
    let bytes = 0;
    for (let i = 0; i < RENDERS; i++) {
      const r = await render(url);
      runs.push(r.ms);
      bytes = r.bytes;
    }
    results[name] = { median_ms: Math.round(median(runs) * 10) / 10, bytes };
  }
  await app.close();
  await analytics.stop();

  console.log(
    `pool of ${KEYS} keys, ${KEY_QUOTAS.length} quotas per key; cycle ${Math.round(run.durationMs)} ms`,
  );
  console.log('page      median ms   size KiB');
  console.log(
    `pool*     ${first.ms.toFixed(1).padEnd(12)}${(first.bytes / 1024).toFixed(0)}   (* first render)`,
  );
  for (const [name, r] of Object.entries(results))
    console.log(`${name.padEnd(10)}${String(r.median_ms).padEnd(12)}${(r.bytes / 1024).toFixed(0)}`);
  console.log(
    JSON.stringify({
      bench: 'pages',
      keys: KEYS,
      first_render_ms: Math.round(first.ms * 10) / 10,
      first_render_under_1s: first.ms < 1000,
      pool_page_kib: Math.round(first.bytes / 1024),
      median_ms: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.median_ms])),
    }),
  );
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
