import { describe, expect, it } from 'vitest';
import type { IoResult } from '../../src/errors/index.ts';
import {
  computeRetryDelayMillis,
  createDeliveryQueue,
  deliverWithRetry,
  DEFAULT_RETRY_POLICY,
  signWebhookBody,
  verifyWebhookSignature,
} from '../../src/delivery/index.ts';

/** A virtual clock: sleeping advances it, nothing waits for real. */
function virtualTime() {
  let nowMs = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    env: {
      now: () => nowMs,
      sleep: (millis: number) => {
        sleeps.push(millis);
        nowMs += millis;
        return Promise.resolve();
      },
      random: () => 0.5,
    },
  };
}

const retryable = (message = 'connection refused'): IoResult<never> => ({
  kind: 'retryable',
  error: new Error(message),
});

describe('deliverWithRetry', () => {
  it('retries a retryable outcome with growing, capped delays until it succeeds', async () => {
    const time = virtualTime();
    let calls = 0;
    const result = await deliverWithRetry(
      () => Promise.resolve(++calls < 4 ? retryable() : { kind: 'success' as const, value: 'ok' }),
      { baseDelayMillis: 100, maxDelayMillis: 300, maxAttempts: 6, deadlineMillis: 10_000 },
      time.env,
    );
    expect(result).toMatchObject({ kind: 'success', value: 'ok', attempts: 4 });
    // Ceilings 100, 200, 300 (capped), each jittered to 3/4 of the ceiling with random 0.5.
    expect(time.sleeps).toEqual([75, 150, 225]);
  });

  it('never retries a failure: repeating a 4xx cannot succeed', async () => {
    const time = virtualTime();
    let calls = 0;
    const result = await deliverWithRetry(
      () => {
        calls++;
        return Promise.resolve({ kind: 'failure' as const, error: new Error('HTTP 400') });
      },
      {},
      time.env,
    );
    expect(result).toMatchObject({ kind: 'failure', attempts: 1 });
    expect(calls).toBe(1);
    expect(time.sleeps).toEqual([]);
  });

  it('stops at the deadline and returns the last retryable outcome', async () => {
    const time = virtualTime();
    const result = await deliverWithRetry(
      () => Promise.resolve(retryable('timeout')),
      { baseDelayMillis: 1_000, maxDelayMillis: 8_000, maxAttempts: 100, deadlineMillis: 5_000 },
      time.env,
    );
    expect(result.kind).toBe('retryable');
    expect(result.attempts).toBe(3);
    expect(time.sleeps.reduce((a, b) => a + b, 0)).toBeLessThan(5_000);
  });

  it('counts a thrown exception as retryable and never throws itself', async () => {
    const time = virtualTime();
    let calls = 0;
    const result = await deliverWithRetry(
      () => {
        calls++;
        if (calls === 1) throw new Error('socket hang up');
        return Promise.resolve({ kind: 'success' as const, value: calls });
      },
      {},
      time.env,
    );
    expect(result).toMatchObject({ kind: 'success', value: 2, attempts: 2 });
  });

  it('waits at least the receiver’s Retry-After', () => {
    expect(computeRetryDelayMillis(1, DEFAULT_RETRY_POLICY, 0, 7_000)).toBe(7_000);
    expect(computeRetryDelayMillis(1, DEFAULT_RETRY_POLICY, 0)).toBe(125);
    expect(computeRetryDelayMillis(30, DEFAULT_RETRY_POLICY, 0.999)).toBeLessThanOrEqual(10_000);
  });
});

describe('createDeliveryQueue', () => {
  it('returns at once, runs lanes independently, and keeps only the latest waiting job of a lane', async () => {
    const errors: string[] = [];
    const queue = createDeliveryQueue((lane, error) => errors.push(`${lane}: ${String(error)}`));
    const done: string[] = [];
    let releaseSlow: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });

    queue.enqueue('dead-gateway', async () => {
      await slow;
      done.push('dead-1');
    });
    queue.enqueue('dead-gateway', () => Promise.resolve(void done.push('dead-2')));
    queue.enqueue('dead-gateway', () => Promise.resolve(void done.push('dead-3')));
    queue.enqueue('slack', () => Promise.resolve(void done.push('slack')));
    queue.enqueue('broken', () => Promise.reject(new Error('boom')));
    expect(queue.pending).toBe(4);

    await new Promise((resolve) => setTimeout(resolve, 10));
    // The healthy lane finished while the slow one is still stuck.
    expect(done).toEqual(['slack']);
    expect(errors).toEqual(['broken: Error: boom']);

    releaseSlow();
    await queue.drain(1_000);
    expect(done).toEqual(['slack', 'dead-1', 'dead-3']);
    expect(queue.pending).toBe(0);
  });

  it('drain gives up after its timeout while a job hangs', async () => {
    const queue = createDeliveryQueue(() => {});
    queue.enqueue('hung', () => new Promise<void>(() => {}));
    const started = Date.now();
    await queue.drain(50);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(queue.pending).toBe(1);
  });
});

describe('webhook signature', () => {
  it('signs the timestamp with the body, and a receiver refuses tampering and replays', () => {
    const body = '{"pool":"p","version":3}';
    const signature = signWebhookBody('s3cret', '1700000000', body);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    const headers = { timestamp: '1700000000', signature };
    expect(verifyWebhookSignature('s3cret', body, headers, 1_700_000_100)).toBe(true);
    expect(verifyWebhookSignature('s3cret', body.replace('3', '4'), headers, 1_700_000_100)).toBe(false);
    expect(verifyWebhookSignature('other', body, headers, 1_700_000_100)).toBe(false);
    // Older than five minutes: a replay.
    expect(verifyWebhookSignature('s3cret', body, headers, 1_700_000_301)).toBe(false);
    // A fresh timestamp does not make an old signature valid.
    expect(
      verifyWebhookSignature('s3cret', body, { timestamp: '1700000200', signature }, 1_700_000_200),
    ).toBe(false);
    expect(verifyWebhookSignature('s3cret', body, { timestamp: undefined, signature }, 1_700_000_000)).toBe(
      false,
    );
  });
});
