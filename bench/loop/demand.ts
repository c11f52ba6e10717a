/**
 * Demand for the closed-loop benchmark: the arrivals of real API clients (ServeGen, Alibaba Bailian,
 * per-client ten-minute rates and fitted inter-arrival shapes), scaled to a target mean rate and
 * optionally compressed in time, identical for every strategy of a scenario (seeded).
 */
import { createRandom, seedOf } from '../forecast/random.ts';
import { sampleUnitGap } from '../forecast/servegen.ts';
import { readServegenClients, SERVEGEN_WINDOW_S, type ServegenClient } from '../forecast/traces.ts';

export interface Arrival {
  /** ms from the start of the run. */
  atMs: number;
  /** The ServeGen client the request comes from (`keypool.consumer`). */
  client: string;
  inputTokens: number;
  maxOutputTokens: number;
}

export interface DemandSpec {
  /** The busiest `clients` clients of the stretch make the demand. */
  clients: number;
  /** First ten-minute window of the trace (0 = local midnight of day 0) and how many follow. */
  fromWindow: number;
  windows: number;
  /** How long one ten-minute window of the trace lasts in the run: 600_000 keeps real time. */
  windowMs: number;
  /** Mean requests per second over the run, after scaling. */
  meanRps: number;
  seed: number;
}

let cached: ServegenClient[] | undefined;

function clients(): ServegenClient[] {
  cached ??= readServegenClients();
  return cached;
}

/** Total volume of one client over the stretch (requests per second summed over windows). */
function volume(client: ServegenClient, from: number, count: number): number {
  let total = 0;
  for (let w = from; w < from + count; w += 1) total += client.rateRps[w] ?? 0;
  return total;
}

/**
 * Arrivals of the busiest clients of a stretch of the trace, scaled so that their sum averages
 * `meanRps` over the run. Each window's requests are placed with gaps drawn from the window's fitted
 * distribution and stretched to span the window (as the forecast back-test does), so bursts and
 * idle spells keep their real shape.
 */
export function buildArrivals(spec: DemandSpec): Arrival[] {
  const all = clients();
  const chosen = [...all]
    .map((c) => ({ c, v: volume(c, spec.fromWindow, spec.windows) }))
    .filter((x) => x.v > 0)
    .sort((a, b) => b.v - a.v || a.c.id.localeCompare(b.c.id))
    .slice(0, spec.clients);
  const traceRequests = chosen.reduce((s, x) => s + x.v * SERVEGEN_WINDOW_S, 0);
  const runSeconds = (spec.windows * spec.windowMs) / 1000;
  const scale = traceRequests > 0 ? (spec.meanRps * runSeconds) / traceRequests : 0;

  const arrivals: Arrival[] = [];
  for (const { c } of chosen) {
    const random = createRandom(seedOf(`loop:${spec.seed}:${c.id}`));
    for (let i = 0; i < spec.windows; i += 1) {
      const w = spec.fromWindow + i;
      const expected = (c.rateRps[w] ?? 0) * SERVEGEN_WINDOW_S * scale;
      if (!(expected > 0)) continue;
      const count = Math.floor(expected) + (random() < expected - Math.floor(expected) ? 1 : 0);
      if (count === 0) continue;
      const gaps: number[] = [];
      let span = 0;
      for (let j = 0; j <= count; j += 1) {
        const gap = sampleUnitGap(random, c.iatDist[w] ?? 0, c.iatShape[w] ?? 1);
        gaps.push(gap);
        span += gap;
      }
      let at = 0;
      for (let j = 0; j < count; j += 1) {
        at += gaps[j] ?? 0;
        arrivals.push({
          atMs: Math.round((i + at / span) * spec.windowMs),
          client: c.id,
          inputTokens: 200 + Math.floor(random() * 600),
          maxOutputTokens: 64 + Math.floor(random() * 128),
        });
      }
    }
  }
  return arrivals.sort((a, b) => a.atMs - b.atMs || a.client.localeCompare(b.client));
}

/** Requests per trace window of an arrival list, for the table's description of the demand. */
export function peakToMean(arrivals: readonly Arrival[], windowMs: number, windows: number): number {
  const counts = new Array<number>(windows).fill(0);
  for (const a of arrivals) {
    const i = Math.min(windows - 1, Math.floor(a.atMs / windowMs));
    counts[i] = (counts[i] ?? 0) + 1;
  }
  const mean = arrivals.length / windows;
  return mean > 0 ? Math.max(...counts) / mean : 0;
}
