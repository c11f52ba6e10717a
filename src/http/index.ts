import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Analytics } from '../analytics/index.ts';
import type { Config } from '../config/index.ts';
import type { Ingest } from '../ingest/index.ts';
import { createMetricsRegistry, type MetricsRegistry } from '../metrics/index.ts';
import type { Pusher } from '../rebalance/index.ts';
import type { Store } from '../store/index.ts';
import { apiPlugin } from './api.ts';
import { createSessions, installAuth } from './auth.ts';
import { installErrorHandler } from './errors.ts';
import { healthPlugin } from './health.ts';
import { ingestPlugin } from './ingest.ts';
import { pagesPlugin } from './pages.ts';
import { silencesPlugin } from './silences.ts';
import { installZodCompilers } from './zod.ts';

export type { Access } from './auth.ts';
export { HealthSchema, NotReadySchema, ReadySchema } from './health.ts';
export type { ZodTypeProvider } from './zod.ts';

export interface AppDependencies {
  config: Config;
  store: Store;
  /** Absent when this process does not run the ingest role. */
  ingest?: Ingest;
  /** Absent when this process does not run the analytics role: no read API, silences or pages then. */
  analytics?: Analytics;
  /** The registry `/metrics` reads; the analytics job wrapper feeds the same one. */
  metrics?: MetricsRegistry;
  /** Pushes advice to gateways; `GET /v1/pools` shows each target's last push. */
  pusher?: Pick<Pusher, 'status'>;
  /** Pino logger options or `false`; defaults to the configured level. */
  logger?: boolean | { level: string };
}

/**
 * Builds the whole HTTP app without listening: a tree of self-contained plugins (health and metrics,
 * ingest, the JSON API, the pages) behind one auth hook. Tests drive it with `inject()` or a real
 * port; `serve` calls `listen`.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, store, ingest, analytics } = deps;
  const metrics = deps.metrics ?? createMetricsRegistry();
  const app = Fastify({
    logger: deps.logger ?? (config.logLevel === 'silent' ? false : { level: config.logLevel }),
    bodyLimit: 1024 * 1024,
    // Per-request logs would dominate at ingest rates; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  installErrorHandler(app);
  installZodCompilers(app);
  const sessions = createSessions();
  installAuth(app, { ingestTokens: config.ingest.tokens, adminToken: config.adminToken, sessions });

  await app.register(healthPlugin, { store, metrics });
  if (ingest !== undefined) await app.register(ingestPlugin, { config, ingest, metrics });
  if (analytics !== undefined) {
    await app.register(apiPlugin, {
      analytics,
      store,
      ...(deps.pusher === undefined ? {} : { pusher: deps.pusher }),
    });
    await app.register(silencesPlugin, { store });
    await app.register(pagesPlugin, {
      analytics,
      store,
      sessions,
      adminToken: config.adminToken,
      secureCookie: config.publicUrl?.startsWith('https:') ?? false,
      // Asking a few times per cycle shows a new cycle within seconds without loading the service.
      pollMillis: Math.min(10_000, Math.max(1000, (config.file.analytics.interval_seconds * 1000) / 3)),
      ...(ingest === undefined ? {} : { ingest }),
    });
  }
  return app;
}
