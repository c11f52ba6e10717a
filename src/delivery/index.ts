/**
 * Carrying out what a cycle decided: every outbound call headroom makes on its own initiative (a
 * Slack post, a webhook, a push to a gateway's admin API) goes through {@link deliverWithRetry}, and
 * runs as a detached job on a {@link DeliveryQueue}, so a slow or dead receiver never lengthens the
 * cycle that decided it, nor holds up another receiver.
 */
import type { IoResult } from '../errors/index.ts';

export { requestJson } from './http.ts';
export type { HttpAnswer } from './http.ts';
export {
  signWebhookBody,
  verifyWebhookSignature,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  WEBHOOK_TOLERANCE_SECONDS,
} from './webhook-signature.ts';

export interface RetryPolicy {
  /** Attempts in all, including the first. Default 5. */
  maxAttempts: number;
  /** Delay before the second attempt; doubles per attempt. Default 250 ms. */
  baseDelayMillis: number;
  /** Cap on one delay. Default 10 s. */
  maxDelayMillis: number;
  /** No attempt starts after this much time from the first one. Default 60 s. */
  deadlineMillis: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  baseDelayMillis: 250,
  maxDelayMillis: 10_000,
  deadlineMillis: 60_000,
});

/** What a delivery came to, with how many attempts it took and how long. */
export type DeliveryResult<T> = IoResult<T> & { attempts: number; elapsedMillis: number };

export interface RetryEnvironment {
  now: () => number;
  sleep: (millis: number) => Promise<void>;
  /** Uniform in [0, 1): the jitter source, injectable for tests. */
  random: () => number;
}

const REAL_ENVIRONMENT: RetryEnvironment = {
  now: () => performance.now(),
  sleep: (millis) => new Promise((resolve) => setTimeout(resolve, millis)),
  random: Math.random,
};

/**
 * The delay before attempt `attempt + 1` (attempt counts from 1): capped exponential backoff with
 * full jitter, so many receivers failing together do not retry in lockstep; a receiver's own
 * Retry-After is a floor, never shortened by the jitter.
 */
export function computeRetryDelayMillis(
  attempt: number,
  policy: RetryPolicy,
  random: number,
  retryAfterMillis?: number,
): number {
  const ceiling = Math.min(policy.maxDelayMillis, policy.baseDelayMillis * 2 ** (attempt - 1));
  const jittered = ceiling / 2 + (ceiling / 2) * random;
  return Math.max(jittered, retryAfterMillis ?? 0);
}

/**
 * Runs `attempt` until it succeeds, fails for good, or the policy runs out. Only `retryable` results
 * are retried (a 4xx is a `failure`: repeating it cannot succeed). An exception thrown by `attempt`
 * counts as retryable: it is a transport problem more often than not. Never throws.
 */
export async function deliverWithRetry<T>(
  attempt: (attemptNumber: number) => Promise<IoResult<T>>,
  policy: Partial<RetryPolicy> = {},
  environment: Partial<RetryEnvironment> = {},
): Promise<DeliveryResult<T>> {
  const p: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...policy };
  const env: RetryEnvironment = { ...REAL_ENVIRONMENT, ...environment };
  const startedAt = env.now();
  for (let attemptNumber = 1; ; attemptNumber++) {
    let result: IoResult<T>;
    try {
      result = await attempt(attemptNumber);
    } catch (error) {
      result = { kind: 'retryable', error: error instanceof Error ? error : new Error(String(error)) };
    }
    const elapsedMillis = env.now() - startedAt;
    if (result.kind !== 'retryable' || attemptNumber >= p.maxAttempts) {
      return { ...result, attempts: attemptNumber, elapsedMillis };
    }
    const delay = computeRetryDelayMillis(attemptNumber, p, env.random(), result.retryAfterMillis);
    if (elapsedMillis + delay >= p.deadlineMillis) {
      return { ...result, attempts: attemptNumber, elapsedMillis };
    }
    await env.sleep(delay);
  }
}

export interface DeliveryQueue {
  /**
   * Starts `job` in the background under `lane` and returns at once. Jobs in one lane run one at a
   * time in order (a receiver sees its updates in the order they were decided); lanes are
   * independent. When a lane already has a job waiting, the new one replaces it: only the latest
   * decision for a receiver is worth carrying out.
   */
  enqueue(lane: string, job: () => Promise<void>): void;
  /** Jobs running or waiting. */
  readonly pending: number;
  /** Resolves when every job started so far has finished, or after `timeoutMillis`. */
  drain(timeoutMillis?: number): Promise<void>;
}

/**
 * A queue of detached jobs. A job that throws is reported to `onError` and does not stop its lane.
 */
export function createDeliveryQueue(onError: (lane: string, error: unknown) => void): DeliveryQueue {
  const running = new Map<string, Promise<void>>();
  const waiting = new Map<string, () => Promise<void>>();

  const runLane = async (lane: string, first: () => Promise<void>): Promise<void> => {
    let job: (() => Promise<void>) | undefined = first;
    while (job !== undefined) {
      try {
        await job();
      } catch (error) {
        onError(lane, error);
      }
      job = waiting.get(lane);
      waiting.delete(lane);
    }
    running.delete(lane);
  };

  return {
    enqueue(lane, job) {
      if (running.has(lane)) {
        waiting.set(lane, job);
        return;
      }
      running.set(lane, runLane(lane, job));
    },
    get pending() {
      return running.size + waiting.size;
    },
    async drain(timeoutMillis = 30_000) {
      const deadline = Date.now() + timeoutMillis;
      while (running.size > 0 && Date.now() < deadline) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled([...running.values()]),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          }),
        ]);
        clearTimeout(timer);
      }
    },
  };
}
