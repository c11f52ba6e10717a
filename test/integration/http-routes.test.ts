import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnalytics, type Analytics } from '../../src/analytics/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { buildApp, HealthSchema, NotReadySchema, ReadySchema } from '../../src/http/index.ts';
import { createIngest, type Ingest } from '../../src/ingest/index.ts';
import { zoneWithLocalHour } from '../../src/demo/index.ts';
import { createMetricsRegistry } from '../../src/metrics/index.ts';
import { createStore, type Store } from '../../src/store/index.ts';
import { AdviceViewSchema, AlertsViewSchema, KeysViewSchema, PoolsViewSchema } from '../../src/view/index.ts';
import { buildRequest, encodeJson } from '../support/otlp.ts';
import { makeDataDir } from '../support/service.ts';

const ADMIN = 'admin-secret-1';
const INGEST = 'ingest-secret-1';
const HOUR = 3_600_000;
const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

describe('every route through buildApp and inject, with tokens set', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let store: Store;
  let ingest: Ingest;
  let analytics: Analytics;
  let app: FastifyInstance;

  beforeAll(async () => {
    data = await makeDataDir('headroom-routes-');
    const configFile = join(data.dir, 'headroom.yaml');
    // A quota day that started hours ago, whatever the time of the run.
    const zone = zoneWithLocalHour(Date.now(), 15);
    await writeFile(
      configFile,
      [
        'alerts: { forecast_horizon_minutes: 1440 }',
        'pools:',
        '  - name: routes',
        '    keys:',
        '      - id: small',
        `        quotas: [{ dimension: requests, window: day, limit: 60, time_zone: ${zone} }]`,
        '      - id: large',
        `        quotas: [{ dimension: requests, window: day, limit: 100000, time_zone: ${zone} }]`,
      ].join('\n'),
    );
    const config = loadConfig({
      env: {
        HEADROOM_LOG_LEVEL: 'silent',
        HEADROOM_CONFIG: configFile,
        HEADROOM_DATA_DIR: join(data.dir, 'data'),
        HEADROOM_ADMIN_TOKEN: ADMIN,
        HEADROOM_INGEST_TOKENS: INGEST,
      },
    });
    store = createStore(config);
    await store.migrate();
    ingest = createIngest({ config: config.ingest, store });
    await ingest.start();
    const metrics = createMetricsRegistry();
    analytics = createAnalytics({ config, store, log: silentLog, metrics });
    await analytics.start({ schedule: false });
    app = await buildApp({ config, store, ingest, analytics, metrics, logger: false });
  });

  afterAll(async () => {
    await app?.close();
    await ingest?.close();
    await store?.close();
    await data?.remove();
  });

  const traces = (token: string | undefined) => {
    const nowMs = Date.now();
    const spans = Array.from({ length: 120 }, (_, i) => ({
      startMs: nowMs - HOUR + i * 30_000,
      attributes: {
        'keypool.pool': 'routes',
        'keypool.key.id': i % 2 === 0 ? 'small' : 'large',
        'keypool.outcome': i % 10 === 9 ? 'rate_limited' : 'ok',
      },
    }));
    return app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      payload: encodeJson(buildRequest({ 'service.name': 'gw' }, spans)),
    });
  };

  it('answers /healthz and /readyz', async () => {
    const health = await app.inject('/healthz');
    expect(health.statusCode).toBe(200);
    expect(HealthSchema.parse(health.json())).toEqual({ status: 'ok' });
    const ready = await app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ReadySchema.parse(ready.json())).toEqual({ status: 'ready' });
  });

  it('answers 503 on the read API before the first cycle', async () => {
    for (const url of ['/v1/pools', '/v1/keys', `/v1/pools/routes/advice`]) {
      const response = await app.inject({ url, headers: { authorization: `Bearer ${ADMIN}` } });
      expect(response.statusCode, url).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json()).toMatchObject({ code: 'HEADROOM_ERR_NOT_READY' });
    }
  });

  it('takes spans only with the ingest token', async () => {
    const refused = await traces(undefined);
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toMatchObject({ code: 'HEADROOM_ERR_UNAUTHORIZED' });
    const wrong = await traces(ADMIN);
    expect(wrong.statusCode).toBe(401);
    const accepted = await traces(INGEST);
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toEqual({});
    const run = await analytics.runCycle();
    expect(run.outcome).toBe('success');
  });

  it('lists pools and keys with their forecasts', async () => {
    const pools = await app.inject('/v1/pools');
    expect(pools.statusCode).toBe(200);
    const body = PoolsViewSchema.parse(pools.json());
    expect(body.pools.map((p) => p.pool)).toEqual(['routes']);
    expect(body.pools[0]?.keys).toBe(2);

    const keys = await app.inject('/v1/keys?pool=routes');
    expect(keys.statusCode).toBe(200);
    const parsed = KeysViewSchema.parse(keys.json());
    const small = parsed.keys.find((k) => k.key_id === 'small');
    expect(small?.quotas[0]).toMatchObject({ quota_id: 'requests_per_day', limit: 60, used: 60 });
    expect(small?.quotas[0]?.status).toBe('exhausted');
    const other = await app.inject('/v1/keys?pool=elsewhere');
    expect(KeysViewSchema.parse(other.json()).keys).toEqual([]);
  });

  it('serves advice only with the admin token, with ETag and 304', async () => {
    const refused = await app.inject('/v1/pools/routes/advice');
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toMatchObject({ code: 'HEADROOM_ERR_UNAUTHORIZED' });
    const auth = { authorization: `Bearer ${ADMIN}` };
    const advice = await app.inject({ url: '/v1/pools/routes/advice', headers: auth });
    expect(advice.statusCode).toBe(200);
    const body = AdviceViewSchema.parse(advice.json());
    expect(body.keys.find((k) => k.key_id === 'small')?.state).toBe('exhausted');
    const etag = advice.headers.etag as string;
    const again = await app.inject({
      url: '/v1/pools/routes/advice',
      headers: { ...auth, 'if-none-match': etag },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const missing = await app.inject({ url: '/v1/pools/nowhere/advice', headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'HEADROOM_ERR_NOT_FOUND', pool: 'nowhere' });
  });

  it('lists active alerts and history, and names a bad limit', async () => {
    const alerts = await app.inject('/v1/alerts?limit=10');
    expect(alerts.statusCode).toBe(200);
    const body = AlertsViewSchema.parse(alerts.json());
    expect(body.active.some((a) => a.subject_id === 'small' && a.state === 'firing')).toBe(true);
    expect(body.history.length).toBeGreaterThan(0);
    const bad = await app.inject('/v1/alerts?limit=abc');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      code: 'HEADROOM_ERR_BAD_REQUEST',
      message: 'limit="abc" is invalid: expected a whole number from 1 to 10000',
    });
  });

  it('silences an alert through /v1/silences with the admin token, shown at once on /v1/alerts', async () => {
    const body = {
      matchers: [{ name: 'subject', value: 'small', isRegex: false, isEqual: true }],
      endsAt: new Date(Date.now() + HOUR).toISOString(),
      createdBy: 'sre@example.com',
      comment: 'known',
    };
    const post = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/v1/silences', headers, payload: body });
    expect((await post({})).statusCode).toBe(401);
    const created = await post({ authorization: `Bearer ${ADMIN}` });
    expect(created.statusCode).toBe(200);
    const { silenceID } = created.json<{ silenceID: string }>();
    expect((await app.inject('/v1/silences')).json<Array<{ id: string }>>().map((x) => x.id)).toContain(
      silenceID,
    );
    expect((await app.inject(`/v1/silences/${silenceID}`)).statusCode).toBe(200);
    const alerts = AlertsViewSchema.parse((await app.inject('/v1/alerts')).json());
    const small = alerts.active.filter((a) => a.subject_id === 'small');
    expect(small.length).toBeGreaterThan(0);
    expect(small.every((a) => a.silenced && a.silenced_by.includes(silenceID))).toBe(true);
    expect((await app.inject({ method: 'DELETE', url: `/v1/silences/${silenceID}` })).statusCode).toBe(401);
    const expired = await app.inject({
      method: 'DELETE',
      url: `/v1/silences/${silenceID}`,
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(expired.statusCode).toBe(200);
    const after = AlertsViewSchema.parse((await app.inject('/v1/alerts')).json());
    expect(after.active.some((a) => a.silenced)).toBe(false);
  });

  it('exposes cycle durations and outcomes and the ingest counters on /metrics', async () => {
    const metrics = await app.inject('/metrics');
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('headroom_job_runs_total{job="analytics cycle",outcome="success"} 1');
    expect(metrics.body).toMatch(/headroom_job_duration_seconds_count\{job="analytics cycle"\} 1/);
    expect(metrics.body).toContain('headroom_ingest_spans_accepted_total 120');
  });

  it('sends a browser without a session to the login form, and signs it in with a cookie', async () => {
    const page = await app.inject('/pools/routes');
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/login?next=%2Fpools%2Froutes');
    expect((await app.inject('/ui/cycle')).statusCode).toBe(401);

    const form = await app.inject('/login?next=%2Fpools%2Froutes');
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('<label for="token">Admin token</label>');

    const login = (token: string, next = '/pools/routes') =>
      app.inject({
        method: 'POST',
        url: '/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token, next }).toString(),
      });
    const wrong = await login('not-it');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect((await login(ADMIN, 'https://elsewhere.example/')).headers.location).toBe('/');

    const signedIn = await login(ADMIN);
    expect(signedIn.statusCode).toBe(303);
    expect(signedIn.headers.location).toBe('/pools/routes');
    const cookie = String(signedIn.headers['set-cookie']);
    expect(cookie).toMatch(/^headroom_session=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(cookie).not.toContain(ADMIN);
    const session = { cookie: cookie.split(';')[0] as string };

    for (const url of ['/', '/pools/routes', '/pools/routes/keys/small', '/alerts']) {
      const response = await app.inject({ url, headers: session });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toContain('text/html');
    }
    const keyPage = await app.inject({ url: '/pools/routes/keys/small', headers: session });
    expect(keyPage.body).toContain('exhausted until the reset');
    expect((await app.inject({ url: '/pools/nowhere', headers: session })).statusCode).toBe(404);
    const cycle = await app.inject({ url: '/ui/cycle', headers: session });
    expect(cycle.json()).toEqual({
      evaluated_at: analytics.snapshot()?.evaluatedAtMs
        ? new Date(analytics.snapshot()?.evaluatedAtMs ?? 0).toISOString()
        : null,
    });
    // The session also opens the advice route, as the pages' own requests carry no bearer token.
    expect((await app.inject({ url: '/v1/pools/routes/advice', headers: session })).statusCode).toBe(200);

    const logout = await app.inject({ method: 'POST', url: '/logout', headers: session });
    expect(logout.statusCode).toBe(303);
    expect((await app.inject({ url: '/', headers: session })).statusCode).toBe(303);
  });

  it('serves the stylesheet and script from the package', async () => {
    const css = await app.inject('/assets/headroom.css');
    expect(css.statusCode).toBe(200);
    expect(css.body).toContain('prefers-color-scheme: dark');
    expect((await app.inject('/assets/headroom.js')).headers['content-type']).toContain('javascript');
    expect((await app.inject('/assets/missing.js')).statusCode).toBe(404);
  });

  it('answers 503 on /readyz once ClickHouse is gone', async () => {
    await ingest.close();
    await store.close();
    const response = await app.inject('/readyz');
    expect(response.statusCode).toBe(503);
    expect(NotReadySchema.parse(response.json())).toMatchObject({
      code: 'HEADROOM_ERR_STORE_UNAVAILABLE',
      status: 'not_ready',
    });
  });
});
