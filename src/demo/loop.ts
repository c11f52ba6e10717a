import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRandom } from '../forecast/index.ts';
import type { ScenarioInput, SimStats } from '../simulator/index.ts';
import { arrivals } from './traffic.ts';

/** The pool of the closed-loop segment, in headroom and in both gateways. */
export const LOOP_POOL = 'loop';

/** One key of the loop's pool at the provider simulator. */
interface LoopKey {
  id: string;
  requestsPerMinute: number;
  /**
   * The project the key draws on, whose daily request quota has this much left: a key about to run
   * dry. No provider header reports a daily quota: headroom has it from its configuration.
   */
  project?: { id: string; requestsLeftToday: number };
}

// Per-minute buckets start full, so the small ones are only a few requests deep: under an even
// split they are empty within seconds, and a short run shows what a long one would.
const LOOP_KEYS: readonly LoopKey[] = [
  { id: 'big', requestsPerMinute: 600 },
  { id: 'mid', requestsPerMinute: 60 },
  { id: 'small-1', requestsPerMinute: 6 },
  { id: 'small-2', requestsPerMinute: 6 },
  { id: 'small-3', requestsPerMinute: 6 },
  { id: 'small-4', requestsPerMinute: 6 },
  { id: 'dry', requestsPerMinute: 600, project: { id: 'dry-project', requestsLeftToday: 10 } },
];

/** The two gateways: today's rotation, and the same gateway following headroom's advice. */
const RUNS = [
  { name: 'round-robin', prefix: 'rr' },
  { name: 'headroom', prefix: 'hr' },
] as const;
type RunName = (typeof RUNS)[number]['name'];

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

/** What one gateway's clients and its upstream saw over the run. */
export interface LoopRunResult {
  strategy: RunName;
  requests: number;
  /** Answers 200. */
  ok: number;
  /** 429s the clients got, after the gateway's one retry on another key. */
  clientTooMany: number;
  /** Any other answer (or none). */
  otherErrors: number;
  upstreamCalls: number;
  /** 429s the provider answered the gateway (rate limits and exhausted quotas). */
  upstreamTooMany: number;
}

export interface LoopComparison {
  seconds: number;
  requestsPerSecond: number;
  roundRobin: LoopRunResult;
  headroom: LoopRunResult;
  /** The advised weights the headroom gateway followed at the end, by key. */
  finalWeights: Record<string, number>;
  /** Where those weights came from, as the gateway's admin API says (`advice vN`, `defaults …`). */
  weightSource: string;
}

export interface LoopSegmentOptions {
  /** The running headroom the advice-following gateway sends spans to and polls. */
  headroomUrl: string;
  /** Runs one analytics cycle of that headroom; called about once a second during the run. */
  runCycle: () => Promise<unknown>;
  /** A directory for the scenario and gateway files. */
  dir: string;
  /** Zone of the daily quota, in which it is not about to be midnight (see `zoneWithLocalHour`). */
  timeZone: string;
  /** Length of the traffic, default 30 s. */
  seconds?: number;
  /** Mean arrival rate (Poisson), default 6 per second. */
  requestsPerSecond?: number;
  seed?: number;
  /** Lines for humans as the segment goes. */
  log?: (line: string) => void;
}

/**
 * The headroom configuration lines (under `pools:`) of the loop's pool: the daily quota of the
 * project about to run dry. The keys and their per-minute limits headroom learns from the gateway's
 * spans (the provider's headers), so none is listed.
 */
export function loopPoolConfigLines(timeZone: string): string[] {
  return [
    `  - name: ${LOOP_POOL}`,
    '    partitions:',
    ...LOOP_KEYS.flatMap((k) =>
      k.project === undefined
        ? []
        : [
            `      - id: ${k.project.id}`,
            `        quotas: [{ dimension: requests, window: day, limit: ${k.project.requestsLeftToday}, time_zone: ${timeZone} }]`,
          ],
    ),
  ];
}

/** One line per key: what the provider allows it. */
export function describeLoopKeys(): string {
  return LOOP_KEYS.map((k) =>
    k.project === undefined
      ? `${k.id} ${k.requestsPerMinute} RPM`
      : `${k.id} ${k.requestsPerMinute} RPM on ${k.project.id}, which has ${k.project.requestsLeftToday} requests left today`,
  ).join(', ');
}

const secretOf = (prefix: string, key: LoopKey): string => `sk-demo-${prefix}-${key.id}-not-a-real-key`;
const secretEnvOf = (prefix: string, key: LoopKey): string =>
  `DEMO_${prefix.toUpperCase()}_${key.id.replace(/\W/g, '_').toUpperCase()}`;

/** Both runs' copies of the keys at one simulator, so that neither draws on the other's buckets. */
function simulatorScenario(timeZone: string, seed: number): ScenarioInput {
  return {
    seed,
    responses: { output_tokens: { min: 20, max: 60 } },
    latency: { base_ms: 30, per_output_token_ms: 0.5, jitter_ratio: 0.3 },
    quotas: RUNS.flatMap((run) =>
      LOOP_KEYS.flatMap((key) =>
        key.project === undefined
          ? []
          : [
              {
                id: `${run.prefix}-${key.project.id}`,
                limits: [
                  {
                    dimension: 'requests' as const,
                    window: 'day' as const,
                    limit: key.project.requestsLeftToday,
                    time_zone: timeZone,
                  },
                ],
              },
            ],
      ),
    ),
    keys: RUNS.flatMap((run) =>
      LOOP_KEYS.map((key) => ({
        id: `${run.prefix}-${key.id}`,
        secret: secretOf(run.prefix, key),
        provider: 'openai' as const,
        quotas: key.project === undefined ? [] : [`${run.prefix}-${key.project.id}`],
        limits: [{ dimension: 'requests' as const, window: 'minute' as const, limit: key.requestsPerMinute }],
      })),
    ),
  };
}

/** The gateway's file: no weights, no limits: it knows its keys' secrets and nothing else. */
function gatewayConfig(
  run: (typeof RUNS)[number],
  simulatorUrl: string,
  headroomUrl: string,
): Record<string, unknown> {
  return {
    host: '127.0.0.1',
    port: 0,
    node_id: `demo-${run.prefix}`,
    ...(run.name === 'headroom'
      ? { headroom: { url: headroomUrl, poll_interval_ms: 250, spans: true } }
      : {}),
    pools: [
      {
        name: LOOP_POOL,
        strategy: run.name,
        base_url: `${simulatorUrl}/v1`,
        keys: LOOP_KEYS.map((key) => ({
          id: key.id,
          secret_env: secretEnvOf(run.prefix, key),
          ...(key.project === undefined ? {} : { partition: key.project.id }),
        })),
      },
    ],
  };
}

/** The `headroom` command line this module ships with (source or built). */
function cliPath(): string {
  return fileURLToPath(new URL(`../cli/main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
}

interface Child {
  process: ChildProcess;
  url: string;
}

/** Starts `headroom <args>` and resolves with the URL it prints once it listens. */
function startCli(args: readonly string[], env: Record<string, string>): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath(), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`headroom ${args[0]} did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output}`));
    }, STARTUP_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = / listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1] === undefined) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve({ process: child, url: match[1] });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`headroom ${args[0]} exited with ${code}:\n${output}`));
    });
  });
}

function stopCli(child: Child): Promise<void> {
  const running = child.process;
  if (running.exitCode !== null || running.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => running.kill('SIGKILL'), STOP_TIMEOUT_MS);
    running.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    running.kill('SIGTERM');
  });
}

class Tally {
  requests = 0;
  ok = 0;
  clientTooMany = 0;
  otherErrors = 0;

  record(status: number): void {
    this.requests++;
    if (status === 200) this.ok++;
    else if (status === 429) this.clientTooMany++;
    else this.otherErrors++;
  }
}

function upstreamOf(stats: SimStats, prefix: string): { calls: number; tooMany: number } {
  let calls = 0;
  let tooMany = 0;
  for (const key of stats.keys) {
    if (!key.keyId.startsWith(`${prefix}-`)) continue;
    calls += key.requests;
    tooMany += key.outcomes.rate_limited + key.outcomes.quota_exhausted + key.outcomes.spend_cap;
  }
  return { calls, tooMany };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The loop closing, on loopback: `headroom simulate-provider` with a small pool whose keys have
 * different per-minute limits (one of them about to run out of its daily quota), and two
 * `headroom gateway` processes in front of it, one rotating its keys round-robin, the other
 * following headroom's advice (sending headroom its spans and polling the advice). Both get the
 * same seeded arrivals at the same moments, each on its own copies of the keys; headroom's analytics
 * cycle runs about once a second meanwhile.
 */
export async function runLoopSegment(options: LoopSegmentOptions): Promise<LoopComparison> {
  const seconds = options.seconds ?? 30;
  const requestsPerSecond = options.requestsPerSecond ?? 6;
  const seed = options.seed ?? 11;
  const log = options.log ?? (() => {});
  const scenarioFile = join(options.dir, 'loop-provider.json');
  await writeFile(scenarioFile, JSON.stringify(simulatorScenario(options.timeZone, seed), null, 2));

  const children: Child[] = [];
  try {
    const simulator = await startCli(['simulate-provider', '--scenario', scenarioFile, '--port', '0'], {});
    children.push(simulator);
    const gateways = new Map<RunName, Child>();
    // Settled, not all: a gateway that fails to start must not leave the other one running.
    const started = await Promise.allSettled(
      RUNS.map(async (run) => {
        const file = join(options.dir, `loop-gateway-${run.prefix}.json`);
        await writeFile(
          file,
          JSON.stringify(gatewayConfig(run, simulator.url, options.headroomUrl), null, 2),
        );
        const secrets = Object.fromEntries(
          LOOP_KEYS.map((key) => [secretEnvOf(run.prefix, key), secretOf(run.prefix, key)]),
        );
        const gateway = await startCli(['gateway', '--config', file], secrets);
        children.push(gateway);
        gateways.set(run.name, gateway);
      }),
    );
    for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
    log(
      `provider simulator at ${simulator.url}; gateways at ${RUNS.map((r) => `${gateways.get(r.name)?.url} (${r.name})`).join(', ')}`,
    );

    const times = arrivals(
      { keyId: LOOP_POOL, partition: LOOP_POOL, requestsPerHour: requestsPerSecond * 3_600 },
      0,
      seconds * 1_000,
      createRandom(seed),
    );
    const tallies = new Map(RUNS.map((run) => [run.name, new Tally()]));
    let trafficDone = false;
    const cycles = (async () => {
      while (!trafficDone) {
        await options.runCycle().catch(() => undefined);
        await sleep(1_000);
      }
    })();

    const inFlight = new Set<Promise<void>>();
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      max_tokens: 60,
      messages: [{ role: 'user', content: 'Summarise the incident in one line.' }],
    });
    const send = (run: RunName): void => {
      const url = `${gateways.get(run)?.url}/v1/chat/completions`;
      const call = fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        .then(async (response) => {
          await response.arrayBuffer();
          tallies.get(run)?.record(response.status);
        })
        .catch(() => tallies.get(run)?.record(0))
        .finally(() => inFlight.delete(call));
      inFlight.add(call);
    };
    const startedAt = performance.now();
    for (const [i, atMs] of times.entries()) {
      const waitMs = atMs - (performance.now() - startedAt);
      if (waitMs > 0) await sleep(waitMs);
      // Both gateways get every request at the same moment; which one first alternates.
      const order = i % 2 === 0 ? RUNS : [...RUNS].reverse();
      for (const run of order) send(run.name);
    }
    await Promise.all([...inFlight]);
    trafficDone = true;
    await cycles;

    const stats = (await (await fetch(`${simulator.url}/sim/stats`)).json()) as SimStats;
    const view = (await (
      await fetch(`${gateways.get('headroom')?.url}/admin/pools/${LOOP_POOL}`)
    ).json()) as { source: string; keys: Array<{ key_id: string; weight: number }> };
    const resultOf = (run: (typeof RUNS)[number]): LoopRunResult => {
      const tally = tallies.get(run.name) as Tally;
      const upstream = upstreamOf(stats, run.prefix);
      return {
        strategy: run.name,
        requests: tally.requests,
        ok: tally.ok,
        clientTooMany: tally.clientTooMany,
        otherErrors: tally.otherErrors,
        upstreamCalls: upstream.calls,
        upstreamTooMany: upstream.tooMany,
      };
    };
    return {
      seconds,
      requestsPerSecond,
      roundRobin: resultOf(RUNS[0]),
      headroom: resultOf(RUNS[1]),
      finalWeights: Object.fromEntries(view.keys.map((k) => [k.key_id, k.weight])),
      weightSource: view.source,
    };
  } finally {
    await Promise.all(children.map((child) => stopCli(child)));
  }
}

function pad(text: string, width: number, right = false): string {
  if (text.length >= width) return text;
  const fill = ' '.repeat(width - text.length);
  return right ? fill + text : text + fill;
}

/** The comparison as a small table, and the line saying how many 429s headroom prevented. */
export function formatLoopComparison(comparison: LoopComparison): string[] {
  const { roundRobin, headroom } = comparison;
  const row = (label: string, r: LoopRunResult): string =>
    `${pad(label, 22)}${pad(String(r.clientTooMany), 11, true)}${pad(`${r.upstreamTooMany} of ${r.upstreamCalls}`, 16, true)}` +
    `${pad(`${(r.ok / comparison.seconds).toFixed(2)}/s (${r.ok} of ${r.requests})`, 22, true)}`;
  const prevented = roundRobin.clientTooMany - headroom.clientTooMany;
  const share = roundRobin.clientTooMany === 0 ? 0 : (100 * prevented) / roundRobin.clientTooMany;
  const weights = Object.entries(comparison.finalWeights)
    .map(([key, weight]) => `${key} ${weight.toFixed(3)}`)
    .join(', ');
  return [
    `${pad('gateway strategy', 22)}${pad('client 429s', 11, true)}${pad('upstream 429s', 16, true)}${pad('goodput', 22, true)}`,
    row('round-robin', roundRobin),
    row("headroom's advice", headroom),
    `weights the advised gateway ended on (${comparison.weightSource}): ${weights}`,
    prevented > 0
      ? `headroom prevented ${prevented} of round-robin's ${roundRobin.clientTooMany} client-visible 429s (${share.toFixed(0)} %) on the same traffic.`
      : `headroom prevented no client-visible 429s here (round-robin ${roundRobin.clientTooMany}, headroom ${headroom.clientTooMany}).`,
  ];
}

/** The demo's step: says what runs, runs it, prints the comparison. */
export async function printLoopSegment(
  options: Omit<LoopSegmentOptions, 'log'> & { print: (line: string) => void },
): Promise<LoopComparison> {
  const { print } = options;
  const seconds = options.seconds ?? 30;
  print(
    `\n5. The loop closing: ${seconds} s of the same seeded traffic through two reference gateways in front of the provider simulator,`,
  );
  print(`   one rotating its keys round-robin, one sending headroom its spans and following its advice.`);
  print(`   Pool "${LOOP_POOL}" at the provider: ${describeLoopKeys()}.`);
  print(
    `   Neither gateway is told any limit; headroom learns the per-minute ones from the provider's headers.`,
  );
  const comparison = await runLoopSegment({ ...options, log: (line) => print(`   ${line}`) });
  for (const line of formatLoopComparison(comparison)) print(`   ${line}`);
  return comparison;
}
