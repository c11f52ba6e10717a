import type { Store } from '../../src/store/index.ts';

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
