/**
 * Ingest throughput benchmark: `headroom serve` runs as a child process on a fresh embedded data
 * directory; this process is the load generator, sending unique OTLP protobuf requests (100–500
 * spans with the attribute set a gateway sends) over loopback.
 *
 * Phase 1 saturates the service for BENCH_SECONDS (default 20) and measures acknowledged spans/s.
 * Phase 2 offers half that rate for BENCH_SECONDS and measures request latency (p50/p99).
 * The last line is one JSON object with the figures.
 */
import { Agent, request } from 'node:http';
import { buildRequest, encodeProtobuf, type AttrInput } from '../test/support/otlp.ts';
import { freePort, makeDataDir, readMemoryMb, spawnServe, waitForExit } from '../test/support/service.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 48);
const TEMPLATES = 24;

const PROVIDERS = [
  { provider: 'openai', model: 'gpt-4o-mini', host: 'api.openai.com' },
  { provider: 'anthropic', model: 'claude-sonnet-4-5', host: 'api.anthropic.com' },
  { provider: 'azure.ai.openai', model: 'gpt-4o', host: 'contoso.openai.azure.com' },
  { provider: 'gcp.gemini', model: 'gemini-2.5-flash', host: 'generativelanguage.googleapis.com' },
];

/** A request template whose span ids sit at known byte offsets, so each send can be made unique cheaply. */
interface Template {
  body: Buffer;
  spans: number;
  idOffsets: number[];
}

function makeTemplate(index: number, spans: number, nowMs: number): Template {
  const marker = (j: number): string =>
    'feedface' + index.toString(16).padStart(2, '0') + j.toString(16).padStart(6, '0');
  const request = buildRequest(
    {
      'service.name': 'llm-gateway',
      'service.instance.id': `gw-${index % 4}`,
      'telemetry.sdk.language': 'nodejs',
    },
    Array.from({ length: spans }, (_, j) => {
      const p = PROVIDERS[(index + j) % PROVIDERS.length] as (typeof PROVIDERS)[number];
      const limited = j % 37 === 0;
      const attributes: Record<string, AttrInput> = {
        'gen_ai.provider.name': p.provider,
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': p.model,
        'gen_ai.response.model': p.model,
        'server.address': p.host,
        'http.response.status_code': limited ? 429 : 200,
        'keypool.pool': `pool-${index % 3}`,
        'keypool.key.id': `key-${(index * 7 + j) % 40}`,
        'keypool.partition': `org-${(index + j) % 5}`,
        'keypool.outcome': limited ? 'rate_limited' : 'ok',
        'keypool.consumer': `tenant-${j % 11}`,
        'gen_ai.usage.input_tokens': limited ? 0 : 200 + ((j * 7919) % 6000),
        'gen_ai.usage.output_tokens': limited ? 0 : 20 + ((j * 104729) % 900),
        'gen_ai.usage.cache_read.input_tokens': (j * 31) % 500,
        'keypool.cost_usd': limited ? 0 : 0.0001 * (1 + (j % 50)),
        'keypool.ratelimit.requests.limit': 10_000,
        'keypool.ratelimit.requests.remaining': 10_000 - (j % 10_000),
        'keypool.ratelimit.requests.reset_at_ms': nowMs + 6_000,
        'keypool.ratelimit.tokens.limit': 2_000_000,
        'keypool.ratelimit.tokens.remaining': 2_000_000 - j * 1_000,
        'keypool.ratelimit.tokens.reset_at_ms': nowMs + 30_000,
      };
      if (limited) attributes['keypool.retry_after_ms'] = 1_200;
      return { spanId: marker(j), startMs: nowMs - 1_000 + j, durationMs: 300 + (j % 2000), attributes };
    }),
  );
  const body = encodeProtobuf(request);
  const idOffsets: number[] = [];
  for (let j = 0; j < spans; j++) {
    const offset = body.indexOf(Buffer.from(marker(j), 'hex'));
    if (offset < 0) throw new Error('span id marker not found');
    idOffsets.push(offset);
  }
  return { body, spans, idOffsets };
}

let sequence = 0;
/** A copy of the template with fresh span ids: a distinct request, as a real exporter would send. */
function uniqueBody(template: Template): Buffer {
  const body = Buffer.from(template.body);
  const seq = sequence++;
  for (let j = 0; j < template.idOffsets.length; j++) {
    const offset = template.idOffsets[j] as number;
    body.writeUInt32BE(seq >>> 0, offset);
    body.writeUInt32BE(j, offset + 4);
  }
  return body;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function main(): Promise<void> {
  const data = await makeDataDir('headroom-bench-');
  const port = await freePort();
  const server = await spawnServe({
    HEADROOM_DATA_DIR: data.dir,
    HEADROOM_PORT: String(port),
    HEADROOM_LOG_LEVEL: 'warn',
  });
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const nowMs = Date.now();
  const templates = Array.from({ length: TEMPLATES }, (_, i) =>
    makeTemplate(i, 100 + Math.round((400 * i) / (TEMPLATES - 1)), nowMs),
  );
  const meanSpans = templates.reduce((s, t) => s + t.spans, 0) / templates.length;
  console.log(
    `server pid ${server.child.pid}, ${CONCURRENCY} connections, ${TEMPLATES} templates of 100–500 spans (mean ${meanSpans.toFixed(0)}), ${templates[0]?.body.length}–${templates.at(-1)?.body.length} bytes`,
  );

  async function send(template: Template, latencies: number[]): Promise<number> {
    const body = uniqueBody(template);
    const started = performance.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          agent,
          host: '127.0.0.1',
          port,
          path: '/v1/traces',
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    latencies.push(performance.now() - started);
    return status === 200 ? template.spans : 0;
  }

  // Warm-up: JIT, connection pool, first parts.
  await Promise.all(
    Array.from({ length: CONCURRENCY }, (_, i) => send(templates[i % TEMPLATES] as Template, [])),
  );

  // Phase 1: saturation.
  const saturatedLatencies: number[] = [];
  let acknowledged = 0;
  let refused = 0;
  const endAt = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      let i = w;
      while (performance.now() < endAt) {
        const spans = await send(templates[i++ % TEMPLATES] as Template, saturatedLatencies);
        if (spans === 0) refused++;
        acknowledged += spans;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const spansPerSecond = acknowledged / elapsed;
  const memoryAfterSaturation = readMemoryMb(server.child.pid as number);
  saturatedLatencies.sort((a, b) => a - b);
  console.log(
    `saturated: ${acknowledged} spans acknowledged in ${elapsed.toFixed(1)} s = ${spansPerSecond.toFixed(0)} spans/s; ` +
      `${saturatedLatencies.length} requests, ${refused} refused; p50 ${percentile(saturatedLatencies, 50).toFixed(1)} ms, p99 ${percentile(saturatedLatencies, 99).toFixed(1)} ms`,
  );

  // Phase 2: half the measured rate, paced open-loop, for latency.
  const targetSpansPerSecond = spansPerSecond / 2;
  const intervalMs = (meanSpans / targetSpansPerSecond) * 1000;
  const halfLatencies: number[] = [];
  const inFlight: Array<Promise<number>> = [];
  const halfStart = performance.now();
  let halfAcknowledged = 0;
  for (let i = 0; performance.now() - halfStart < SECONDS * 1000; i++) {
    const due = halfStart + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(
      send(templates[i % TEMPLATES] as Template, halfLatencies).then((n) => (halfAcknowledged += n)),
    );
  }
  await Promise.all(inFlight);
  const halfElapsed = (performance.now() - halfStart) / 1000;
  halfLatencies.sort((a, b) => a - b);
  const memory = readMemoryMb(server.child.pid as number);
  console.log(
    `half rate: offered ${targetSpansPerSecond.toFixed(0)} spans/s, acknowledged ${(halfAcknowledged / halfElapsed).toFixed(0)} spans/s; ` +
      `p50 ${percentile(halfLatencies, 50).toFixed(1)} ms, p99 ${percentile(halfLatencies, 99).toFixed(1)} ms`,
  );

  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const batches = Number(/headroom_ingest_batches_total (\d+)/.exec(metrics)?.[1] ?? 0);
  console.log(
    `server: ${batches} group-commit inserts, rss ${memory.rss.toFixed(0)} MB, peak ${memory.peak.toFixed(0)} MB`,
  );

  agent.destroy();
  server.child.kill('SIGTERM');
  await waitForExit(server.child);
  await data.remove();

  console.log(
    JSON.stringify({
      bench: 'ingest',
      spans_per_second: Math.round(spansPerSecond),
      p50_ms: Number(percentile(halfLatencies, 50).toFixed(1)),
      p99_ms: Number(percentile(halfLatencies, 99).toFixed(1)),
      latency_at_spans_per_second: Math.round(targetSpansPerSecond),
      saturated_p50_ms: Number(percentile(saturatedLatencies, 50).toFixed(1)),
      saturated_p99_ms: Number(percentile(saturatedLatencies, 99).toFixed(1)),
      rss_mb: Math.round(Math.max(memory.rss, memoryAfterSaturation.rss)),
      peak_rss_mb: Math.round(memory.peak),
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      mean_spans_per_request: Math.round(meanSpans),
      inserts: batches,
    }),
  );
}

await main();
