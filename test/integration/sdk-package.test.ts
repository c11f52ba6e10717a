import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The SDK as an application installs it: `npm pack` of packages/sdk, installed into an empty app,
// then loaded with require() and with import, exporting to a real receiver. The npm cache makes the
// install fast; the registry is reached only for what the cache lacks.

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SDK_DIR = join(ROOT, 'packages', 'sdk');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const SECONDS = 1_000;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

const CJS_APP = `
const { recordApiCall, startTelemetry } = require('@headroom/sdk');
const telemetry = startTelemetry({ serviceName: 'cjs-app' });
recordApiCall({ pool: 'prod', keyId: 'team-a', provider: 'openai', requestModel: 'gpt-4o-mini', statusCode: 200 });
telemetry.shutdown().then(() => console.log('cjs done'));
`;

const ESM_APP = `
import { recordApiCall, startTelemetry } from '@headroom/sdk';
const telemetry = startTelemetry({ serviceName: 'esm-app' });
recordApiCall({ pool: 'prod', keyId: 'team-b', provider: 'anthropic', requestModel: 'claude-sonnet-4-5', statusCode: 200 });
await telemetry.shutdown();
console.log('esm done');
`;

// Type-checked, not run: the declarations serve both module systems.
const CJS_TYPES = `
import sdk = require('@headroom/sdk');
const telemetry: sdk.Telemetry = sdk.startTelemetry({ serviceName: 'cjs-app', shutdownTimeoutMillis: 500 });
void telemetry.shutdown();
`;
const ESM_TYPES = `
import { instrumentFetch, startTelemetry, type Telemetry } from '@headroom/sdk';
const telemetry: Telemetry = startTelemetry({ serviceName: 'esm-app' });
export const tracedFetch = instrumentFetch(fetch, { pool: 'prod', provider: 'openai', keyId: 'team-a' });
await telemetry.shutdown();
// @ts-expect-error serviceName is required
startTelemetry({});
`;

describe('@headroom/sdk installed into an app', () => {
  let app: string;
  let server: Server;
  let receiverUrl: string;
  const received: Received[] = [];

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'headroom-sdk-app-'));
    const { stdout } = await run(NPM, ['pack', '--json', '--pack-destination', app], {
      cwd: SDK_DIR,
      timeout: 60 * SECONDS,
    });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string }];
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
    );
    await run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', join(app, packed.filename)], {
      cwd: app,
      timeout: 90 * SECONDS,
    });
    await writeFile(join(app, 'app.cjs'), CJS_APP);
    await writeFile(join(app, 'app.mjs'), ESM_APP);
    await writeFile(join(app, 'check.cts'), CJS_TYPES);
    await writeFile(join(app, 'check.mts'), ESM_TYPES);

    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('latin1') });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 180 * SECONDS);

  afterAll(async () => {
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    if (app !== undefined) await rm(app, { recursive: true, force: true });
  });

  it('installs OpenTelemetry and the SDK, none of the server', () => {
    const serverOnly = Object.keys(
      (
        JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
          dependencies: Record<string, string>;
        }
      ).dependencies,
    ).filter((name) => !name.startsWith('@opentelemetry/'));
    expect(serverOnly).toContain('chdb');
    for (const name of serverOnly) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
    const scopes = readdirSync(join(app, 'node_modules')).filter((entry) => !entry.startsWith('.'));
    expect(scopes.sort()).toEqual(['@headroom', '@opentelemetry']);
  });

  it.each([
    ['require()', 'app.cjs', 'cjs-app', 'team-a'],
    ['import', 'app.mjs', 'esm-app', 'team-b'],
  ])(
    'exports spans when loaded with %s, to the endpoint and headers of the environment',
    async (_how, file, service, key) => {
      const before = received.length;
      const output = await runNode(join(app, file), {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20app-token',
      });
      expect(output.code, output.text).toBe(0);
      expect(output.text).toContain('done');
      const sent = received.slice(before);
      expect(sent).toHaveLength(1);
      const [request] = sent as [Received];
      expect(request.headers['authorization']).toBe('Bearer app-token');
      expect(request.headers['content-type']).toBe('application/x-protobuf');
      expect(request.body).toContain(service);
      expect(request.body).toContain(key);
    },
  );

  it('gives TypeScript the types from both module systems', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const errors = await run(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--target',
        'es2024',
        '--typeRoots',
        join(ROOT, 'node_modules', '@types'),
        '--types',
        'node',
        'check.cts',
        'check.mts',
      ],
      { cwd: app, timeout: 60 * SECONDS },
    ).then(
      () => '',
      (error: Error & { stdout?: string }) => error.stdout || error.message,
    );
    expect(errors).toBe('');
  });
});

function runNode(file: string, env: Record<string, string>): Promise<{ code: number | null; text: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20 * SECONDS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, text });
    });
  });
}
