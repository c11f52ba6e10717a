import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import type { Service } from '../cli/service.ts';
import type { Config } from '../config/index.ts';
import { fetchKeys, formatKeyTable } from '../status/index.ts';
import { startSlackServer } from './slack-server.ts';
import { createRandom, describeTimeZone } from '../forecast/index.ts';
import {
  DEMO_KEYS,
  emitCall,
  emitDemoHistory,
  formatDemoConfig,
  zoneWithLocalHour,
  type TrafficKey,
} from './traffic.ts';
import { printLoopSegment, loopPoolConfigLines } from './loop.ts';

export { startSlackServer } from './slack-server.ts';
export type { SlackCall, SlackServer } from './slack-server.ts';
export {
  arrivals,
  DEMO_KEYS,
  emitCall,
  emitDemoHistory,
  formatDemoConfig,
  zoneWithLocalHour,
} from './traffic.ts';
export {
  LOOP_POOL,
  describeLoopKeys,
  formatLoopComparison,
  loopPoolConfigLines,
  runLoopSegment,
} from './loop.ts';
export type { LoopComparison, LoopRunResult, LoopSegmentOptions } from './loop.ts';
export type { TrafficKey } from './traffic.ts';

const POOL = 'demo';
const KEYS = DEMO_KEYS;

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

interface AdviceResponse {
  version: number;
  keys: Array<{ key_id: string; weight: number; state: string; reason: string }>;
}

/** What a gateway's telemetry looks like to the demo: a tracer, and a way to wait for its export. */
export interface GatewayTelemetry {
  tracer: Tracer;
  /** Resolves once every span emitted so far is exported (and so committed by headroom). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The OpenTelemetry SDK as a gateway node runs it, exporting OTLP/HTTP protobuf to headroom at `url`. */
export function startGatewayTelemetry(url: string): GatewayTelemetry {
  const processor = new BatchSpanProcessor({
    exporter: new OTLPTraceExporter({ url: `${url}/v1/traces` }),
    maxQueueSize: 200_000,
    maxExportBatchSize: 2_000,
    scheduledDelayMillis: 50,
  });
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'demo-gateway', 'service.instance.id': 'gw-1' }),
    spanProcessors: [processor],
    instrumentations: [],
    // Traces only: without these the SDK also starts OTLP metrics and logs exporters from defaults.
    metricReaders: [],
    logRecordProcessors: [],
    autoDetectResources: false,
  });
  sdk.start();
  return {
    tracer: trace.getTracer('headroom-demo'),
    flush: () => processor.forceFlush(),
    shutdown: () => sdk.shutdown(),
  };
}

/**
 * `headroom demo`: the whole loop on one machine in under two minutes. headroom on a temporary data
 * directory, a local endpoint speaking the Slack Web API, and a pool of keys whose traffic goes
 * through the real OpenTelemetry SDK: three days backfilled, then live traffic; then the loop
 * closing through the provider simulator and two reference gateways (see `runLoopSegment`).
 */
export async function runDemo(
  deps: {
    loadConfig: (env: Record<string, string>) => Config;
    startService: (config: Config) => Promise<Service>;
  },
  print: (line: string) => void = (line) => process.stdout.write(line + '\n'),
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-demo-'));
  const slack = await startSlackServer({ log: (line) => print(`   ${line}`) });
  let service: Service | undefined;
  try {
    const nowMs = Date.now();
    // A quota day whose local time is mid-afternoon, so the demo looks the same at any hour.
    const timeZone = zoneWithLocalHour(nowMs, 15);
    const configFile = join(dir, 'headroom.yaml');
    // The demo's pool, then the pool of the closing loop segment.
    await writeFile(configFile, [formatDemoConfig(timeZone), ...loopPoolConfigLines(timeZone)].join('\n'));
    const config = deps.loadConfig({
      HEADROOM_CONFIG: configFile,
      HEADROOM_DATA_DIR: join(dir, 'data'),
      HEADROOM_PORT: '0',
      HEADROOM_LOG_LEVEL: 'warn',
      HEADROOM_SLACK_TOKEN: 'xoxb-demo',
      HEADROOM_SLACK_API_URL: slack.url,
    });
    service = await deps.startService(config);
    const running = service;
    print(
      `headroom demo — service at ${running.url} (embedded ClickHouse in ${dir}), Slack Web API at ${slack.url}`,
    );
    print(`status pages: ${running.url}/ (pool page ${running.url}/pools/${POOL})`);
    print(
      `pool "${POOL}": ${KEYS.map((k) => `${k.keyId} (${k.limit.toLocaleString('en-US')} requests/day)`).join(', ')}; quota day in ${describeTimeZone(timeZone, nowMs)}\n`,
    );

    const gateway = startGatewayTelemetry(running.url);
    const { tracer } = gateway;
    const random = createRandom(7);

    print('1. Backfilling three days of gateway traffic through the OpenTelemetry SDK (OTLP/HTTP protobuf)…');
    const started = performance.now();
    const sent = emitDemoHistory(tracer, nowMs, random);
    await gateway.flush();
    print(
      `   ${sent.toLocaleString('en-US')} spans exported and committed in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );

    const cycle = async (title: string): Promise<void> => {
      const run = await running.analytics?.runCycle();
      await running.analytics?.drainDeliveries();
      print(`${title} (analytics cycle: ${run?.outcome}, ${run?.durationMs.toFixed(0)} ms)`);
      for (const line of formatKeyTable(await fetchKeys(running.url, { pool: POOL }))) print(`   ${line}`);
      print('');
    };

    print(
      '2. First analytics cycle: forecasts, alerts (Slack messages as the local Slack API receives them), advice',
    );
    await cycle('   Key table');

    const before = (await (await fetch(`${running.url}/v1/pools/${POOL}/advice`)).json()) as AdviceResponse;
    print('3. Live traffic: team-b surges for 15 s while the others carry on…');
    const teamB = KEYS[1] as TrafficKey;
    const liveStart = Date.now();
    while (Date.now() - liveStart < 15_000) {
      const at = Date.now();
      for (let i = 0; i < 20; i++) emitCall(tracer, POOL, teamB, at + i, random);
      for (const key of [KEYS[0], KEYS[2], KEYS[3]] as TrafficKey[])
        if (random() < 0.3) emitCall(tracer, POOL, key, at, random);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    await gateway.flush();
    await cycle('   Key table after the surge');

    const after = (await (await fetch(`${running.url}/v1/pools/${POOL}/advice`)).json()) as AdviceResponse;
    print(
      `4. Advice for gateways (GET /v1/pools/${POOL}/advice), version ${before.version} → ${after.version}:`,
    );
    for (const key of after.keys) {
      const was = before.keys.find((k) => k.key_id === key.key_id)?.weight ?? 0;
      print(
        `   ${pad(key.key_id, 8)} weight ${was.toFixed(3)} → ${key.weight.toFixed(3)}  ${pad(key.state, 12)} ${key.reason}`,
      );
    }
    await printLoopSegment({
      headroomUrl: running.url,
      runCycle: async () => {
        await running.analytics?.runCycle();
        await running.analytics?.drainDeliveries();
      },
      dir,
      timeZone,
      print,
    });
    print(
      `\nSlack received ${slack.delivered('chat.postMessage').length} message(s) and ${slack.delivered('chat.update').length} update(s). Done.`,
    );
    await gateway.shutdown();
  } finally {
    await service?.close();
    await slack.close();
    await rm(dir, { recursive: true, force: true });
  }
}
