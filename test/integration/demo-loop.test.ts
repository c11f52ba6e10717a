import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../src/cli/service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { loopPoolConfigLines, runLoopSegment, zoneWithLocalHour } from '../../src/demo/index.ts';
import { makeDataDir } from '../support/service.ts';

// The demo's closed-loop segment, as `headroom demo` runs it: the simulator and two gateways as
// child processes on loopback, headroom in this process. Both gateways get the same arrivals at
// the same moments, so a slow machine slows both alike.
describe('demo: the loop closing', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let service: Service | undefined;

  beforeAll(async () => {
    data = await makeDataDir('headroom-demo-loop-');
  });
  afterAll(async () => {
    await service?.close();
    await data.remove();
  });

  it('the gateway following headroom answers fewer 429s than round-robin on the same traffic', async () => {
    const timeZone = zoneWithLocalHour(Date.now(), 15);
    const configFile = join(data.dir, 'headroom.yaml');
    await writeFile(
      configFile,
      [
        'analytics: { interval_seconds: 5, history_days: 1 }',
        'pools:',
        ...loopPoolConfigLines(timeZone),
      ].join('\n'),
    );
    service = await startService(
      loadConfig({
        env: { HEADROOM_LOG_LEVEL: 'silent', HEADROOM_CONFIG: configFile },
        overrides: { host: '127.0.0.1', port: 0, dataDir: join(data.dir, 'db') },
      }),
      { scheduleAnalytics: false },
    );
    const running = service;
    const result = await runLoopSegment({
      headroomUrl: running.url,
      runCycle: async () => running.analytics?.runCycle(),
      dir: data.dir,
      timeZone,
    });

    const { roundRobin, headroom } = result;
    // The same arrivals, every one answered by each gateway, with a 200 or a 429 only.
    expect(headroom.requests).toBe(roundRobin.requests);
    expect(roundRobin.requests).toBeGreaterThan(100);
    for (const run of [roundRobin, headroom]) {
      expect(run.otherErrors).toBe(0);
      expect(run.ok + run.clientTooMany).toBe(run.requests);
    }
    // Round-robin keeps sending the small keys their share after their buckets are empty.
    expect(roundRobin.upstreamTooMany).toBeGreaterThan(10);
    expect(roundRobin.clientTooMany).toBeGreaterThan(0);
    expect(headroom.clientTooMany).toBeLessThan(roundRobin.clientTooMany);
    expect(headroom.upstreamTooMany).toBeLessThan(roundRobin.upstreamTooMany);
    // The advised gateway was following headroom's advice, not its own defaults, at the end.
    expect(result.weightSource).toMatch(/^advice v\d+$/);
    expect(result.finalWeights['big']).toBeGreaterThan(result.finalWeights['small-1'] ?? 1);
  }, 180_000);
});
