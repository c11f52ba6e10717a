/**
 * A real HAProxy (Debian's `haproxy`) on loopback with a generated configuration: one backend with
 * `balance roundrobin` and one server per key, the Runtime API on a UNIX socket in a temp folder,
 * and the chosen server named in an `X-Served-By` response header. A server may need its own request
 * (an Azure OpenAI deployment: its own path and `api-key`): backend request rules run before the
 * server is chosen, so such a server is a per-server `listen` section on a UNIX socket that rewrites
 * the request and forwards it to the upstream.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryRuntimeApi } from '../../src/rebalance/index.ts';
import { freePort } from './service.ts';

export interface HaproxyServerState {
  /** `srv_admin_state`: 0 ready; bit 0x1 forced maintenance. */
  maint: boolean;
  weight: number;
}

export interface Haproxy {
  /** `http://127.0.0.1:<port>`: the frontend. */
  readonly url: string;
  /** Runtime API address for a push target: `unix:/…/admin.sock` or `127.0.0.1:<port>`. */
  readonly runtimeAddress: string;
  readonly backend: string;
  /** Server states from `show servers state`. */
  serverStates(): Promise<Map<string, HaproxyServerState>>;
  stop(): Promise<void>;
}

export interface HaproxyServer {
  name: string;
  /** Upstream port on 127.0.0.1. */
  port: number;
  /** This server's request: its URI (path and query) and headers set (replacing the app's). */
  rewrite?: { uri: string; headers: Readonly<Record<string, string>> };
}

export function haproxyAvailable(): boolean {
  return spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
}

function rewriteSection(
  server: HaproxyServer,
  dir: string,
  rewrite: NonNullable<HaproxyServer['rewrite']>,
): string {
  const headers = Object.entries(rewrite.headers)
    .map(([name, value]) => `  http-request set-header ${name} ${value}\n`)
    .join('');
  return `listen via-${server.name}
  bind unix@${join(dir, `${server.name}.sock`)}
  http-request set-uri ${rewrite.uri}
  http-request del-header authorization
${headers}  server ${server.name} 127.0.0.1:${server.port}
`;
}

export async function startHaproxy(
  servers: readonly HaproxyServer[],
  options: { backend?: string; runtime?: 'unix' | 'tcp' } = {},
): Promise<Haproxy> {
  const backend = options.backend ?? 'deployments';
  const dir = await mkdtemp(join(tmpdir(), 'headroom-haproxy-'));
  const socket = join(dir, 'admin.sock');
  const port = await freePort();
  const runtimeAddress = options.runtime === 'tcp' ? `127.0.0.1:${await freePort()}` : `unix:${socket}`;
  const config = `global
  stats socket ${options.runtime === 'tcp' ? `ipv4@${runtimeAddress}` : `${socket} mode 600`} level admin
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend api
  bind 127.0.0.1:${port}
  default_backend ${backend}
backend ${backend}
  balance roundrobin
  http-response set-header X-Served-By %s
${servers.map((s) => `  server ${s.name} ${s.rewrite === undefined ? `127.0.0.1:${s.port}` : `unix@${join(dir, `${s.name}.sock`)}`} weight 100`).join('\n')}
${servers.map((s) => (s.rewrite === undefined ? '' : rewriteSection(s, dir, s.rewrite))).join('')}`;
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const command = (text: string) =>
    queryRuntimeApi(runtimeAddress, text, 2_000, new AbortController().signal);

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}:\n${output}`);
    // Ready when the answer comes through HAProxy (it names the server): the free port found above
    // may have been taken by another process in the meantime.
    const ready = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'HEAD',
      signal: AbortSignal.timeout(1_000),
    }).then(
      (response) => response.headers.has('x-served-by'),
      () => false,
    );
    if (ready && (await command('show info')).kind === 'success') break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not start within 10 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    url: `http://127.0.0.1:${port}`,
    runtimeAddress,
    backend,
    async serverStates() {
      const result = await command(`show servers state ${backend}`);
      const text = result.kind === 'success' ? result.value : '';
      const states = new Map<string, HaproxyServerState>();
      for (const line of text.split('\n')) {
        const fields = line.trim().split(/\s+/);
        // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight …
        if (fields[1] !== backend || fields.length < 8) continue;
        states.set(fields[3] as string, { maint: (Number(fields[6]) & 1) === 1, weight: Number(fields[7]) });
      }
      return states;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
