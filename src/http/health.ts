import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorCode } from '../errors/index.ts';
import type { MetricsRegistry } from '../metrics/index.ts';
import type { Store } from '../store/index.ts';
import type { ZodTypeProvider } from './zod.ts';

export const HealthSchema = z.object({ status: z.literal('ok') });
export const ReadySchema = z.object({ status: z.literal('ready') });
export const NotReadySchema = z.object({
  code: z.string(),
  message: z.string(),
  status: z.literal('not_ready'),
});

/** Liveness, readiness (ClickHouse reachable, migrations applied) and self-metrics. */
export async function healthPlugin(
  app: FastifyInstance,
  options: { store: Store; metrics: MetricsRegistry },
): Promise<void> {
  const { store, metrics } = options;
  const scope = app.withTypeProvider<ZodTypeProvider>();
  metrics.collect(() => [
    {
      name: 'headroom_process_resident_memory_bytes',
      help: 'Resident set size.',
      kind: 'gauge',
      value: process.memoryUsage().rss,
    },
  ]);

  scope.get('/healthz', { schema: { response: { 200: HealthSchema } } }, async () => ({
    status: 'ok' as const,
  }));

  scope.get(
    '/readyz',
    { schema: { response: { 200: ReadySchema, 503: NotReadySchema } } },
    async (_request, reply) => {
      const readiness = await store.checkReady();
      if (readiness.ready) return { status: 'ready' as const };
      return reply.status(503).send({
        code: ErrorCode.storeUnavailable,
        message: readiness.reason ?? 'not ready',
        status: 'not_ready' as const,
      });
    },
  );

  scope.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4').send(metrics.render()),
  );
}
