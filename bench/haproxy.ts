/**
 * HAProxy without headroom vs with headroom pushing weights over the Runtime API: the same app
 * traffic through a real HAProxy to three deployments with their own quotas (one small, and
 * spent by another consumer part-way through the first window), run side by side.
 *
 *   npm run bench:haproxy              # table, then one JSON line
 */
import { DEFAULT_SCENARIO, runHaproxyLoop } from '../test/support/haproxy-loop.ts';
import { haproxyAvailable } from '../test/support/haproxy.ts';

if (!haproxyAvailable()) {
  console.error("haproxy not found: install Debian's haproxy (apt-get install -y haproxy)");
  process.exit(1);
}

const scenario = DEFAULT_SCENARIO;
const result = await runHaproxyLoop(scenario);
const rows = [
  ['round robin (HAProxy alone)', result.withoutHeadroom],
  ['headroom push (Runtime API)', result.withHeadroom],
] as const;
const spent = scenario.spentDeployment;
console.log(
  `${scenario.deployments.map((d) => `${d.name} ${d.limit}`).join(', ')} requests per ${scenario.windowMs / 1000} s window; ` +
    `${scenario.requestsPerSecond} req/s for ${scenario.durationMs / 1000} s; ${spent} spent by another consumer at ${scenario.spendAtMs / 1000} s`,
);
console.log(
  'strategy                     requests   ok   429s  429 %  share to ' +
    spent +
    ' once weighted down, before spent',
);
for (const [label, f] of rows) {
  console.log(
    `${label.padEnd(28)} ${String(f.requests).padStart(8)} ${String(f.ok).padStart(4)} ${String(f.rateLimited).padStart(6)} ` +
      `${((100 * f.rateLimited) / Math.max(1, f.requests)).toFixed(1).padStart(6)}  ${f.shareBeforeSpentPercent.toFixed(1)} %`,
  );
}
console.log(
  `${spent}: weighted down at ${result.weightedDownAtMs ?? '-'} ms, maint at ${result.maintAtMs ?? '-'} ms, ` +
    `ready again at ${result.readyAgainAtMs ?? '-'} ms (quota reset at ${result.resetAtMs} ms); ${result.pushes.length} pushes`,
);
console.log(
  JSON.stringify({
    bench: 'haproxy',
    requests: result.withHeadroom.requests,
    rate_limited_without_headroom: result.withoutHeadroom.rateLimited,
    rate_limited_with_headroom: result.withHeadroom.rateLimited,
    share_before_spent_without_pct: Number(result.withoutHeadroom.shareBeforeSpentPercent.toFixed(1)),
    share_before_spent_with_pct: Number(result.withHeadroom.shareBeforeSpentPercent.toFixed(1)),
    weighted_down_at_ms: result.weightedDownAtMs ?? null,
    maint_at_ms: result.maintAtMs ?? null,
    ready_again_at_ms: result.readyAgainAtMs ?? null,
    reset_at_ms: result.resetAtMs,
    pushes: result.pushes.length,
    push_failures: result.pushes.filter((p) => p.outcome !== 'success').length,
  }),
);
