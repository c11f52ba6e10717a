import type { GatewayConfig, GatewayPoolConfig } from '../config/index.ts';
import type { GatewayMetrics } from './metrics.ts';
import { parseAdvice } from './strategies/advice.ts';
import { parseSimulatorState } from './strategies/oracle.ts';
import type { KeyChoiceStrategy } from './strategies/types.ts';

/** What the gateway last heard from a weight source (headroom or the simulator). */
export interface FeedStatus {
  lastPollAtMs: number | undefined;
  lastResult: string | undefined;
  etag: string | undefined;
}

export interface Feed {
  readonly status: FeedStatus;
  stop(): void;
}

/**
 * Polls one pool's weight source in the background: headroom's advice (with If-None-Match) for the
 * `headroom` strategy, the simulator's state for `oracle`. A poll never overlaps the previous one
 * and never throws: a failure is counted and the strategy keeps what it has until its advice
 * expires.
 */
export function startFeed(
  config: GatewayConfig,
  pool: GatewayPoolConfig,
  strategy: KeyChoiceStrategy,
  metrics: GatewayMetrics,
  now: () => number,
): Feed | undefined {
  const status: FeedStatus = { lastPollAtMs: undefined, lastResult: undefined, etag: undefined };
  let poll: (() => Promise<string>) | undefined;
  let intervalMs = 0;
  const headroom = config.headroom;
  if (pool.strategy === 'headroom' && headroom !== undefined) {
    intervalMs = headroom.pollIntervalMs;
    const url = `${headroom.url}/v1/pools/${encodeURIComponent(pool.name)}/advice`;
    poll = async () => {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (headroom.token !== undefined) headers['authorization'] = `Bearer ${headroom.token}`;
      if (status.etag !== undefined) headers['if-none-match'] = status.etag;
      const response = await fetch(url, {
        headers,
        signal: AbortSignal.timeout(Math.min(intervalMs, 5_000)),
      });
      if (response.status === 304) {
        strategy.confirmAdvice?.(now());
        return 'not_modified';
      }
      if (!response.ok) {
        await response.body?.cancel();
        return `http_${response.status}`;
      }
      const parsed = parseAdvice(await response.json());
      if (!parsed.ok) return 'invalid';
      strategy.applyAdvice?.(parsed.advice, now());
      status.etag = response.headers.get('etag') ?? undefined;
      return 'applied';
    };
  } else if (pool.strategy === 'oracle' && pool.simulatorUrl !== undefined) {
    intervalMs = config.simulatorPollIntervalMs;
    const url = `${pool.simulatorUrl.replace(/\/+$/, '')}/sim/state`;
    poll = async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(Math.max(intervalMs, 1_000)) });
      if (!response.ok) {
        await response.body?.cancel();
        return `http_${response.status}`;
      }
      const state = parseSimulatorState(await response.json());
      if (state === undefined) return 'invalid';
      strategy.applySimulatorState?.(state, now());
      return 'applied';
    };
  }
  if (poll === undefined) return undefined;
  const pollOnce = poll;

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const run = (): void => {
    pollOnce()
      .catch((error: unknown) =>
        error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'unreachable',
      )
      .then(
        (result) => {
          status.lastPollAtMs = now();
          status.lastResult = result;
          metrics.increment('headroom_gateway_advice_polls_total', { pool: pool.name, result });
          if (!stopped) {
            timer = setTimeout(run, intervalMs);
            timer.unref();
          }
        },
        () => {},
      );
  };
  run();
  return {
    status,
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
