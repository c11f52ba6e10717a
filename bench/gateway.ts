/**
 * Reference gateway benchmark: the latency the gateway adds to a call, and its memory.
 *
 * Three processes on loopback: an upstream that answers like OpenAI (a JSON chat completion with
 * x-ratelimit-* headers, or the same completion streamed as 8 SSE events) and also accepts the
 * gateway's OTLP spans and serves it advice; the gateway (`headroom gateway`, strategy `headroom`,
 * spans on); and this process, the load generator, so that the generator never shares an event
 * loop with the gateway. A second gateway with spans off shows what the spans cost.
 *
 * Open-loop load at BENCH_RATE requests/s (default 1,000), half JSON and half streamed, in
 * alternating rounds of BENCH_ROUND_SECONDS (default 5) against each target: the upstream
 * directly, the gateway, the gateway without spans; BENCH_ROUNDS rounds (default 3) after one
 * warm-up round. Latency is from sending the request to the response's last byte. Added latency
 * = the gateway's percentile minus the direct percentile, per kind. RSS is the gateway's peak
 * (VmHWM) and CPU its user + system time per request, both from /proc.
 *
 * The machine may be shared with other work: the figures then carry its noise.
 * The last line is one JSON object with the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantile } from './forecast/random.ts';

const RATE = Number(process.env['BENCH_RATE'] ?? 1_000);
const ROUND_SECONDS = Number(process.env['BENCH_ROUND_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;

// ---------------------------------------------------------------- upstream (child process)

const COMPLETION = {
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_736_950_000,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'The capital of France is Paris. '.repeat(8) },
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 1500, completion_tokens: 64, total_tokens: 1564 },
};

function runUpstream(): void {
  const json = JSON.stringify(COMPLETION);
  const events = [
    ...['The', ' capital', ' of', ' France', ' is', ' Paris.'].map(
      (word) =>
        `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', model: COMPLETION.model, choices: [{ index: 0, delta: { content: word } }], usage: null })}\n\n`,
    ),
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', model: COMPLETION.model, choices: [], usage: COMPLETION.usage })}\n\n`,
    'data: [DONE]\n\n',
  ];
  const advice = JSON.stringify({
    pool: 'bench',
    version: 1,
    generated_at: new Date().toISOString(),
    valid_until: new Date(Date.now() + 3_600_000).toISOString(),
    keys: ['k1', 'k2', 'k3', 'k4'].map((key_id, i) => ({
      key_id,
      weight: [0.4, 0.3, 0.2, 0.1][i],
      state: 'active',
      reason: 'bench',
    })),
  });
  const limits = {
    'x-ratelimit-limit-requests': '10000',
    'x-ratelimit-remaining-requests': '9999',
    'x-ratelimit-reset-requests': '6ms',
    'x-ratelimit-limit-tokens': '2000000',
    'x-ratelimit-remaining-tokens': '1998180',
    'x-ratelimit-reset-tokens': '54ms',
    'x-request-id': 'req_0123456789abcdef',
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      if (url === '/v1/traces') {
        // The OTLP sink: an empty ExportTraceServiceResponse.
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
        res.end();
        return;
      }
      if (url.endsWith('/advice')) {
        if (req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, { etag: '"v1"' });
          res.end();
        } else {
          res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' });
          res.end(advice);
        }
        return;
      }
      if (Buffer.concat(chunks).includes('"stream":true')) {
        res.writeHead(200, { ...limits, 'content-type': 'text/event-stream' });
        for (const event of events) res.write(event);
        res.end();
        return;
      }
      res.writeHead(200, {
        ...limits,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(json),
      });
      res.end(json);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
  });
}

// ---------------------------------------------------------------- load generator (this process)

interface Sample {
  target: string;
  kind: 'json' | 'stream';
  ms: number;
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const at = out.indexOf('\n');
      if (at !== -1) {
        child.stdout?.off('data', onData);
        resolve(out.slice(0, at));
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${out}`)));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startGatewayProcess(
  dir: string,
  upstreamPort: number,
  spans: boolean,
): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const file = join(dir, `gateway-${spans ? 'spans' : 'nospans'}.yaml`);
  await writeFile(
    file,
    `node_id: bench-gw
headroom: { url: "http://127.0.0.1:${upstreamPort}", poll_interval_ms: 1000, spans: ${spans} }
pools:
  - name: bench
    strategy: headroom
    base_url: http://127.0.0.1:${upstreamPort}/v1
    keys:
${[1, 2, 3, 4].map((i) => `      - { id: k${i}, secret_env: BENCH_KEY_${i}, requests_per_minute: ${i * 100} }`).join('\n')}
`,
  );
  const child = spawn(process.execPath, [CLI, 'gateway', '--config', file, '--port', String(port)], {
    env: {
      ...process.env,
      BENCH_KEY_1: 'sk-1',
      BENCH_KEY_2: 'sk-2',
      BENCH_KEY_3: 'sk-3',
      BENCH_KEY_4: 'sk-4',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await firstLine(child);
  return { child, port };
}

const agent = new Agent({ keepAlive: true, maxSockets: 512, scheduling: 'lifo' });
const JSON_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'What is the capital of France?' }],
});
const STREAM_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  stream: true,
  stream_options: { include_usage: true },
  messages: [{ role: 'user', content: 'What is the capital of France?' }],
});

function call(port: number, kind: 'json' | 'stream'): Promise<number> {
  const body = kind === 'json' ? JSON_BODY : STREAM_BODY;
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: '127.0.0.1',
        port,
        path: '/v1/chat/completions',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: 'Bearer client',
        },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          else resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends RATE requests/s for `seconds`, on schedule whatever the answers' latency (open loop). */
async function drive(
  target: string,
  port: number,
  seconds: number,
  samples: Sample[] | undefined,
): Promise<number> {
  const total = Math.round(RATE * seconds);
  const start = performance.now();
  let sent = 0;
  let errors = 0;
  const pending: Promise<void>[] = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE) + 1);
    for (; sent < due; sent++) {
      const kind = sent % 2 === 0 ? 'json' : 'stream';
      pending.push(
        call(port, kind).then(
          (ms) => void samples?.push({ target, kind, ms }),
          () => void errors++,
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  return errors;
}

function procStatus(pid: number): { rssMb: number; peakRssMb: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024, cpuMs: (ticks * 1000) / 100 };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-bench-gateway-'));
  const children: ChildProcess[] = [];
  try {
    const upstream = spawn(process.execPath, [SELF, '--upstream'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(upstream);
    const upstreamPort = Number(await firstLine(upstream));
    const gateway = await startGatewayProcess(dir, upstreamPort, true);
    children.push(gateway.child);
    const bare = await startGatewayProcess(dir, upstreamPort, false);
    children.push(bare.child);
    const targets: [string, number][] = [
      ['direct', upstreamPort],
      ['gateway', gateway.port],
      ['gateway_no_spans', bare.port],
    ];

    for (const [name, port] of targets) await drive(name, port, 2, undefined);
    const samples: Sample[] = [];
    let errors = 0;
    // CPU (user + system) of the process answering each target, per request.
    const pidOf: Record<string, number> = {
      direct: upstream.pid!,
      gateway: gateway.child.pid!,
      gateway_no_spans: bare.child.pid!,
    };
    const cpuMs: Record<string, number> = { direct: 0, gateway: 0, gateway_no_spans: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, port] of targets) {
        const pid = pidOf[name]!;
        const before = procStatus(pid).cpuMs;
        errors += await drive(name, port, ROUND_SECONDS, samples);
        cpuMs[name]! += procStatus(pid).cpuMs - before;
      }
    }
    const requestsPerTarget = Math.round(RATE * ROUND_SECONDS) * ROUNDS;
    const cpuUs = (name: string): number => Math.round((cpuMs[name]! * 1000) / requestsPerTarget);
    const memory = procStatus(gateway.child.pid!);

    const stats = (target: string, kind: 'json' | 'stream'): { n: number; p50: number; p99: number } => {
      const ms = samples
        .filter((s) => s.target === target && s.kind === kind)
        .map((s) => s.ms)
        .sort((a, b) => a - b);
      return { n: ms.length, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
    };
    const round3 = (x: number): number => Math.round(x * 1000) / 1000;
    const rows: string[] = [];
    const figures: Record<string, Record<string, number>> = {};
    rows.push('| target           | kind   | calls | p50 ms | p99 ms | added p50 ms | added p99 ms |');
    rows.push('| ---------------- | ------ | ----- | ------ | ------ | ------------ | ------------ |');
    for (const kind of ['json', 'stream'] as const) {
      const direct = stats('direct', kind);
      for (const [name] of targets) {
        const s = stats(name, kind);
        const addedP50 = s.p50 - direct.p50;
        const addedP99 = s.p99 - direct.p99;
        rows.push(
          `| ${name.padEnd(16)} | ${kind.padEnd(6)} | ${String(s.n).padStart(5)} | ${s.p50.toFixed(3).padStart(6)} | ${s.p99.toFixed(3).padStart(6)} | ${name === 'direct' ? '           -' : addedP50.toFixed(3).padStart(12)} | ${name === 'direct' ? '           -' : addedP99.toFixed(3).padStart(12)} |`,
        );
        figures[`${name}_${kind}`] = {
          p50_ms: round3(s.p50),
          p99_ms: round3(s.p99),
          ...(name === 'direct' ? {} : { added_p50_ms: round3(addedP50), added_p99_ms: round3(addedP99) }),
        };
      }
    }
    process.stdout.write(
      `Gateway overhead on loopback, ${RATE} requests/s (half JSON, half streamed), ${ROUNDS} rounds of ${ROUND_SECONDS} s per target\n\n`,
    );
    process.stdout.write(rows.join('\n') + '\n\n');
    process.stdout.write(
      `gateway RSS ${memory.rssMb.toFixed(1)} MB (peak ${memory.peakRssMb.toFixed(1)} MB); CPU per request: ` +
        `upstream ${cpuUs('direct')} µs, gateway ${cpuUs('gateway')} µs, gateway without spans ${cpuUs('gateway_no_spans')} µs; ` +
        `failed calls ${errors}\n`,
    );
    const worst = (field: 'added_p50_ms' | 'added_p99_ms'): number =>
      Math.max(figures['gateway_json']?.[field] ?? NaN, figures['gateway_stream']?.[field] ?? NaN);
    process.stdout.write(
      JSON.stringify({
        bench: 'gateway',
        rate_per_second: RATE,
        round_seconds: ROUND_SECONDS,
        rounds: ROUNDS,
        added_p50_ms: worst('added_p50_ms'),
        added_p99_ms: worst('added_p99_ms'),
        rss_mb: Math.round(memory.peakRssMb * 10) / 10,
        gateway_cpu_us_per_request: cpuUs('gateway'),
        gateway_no_spans_cpu_us_per_request: cpuUs('gateway_no_spans'),
        upstream_cpu_us_per_request: cpuUs('direct'),
        errors,
        ...figures,
      }) + '\n',
    );
  } finally {
    for (const child of children) child.kill('SIGTERM');
    agent.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--upstream')) runUpstream();
else
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench:gateway failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
