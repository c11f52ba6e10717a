import type { FastifyInstance } from 'fastify';
import { createAnalytics, type Analytics } from '../analytics/index.ts';
import { findConfigWarnings, summarizeConfig, type Config } from '../config/index.ts';
import { buildApp } from '../http/index.ts';
import { createIngest, type Ingest } from '../ingest/index.ts';
import { createMetricsRegistry } from '../metrics/index.ts';
import { createPusher, createPushTarget, type Pusher } from '../rebalance/index.ts';
import { createStore, type Store } from '../store/index.ts';

export interface Service {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly ingest: Ingest | undefined;
  readonly analytics: Analytics | undefined;
  /** Pushes advice to the configured gateways; undefined when none is configured. */
  readonly pusher: Pusher | undefined;
  /** The address the service listens on, e.g. `http://127.0.0.1:4318`. */
  readonly url: string;
  /** Graceful shutdown: stop the cycle, drain pushes (bounded), stop accepting, commit pending batches, close ClickHouse. Idempotent. */
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
  const metrics = createMetricsRegistry();
  // Analytics and pushes log through the app's logger, which exists only once the app is built.
  const appLog: { current?: FastifyInstance['log'] } = {};
  const log = {
    debug: (obj: object, msg: string) => appLog.current?.debug(obj, msg),
    info: (obj: object, msg: string) => appLog.current?.info(obj, msg),
    warn: (obj: object, msg: string) => appLog.current?.warn(obj, msg),
    error: (obj: object, msg: string) => appLog.current?.error(obj, msg),
  };
  const pusher =
    config.role === 'ingest' || config.pushTargets.length === 0
      ? undefined
      : createPusher({
          targets: config.pushTargets.map((target) => ({
            target: createPushTarget(target),
            policy: { deadlineMillis: target.deadline_ms },
          })),
          store,
          log,
        });
  await pusher?.restore();
  const analytics =
    config.role === 'ingest'
      ? undefined
      : createAnalytics({
          config,
          store,
          log,
          metrics,
          ...(pusher === undefined ? {} : { onAdvice: (advice, nowMs) => pusher.onAdvice(advice, nowMs) }),
        });
  const app = await buildApp({
    config,
    store,
    metrics,
    ...(ingest === undefined ? {} : { ingest }),
    ...(analytics === undefined ? {} : { analytics }),
    ...(pusher === undefined ? {} : { pusher }),
  });
  appLog.current = app.log;
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
    pusher,
    url,
    close() {
      closing ??= (async () => {
        await analytics?.stop();
        // Pushes in flight get a bounded time to finish and be recorded while the store is open.
        await pusher?.close(config.pushDrainMillis);
        await app.close();
        await ingest?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
