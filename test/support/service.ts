import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type ConfigOverrides } from '../../src/config/index.ts';
import { startService, type Service } from '../../src/cli/service.ts';

/** A fresh data directory under the system temp folder. */
export async function makeDataDir(
  prefix = 'headroom-test-',
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Starts the whole service in this process on an ephemeral loopback port with embedded ClickHouse. */
export async function startTestService(
  overrides: ConfigOverrides = {},
  env: Record<string, string> = {},
): Promise<Service & { dataDir: string; cleanup: () => Promise<void> }> {
  const data = await makeDataDir();
  const config = loadConfig({
    env: { HEADROOM_LOG_LEVEL: 'silent', ...env },
    overrides: { host: '127.0.0.1', port: 0, dataDir: data.dir, ...overrides },
  });
  const service = await startService(config);
  return {
    ...service,
    dataDir: data.dir,
    cleanup: async () => {
      await service.close();
      await data.remove();
    },
  };
}

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** Runs `headroom serve [args]` as a child process and resolves once it answers /healthz. */
export async function spawnServe(
  env: Record<string, string>,
  timeoutMillis = 30_000,
  args: readonly string[] = [],
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    env: { ...process.env, HEADROOM_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://${env['HEADROOM_HOST'] ?? '127.0.0.1'}:${env['HEADROOM_PORT'] ?? '4318'}`;
  const deadline = Date.now() + timeoutMillis;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`headroom serve exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return { child, url, output: () => output };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`headroom serve did not become healthy within ${timeoutMillis} ms:\n${output}`);
}

/** Runs the `headroom` CLI to completion as a child process. */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Resolves with the exit code once the child has exited. */
export function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** A free loopback port, found by binding port 0. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A child process's resident memory now and at its peak, in MB (Linux /proc); zeros once it has exited. */
export function readMemoryMb(pid: number): { rss: number; peak: number } {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return { rss: 0, peak: 0 };
  }
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}
