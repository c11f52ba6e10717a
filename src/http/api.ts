import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Analytics, AnalyticsSnapshot } from '../analytics/index.ts';
import { silencedBy, silenceFromRow } from '../alerts/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { Pusher } from '../rebalance/index.ts';
import type { Store } from '../store/index.ts';
import {
  AdviceViewSchema,
  AlertsViewSchema,
  buildAdviceView,
  buildAlertsView,
  buildKeysView,
  buildPoolsView,
  KeysViewSchema,
  PoolsViewSchema,
  type SilenceMatcher,
} from '../view/index.ts';
import type { ZodTypeProvider } from './zod.ts';

const ALERT_LIMIT_EXPECTED = 'a whole number from 1 to 10000';

export const AlertsQuerySchema = z.object({
  limit: z
    .string()
    .optional()
    .transform((text, context) => {
      const value = text ?? '100';
      if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 10_000) return Number(value);
      context.addIssue({
        code: 'custom',
        message: `limit=${JSON.stringify(value)} is invalid: expected ${ALERT_LIMIT_EXPECTED}`,
      });
      return z.NEVER;
    }),
});

export const KeysQuerySchema = z.object({ pool: z.string().optional() });
export const PoolParamsSchema = z.object({ pool: z.string() });

/** The latest cycle's snapshot, or a 503 saying why there is none yet. */
export function requireSnapshot(analytics: Analytics): AnalyticsSnapshot {
  const snapshot = analytics.snapshot();
  if (snapshot === undefined) {
    const last = analytics.lastRun();
    throw new HeadroomError(
      ErrorCode.notReady,
      last?.outcome === 'failure'
        ? `the analytics cycle failed: ${last.error ?? 'unknown error'}`
        : 'the first analytics cycle has not completed yet',
      { statusCode: 503, details: { retryAfterSeconds: 5 } },
    );
  }
  return snapshot;
}

/** Matches alerts against the silences as they are now. */
export async function readSilenceMatcher(store: Store): Promise<SilenceMatcher> {
  const silences = (await store.readSilences()).map(silenceFromRow);
  const nowMs = Date.now();
  return (labels) => silencedBy(labels, silences, nowMs);
}

/** The read API over the latest analytics cycle: pools, keys, advice, alerts. */
export async function apiPlugin(
  app: FastifyInstance,
  options: { analytics: Analytics; store: Store; pusher?: Pick<Pusher, 'status'> },
): Promise<void> {
  const { analytics, store, pusher } = options;
  const scope = app.withTypeProvider<ZodTypeProvider>();

  scope.get('/v1/pools', { schema: { response: { 200: PoolsViewSchema } } }, async () =>
    buildPoolsView(requireSnapshot(analytics), pusher?.status() ?? []),
  );

  scope.get(
    '/v1/keys',
    { schema: { querystring: KeysQuerySchema, response: { 200: KeysViewSchema } } },
    async (request) => buildKeysView(requireSnapshot(analytics), request.query.pool),
  );

  scope.get(
    '/v1/pools/:pool/advice',
    {
      config: { access: 'admin' },
      schema: { params: PoolParamsSchema, response: { 200: AdviceViewSchema, 304: z.undefined() } },
    },
    async (request, reply) => {
      const snapshot = requireSnapshot(analytics);
      const advice = snapshot.advice.get(request.params.pool);
      if (advice === undefined) {
        throw new HeadroomError(
          ErrorCode.notFound,
          `no advice for pool ${JSON.stringify(request.params.pool)}: no key of it has been seen or configured`,
          { statusCode: 404, details: { pool: request.params.pool } },
        );
      }
      const etag = `"${createHash('sha256').update(`${advice.pool}\u0000${advice.version}`).digest('hex').slice(0, 16)}"`;
      void reply.header('etag', etag).header('cache-control', 'no-cache');
      const inm = request.headers['if-none-match'];
      if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
        return reply.status(304).send();
      }
      return buildAdviceView(advice);
    },
  );

  scope.get(
    '/v1/alerts',
    { schema: { querystring: AlertsQuerySchema, response: { 200: AlertsViewSchema } } },
    async (request) => {
      const history = await store.readAlertHistory(request.query.limit);
      return buildAlertsView(analytics.snapshot()?.alerts ?? [], history, await readSilenceMatcher(store));
    },
  );
}
