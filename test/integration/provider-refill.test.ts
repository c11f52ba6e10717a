import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHeadroomFile } from '../../src/config/index.ts';
import { buildRequest, encodeProtobuf } from '../support/otlp.ts';
import { startTestService } from '../support/service.ts';

interface KeysBody {
  keys: Array<{
    key_id: string;
    state: string | null;
    quotas: Array<{
      quota_id: string;
      source: string;
      refilled: boolean;
      limit: number;
      remaining: number;
      reset_at: string;
    }>;
  }>;
}

describe('a provider-reported bucket after its reset', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  // Cycles run only when the test asks, at the instants it chooses.
  beforeAll(async () => {
    service = await startTestService({
      file: parseHeadroomFile('analytics: { interval_seconds: 3600 }', 't'),
    });
  });
  afterAll(async () => {
    await service.cleanup();
  });

  const keyAt = async (nowMs: number): Promise<KeysBody['keys'][number] | undefined> => {
    expect((await service.analytics?.runCycle(nowMs))?.outcome).toBe('success');
    const body = (await (await fetch(`${service.url}/v1/keys?pool=refill`)).json()) as KeysBody;
    return body.keys.find((k) => k.key_id === 'k1');
  };

  it('stays in /v1/keys as a full bucket, marked refilled, with its next reset one window on', async () => {
    const observedMs = Date.now() - 1_000;
    const resetAtMs = observedMs + 30_000;
    const response = await fetch(`${service.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: encodeProtobuf(
        buildRequest({ 'service.name': 'gw' }, [
          {
            startMs: observedMs,
            attributes: {
              'keypool.pool': 'refill',
              'keypool.key.id': 'k1',
              'gen_ai.provider.name': 'openai',
              'keypool.ratelimit.requests.limit': 100,
              'keypool.ratelimit.requests.remaining': 40,
              'keypool.ratelimit.requests.reset_at_ms': resetAtMs,
            },
          },
        ]),
      ),
    });
    expect(response.status).toBe(200);

    const before = await keyAt(observedMs + 5_000);
    expect(before?.quotas).toMatchObject([
      { quota_id: 'provider_requests', source: 'provider', refilled: false, limit: 100, remaining: 40 },
    ]);
    expect(before?.quotas[0]?.reset_at).toBe(new Date(resetAtMs).toISOString());

    const after = await keyAt(resetAtMs + 15_000);
    expect(after?.quotas).toMatchObject([
      { quota_id: 'provider_requests', source: 'provider', refilled: true, limit: 100, remaining: 100 },
    ]);
    // The bucket was reported 31 s before its reset: a per-minute bucket, next reset a minute later.
    expect(after?.quotas[0]?.reset_at).toBe(new Date(resetAtMs + 60_000).toISOString());
    expect(after?.state).toBe('active');

    const later = await keyAt(resetAtMs + 150_000);
    expect(later?.quotas[0]).toMatchObject({ refilled: true, remaining: 100 });
    expect(later?.quotas[0]?.reset_at).toBe(new Date(resetAtMs + 180_000).toISOString());
  });
});
