import { describe, expect, it } from 'vitest';
import { runIngestFuzz } from '../support/fuzz-ingest.ts';

// A bounded slice of `npm run fuzz:ingest`: same generator, same invariants, fixed seed.
describe('ingest under mutated input', () => {
  it('never crashes, never answers 5xx but 503, and stores every acknowledged valid span exactly once', async () => {
    const report = await runIngestFuzz({ seed: 7, cases: 2000, concurrency: 8 });
    expect(report.violations).toEqual([]);
    expect(report.cases).toBe(2000);
    expect(report.crashes).toBe(0);
    expect(report.serverErrorsOther).toBe(0);
    expect(report.serverExitCode).toBe(0);
    // The slice exercised what it claims to: every category, valid spans and their retries.
    expect(Object.keys(report.byCategory).sort()).toEqual(
      [
        'bit-flips',
        'deep-nesting',
        'garbage',
        'gzip',
        'huge-values',
        'invalid-utf8',
        'json-shape',
        'magnitudes',
        'retry',
        'truncated',
        'valid',
        'wire-chaos',
      ].sort(),
    );
    expect(report.validSpansAcknowledged).toBeGreaterThan(1000);
    expect(report.retriesSent).toBeGreaterThan(20);
    expect(report.storedValidSpans).toBe(report.validSpansAcknowledged);
    expect(report.missingSpans + report.duplicatedSpans + report.unexpectedSpans).toBe(0);
    // Memory stays bounded: far below what a leak over 2,000 requests (some of megabytes) would reach.
    expect(report.rssPeakMb).toBeLessThan(1500);
  }, 240_000);
});
