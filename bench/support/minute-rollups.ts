import { loadConfig, parseHeadroomFile, type Config } from '../../src/config/index.ts';
import { createStore, type Store } from '../../src/store/index.ts';

/** A logger for the analytics engine in benchmarks: only errors are printed. */
export const BENCH_LOG = {
  debug: (): void => undefined,
  info: (): void => undefined,
  warn: (): void => undefined,
  error: (o: object, m: string): void => console.error(m, o),
};

/**
 * Opens embedded ClickHouse at `dataDir` with the headroom.yaml `document`, applies the migrations and
 * writes the day of per-minute rollups before now (see {@link insertMinuteRollups}). The caller
 * closes the store; it is closed here when a step fails.
 */
export async function openStoreWithRollups(
  dataDir: string,
  document: unknown,
  rollups: { keys: number; pools: number },
): Promise<{ config: Config; store: Store; nowMs: number; loadSeconds: number }> {
  const config = loadConfig({
    env: { HEADROOM_DATA_DIR: dataDir, HEADROOM_LOG_LEVEL: 'silent' },
    overrides: { file: parseHeadroomFile(JSON.stringify(document), 'bench') },
  });
  const store = createStore(config);
  try {
    await store.migrate();
    const nowMs = Date.now();
    const dayStart = Math.floor(nowMs / 60_000) * 60_000 - 1_440 * 60_000;
    const loadStarted = performance.now();
    await insertMinuteRollups(store, { ...rollups, startMs: dayStart });
    return { config, store, nowMs, loadSeconds: (performance.now() - loadStarted) / 1000 };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/**
 * Writes a day of per-minute usage rollups from `startMs` for `keys` keys spread over `pools` pools
 * (`pool-0`, `pool-1`, …; keys `key-0`, …; 100 partitions): a key-specific level, a diurnal shape and
 * noise; about one key in five runs hot enough to exhaust a daily request quota of about 1,500.
 */
export async function insertMinuteRollups(
  store: Store,
  options: { keys: number; pools: number; startMs: number },
): Promise<void> {
  await store.queryRows(
    `INSERT INTO ${store.database}.usage_minute
       (minute, pool, key_id, partition, provider, model, requests, input_tokens, output_tokens, cost_usd, ok)
     SELECT minute, pool, key_id, partition, 'openai', 'gpt-4o-mini', requests, requests * 900, requests * 200,
            requests * 0.0004, requests
     FROM (
       SELECT toDateTime(intDiv({start:UInt64}, 1000) + (number % 1440) * 60) AS minute,
              concat('pool-', toString(intDiv(number, 1440) % {pools:UInt32})) AS pool,
              concat('key-', toString(intDiv(number, 1440))) AS key_id,
              concat('org-', toString(intDiv(number, 1440) % 100)) AS partition,
              toUInt64(greatest(0, round(
                (0.6 + (cityHash64(intDiv(number, 1440)) % 100) / 100 * if(cityHash64(intDiv(number, 1440)) % 5 = 0, 1.6, 0.7))
                * (1 + 0.6 * sin((number % 1440) / 1440 * 2 * pi() - 1.5))
                * (0.5 + (cityHash64(number) % 1000) / 1000)))) AS requests
       FROM numbers({rows:UInt64})
     )`,
    { start: options.startMs, rows: options.keys * 1_440, pools: options.pools },
  );
}
