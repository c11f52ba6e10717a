import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlerting, type Alerting, type ForecastFacts } from '../../src/alerts/index.ts';
import { loadConfig, parseHeadroomFile } from '../../src/config/index.ts';
import { startSlackServer, type SlackServer } from '../../src/demo/index.ts';
import { createStore, type Store } from '../../src/store/index.ts';
import { makeDataDir } from '../support/service.ts';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

/** A key of pool `pool` forecast to run out `etaInMs` after `nowMs` (critical within an hour). */
function forecast(pool: string, key: string, nowMs: number, etaInMs = 3 * HOUR): ForecastFacts {
  return {
    pool,
    subjectKind: 'key',
    subjectId: key,
    partition: key,
    quotaId: 'requests_per_day',
    dimension: 'requests',
    used: 500,
    limit: 1000,
    resetAtMs: nowMs + 10 * HOUR,
    etaP10Ms: nowMs + etaInMs - HOUR,
    etaP50Ms: nowMs + etaInMs,
    pExhaust: 0.9,
    status: 'ok',
  };
}

/** A local receiver recording every request (webhook or PagerDuty Events API). */
async function startReceiver(): Promise<{
  url: string;
  requests: Array<{ path: string; headers: IncomingHttpHeaders; body: string }>;
  close: () => Promise<void>;
}> {
  const requests: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      requests.push({
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(202, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: 'success', message: 'Event processed' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('alert notifications over real ports', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let slack: SlackServer;
  const stores: Store[] = [];

  beforeAll(async () => {
    data = await makeDataDir('headroom-alerting-');
    slack = await startSlackServer();
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    await slack.close();
    await data.remove();
  });

  /** A store of its own (a database per test) and a factory of alerting instances over it. */
  async function setup(yaml: string): Promise<{
    store: Store;
    warnings: string[];
    start: () => Promise<Alerting>;
    cycle: (
      alerting: Alerting,
      facts: ForecastFacts[],
      nowMs: number,
      capacity?: Parameters<Alerting['evaluate']>[0]['capacity'],
    ) => Promise<void>;
  }> {
    const database = `alerting_${randomBytes(4).toString('hex')}`;
    const store = createStore(
      loadConfig({
        env: { HEADROOM_LOG_LEVEL: 'silent' },
        overrides: { dataDir: join(data.dir, 'db'), clickhouse: { database } },
      }),
    );
    stores.push(store);
    await store.migrate();
    const file = parseHeadroomFile(yaml, 'test.yaml');
    const warnings: string[] = [];
    const infos: string[] = [];
    const start = async (): Promise<Alerting> => {
      const alerting = createAlerting({
        store,
        file,
        slack: { token: 'xoxb-test', channel: undefined, apiUrl: slack.url },
        rules: { warningRatio: 0.8, criticalRatio: 0.95, forecastPExhaust: 0.5, forecastHorizonMs: 4 * HOUR },
        policy: { forMs: 0, keepFiringForMs: 0 },
        log: {
          info: (obj, msg) => infos.push(`${msg} ${JSON.stringify(obj)}`),
          warn: (obj, msg) => warnings.push(`${msg} ${JSON.stringify(obj)}`),
        },
        retry: { baseDelayMillis: 20, maxDelayMillis: 100, maxAttempts: 3, deadlineMillis: 10_000 },
      });
      await alerting.restore();
      return alerting;
    };
    return {
      store,
      warnings,
      start,
      async cycle(alerting, facts, nowMs, capacity = []) {
        await alerting.evaluate({ forecasts: facts, outcomes: [], capacity, keys: [] }, nowMs);
        await alerting.drain();
      },
    };
  }

  /** A local receiver and an alerting instance whose only route goes to it. */
  async function withReceiver(
    configs: (url: string) => string,
    body: (
      receiver: Awaited<ReturnType<typeof startReceiver>>,
      h: Awaited<ReturnType<typeof setup>>,
      alerting: Alerting,
    ) => Promise<void>,
  ): Promise<void> {
    const receiver = await startReceiver();
    try {
      const h = await setup(`
alerts:
  route: { receiver: only, group_wait: 0s }
  receivers:
    - name: only
      ${configs(receiver.url)}
`);
      await body(receiver, h, await h.start());
    } finally {
      await receiver.close();
    }
  }

  const callsIn = (channel: string, from: number) =>
    slack.calls.slice(from).filter((c) => c.args['channel'] === channel || c.response['channel'] === channel);

  it('groups three keys of a pool into one parent message after group_wait, escalates in the thread, resolves in place', async () => {
    const h = await setup(`alerts: { slack_channel: '#grouping' }`);
    const alerting = await h.start();
    const from = slack.calls.length;
    const keys = ['a', 'b', 'c'];
    const facts = (nowMs: number, etaA = 3 * HOUR) =>
      keys.map((k) => forecast('pool-g', k, nowMs, k === 'a' ? etaA : 3 * HOUR));

    await h.cycle(alerting, facts(T0), T0);
    expect(callsIn('#grouping', from)).toEqual([]); // group_wait
    await h.cycle(alerting, facts(T0 + 30 * SEC), T0 + 30 * SEC);
    const posts = callsIn('#grouping', from);
    expect(posts.map((c) => c.method)).toEqual(['chat.postMessage']);
    const parent = posts[0];
    const ts = String(parent?.response['ts']);
    const blocks = JSON.stringify(parent?.args['blocks']);
    for (const k of keys) expect(blocks).toContain(`key ${k} in pool pool-g`);
    expect(String(parent?.args['text'])).toMatch(/^Warning: 3 alerts · forecast · pool pool-g/);

    // Key a's ETA comes within the hour: critical. The change waits for group_interval (5 min).
    await h.cycle(alerting, facts(T0 + 2 * MIN, 40 * MIN), T0 + 2 * MIN);
    expect(callsIn('#grouping', from)).toHaveLength(1);
    const escalatedAt = T0 + 30 * SEC + 5 * MIN;
    await h.cycle(alerting, facts(escalatedAt, 40 * MIN), escalatedAt);
    const [update, reply] = callsIn('#grouping', from).slice(1);
    expect(update).toMatchObject({ method: 'chat.update', args: { ts } });
    expect(String(update?.args['text'])).toMatch(/^Critical:/);
    expect((update?.args['blocks'] as Array<{ block_id: string }>)[0]?.block_id).not.toBe(
      (parent?.args['blocks'] as Array<{ block_id: string }>)[0]?.block_id,
    );
    expect(reply).toMatchObject({ method: 'chat.postMessage', args: { thread_ts: ts } });
    expect(String(reply?.args['text'])).toContain('Escalated to critical: key a in pool pool-g');

    // Every condition clears: the parent is updated as resolved, and the thread says so.
    await h.cycle(alerting, [], escalatedAt + 5 * MIN);
    const resolved = callsIn('#grouping', from).slice(3);
    expect(resolved.map((c) => c.method)).toEqual(['chat.update', 'chat.postMessage']);
    expect(resolved[0]?.args['ts']).toBe(ts);
    expect(String(resolved[0]?.args['text'])).toMatch(/^Resolved:/);
    expect(resolved[1]?.args['thread_ts']).toBe(ts);
    // Nothing more afterwards.
    await h.cycle(alerting, [], escalatedAt + 9 * HOUR);
    expect(callsIn('#grouping', from)).toHaveLength(5);
  });

  it('sends an unchanged group again after repeat_interval, and not before', async () => {
    const h = await setup(`alerts: { slack_channel: '#repeat', route: { group_wait: 0s } }`);
    const alerting = await h.start();
    const from = slack.calls.length;
    // Runs out at a fixed time: the forecast does not change, the alert stays critical.
    const facts = (at: number) =>
      ['a', 'b', 'c'].map((k) => ({ ...forecast('pool-rep', k, at), etaP50Ms: T0 + 20 * MIN }));
    await h.cycle(alerting, facts(T0), T0);
    const ts = String(callsIn('#repeat', from)[0]?.response['ts']);
    for (const at of [T0 + HOUR, T0 + 2 * HOUR, T0 + 4 * HOUR - MIN]) await h.cycle(alerting, facts(at), at);
    expect(callsIn('#repeat', from)).toHaveLength(1);
    await h.cycle(alerting, facts(T0 + 4 * HOUR), T0 + 4 * HOUR);
    const repeat = callsIn('#repeat', from).slice(1);
    expect(repeat).toHaveLength(1);
    expect(repeat[0]).toMatchObject({ method: 'chat.postMessage', args: { thread_ts: ts } });
    expect(String(repeat[0]?.args['text'])).toContain('Still firing: 3 alerts');
    await h.cycle(alerting, facts(T0 + 4 * HOUR + 30 * SEC), T0 + 4 * HOUR + 30 * SEC);
    expect(callsIn('#repeat', from)).toHaveLength(2);
    await h.cycle(alerting, facts(T0 + 8 * HOUR), T0 + 8 * HOUR);
    expect(callsIn('#repeat', from)).toHaveLength(3);
  });

  it('two instances deciding the same notification at the same moment send it once', async () => {
    const h = await setup(`alerts: { slack_channel: '#twins', route: { group_wait: 0s } }`);
    const [a, b] = await Promise.all([h.start(), h.start()]);
    const from = slack.calls.length;
    const facts = [forecast('pool-t', 'a', T0)];
    await Promise.all([h.cycle(a, facts, T0), h.cycle(b, facts, T0)]);
    expect(callsIn('#twins', from)).toHaveLength(1);
    // Both know of the message afterwards: neither sends it again, both resolve the same one.
    await h.cycle(a, facts, T0 + MIN);
    await h.cycle(b, facts, T0 + MIN);
    expect(callsIn('#twins', from)).toHaveLength(1);
    await h.cycle(b, [], T0 + 2 * MIN);
    await h.cycle(a, [], T0 + 2 * MIN);
    expect(callsIn('#twins', from).map((c) => c.method)).toEqual([
      'chat.postMessage',
      'chat.update',
      'chat.postMessage',
    ]);
  });

  it('a restart or a second instance during firing sends nothing twice', async () => {
    const h = await setup(`alerts: { slack_channel: '#restart', route: { group_wait: 0s } }`);
    const first = await h.start();
    const second = await h.start(); // restored before the first one sends anything
    const from = slack.calls.length;
    await h.cycle(first, [forecast('pool-r', 'a', T0)], T0);
    expect(callsIn('#restart', from)).toHaveLength(1);
    await h.cycle(second, [forecast('pool-r', 'a', T0 + 30 * SEC)], T0 + 30 * SEC);
    const restarted = await h.start();
    await h.cycle(restarted, [forecast('pool-r', 'a', T0 + MIN)], T0 + MIN);
    expect(callsIn('#restart', from)).toHaveLength(1);
    expect(restarted.active()).toMatchObject([{ state: 'firing', delivered: true }]);
    // The restarted instance still edits the same parent message when the alert resolves.
    await h.cycle(restarted, [], T0 + 2 * MIN);
    const after = callsIn('#restart', from).slice(1);
    expect(after[0]).toMatchObject({
      method: 'chat.update',
      args: { ts: callsIn('#restart', from)[0]?.response['ts'] },
    });
  });

  it('a Slack outage of several cycles loses nothing and duplicates nothing; 429 is retried after Retry-After', async () => {
    const h = await setup(`alerts: { slack_channel: '#outage', route: { group_wait: 0s } }`);
    const alerting = await h.start();
    const from = slack.calls.length;
    // Three attempts per cycle, three cycles: all answered 503.
    slack.failNext(9, 503);
    for (let i = 0; i < 3; i++)
      await h.cycle(alerting, [forecast('pool-o', 'a', T0 + i * 30 * SEC)], T0 + i * 30 * SEC);
    expect(callsIn('#outage', from).filter((c) => c.status === 503)).toHaveLength(9);
    expect(alerting.active()).toMatchObject([{ state: 'firing', delivered: false }]);
    expect(h.warnings.some((w) => w.includes('not delivered yet'))).toBe(true);

    slack.rateLimitNext(1, 1);
    const before = Date.now();
    await h.cycle(alerting, [forecast('pool-o', 'a', T0 + 2 * MIN)], T0 + 2 * MIN);
    expect(Date.now() - before).toBeGreaterThanOrEqual(1000);
    const calls = callsIn('#outage', from).slice(9);
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect(slack.delivered().filter((c) => c.args['channel'] === '#outage')).toHaveLength(1);
    await h.cycle(alerting, [forecast('pool-o', 'a', T0 + 3 * MIN)], T0 + 3 * MIN);
    expect(callsIn('#outage', from)).toHaveLength(11);
    expect(alerting.active()).toMatchObject([{ delivered: true }]);
  });

  it.each(['channel_not_found', 'not_in_channel', 'invalid_auth'])(
    'Slack %s is a failure: not retried, a warning for the operator, tried again after group_interval',
    async (code) => {
      const channel = `#err-${code}`;
      const h = await setup(`alerts: { slack_channel: '${channel}', route: { group_wait: 0s } }`);
      const alerting = await h.start();
      const from = slack.calls.length;
      slack.failNext(1, code);
      await h.cycle(alerting, [forecast(`pool-${code}`, 'a', T0)], T0);
      expect(callsIn(channel, from)).toHaveLength(1);
      expect(h.warnings).toEqual([expect.stringContaining(`slack chat.postMessage: ${code}`)]);
      expect(h.warnings[0]).toContain('alert notification refused');
      const rows = await h.store.queryRows<{ outcome: string; error: string }>(
        `SELECT outcome, error FROM ${h.store.database}.notifications WHERE outcome != 'claimed'`,
      );
      expect(rows).toEqual([{ outcome: 'failed', error: `slack chat.postMessage: ${code}` }]);
      await h.cycle(alerting, [forecast(`pool-${code}`, 'a', T0 + MIN)], T0 + MIN);
      expect(callsIn(channel, from)).toHaveLength(1);
      await h.cycle(alerting, [forecast(`pool-${code}`, 'a', T0 + 5 * MIN)], T0 + 5 * MIN);
      expect(slack.delivered().filter((c) => c.args['channel'] === channel)).toHaveLength(1);
    },
  );

  it('a silence suppresses its alerts until it expires', async () => {
    const h = await setup(`alerts: { slack_channel: '#silence', route: { group_wait: 0s } }`);
    const alerting = await h.start();
    const from = slack.calls.length;
    await h.store.writeSilence({
      id: 'maintenance',
      matchers: JSON.stringify([{ name: 'pool', value: 'pool-s', isRegex: false, isEqual: true }]),
      starts_at: T0 - HOUR,
      ends_at: T0 + 10 * MIN,
      created_by: 'sre',
      comment: 'planned migration',
      updated_at: T0 - HOUR,
    });
    await h.cycle(alerting, [forecast('pool-s', 'a', T0)], T0);
    await h.cycle(alerting, [forecast('pool-s', 'a', T0 + 5 * MIN)], T0 + 5 * MIN);
    expect(callsIn('#silence', from)).toEqual([]);
    expect(alerting.active()).toMatchObject([
      { state: 'firing', silencedBy: ['maintenance'], delivered: false },
    ]);
    await h.cycle(alerting, [forecast('pool-s', 'a', T0 + 10 * MIN)], T0 + 10 * MIN);
    expect(callsIn('#silence', from).map((c) => c.method)).toEqual(['chat.postMessage']);
  });

  it('a pool-capacity alert inhibits the per-key alerts of its pool', async () => {
    const h = await setup(`alerts: { slack_channel: '#inhibit', route: { group_wait: 0s } }`);
    const alerting = await h.start();
    const from = slack.calls.length;
    const keys = ['a', 'b', 'c'].map((k) => forecast('pool-i', k, T0));
    const capacity = [
      {
        pool: 'pool-i',
        quotaId: 'requests_per_day',
        dimension: 'requests',
        keys: 3,
        runsDry: true,
        etaMs: T0 + 2 * HOUR,
        demandPerSecond: 1,
      },
    ];
    await h.cycle(alerting, keys, T0, capacity);
    const posts = callsIn('#inhibit', from);
    expect(posts).toHaveLength(1);
    expect(String(posts[0]?.args['text'])).toMatch(
      /pool pool-i runs dry of requests_per_day .* even with ideal balancing/,
    );
    const inhibited = alerting.active().filter((a) => a.subjectKind === 'key');
    expect(inhibited).toHaveLength(3);
    for (const a of inhibited)
      expect(a.inhibitedBy).toEqual(['pool_capacity:pool-i:pool:pool-i:requests_per_day']);
  });

  it('webhook: Alertmanager-shaped payload, HMAC-SHA256 signature over timestamp and body, firing then resolved', async () => {
    await withReceiver(
      (url) => `webhook_configs: [{ url: '${url}/alerts', secret: 'webhook-secret' }]`,
      async (receiver, h, alerting) => {
        await h.cycle(
          alerting,
          ['a', 'b'].map((k) => forecast('pool-w', k, T0)),
          T0,
        );
        await h.cycle(alerting, [], T0 + MIN);
        expect(receiver.requests).toHaveLength(2);
        for (const r of receiver.requests) {
          const timestamp = String(r.headers['x-headroom-timestamp']);
          const expected = `sha256=${createHmac('sha256', 'webhook-secret').update(`${timestamp}.${r.body}`).digest('hex')}`;
          expect(r.headers['x-headroom-signature']).toBe(expected);
          expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
        }
        const firing = JSON.parse(receiver.requests[0]?.body ?? '{}') as Record<string, unknown>;
        expect(firing).toMatchObject({
          version: '4',
          status: 'firing',
          receiver: 'only',
          groupLabels: { pool: 'pool-w', rule: 'forecast' },
          commonLabels: { pool: 'pool-w', rule: 'forecast', alertname: 'forecast' },
        });
        expect(typeof firing['groupKey']).toBe('string');
        const alerts = firing['alerts'] as Array<Record<string, unknown>>;
        expect(alerts).toHaveLength(2);
        expect(alerts[0]).toMatchObject({
          status: 'firing',
          labels: { key: 'a', severity: 'warning' },
          startsAt: new Date(T0).toISOString(),
          endsAt: '0001-01-01T00:00:00Z',
        });
        const resolved = JSON.parse(receiver.requests[1]?.body ?? '{}') as Record<string, unknown>;
        expect(resolved).toMatchObject({ status: 'resolved', groupKey: firing['groupKey'] });
        expect(resolved['alerts']).toEqual([
          expect.objectContaining({ status: 'resolved', endsAt: new Date(T0 + MIN).toISOString() }),
          expect.objectContaining({ status: 'resolved' }),
        ]);
      },
    );
  });

  it('PagerDuty Events API v2: trigger and resolve with the same dedup key', async () => {
    await withReceiver(
      (url) => `pagerduty_configs: [{ routing_key: 'R0UTINGKEY', url: '${url}' }]`,
      async (pagerduty, h, alerting) => {
        await h.cycle(alerting, [forecast('pool-pd', 'a', T0, 30 * MIN)], T0);
        await h.cycle(alerting, [], T0 + MIN);
        expect(pagerduty.requests.map((r) => r.path)).toEqual(['/v2/enqueue', '/v2/enqueue']);
        const [trigger, resolve] = pagerduty.requests.map(
          (r) => JSON.parse(r.body) as Record<string, unknown>,
        );
        expect(trigger).toMatchObject({
          routing_key: 'R0UTINGKEY',
          event_action: 'trigger',
          payload: { severity: 'critical', source: 'headroom', component: 'pool-pd' },
        });
        expect(String((trigger?.['payload'] as { summary: string }).summary)).toContain(
          'key a in pool pool-pd',
        );
        expect(resolve).toEqual({
          routing_key: 'R0UTINGKEY',
          event_action: 'resolve',
          dedup_key: trigger?.['dedup_key'],
        });
        expect(String(trigger?.['dedup_key'])).toMatch(/^headroom-[0-9a-f]{40}$/);
      },
    );
  });
});
