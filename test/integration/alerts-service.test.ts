import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/cli/service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { buildRequest, encodeProtobuf } from '../support/otlp.ts';
import { makeDataDir } from '../support/service.ts';

const run = promisify(execFile);
const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const ADMIN = 'admin-secret';

interface ActiveAlert {
  alert_id: string;
  rule: string;
  state: string;
  subject_kind: string;
  subject_id: string;
  delivered: boolean;
  silenced: boolean;
  silenced_by: string[];
}

describe('alerts in the running service, with no channel configured', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let service: Service;

  beforeAll(async () => {
    data = await makeDataDir('headroom-alerts-service-');
    const configFile = join(data.dir, 'headroom.yaml');
    await writeFile(configFile, 'alerts: { for_seconds: 30, throttling_min_calls: 10 }\n');
    const config = loadConfig({
      env: { HEADROOM_LOG_LEVEL: 'silent', HEADROOM_CONFIG: configFile, HEADROOM_ADMIN_TOKEN: ADMIN },
      overrides: { host: '127.0.0.1', port: 0, dataDir: join(data.dir, 'db') },
    });
    service = await startService(config, { scheduleAnalytics: false });
    const nowMs = Date.now();
    // A key answered rate_limited for a third of its calls in the last minutes.
    const spans = Array.from({ length: 30 }, (_, i) => ({
      startMs: nowMs - 5 * 60_000 + i * 1000,
      attributes: {
        'keypool.pool': 'svc',
        'keypool.key.id': 'k1',
        'keypool.outcome': i % 3 === 0 ? 'rate_limited' : 'ok',
      },
    }));
    const response = await fetch(`${service.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: encodeProtobuf(buildRequest({ 'service.name': 'gw' }, spans)),
    });
    expect(response.status).toBe(200);

    for (let i = 0; i < 5; i++) {
      expect((await service.analytics?.runCycle(nowMs + i * 30_000))?.outcome).toBe('success');
      await service.analytics?.drainDeliveries();
    }
  });
  afterAll(async () => {
    await service.close();
    await data.remove();
  });

  const alerts = async (): Promise<{
    active: ActiveAlert[];
    history: Array<{ alert_id: string; state: string }>;
  }> =>
    (await (await fetch(`${service.url}/v1/alerts?limit=1000`)).json()) as {
      active: ActiveAlert[];
      history: Array<{ alert_id: string; state: string }>;
    };

  it('evaluates and lists alerts, never marks them delivered, and records one history row per transition', async () => {
    const { active, history } = await alerts();
    const throttling = active.filter((a) => a.rule === 'throttling');
    expect(throttling.map((a) => [a.subject_kind, a.subject_id, a.state]).sort()).toEqual([
      ['key', 'k1', 'firing'],
      ['pool', 'svc', 'firing'],
    ]);
    for (const a of throttling) expect(a.delivered).toBe(false);
    // Pending, then firing: two rows per alert over five cycles.
    for (const a of throttling)
      expect(history.filter((h) => h.alert_id === a.alert_id).map((h) => h.state)).toEqual([
        'firing',
        'pending',
      ]);
    const sent = await service.store.queryRows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${service.store.database}.notifications`,
    );
    expect(sent[0]?.n).toBe('0');
    expect(service.analytics?.alertChannels()).toEqual([]);
  });

  it('creates, lists and expires silences over HTTP like Alertmanager, with the admin token', async () => {
    const endsAt = new Date(Date.now() + 3_600_000).toISOString();
    const body = {
      matchers: [{ name: 'pool', value: 'svc', isRegex: false, isEqual: true }],
      endsAt,
      createdBy: 'sre@example.com',
      comment: 'load test',
    };
    const post = (payload: unknown, token = ADMIN) =>
      fetch(`${service.url}/v1/silences`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === '' ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(payload),
      });
    expect((await post(body, '')).status).toBe(401);

    const bad = await post({ ...body, matchers: [{ name: 'colour', value: 'red', isRegex: false }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'HEADROOM_ERR_BAD_REQUEST', field: 'matchers[0].name' });
    const badRegex = await post({ ...body, matchers: [{ name: 'key', value: '(', isRegex: true }] });
    expect(await badRegex.json()).toMatchObject({ field: 'matchers[0].value' });
    const noEnd = await post({ ...body, endsAt: undefined });
    const noEndBody = (await noEnd.json()) as { field: string; message: string };
    expect(noEndBody.field).toBe('endsAt');
    expect(noEndBody.message).toMatch(/^endsAt: is required/);
    const noComment = await post({ ...body, comment: '' });
    expect(await noComment.json()).toMatchObject({ field: 'comment' });

    const created = await post(body);
    expect(created.status).toBe(200);
    const { silenceID } = (await created.json()) as { silenceID: string };
    expect(silenceID).toMatch(/^[0-9a-f-]{36}$/);

    const list = (await (await fetch(`${service.url}/v1/silences`)).json()) as Array<Record<string, unknown>>;
    expect(list).toEqual([
      expect.objectContaining({
        id: silenceID,
        status: { state: 'active' },
        createdBy: 'sre@example.com',
        endsAt,
      }),
    ]);
    // A silenced alert still shows, marked silenced.
    const silenced = (await alerts()).active.filter((a) => a.rule === 'throttling');
    expect(silenced.length).toBe(2);
    for (const a of silenced) expect(a).toMatchObject({ silenced: true, silenced_by: [silenceID] });

    const unauthorised = await fetch(`${service.url}/v1/silences/${silenceID}`, { method: 'DELETE' });
    expect(unauthorised.status).toBe(401);
    const expired = await fetch(`${service.url}/v1/silences/${silenceID}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(expired.status).toBe(200);
    expect(await expired.json()).toMatchObject({ id: silenceID, status: { state: 'expired' } });
    for (const a of (await alerts()).active) expect(a.silenced).toBe(false);
    const missing = await fetch(`${service.url}/v1/silences/nope`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'HEADROOM_ERR_NOT_FOUND', field: 'id' });
  });

  it('headroom silence add | ls | expire talks to the running service', async () => {
    const env = { ...process.env, HEADROOM_ADMIN_TOKEN: ADMIN, HEADROOM_LOG_LEVEL: 'silent' };
    const cli = (...args: string[]) =>
      run(process.execPath, [CLI, 'silence', ...args, '--url', service.url], { env });
    const added = await cli(
      'add',
      'pool=svc',
      'rule=~"throttling|pace"',
      '--duration',
      '2h',
      '--comment',
      'deploy',
      '--author',
      'alice',
    );
    const id = added.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const listed = (await cli('ls')).stdout;
    expect(listed).toMatch(/^ID\s+STATE\s+MATCHERS/);
    expect(listed).toContain(`${id}  active  pool="svc" rule=~"throttling|pace"`);
    expect(listed).toContain('alice');
    expect((await cli('expire', id)).stdout).toBe(`expired ${id}\n`);
    expect((await cli('ls', '--expired')).stdout).toContain(`${id}  expired`);
    const failed = await cli('add', 'colour=red', '--comment', 'x').then(
      () => '',
      (error: unknown) => String((error as { stderr?: string }).stderr),
    );
    expect(failed).toContain('matcher 1.name: unknown label "colour"');
  });
});
