import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Analytics } from '../analytics/index.ts';
import type { Ingest } from '../ingest/index.ts';
import {
  ASSETS_DIR,
  renderAlertsPage,
  renderKeyPage,
  renderLoginPage,
  renderMessagePage,
  renderOverviewPage,
  renderPoolPage,
  type PageContext,
} from '../pages/index.ts';
import type { Store } from '../store/index.ts';
import { buildAlertsView, buildKeyPage, buildOverview, buildPoolPage } from '../view/index.ts';
import { bearerMatches } from '../auth/index.ts';
import { readSilenceMatcher } from './api.ts';
import { readCookie, SESSION_COOKIE, type Sessions } from './auth.ts';
import type { ZodTypeProvider } from './zod.ts';

const DAY_MS = 86_400_000;
const OUTCOME_BUCKET_SECONDS = 1800;

const ASSETS: Readonly<Record<string, string>> = {
  'headroom.css': 'text/css; charset=utf-8',
  'headroom.js': 'text/javascript; charset=utf-8',
};

export const CycleSchema = z.object({ evaluated_at: z.string().nullable() });
const LoginBodySchema = z.object({ token: z.string().default(''), next: z.string().default('/') });

/** Only paths of this site: `next` must not send a browser elsewhere after signing in. */
function safeNext(next: string | undefined): string {
  return next !== undefined && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\')
    ? next
    : '/';
}

/** The status pages at `/`: overview, pool, key, alerts; the login form; and what they load. */
export async function pagesPlugin(
  app: FastifyInstance,
  options: {
    analytics: Analytics;
    store: Store;
    sessions: Sessions;
    adminToken: string | undefined;
    secureCookie: boolean;
    ingest?: Ingest;
    /** How often pages ask whether a cycle completed; default a third of a 5 s cycle, at least 1 s. */
    pollMillis?: number;
  },
): Promise<void> {
  const { analytics, store, sessions, adminToken, ingest } = options;
  const scope = app.withTypeProvider<ZodTypeProvider>();
  const context: PageContext = {
    pollMillis: options.pollMillis ?? 2000,
    signedIn: adminToken !== undefined,
  };
  const assets = new Map<string, Buffer>();
  for (const name of Object.keys(ASSETS)) assets.set(name, await readFile(new URL(name, ASSETS_DIR)));

  // The ingest rate shown on the overview: spans committed between the last two completed cycles.
  let samples: Array<{ atMs: number; accepted: number }> = [];
  if (ingest !== undefined) {
    samples.push({ atMs: Date.now(), accepted: ingest.stats().acceptedSpans });
    const unsubscribe = analytics.subscribe(() => {
      samples = [...samples.slice(-1), { atMs: Date.now(), accepted: ingest.stats().acceptedSpans }];
    });
    app.addHook('onClose', async () => {
      unsubscribe();
    });
  }
  const ingestRate = (): number | undefined => {
    if (ingest === undefined) return undefined;
    const [a, b] =
      samples.length >= 2
        ? samples
        : [samples[0], { atMs: Date.now(), accepted: ingest.stats().acceptedSpans }];
    if (a === undefined || b === undefined || b.atMs <= a.atMs) return 0;
    return ((b.accepted - a.accepted) * 1000) / (b.atMs - a.atMs);
  };

  const html = (reply: FastifyReply, status: number, body: string): FastifyReply =>
    reply.status(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);

  const waiting = (reply: FastifyReply): FastifyReply => {
    const last = analytics.lastRun();
    return html(
      reply.header('retry-after', '5').header('refresh', '5'),
      503,
      renderMessagePage(
        'Waiting for the first forecast',
        last?.outcome === 'failure'
          ? `The analytics cycle failed: ${last.error ?? 'unknown error'}. This page retries every 5 seconds.`
          : 'The first analytics cycle has not completed yet. This page retries every 5 seconds.',
      ),
    );
  };

  scope.get(
    '/assets/:name',
    { schema: { params: z.object({ name: z.string() }) } },
    async (request, reply) => {
      const body = assets.get(request.params.name);
      const type = ASSETS[request.params.name];
      if (body === undefined || type === undefined) return reply.callNotFound();
      return reply.type(type).header('cache-control', 'no-cache').send(body);
    },
  );

  scope.get(
    '/ui/cycle',
    { config: { access: 'admin' }, schema: { response: { 200: CycleSchema } } },
    async (_request, reply) => {
      const at = analytics.snapshot()?.evaluatedAtMs;
      void reply.header('cache-control', 'no-store');
      return { evaluated_at: at === undefined ? null : new Date(at).toISOString() };
    },
  );

  scope.get('/', { config: { access: 'page' } }, async (_request, reply) => {
    const snapshot = analytics.snapshot();
    if (snapshot === undefined) return waiting(reply);
    const last = analytics.lastRun();
    const view = buildOverview(
      snapshot,
      {
        clickhouse: await store.checkReady(),
        lastCycle:
          last === undefined
            ? undefined
            : {
                at: new Date(last.startedAtMs).toISOString(),
                outcome: last.outcome,
                durationMs: last.durationMs,
                ...(last.error === undefined ? {} : { error: last.error }),
              },
        ingestSpansPerSecond: ingestRate(),
      },
      await readSilenceMatcher(store),
    );
    return html(reply, 200, renderOverviewPage(view, context));
  });

  scope.get(
    '/pools/:pool',
    { config: { access: 'page' }, schema: { params: z.object({ pool: z.string() }) } },
    async (request, reply) => {
      const snapshot = analytics.snapshot();
      if (snapshot === undefined) return waiting(reply);
      const { pool } = request.params;
      const history = await store.readAdviceHistory(pool, snapshot.evaluatedAtMs - DAY_MS);
      const view = buildPoolPage(snapshot, pool, history, await readSilenceMatcher(store));
      if (view === undefined)
        return html(
          reply,
          404,
          renderMessagePage('Not found', `No pool named ${pool} has been seen or configured.`, context),
        );
      return html(reply, 200, renderPoolPage(view, context));
    },
  );

  scope.get(
    '/pools/:pool/keys/:key',
    { config: { access: 'page' }, schema: { params: z.object({ pool: z.string(), key: z.string() }) } },
    async (request, reply) => {
      const snapshot = analytics.snapshot();
      if (snapshot === undefined) return waiting(reply);
      const { pool, key } = request.params;
      const nowMs = snapshot.evaluatedAtMs;
      const [outcomes, history] = await Promise.all([
        store.readOutcomes(pool, key, nowMs - DAY_MS, nowMs + 60_000, OUTCOME_BUCKET_SECONDS),
        store.readAlertHistory(50, { pool, subjectId: key }),
      ]);
      const view = buildKeyPage(snapshot, pool, key, {
        outcomes,
        outcomesBucketMs: OUTCOME_BUCKET_SECONDS * 1000,
        history,
        silencedBy: await readSilenceMatcher(store),
      });
      if (view === undefined)
        return html(
          reply,
          404,
          renderMessagePage(
            'Not found',
            `No key ${key} in pool ${pool} has been seen or configured.`,
            context,
          ),
        );
      return html(reply, 200, renderKeyPage(view, context));
    },
  );

  scope.get('/alerts', { config: { access: 'page' } }, async (_request, reply) => {
    const snapshot = analytics.snapshot();
    const alerts = buildAlertsView(
      snapshot?.alerts ?? [],
      await store.readAlertHistory(200),
      await readSilenceMatcher(store),
    );
    const evaluatedAt = snapshot === undefined ? null : new Date(snapshot.evaluatedAtMs).toISOString();
    return html(reply, 200, renderAlertsPage({ evaluatedAt, ...alerts }, context));
  });

  await app.register(async (forms) => {
    const typed = forms.withTypeProvider<ZodTypeProvider>();
    forms.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 4096 },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );

    typed.get(
      '/login',
      { schema: { querystring: z.object({ next: z.string().optional() }) } },
      async (request, reply) => {
        const next = safeNext(request.query.next);
        if (adminToken === undefined) return reply.redirect(next, 303);
        return html(reply, 200, renderLoginPage(next, false));
      },
    );

    typed.post('/login', { schema: { body: LoginBodySchema } }, async (request, reply) => {
      const next = safeNext(request.body.next);
      if (adminToken === undefined) return reply.redirect(next, 303);
      if (!bearerMatches(`Bearer ${request.body.token}`, [adminToken]))
        return html(reply, 401, renderLoginPage(next, true));
      const session = sessions.create(Date.now());
      void reply.header(
        'set-cookie',
        `${SESSION_COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${session.maxAgeSeconds}${options.secureCookie ? '; Secure' : ''}`,
      );
      return reply.redirect(next, 303);
    });

    typed.post('/logout', async (request, reply) => {
      sessions.end(readCookie(request, SESSION_COOKIE));
      void reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
      return reply.redirect('/login', 303);
    });
  });
}
