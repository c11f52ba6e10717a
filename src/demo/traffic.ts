import { SpanKind, type Tracer } from '@opentelemetry/api';

/** A key of the demo pool: its steady request rate and its daily request quota. */
export interface TrafficKey {
  keyId: string;
  partition: string;
  requestsPerHour: number;
}

/** Poisson arrival times of one key's calls in [fromMs, toMs). */
export function arrivals(key: TrafficKey, fromMs: number, toMs: number, random: () => number): number[] {
  const times: number[] = [];
  const meanGapMs = 3_600_000 / key.requestsPerHour;
  let t = fromMs - Math.log(1 - random()) * meanGapMs;
  while (t < toMs) {
    times.push(t);
    t += -Math.log(1 - random()) * meanGapMs;
  }
  return times;
}

/**
 * Emits one span per call with the span contract (as a gateway would), through the OpenTelemetry API:
 * whichever SDK the process configured exports it.
 */
export function emitCall(
  tracer: Tracer,
  pool: string,
  key: TrafficKey,
  atMs: number,
  random: () => number,
  outcome: 'ok' | 'rate_limited' = 'ok',
): void {
  const inputTokens = 300 + Math.round(random() * 1500);
  const outputTokens = 50 + Math.round(random() * 400);
  const durationMs = 200 + Math.round(random() * 1800);
  const span = tracer.startSpan('chat gpt-4o-mini', {
    kind: SpanKind.CLIENT,
    startTime: atMs,
    attributes: {
      'gen_ai.provider.name': 'openai',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'server.address': 'api.openai.com',
      'http.response.status_code': outcome === 'ok' ? 200 : 429,
      'gen_ai.usage.input_tokens': outcome === 'ok' ? inputTokens : 0,
      'gen_ai.usage.output_tokens': outcome === 'ok' ? outputTokens : 0,
      'keypool.pool': pool,
      'keypool.key.id': key.keyId,
      'keypool.partition': key.partition,
      'keypool.outcome': outcome,
      'keypool.cost_usd': outcome === 'ok' ? (inputTokens * 0.15 + outputTokens * 0.6) / 1_000_000 : 0,
    },
  });
  span.end(atMs + durationMs);
}

/** An `Etc/GMT±N` zone in which it is now about `targetHour` o'clock, for a demo that is the same at any hour. */
export function zoneWithLocalHour(nowMs: number, targetHour: number): string {
  const utcHour = new Date(nowMs).getUTCHours();
  let offset = targetHour - utcHour;
  if (offset > 14) offset -= 24;
  if (offset < -12) offset += 24;
  // POSIX-style names: Etc/GMT-5 is five hours *ahead* of UTC.
  return offset === 0 ? 'UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

const HOUR_MS = 3_600_000;
const DEMO_POOL = 'demo';

/** The demo pool: four keys in two partitions; team-b's daily quota is far too small for its traffic. */
export const DEMO_KEYS: ReadonlyArray<TrafficKey & { limit: number }> = [
  { keyId: 'team-a', partition: 'org-main', requestsPerHour: 120, limit: 6_000 },
  { keyId: 'team-b', partition: 'org-main', requestsPerHour: 120, limit: 2_400 },
  { keyId: 'batch', partition: 'org-batch', requestsPerHour: 200, limit: 10_000 },
  { keyId: 'spare', partition: 'org-batch', requestsPerHour: 60, limit: 4_000 },
];

/** The demo's configuration file: a 5 s cycle and each key's daily request quota in `timeZone`. */
export function formatDemoConfig(timeZone: string): string {
  return [
    'analytics: { interval_seconds: 5, history_days: 3 }',
    // No group_wait: the demo's first cycle already posts.
    'alerts: { slack_channel: "#llm-keys", forecast_horizon_minutes: 480, route: { group_wait: 0s } }',
    'pools:',
    `  - name: ${DEMO_POOL}`,
    '    keys:',
    ...DEMO_KEYS.flatMap((k) => [
      `      - id: ${k.keyId}`,
      `        partition: ${k.partition}`,
      `        quotas: [{ dimension: requests, window: day, limit: ${k.limit}, time_zone: ${timeZone} }]`,
    ]),
  ].join('\n');
}

/** The demo pool's last 63 hours of calls, as spans through `tracer`; returns how many were emitted. */
export function emitDemoHistory(tracer: Tracer, nowMs: number, random: () => number): number {
  let sent = 0;
  for (const key of DEMO_KEYS) {
    for (const at of arrivals(key, nowMs - 63 * HOUR_MS, nowMs - 1_000, random)) {
      emitCall(tracer, DEMO_POOL, key, at, random);
      sent++;
    }
  }
  return sent;
}
