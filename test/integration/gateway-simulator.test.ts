import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/config/index.ts';
import { KEY_HEADER, startGateway, type Gateway } from '../../src/gateway/index.ts';
import {
  createSimulator,
  parseScenario,
  startSimulatorServer,
  type SimStats,
  type SimulatorServer,
} from '../../src/simulator/index.ts';

// The provider simulator on a real port, behind the gateway: the oracle reads its buckets, and
// every strategy meets the simulator's real 429s and 401s.
const SCENARIO = {
  seed: 7,
  responses: { output_tokens: { min: 5, max: 10 } },
  latency: { base_ms: 1, per_output_token_ms: 0, jitter_ratio: 0 },
  keys: [
    {
      id: 'big',
      secret: 'sk-sim-big',
      provider: 'openai',
      limits: [{ dimension: 'requests', window: 'minute', limit: 1_000 }],
    },
    {
      id: 'small',
      secret: 'sk-sim-small',
      provider: 'openai',
      limits: [{ dimension: 'requests', window: 'minute', limit: 3 }],
    },
    { id: 'revoked', secret: 'sk-sim-revoked', provider: 'openai', revoked: true },
  ],
} as const;

describe('gateway ↔ provider simulator', () => {
  let sim: SimulatorServer;
  beforeAll(async () => {
    sim = await startSimulatorServer(createSimulator(parseScenario(SCENARIO), { startMs: Date.now() }));
  });
  afterAll(async () => {
    await sim.close();
  });

  const gatewayWith = (strategy: string): Promise<Gateway> =>
    startGateway(
      parseGatewayConfig(
        `
port: 0
simulator_poll_interval_ms: 20
pools:
  - name: sim
    strategy: ${strategy}
    simulator_url: ${sim.url}
    base_url: ${sim.url}/v1
    keys:
      - { id: big, secret: sk-sim-big }
      - { id: small, secret: sk-sim-small }
      - { id: revoked, secret: sk-sim-revoked }
`,
        'gateway.yaml',
        {},
      ),
    );

  const send = async (gateway: Gateway, n: number): Promise<Record<string, number>> => {
    const served: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await response.arrayBuffer();
      const key =
        response.status === 200 ? (response.headers.get(KEY_HEADER) ?? '?') : String(response.status);
      served[key] = (served[key] ?? 0) + 1;
    }
    return served;
  };
  const stats = async (): Promise<SimStats> =>
    (await (await fetch(`${sim.url}/sim/stats`)).json()) as SimStats;

  it('round-robin meets the revoked key and the small bucket, retries each once elsewhere, and drops the revoked key', async () => {
    const gateway = await gatewayWith('round-robin');
    try {
      const before = await stats();
      const served = await send(gateway, 12);
      // Every call is answered: the retry on another key absorbs each refusal.
      expect(served['big']! + (served['small'] ?? 0)).toBe(12);
      const after = await stats();
      const calls = (id: string): number =>
        (after.keys.find((k) => k.keyId === id)?.requests ?? 0) -
        (before.keys.find((k) => k.keyId === id)?.requests ?? 0);
      // The revoked key is tried once, then held out for auth_cooldown_ms.
      expect(calls('revoked')).toBe(1);
      expect(after.tooManyRequests.rateLimited - before.tooManyRequests.rateLimited).toBeGreaterThanOrEqual(
        1,
      );
    } finally {
      await gateway.close(100);
    }
  });

  it('oracle reads the buckets: never the revoked key, nothing refused', async () => {
    const gateway = await gatewayWith('oracle');
    try {
      await new Promise((r) => setTimeout(r, 200));
      const view = (await (await fetch(`${gateway.url}/admin/pools/sim`)).json()) as {
        source: string;
        keys: { key_id: string; weight: number }[];
      };
      expect(view.source).toBe('simulator');
      expect(view.keys.find((k) => k.key_id === 'revoked')?.weight).toBe(0);
      const before = await stats();
      const served = await send(gateway, 12);
      expect(served['revoked']).toBeUndefined();
      expect(Object.values(served).reduce((a, b) => a + b, 0)).toBe(12);
      const after = await stats();
      expect(after.keys.find((k) => k.keyId === 'revoked')?.requests ?? 0).toBe(
        before.keys.find((k) => k.keyId === 'revoked')?.requests ?? 0,
      );
      // Weighted by what each bucket has left, no call meets a 429.
      expect(after.tooManyRequests).toEqual(before.tooManyRequests);
    } finally {
      await gateway.close(100);
    }
  });
});
