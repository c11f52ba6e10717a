/**
 * Scenario (b): per-minute quotas (TPM on input + output tokens, RPM on requests) on real request
 * traces one hour long: Azure LLM inference 2023 (`code`, `conv`) and Mooncake's conversation trace.
 * Each trace is one key.
 *
 * Windows are fixed minutes from the trace's first minute. The limit of each quota is the 75th
 * percentile (nearest rank) of the trace's whole-minute totals, so about a quarter of the minutes run
 * out. Every method decides once per window, at its start, with nothing of that window seen yet: a
 * warning then is "at least one window ahead". The first ten minutes only provide history.
 *
 * How each method asks about the next window:
 * - headroom: as `ForecastInput` documents for sliding and short windows, `windowStartMs = now`,
 *   `resetAtMs = now + 1 min`, `used = 0`, `current = []`, the last 30 minutes of 10-second buckets
 *   as `history`; warns when pExhaust >= 0.8 with a median ETA inside the window.
 * - predict_linear: the PromQL rule `predict_linear(usage_total[10m], 60) - usage_total >= limit` on
 *   the usage counter: the in-window baseline run over a pseudo-window of the last 10 minutes with
 *   `limit = used + limit` and the reset a minute ahead; warns when that line crosses.
 * - static_80: the last minute's usage was at least 80 % of the limit (`usage[1m] >= 0.8 * limit`).
 */
import { forecastPredictLinear, forecastStaticThreshold } from '../../src/forecast/index.ts';
import type { Forecast, UsagePoint } from '../../src/forecast/index.ts';
import { quantile } from './random.ts';
import { forecastWith, MINUTE_MS, SCORERS, STATIC_FRACTION, SURGE_RATIO } from './replay.ts';
import type { BaseMethod, CaseOutcome, MethodOutcome } from './replay.ts';
import { readAzureTrace, readMooncakeTrace } from './traces.ts';
import type { TraceRequest } from './traces.ts';

/** An arbitrary epoch for the traces' first minute (the forecasts use no calendar here). */
const ORIGIN_MS = Date.UTC(2024, 0, 1);
const WINDOW_MS = MINUTE_MS;
const BUCKET_MS = 10_000;
const HISTORY_MS = 30 * MINUTE_MS;
const WARMUP_WINDOWS = 10;
const LOOKBACK_MS = 10 * MINUTE_MS;
const LIMIT_QUANTILE = 0.75;

interface MinuteQuota {
  scenario: string;
  /** Requests sorted by time with the amount each one counts against the quota. */
  atMs: Float64Array;
  amount: Float64Array;
}

function quotasOf(name: string, requests: TraceRequest[]): MinuteQuota[] {
  const atMs = Float64Array.from(requests, (r) => r.atMs);
  return [
    { scenario: `${name} TPM`, atMs, amount: Float64Array.from(requests, (r) => r.tokens) },
    { scenario: `${name} RPM`, atMs, amount: new Float64Array(requests.length).fill(1) },
  ];
}

function replayQuota(quota: MinuteQuota): CaseOutcome[] {
  const { atMs, amount } = quota;
  const lastMs = atMs[atMs.length - 1] ?? 0;
  const windows = Math.floor(lastMs / WINDOW_MS);
  const buckets = new Float64Array(Math.ceil((windows * WINDOW_MS) / BUCKET_MS));
  const windowTotals = new Float64Array(windows);
  for (let i = 0; i < atMs.length; i += 1) {
    const at = atMs[i] ?? 0;
    if (at >= windows * WINDOW_MS) break;
    buckets[Math.floor(at / BUCKET_MS)] = (buckets[Math.floor(at / BUCKET_MS)] ?? 0) + (amount[i] ?? 0);
    windowTotals[Math.floor(at / WINDOW_MS)] =
      (windowTotals[Math.floor(at / WINDOW_MS)] ?? 0) + (amount[i] ?? 0);
  }
  const limit = Math.ceil(quantile(Array.from(windowTotals), LIMIT_QUANTILE));
  const pointsBetween = (fromMs: number, toMs: number): UsagePoint[] => {
    const points: UsagePoint[] = [];
    for (let b = Math.max(0, Math.ceil(fromMs / BUCKET_MS)); b * BUCKET_MS < toMs; b += 1) {
      const value = buckets[b] ?? 0;
      if (value > 0) points.push({ tsMs: ORIGIN_MS + b * BUCKET_MS, value });
    }
    return points;
  };
  const outcomes: CaseOutcome[] = [];
  let request = 0;
  for (let w = 0; w < windows; w += 1) {
    const startMs = w * WINDOW_MS;
    // Exhaustion inside this window: the request that brings the window's usage to the limit.
    while (request < atMs.length && (atMs[request] ?? 0) < startMs) request += 1;
    let exhaustMs: number | null = null;
    let usage = 0;
    for (let i = request; i < atMs.length && (atMs[i] ?? 0) < startMs + WINDOW_MS; i += 1) {
      usage += amount[i] ?? 0;
      if (usage >= limit) {
        exhaustMs = ORIGIN_MS + (atMs[i] ?? 0);
        break;
      }
    }
    if (w < WARMUP_WINDOWS) continue;
    const nowMs = ORIGIN_MS + startMs;
    const decisions = decideNextWindow(nowMs, limit, pointsBetween, windowTotals[w - 1] ?? 0, startMs);
    let recent = 0;
    for (let k = w - WARMUP_WINDOWS; k < w; k += 1) recent += windowTotals[k] ?? 0;
    outcomes.push({
      scenario: quota.scenario,
      subject: quota.scenario,
      exhaustMs,
      warnByMs: exhaustMs === null ? null : nowMs,
      // A spike: the window ran at more than SURGE_RATIO times the mean of the ten before it.
      unforeseeable: exhaustMs !== null && (windowTotals[w] ?? 0) > (SURGE_RATIO * recent) / WARMUP_WINDOWS,
      finalShare: (windowTotals[w] ?? 0) / limit,
      methods: decisions,
    });
  }
  return outcomes;
}

function decideNextWindow(
  nowMs: number,
  limit: number,
  pointsBetween: (fromMs: number, toMs: number) => UsagePoint[],
  lastWindowUsage: number,
  traceNowMs: number,
): Record<string, MethodOutcome> {
  const resetAtMs = nowMs + WINDOW_MS;
  const lookback = pointsBetween(traceNowMs - LOOKBACK_MS, traceNowMs);
  const lookbackUsage = lookback.reduce((sum, point) => sum + point.value, 0);
  const forecasts: Record<BaseMethod, Forecast> = {
    headroom: forecastWith('headroom', {
      nowMs,
      windowStartMs: nowMs,
      resetAtMs,
      limit,
      used: 0,
      current: [],
      history: pointsBetween(traceNowMs - HISTORY_MS, traceNowMs),
      bucketMs: BUCKET_MS,
    }),
    predict_linear: forecastPredictLinear(
      {
        nowMs,
        windowStartMs: nowMs - LOOKBACK_MS,
        resetAtMs,
        limit: lookbackUsage + limit,
        used: lookbackUsage,
        current: lookback,
        bucketMs: BUCKET_MS,
      },
      LOOKBACK_MS,
    ),
    static_80: forecastStaticThreshold(
      {
        nowMs,
        windowStartMs: nowMs - WINDOW_MS,
        resetAtMs: nowMs,
        limit,
        used: lastWindowUsage,
        current: [],
        bucketMs: BUCKET_MS,
      },
      STATIC_FRACTION,
    ),
  };
  const decisions: Record<string, MethodOutcome> = {};
  for (const scorer of SCORERS) {
    const forecast = forecasts[scorer.base];
    // For the static rule a last minute at or over the limit is the strongest warning there is.
    const warns =
      scorer.warns(forecast, nowMs) || (scorer.base === 'static_80' && forecast.status === 'exhausted');
    decisions[scorer.name] = warns
      ? { warnMs: nowMs, etaMs: scorer.base === 'static_80' ? null : forecast.etaP50Ms }
      : { warnMs: null, etaMs: null };
  }
  return decisions;
}

export interface MinuteResult {
  outcomes: CaseOutcome[];
  /** Per trace quota: its limit and how many of its windows ran out. */
  quotas: Array<{ scenario: string; windows: number; events: number }>;
}

export function runMinute(): MinuteResult {
  const quotas = [
    ...quotasOf('azure-code', readAzureTrace('code')),
    ...quotasOf('azure-conv', readAzureTrace('conv')),
    ...quotasOf('mooncake', readMooncakeTrace()),
  ];
  const outcomes: CaseOutcome[] = [];
  const summary: MinuteResult['quotas'] = [];
  for (const quota of quotas) {
    const replayed = replayQuota(quota);
    outcomes.push(...replayed);
    summary.push({
      scenario: quota.scenario,
      windows: replayed.length,
      events: replayed.filter((outcome) => outcome.exhaustMs !== null).length,
    });
  }
  return { outcomes, quotas: summary };
}
