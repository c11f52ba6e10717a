import type { QueryParams } from './index.ts';

/** One push of advice to a gateway (`pushes` table). */
export interface PushRow {
  /** When the push finished, epoch ms. */
  at: number;
  pool: string;
  target: string;
  target_type: string;
  advice_version: number;
  /** `advice` (new version), `reenable` (a key's until passed), `retry` (the last push failed). */
  trigger: string;
  /** `success`, `failure` (the gateway refused) or `retryable` (gave up on an unreachable gateway). */
  outcome: string;
  error: string;
  attempts: number;
  duration_ms: number;
}

export interface PushStore {
  writePushes(rows: readonly PushRow[]): Promise<void>;
  /** The latest push of every (pool, target). */
  readLatestPushes(): Promise<PushRow[]>;
}

export function createPushStore(
  database: string,
  queryRows: <T>(sql: string, params?: QueryParams) => Promise<T[]>,
  insertJson: (table: string, rows: readonly object[]) => Promise<void>,
): PushStore {
  return {
    writePushes: (rows) => insertJson(`${database}.pushes`, rows),
    async readLatestPushes() {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT toUnixTimestamp64Milli(at) AS at, pool, target, target_type, advice_version, trigger, outcome,
                error, attempts, duration_ms
         FROM ${database}.pushes ORDER BY at DESC LIMIT 1 BY pool, target`,
      );
      return rows.map((r) => ({
        ...(r as unknown as PushRow),
        at: Number(r['at']),
        advice_version: Number(r['advice_version']),
        attempts: Number(r['attempts']),
        duration_ms: Number(r['duration_ms']),
      }));
    },
  };
}
