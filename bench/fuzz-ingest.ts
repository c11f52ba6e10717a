/**
 * Ingest fuzzing: `npm run fuzz:ingest [-- --seed N --cases N --concurrency N]`. Starts
 * `headroom serve` on a fresh embedded data directory and a loopback port, sends seeded mutated OTLP
 * requests (protobuf and JSON: truncation, bit flips, wrong wire types, invalid UTF-8, deep nesting,
 * huge values, every magnitude of time and number, gzip edge cases) with valid requests and retries
 * interleaved, then checks: no crash, no 5xx but 503, every acknowledged valid span stored exactly
 * once, server memory sampled. Prints a table, then one JSON line. Exits 1 when an invariant broke.
 */
import { parseArgs } from 'node:util';
import { runIngestFuzz } from '../test/support/fuzz-ingest.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '20261202' },
    cases: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '64' },
  },
});
const seed = Number(values.seed);
const cases = Number(values.cases);
const concurrency = Number(values.concurrency);
for (const [name, value] of Object.entries({ seed, cases, concurrency })) {
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} must be a non-negative integer`);
    process.exit(2);
  }
}

console.log(`fuzzing ingest: seed ${seed}, ${cases} cases, ${concurrency} connections`);
const report = await runIngestFuzz({ seed, cases, concurrency, progress: (line) => console.log(line) });

const statuses = [
  ...new Set(Object.values(report.byCategory).flatMap((c) => Object.keys(c.statuses))),
].sort();
const header = ['category'.padEnd(14), 'cases'.padStart(7), ...statuses.map((s) => s.padStart(7))].join(' ');
console.log(header);
for (const [category, stats] of Object.entries(report.byCategory)) {
  console.log(
    [
      category.padEnd(14),
      String(stats.cases).padStart(7),
      ...statuses.map((s) => String(stats.statuses[s] ?? 0).padStart(7)),
    ].join(' '),
  );
}
console.log(
  `valid: ${report.validRequests} requests + ${report.retriesSent} retries, ${report.validSpansAcknowledged} spans acknowledged, ` +
    `${report.storedValidSpans} stored (${report.missingSpans} missing, ${report.duplicatedSpans} twice, ${report.unexpectedSpans} unexpected)`,
);
console.log(
  `server: ${report.crashes} crashes, ${report.serverErrorsOther} 5xx other than 503, ${report.overloaded503} 503, ` +
    `rss ${report.rssStartMb.toFixed(0)} → peak ${report.rssPeakMb.toFixed(0)} → ${report.rssEndMb.toFixed(0)} MB, exit ${report.serverExitCode}`,
);
for (const violation of report.violations) console.log(`VIOLATION: ${violation}`);
console.log(
  JSON.stringify({
    bench: 'fuzz-ingest',
    seed: report.seed,
    cases: report.cases,
    seconds: Number(report.seconds.toFixed(1)),
    requests_per_second: Math.round(report.requestsPerSecond),
    crashes: report.crashes,
    server_errors_other_than_503: report.serverErrorsOther,
    overloaded_503: report.overloaded503,
    valid_requests: report.validRequests,
    retries: report.retriesSent,
    valid_spans_acknowledged: report.validSpansAcknowledged,
    valid_spans_stored: report.storedValidSpans,
    missing_spans: report.missingSpans,
    duplicated_spans: report.duplicatedSpans,
    unexpected_spans: report.unexpectedSpans,
    rss_start_mb: Math.round(report.rssStartMb),
    rss_peak_mb: Math.round(report.rssPeakMb),
    rss_end_mb: Math.round(report.rssEndMb),
    violations: report.violations.length,
  }),
);
process.exitCode = report.violations.length === 0 ? 0 : 1;
