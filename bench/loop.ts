/**
 * `npm run bench:loop`: the closed loop. Real per-client demand (ServeGen) → reference gateway →
 * provider simulator; the gateway's spans → headroom; headroom's advice → the gateway. Every
 * key-choice strategy runs the same seeded scenarios side by side; per-minute dynamics in real time
 * over real ports, day-long quota scenarios on a virtual clock through headroom's own store
 * (embedded ClickHouse) and analytics cycle. Prints a table, then one JSON line.
 *
 * A last real-time scenario, `haproxy`, runs a real HAProxy without headroom and with headroom pushing
 * over its Runtime API (skipped when haproxy is not installed).
 *
 * `BENCH_SCENARIOS=name,name` runs a subset.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { missingTraces } from './forecast/traces.ts';
import {
  HAPROXY_SCENARIO,
  HAPROXY_WITH,
  HAPROXY_WITHOUT,
  haproxyMissing,
  runHaproxyScenario,
} from './loop/haproxy.ts';
import { formatTable, type ScenarioResult } from './loop/metrics.ts';
import { runRealtime } from './loop/realtime.ts';
import { SCENARIOS, STRATEGIES } from './loop/scenarios.ts';
import { runVirtual } from './loop/virtual.ts';

const missing = missingTraces();
if (missing !== null) {
  process.stderr.write(`${missing}\n`);
  process.exit(1);
}

const only = process.env['BENCH_SCENARIOS']?.split(',').filter((s) => s !== '');
const child = process.env['BENCH_LOOP_CHILD'];

/**
 * Runs one scenario in a child process (each gets its own OpenTelemetry SDK and, for real-time runs,
 * its own headroom process) and reads its result from the child's last line of output.
 */
async function runChild(name: string): Promise<ScenarioResult> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_LOOP_CHILD: name },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  const last = output.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{'))
    throw new Error(`bench:loop: scenario ${name} failed (exit ${code})`);
  return JSON.parse(last) as ScenarioResult;
}

if (child === HAPROXY_SCENARIO) {
  process.stdout.write(`${JSON.stringify(await runHaproxyScenario())}\n`);
  process.exit(0);
}
if (child !== undefined) {
  const scenario = SCENARIOS.find((s) => s.name === child);
  if (scenario === undefined) throw new Error(`BENCH_LOOP_CHILD=${child}: no such scenario`);
  const result =
    scenario.clock === 'real'
      ? await runRealtime(scenario, STRATEGIES)
      : await runVirtual(scenario, STRATEGIES);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const chosen = SCENARIOS.filter((s) => only === undefined || only.includes(s.name));
const started = performance.now();
// Real-time scenarios one after the other (their latencies are real), then the day-long ones side by
// side (the virtual clock does not care how busy the machine is).
const results: ScenarioResult[] = [];
for (const scenario of chosen.filter((s) => s.clock === 'real')) {
  process.stderr.write(`bench:loop: ${scenario.name} (real time)\n`);
  results.push(await runChild(scenario.name));
}
const skipped: Record<string, string> = {};
if (only === undefined || only.includes(HAPROXY_SCENARIO)) {
  const missingHaproxy = haproxyMissing();
  if (missingHaproxy === undefined) {
    process.stderr.write(`bench:loop: ${HAPROXY_SCENARIO} (real time)\n`);
    results.push(await runChild(HAPROXY_SCENARIO));
  } else {
    process.stderr.write(`bench:loop: ${missingHaproxy}\n`);
    skipped[HAPROXY_SCENARIO] = missingHaproxy;
  }
}
const days = chosen.filter((s) => s.clock === 'virtual');
if (days.length > 0) {
  process.stderr.write(`bench:loop: ${days.map((s) => s.name).join(', ')} (virtual clock)\n`);
  results.push(...(await Promise.all(days.map((s) => runChild(s.name)))));
}

/** The targets, checked per scenario and reported as they are. */
function targets(r: ScenarioResult): Record<string, unknown> {
  const by = new Map(r.strategies.map((s) => [s.strategy, s]));
  const without = by.get(HAPROXY_WITHOUT);
  const pushed = by.get(HAPROXY_WITH);
  if (without !== undefined && pushed !== undefined) {
    return {
      client429_reduction_vs_haproxy_alone:
        without.client429 === 0 ? null : Math.round((1 - pushed.client429 / without.client429) * 1000) / 1000,
      fewer_429_with_push: pushed.client429 < without.client429,
      maint_and_back: r.haproxy?.maintAtMs !== null && r.haproxy?.readyAgainAtMs !== null,
    };
  }
  const headroom = by.get('headroom');
  const roundRobin = by.get('round-robin');
  const oracle = by.get('oracle');
  if (headroom === undefined) return {};
  if (!r.enoughCapacity) {
    return {
      pool_dry_min_lead_minutes: r.poolDry?.minLeadMinutes ?? null,
      pool_dry_lead_ok: (r.poolDry?.minLeadMinutes ?? -1) >= 60,
    };
  }
  const others = r.strategies.filter((s) => s.strategy !== 'headroom' && s.strategy !== 'oracle');
  const vsRoundRobin =
    roundRobin === undefined || roundRobin.client429 === 0
      ? null
      : 1 - headroom.client429 / roundRobin.client429;
  return {
    client429_reduction_vs_round_robin: vsRoundRobin === null ? null : Math.round(vsRoundRobin * 1000) / 1000,
    reduction_ok: vsRoundRobin === null ? headroom.client429 === 0 : vsRoundRobin >= 0.95,
    // Strictly fewer than each baseline; where a baseline also has none, the two tie at zero.
    fewer_than_every_baseline: others.every((s) => headroom.client429 < s.client429),
    no_more_than_any_baseline: others.every((s) => headroom.client429 <= s.client429),
    goodput_vs_oracle:
      oracle === undefined || oracle.ok === 0 ? null : Math.round((headroom.ok / oracle.ok) * 1000) / 1000,
    goodput_ok: oracle === undefined || oracle.ok === 0 ? null : headroom.ok >= 0.98 * oracle.ok,
  };
}

process.stdout.write(`${formatTable(results)}\n\n`);
const summary = {
  bench: 'loop',
  seconds: Math.round((performance.now() - started) / 1000),
  ...(Object.keys(skipped).length === 0 ? {} : { skipped }),
  scenarios: Object.fromEntries(
    results.map((r) => [
      r.scenario,
      {
        clock: r.clock,
        enough_capacity: r.enoughCapacity,
        strategies: Object.fromEntries(
          r.strategies.map((s) => [
            s.strategy,
            {
              requests: s.requests,
              client_429: s.client429,
              other_errors: s.clientOtherErrors,
              upstream_429: s.upstream429,
              wasted: s.wasted,
              goodput_per_s: Math.round(s.goodputPerSecond * 1000) / 1000,
              p95_ms: Math.round(s.p95Ms),
            },
          ]),
        ),
        ...(r.poolDry === undefined ? {} : { pool_dry: r.poolDry }),
        ...(r.falseDryCycles === undefined ? {} : { false_dry_cycles: r.falseDryCycles }),
        ...(r.haproxy === undefined
          ? {}
          : {
              haproxy: {
                spent_deployment: r.haproxy.spentDeployment,
                shares_without_pct: r.haproxy.sharesWithoutPct,
                shares_with_pct: r.haproxy.sharesWithPct,
                share_before_spent_without_pct: r.haproxy.shareBeforeSpentWithoutPct,
                share_before_spent_with_pct: r.haproxy.shareBeforeSpentWithPct,
                weighted_down_at_ms: r.haproxy.weightedDownAtMs,
                maint_at_ms: r.haproxy.maintAtMs,
                ready_again_at_ms: r.haproxy.readyAgainAtMs,
                reset_at_ms: r.haproxy.resetAtMs,
                pushes: r.haproxy.pushes,
                push_failures: r.haproxy.pushFailures,
              },
            }),
        targets: targets(r),
      },
    ]),
  ),
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
