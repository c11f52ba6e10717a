import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackServer, type SlackServer } from '../../src/demo/index.ts';
import { buildRequest, encodeProtobuf } from '../support/otlp.ts';
import { freePort, makeDataDir, runCli, spawnServe, waitForExit } from '../support/service.ts';

const SLACK_TOKEN = 'xoxb-never-in-logs-7f3a';

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** The service's pino lines (JSON, one per line); anything else it printed is ignored. */
function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

async function waitFor<T>(find: () => T | undefined, what: string, output: () => string): Promise<T> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${what} within 30 s; the service printed:\n${output()}`);
}

describe('operating headroom: start-up logs, cycle and alert logs, `headroom status` against a running service', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let slack: SlackServer;
  let serve: { child: ChildProcess; url: string; output: () => string };
  let configFile: string;
  let port: number;

  beforeAll(async () => {
    data = await makeDataDir('headroom-cli-');
    slack = await startSlackServer();
    configFile = join(data.dir, 'ops.yaml');
    await writeFile(
      configFile,
      [
        'analytics: { interval_seconds: 1 }',
        // No group_wait: the first cycle that fires also sends.
        'alerts: { slack_channel: "#ops", route: { group_wait: 0s } }',
        'pools:',
        '  - name: shop',
        '    keys:',
        '      - { id: team-a, quotas: [{ dimension: requests, window: day, limit: 20 }] }',
        '      - { id: ghost }',
      ].join('\n'),
    );
    port = await freePort();
    serve = await spawnServe(
      {
        HEADROOM_PORT: String(port),
        HEADROOM_DATA_DIR: join(data.dir, 'data'),
        HEADROOM_LOG_LEVEL: 'debug',
        HEADROOM_SLACK_TOKEN: SLACK_TOKEN,
        HEADROOM_SLACK_API_URL: slack.url,
      },
      60_000,
      ['--config', configFile],
    );
    const nowMs = Date.now();
    const spans = [
      ...Array.from({ length: 19 }, (_, i) => ({ key: 'team-a', at: nowMs - 60_000 + i * 1_000 })),
      ...Array.from({ length: 3 }, (_, i) => ({ key: 'team-b', at: nowMs - 30_000 + i * 1_000 })),
    ];
    const response = await fetch(`${serve.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: encodeProtobuf(
        buildRequest(
          { 'service.name': 'gw' },
          spans.map((s) => ({
            startMs: s.at,
            attributes: {
              'keypool.pool': 'shop',
              'keypool.key.id': s.key,
              'gen_ai.provider.name': 'openai',
              'http.response.status_code': 200,
            },
          })),
        ),
      ),
    });
    expect(response.status).toBe(200);
  }, 90_000);

  afterAll(async () => {
    if (serve !== undefined) {
      serve.child.kill('SIGTERM');
      await waitForExit(serve.child);
    }
    await slack?.close();
    await data?.remove();
  });

  it('logs at start what was loaded, with no secret in it', () => {
    const loaded = logLines(serve.output()).find((l) => l.msg === 'headroom configuration loaded');
    expect(loaded).toMatchObject({
      level: 30,
      role: 'all',
      config_file: configFile,
      storage: { mode: 'embedded', data_dir: join(data.dir, 'data'), database: 'headroom' },
      pools: ['shop'],
      keys: 2,
      quotas: 1,
      alert_channels: ['slack #ops'],
      ingest_auth: 'open',
      admin_auth: 'open',
    });
  });

  it('logs each cycle at debug, each alert sent at info, and warns of a configured key never seen', async () => {
    const cycle = await waitFor(
      () => logLines(serve.output()).find((l) => l.msg === 'analytics cycle' && Number(l['keys']) >= 2),
      'debug cycle summary that sees the keys',
      serve.output,
    );
    expect(cycle).toMatchObject({ level: 20, subjects: 3 });
    const sent = await waitFor(
      () => logLines(serve.output()).find((l) => l.msg.startsWith('alert sent')),
      'alert-sent log line',
      serve.output,
    );
    expect(sent).toMatchObject({
      level: 30,
      action: 'post',
      pool: 'shop',
      // With one usable key the pool runs dry with it, and the pool's capacity alert inhibits the key's.
      subject: expect.stringMatching(/^(key team-a|pool shop)$/) as unknown,
      quota: 'requests_per_day',
      channel: '#ops',
    });
    expect(slack.delivered('chat.postMessage').length).toBeGreaterThan(0);
    const unseen = logLines(serve.output()).find((l) => l.msg.startsWith('configured key(s) never seen'));
    expect(unseen).toMatchObject({ level: 40 });
    expect(unseen?.['keys']).toContain('shop/ghost');
    expect(serve.output()).not.toContain(SLACK_TOKEN);
  });

  it('`headroom status --pool` prints the key table of the running service', async () => {
    const { code, stdout, stderr } = await runCli(['status', '--url', serve.url, '--pool', 'shop']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^keys at ${serve.url}, as of \\d{4}-`));
    expect(lines[1]?.split(/\s{2,}/)).toEqual([
      'key',
      'quota',
      'used / limit',
      'p(run out)',
      'runs out (p50)',
      'resets',
      'weight',
      'state',
    ]);
    const teamA = lines.find((l) => l.startsWith('team-a '));
    expect(teamA?.split(/\s{2,}/).slice(0, 3)).toEqual(['team-a', 'requests_per_day', '19 / 20']);
    expect(lines.some((l) => l.startsWith('team-b '))).toBe(true);
    expect(lines.some((l) => l.startsWith('ghost '))).toBe(true);
  });

  it('`headroom status --json` prints the keys as JSON, reaching the service from HEADROOM_PORT', async () => {
    const { code, stdout } = await runCli(['status', '--json'], { HEADROOM_PORT: String(port) });
    expect(code).toBe(0);
    const body = JSON.parse(stdout) as {
      keys: Array<{
        pool: string;
        key_id: string;
        quotas: Array<{ quota_id: string; used: number; limit: number }>;
      }>;
    };
    const teamA = body.keys.find((k) => k.key_id === 'team-a');
    expect(teamA?.quotas[0]).toMatchObject({ quota_id: 'requests_per_day', used: 19, limit: 20 });
    expect(body.keys.map((k) => k.key_id).sort()).toEqual(['ghost', 'team-a', 'team-b']);
  });

  it('answers a misspelt option or command with the usage, the closest valid spelling and exit code 2', async () => {
    const option = await runCli(['status', '--pol', 'shop', '--url', serve.url]);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/^headroom: unknown option --pol: did you mean --pool\?\n\nheadroom: /);
    expect(option.stderr).toContain('Usage:');
    expect(option.stderr).not.toContain('ERR_PARSE_ARGS');
    const command = await runCli(['stauts']);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/^headroom: unknown command "stauts": did you mean status\?/);
    const version = await runCli(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: 'headroom 0.1.0\n' });
  });

  it('says plainly when no service answers', async () => {
    const closed = await freePort();
    const result = await runCli(['status', '--url', `http://127.0.0.1:${closed}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^headroom: HEADROOM_ERR_SERVICE_UNREACHABLE: cannot reach headroom at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
  });
});
