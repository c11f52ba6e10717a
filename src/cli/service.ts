import type { FastifyInstance } from 'fastify';
import { createAnalytics, type Analytics } from '../analytics/index.ts';
import { findConfigWarnings, summarizeConfig, type Config } from '../config/index.ts';
import { buildApp, registerApi } from '../http/index.ts';
import { createIngest, type Ingest } from '../ingest/index.ts';
import { createStore, type Store } from '../store/index.ts';

export interface Service {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly ingest: Ingest | undefined;
  readonly analytics: Analytics | undefined;
  /** The address the service listens on, e.g. `http://127.0.0.1:4318`. */
  readonly url: string;
  /** Graceful shutdown: stop accepting, commit pending batches, close ClickHouse. Idempotent. */
  close(): Promise<void>;
}

/**
 * Wires store, ingest, analytics and HTTP for `headroom serve` and listens on the configured address.
 * `scheduleAnalytics: false` leaves the cycle to explicit `analytics.runCycle()` calls.
 */
export async function startService(
  config: Config,
  options: { scheduleAnalytics?: boolean } = {},
): Promise<Service> {
  const store = createStore(config);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  const ingest =
    config.role === 'analytics'
      ? undefined
      : createIngest({ config: config.ingest, store, retentionDays: config.retentionDays });
  await ingest?.start();
  const app = await buildApp({ config, store, ...(ingest === undefined ? {} : { ingest }) });
  const analytics = config.role === 'ingest' ? undefined : createAnalytics({ config, store, log: app.log });
  if (analytics !== undefined) {
    await app.register(async (scope) => registerApi(scope, analytics, store, config.adminToken));
  }
  const url = await app.listen({ host: config.host, port: config.port });
  app.log.info({ url, ...summarizeConfig(config) }, 'headroom configuration loaded');
  for (const warning of findConfigWarnings(config)) app.log.warn(warning);
  await analytics?.start({ schedule: options.scheduleAnalytics ?? true });

  let closing: Promise<void> | undefined;
  return {
    app,
    store,
    ingest,
    analytics,
    url,
    close() {
      closing ??= (async () => {
        await analytics?.stop();
        await app.close();
        await ingest?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
