import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/config/index.ts';
import { KEY_HEADER, startGateway, type Gateway } from '../../src/gateway/index.ts';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.ts';
import { startKeyUpstream, type KeyUpstream } from '../support/key-upstream.ts';
import { freePort, makeDataDir, waitForExit } from '../support/service.ts';

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

async function chat(gateway: Gateway, headers: Record<string, string> = {}, body = BODY): Promise<Response> {
  return fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer client-token', ...headers },
    body,
  });
}

async function servedBy(gateway: Gateway, n: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const response = await chat(gateway);
    await response.arrayBuffer();
    keys.push(response.status === 200 ? (response.headers.get(KEY_HEADER) ?? '?') : String(response.status));
  }
  return keys;
}

describe('reference gateway: retry, cooldown, exhaustion', () => {
  let upstream: KeyUpstream;
  let gateway: Gateway | undefined;
  const start = async (yaml: string, env: Record<string, string> = {}): Promise<Gateway> => {
    gateway = await startGateway(parseGatewayConfig(yaml, 'gateway.yaml', env));
    return gateway;
  };
  const pool = (strategy: string, keys: string[]): string => `
port: 0
cooldown_ms: 1000
pools:
  - name: p
    strategy: ${strategy}
    base_url: ${upstream.baseUrl}
    keys:
${keys.map((k) => `      - { id: ${k}, secret: sk-${k} }`).join('\n')}
`;

  beforeAll(async () => {
    upstream = await startKeyUpstream();
  });
  afterEach(async () => {
    await gateway?.close(100);
    gateway = undefined;
    upstream.calls.length = 0;
    for (const k of ['x', 'y', 'z']) upstream.set(`sk-${k}`, { kind: 'ok' });
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('tries a 429 once more on another key, honours the Retry-After, then answers Keys Temporarily Exhausted', async () => {
    const gw = await start(pool('round-robin', ['x', 'y']));
    upstream.set('sk-x', { kind: 'rate_limited', retryAfterSeconds: 2 });

    const first = await chat(gw);
    expect(first.status).toBe(200);
    expect(first.headers.get(KEY_HEADER)).toBe('y');
    expect(upstream.calls).toEqual(['sk-x', 'sk-y']);
    // The client's own credentials never reach the upstream: the key's secret replaces them.
    expect(upstream.calls).not.toContain('client-token');

    // x cools down for its Retry-After: round-robin or not, every call goes to y meanwhile.
    upstream.calls.length = 0;
    upstream.set('sk-x', { kind: 'ok' });
    expect(await servedBy(gw, 4)).toEqual(['y', 'y', 'y', 'y']);
    expect(upstream.calls).not.toContain('sk-x');

    // y is rate limited too: its 429 cannot be retried on x (cooling), so the client is told when x is back.
    upstream.set('sk-y', { kind: 'rate_limited', retryAfterSeconds: 30 });
    upstream.calls.length = 0;
    const exhausted = await chat(gw);
    expect(exhausted.status).toBe(429);
    expect(await exhausted.json()).toMatchObject({
      error: { message: 'Keys Temporarily Exhausted', code: 'HEADROOM_ERR_KEYS_EXHAUSTED' },
    });
    const retryAfter = Number(exhausted.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    expect(upstream.calls).toEqual(['sk-y']);

    // Every key cooling: answered at once, without an upstream call.
    const again = await chat(gw);
    expect(again.status).toBe(429);
    await again.arrayBuffer();
    expect(upstream.calls).toEqual(['sk-y']);

    // Once x's Retry-After has passed, x serves again.
    await new Promise((r) => setTimeout(r, Math.max(0, retryAfter * 1000 - 900)));
    let back: Response | undefined;
    for (let i = 0; i < 20 && back?.status !== 200; i++) {
      await back?.arrayBuffer();
      back = await chat(gw);
      if (back.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(back?.status).toBe(200);
    expect(back?.headers.get(KEY_HEADER)).toBe('x');

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain(
      'headroom_gateway_upstream_calls_total{pool="p",key="x",outcome="rate_limited"} 1',
    );
    // Two above, plus those answered while waiting for x to come back.
    expect(metrics).toMatch(/headroom_gateway_keys_exhausted_total\{pool="p"\} ([2-9]|\d\d)\n/);
    expect(metrics).toContain('headroom_gateway_retries_total{pool="p"} 1');
    expect(metrics).toMatch(/process_resident_memory_bytes \d+/);
  });

  it('retries at most once: a call failing on every key costs two upstream calls and returns the upstream error', async () => {
    const gw = await start(pool('round-robin', ['x', 'y', 'z']));
    for (const k of ['x', 'y', 'z']) upstream.set(`sk-${k}`, { kind: 'server_error' });
    const response = await chat(gw);
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ error: { type: 'server_error' } });
    expect(upstream.calls).toHaveLength(2);
  });

  it('takes a revoked key out of the rotation', async () => {
    const gw = await start(pool('round-robin', ['x', 'y']));
    upstream.set('sk-x', { kind: 'revoked' });
    expect(await servedBy(gw, 6)).toEqual(['y', 'y', 'y', 'y', 'y', 'y']);
    expect(upstream.calls.filter((c) => c === 'sk-x')).toHaveLength(1);
  });

  it('a client error is the caller’s: passed back as is, not retried', async () => {
    const gw = await start(pool('round-robin', ['x', 'y']));
    const response = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'x-headroom-pool': 'nope' },
      body: BODY,
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain('"nope"');
    expect(upstream.calls).toHaveLength(0);
  });

  it('admin push changes the weights, only with the admin token, only for the headroom strategy', async () => {
    const closedPort = await freePort();
    const gw = await start(
      `
port: 0
admin_token_env: GW_ADMIN
headroom: { url: "http://127.0.0.1:${closedPort}", poll_interval_ms: 60000, spans: false }
pools:
  - name: p
    base_url: ${upstream.baseUrl}
    keys: [{ id: x, secret: sk-x }, { id: y, secret: sk-y }]
  - name: rr
    strategy: round-robin
    base_url: ${upstream.baseUrl}
    keys: [{ id: z, secret: sk-z }]
`,
      { GW_ADMIN: 'admin-secret' },
    );
    const push = (body: unknown, token?: string, pool = 'p'): Promise<Response> =>
      fetch(`${gw.url}/admin/pools/${pool}/weights`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/json',
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(body),
      });
    const until = new Date(Date.now() + 60_000).toISOString();
    const advice = {
      pool: 'p',
      version: 9,
      generated_at: new Date().toISOString(),
      valid_until: new Date(Date.now() + 60_000).toISOString(),
      keys: [
        { key_id: 'x', weight: 0, state: 'exhausted', until, reason: 'requests_per_day exhausted' },
        { key_id: 'y', weight: 1, state: 'active', reason: 'ok' },
      ],
    };
    expect((await push(advice)).status).toBe(401);
    expect((await push(advice, 'wrong')).status).toBe(401);
    const bad = await push({ ...advice, keys: [{ key_id: 'x', weight: 'heavy' }] }, 'admin-secret');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toBe(
      'keys[0].weight="heavy" is invalid: expected a number >= 0',
    );
    expect((await push(advice, 'admin-secret', 'rr')).status).toBe(409);
    expect((await push(advice, 'admin-secret', 'missing')).status).toBe(404);

    // Before the push: the defaults (headroom unreachable), both keys.
    expect(new Set(await servedBy(gw, 4))).toEqual(new Set(['x', 'y']));
    const accepted = await push(advice, 'admin-secret');
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({
      source: 'advice v9',
      keys: [
        { key_id: 'x', held_until: until },
        { key_id: 'y', weight: 1 },
      ],
    });
    expect(await servedBy(gw, 6)).toEqual(['y', 'y', 'y', 'y', 'y', 'y']);
  });
});

describe('reference gateway: streaming and the CLI', () => {
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('passes a streamed response through unbuffered: the first event arrives before the upstream finishes', async () => {
    const gateway = await startGateway(
      parseGatewayConfig(
        `
port: 0
pools:
  - name: p
    strategy: static
    base_url: ${fake.url}/v1
    keys: [{ id: k1, secret: sk-stream-secret }]
`,
        'gateway.yaml',
        {},
      ),
    );
    try {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-fake-scenario': 'gated' },
        body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [] }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      const firstText = new TextDecoder().decode(first.value);
      expect(firstText).toContain('"role":"assistant"');
      expect(firstText).not.toContain('[DONE]');
      // The upstream is still holding the rest of its stream: only now is it let go.
      fake.releaseStream();
      let rest = '';
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        rest += new TextDecoder().decode(chunk.value);
      }
      expect(rest).toContain('data: [DONE]');
      const upstreamCall = fake.requests.at(-1);
      expect(upstreamCall?.headers.authorization).toBe('Bearer sk-stream-secret');
      expect(upstreamCall?.path).toBe('/v1/chat/completions');
    } finally {
      await gateway.close(100);
    }
  });

  it('`headroom gateway --config F --port P` serves, and refuses a bad file naming the field', async () => {
    const data = await makeDataDir('headroom-gw-cli-');
    try {
      const file = join(data.dir, 'gateway.yaml');
      await writeFile(
        file,
        `pools:\n  - name: p\n    strategy: round-robin\n    base_url: ${fake.url}/v1\n    keys: [{ id: k1, secret_env: GW_TEST_KEY }]\n`,
      );
      const port = await freePort();
      const cli = new URL('../../src/cli/main.ts', import.meta.url).pathname;
      const child = spawn(process.execPath, [cli, 'gateway', '--config', file, '--port', String(port)], {
        env: { ...process.env, GW_TEST_KEY: 'sk-cli-secret' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      let healthy = false;
      for (let i = 0; i < 100 && !healthy; i++) {
        healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!healthy) await new Promise((r) => setTimeout(r, 100));
      }
      expect(healthy).toBe(true);
      const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: BODY,
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { model: string }).model).toBe('gpt-4o-mini-2024-07-18');
      child.kill('SIGTERM');
      expect(await waitForExit(child)).toBe(0);
      expect(output).not.toContain('sk-cli-secret');

      await writeFile(
        file,
        `pools:\n  - name: p\n    base_url: ftp://x\n    keys: [{ id: k1, secret: sk-1 }]\n`,
      );
      const bad = spawn(process.execPath, [cli, 'gateway', '--config', file], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let errors = '';
      bad.stderr.on('data', (d: Buffer) => (errors += d.toString()));
      expect(await waitForExit(bad)).toBe(2);
      expect(errors).toContain(
        'pools[0].base_url: "ftp://x" is invalid: expected an http:// or https:// URL',
      );
    } finally {
      await data.remove();
    }
  });
});
