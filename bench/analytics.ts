/**
 * Analytics cycle benchmark: a whole cycle (query, forecast, write forecasts / alerts / advice) on
 * embedded ClickHouse holding a day of per-minute rollups for N keys with 3 quotas each
 * (requests/day, tokens/day, cost/month). Each size runs in its own process (one chDB engine per
 * process) on a fresh data directory. Sizes: BENCH_KEYS (comma-separated), default 1000,10000,50000.
 * `seconds_per_cycle` is the median of BENCH_CYCLES (default 5) steady-state cycles; the first cycle
 * after a start, which loads every key's history into memory, is reported as `first_cycle_seconds`.
 * The last line is one JSON object with the figures.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAnalytics } from '../src/analytics/index.ts';
import { BENCH_LOG, openStoreWithRollups } from './support/minute-rollups.ts';

const POOLS = 10;
const CYCLES = Number(process.env['BENCH_CYCLES'] ?? 5);

async function child(keys: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-bench-analytics-'));
  const { config, store, nowMs, loadSeconds } = await openStoreWithRollups(
    dir,
    {
      analytics: { interval_seconds: 30, history_days: 7 },
      pools: Array.from({ length: POOLS }, (_, p) => ({
        name: `pool-${p}`,
        key_quotas: [
          { dimension: 'requests', window: 'day', limit: 1_500 + 150 * p },
          { dimension: 'tokens', window: 'day', limit: 2_000_000 + 200_000 * p },
          { dimension: 'cost_usd', window: 'month', limit: 400 + 40 * p },
        ],
      })),
    },
    { keys, pools: POOLS },
  );
  try {
    // A day of rollups inserted at once leaves merges running for a while; rollups that arrive minute
    // by minute do not. Measure once they are done (or after two minutes).
    const mergeWaitStarted = performance.now();
    for (let waited = 0; waited < 120; waited += 1) {
      const [merging] = await store.queryRows<{ n: string }>(
        `SELECT count() AS n FROM system.merges WHERE database = {database:String}`,
        { database: store.database },
      );
      if (Number(merging?.n ?? 0) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const mergeWaitSeconds = (performance.now() - mergeWaitStarted) / 1000;

    const analytics = createAnalytics({ config, store, log: BENCH_LOG });
    await analytics.start({ schedule: false });
    // The first cycle loads every key's history into memory; the next ones read only new minutes.
    const cold = await analytics.runCycle(nowMs);
    if (cold.outcome !== 'success') throw new Error(`cycle failed: ${cold.error}`);
    const coldStats = analytics.lastStats();
    const coldPhases = [coldStats?.readMs, coldStats?.computeMs, coldStats?.writeMs]
      .map((ms) => Math.round(ms ?? NaN))
      .join('/');
    const seconds: number[] = [];
    const phases: string[] = [];
    let stats;
    for (let i = 1; i <= CYCLES; i++) {
      const run = await analytics.runCycle(nowMs + i * 30_000);
      if (run.outcome !== 'success') throw new Error(`cycle failed: ${run.error}`);
      seconds.push(run.durationMs / 1000);
      stats = analytics.lastStats();
      phases.push(
        [stats?.readMs, stats?.computeMs, stats?.writeMs].map((ms) => Math.round(ms ?? NaN)).join('/'),
      );
    }
    await analytics.stop();
    const sorted = [...seconds].sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        keys,
        quotas: stats?.quotas,
        rollup_rows: keys * 1_440,
        load_seconds: Number(loadSeconds.toFixed(1)),
        merge_wait_seconds: Number(mergeWaitSeconds.toFixed(1)),
        seconds_per_cycle: Number((sorted[Math.floor(sorted.length / 2)] ?? NaN).toFixed(3)),
        first_cycle_seconds: Number((cold.durationMs / 1000).toFixed(3)),
        first_cycle_read_compute_write_ms: coldPhases,
        cycles: seconds.map((s) => Number(s.toFixed(3))),
        cycle_read_compute_write_ms: phases,
        read_ms: Math.round(stats?.readMs ?? NaN),
        compute_ms: Math.round(stats?.computeMs ?? NaN),
        write_ms: Math.round(stats?.writeMs ?? NaN),
        rss_mb: Math.round(process.memoryUsage().rss / 1024 / 1024),
      }),
    );
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function parent(): void {
  const sizes = (process.env['BENCH_KEYS'] ?? '1000,10000,50000').split(',').map(Number);
  const results: Array<Record<string, number>> = [];
  console.log('keys    quotas   rollup rows   s/cycle   first s   read ms   compute ms   write ms   rss MB');
  for (const keys of sizes) {
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(keys)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 1024 * 1024,
    });
    const last = run.stdout.trim().split('\n').at(-1) ?? '';
    if (run.status !== 0 || !last.startsWith('{'))
      throw new Error(`bench for ${keys} keys failed:\n${run.stdout}`);
    const r = JSON.parse(last) as Record<string, number>;
    results.push(r);
    console.log(
      `${String(r['keys']).padEnd(8)}${String(r['quotas']).padEnd(9)}${String(r['rollup_rows']).padEnd(14)}` +
        `${String(r['seconds_per_cycle']).padEnd(10)}${String(r['first_cycle_seconds']).padEnd(10)}${String(r['read_ms']).padEnd(10)}${String(r['compute_ms']).padEnd(13)}` +
        `${String(r['write_ms']).padEnd(11)}${r['rss_mb']}`,
    );
  }
  const at10k = results.find((r) => r['keys'] === 10_000) ?? results.at(-1);
  console.log(
    JSON.stringify({
      bench: 'analytics',
      keys: at10k?.['keys'],
      quotas_per_key: 3,
      seconds_per_cycle: at10k?.['seconds_per_cycle'],
      scaling: Object.fromEntries(results.map((r) => [String(r['keys']), r['seconds_per_cycle']])),
      detail: results,
    }),
  );
}

if (process.argv[2] === '--child') await child(Number(process.argv[3]));
else parent();
