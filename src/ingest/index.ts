import { createHash } from 'node:crypto';
import type { IngestConfig } from '../config/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { Store } from '../store/index.ts';
import { MAX_FUTURE_SKEW_MS } from './columns.ts';
import { decodeExportRequestJson } from './decode-json.ts';
import { decodeExportRequestProtobuf } from './decode-protobuf.ts';
import { MalformedPayloadError, NotTraceRequestError, type DecodedSpan } from './decoded-span.ts';
import { GroupCommitter, type RefusedRows } from './group-commit.ts';
import { encodeProtobufRequestRows } from './protobuf-to-tsv.ts';
import type { EncodedRequestRows, RowContext } from './span-row.ts';
import { encodeDecodedSpans } from './span-to-row.ts';

export {
  ExportTraceServiceRequest,
  ExportTraceServiceResponse,
  encodeExportResponse,
} from './otlp-schema.ts';

export type PayloadEncoding = 'protobuf' | 'json';

/** The answer to one OTLP export: what was committed and what was rejected, and why. */
export interface IngestResult {
  acceptedSpans: number;
  rejectedSpans: number;
  /** Empty when nothing was rejected. */
  errorMessage: string;
  /** True when the same request was already committed: nothing was written again. */
  duplicate: boolean;
}

export interface IngestStats {
  requests: number;
  acceptedSpans: number;
  rejectedSpans: number;
  duplicateRequests: number;
  overloadedRequests: number;
  unavailableRequests: number;
  batches: number;
  failedBatches: number;
  /** Batches ClickHouse refused because of some rows, split until those rows were found. */
  isolatedBatches: number;
  queuedRows: number;
}

export interface Ingest {
  /** Recalls recently committed requests so that retries after a restart are still recognised. */
  start(): Promise<void>;
  /**
   * Decodes, validates and commits one OTLP export request (already decompressed). Resolves once its
   * rows are committed. Throws a {@link HeadroomError}: 400 for a malformed payload or one that is not
   * an OTLP trace request, 503 with `retryAfterSeconds` when overloaded or when ClickHouse is
   * unavailable.
   */
  ingest(body: Buffer, encoding: PayloadEncoding): Promise<IngestResult>;
  stats(): IngestStats;
  /** Commits everything accepted so far. */
  close(): Promise<void>;
}

const MAX_REPORTED_REJECTIONS = 5;
const DAY_MS = 86_400_000;

function describeRejections(rejected: number, spanCount: number, reported: readonly string[]): string {
  return rejected === 0
    ? ''
    : `${rejected} of ${spanCount} spans rejected: ${reported.join('; ')}${rejected > reported.length ? '; …' : ''}`;
}

/**
 * Decodes, checks and encodes one request. Protobuf takes the one-pass path when it can; anything it
 * declines (including malformed bytes) is decoded first, which also produces the 400 message. Both
 * go through the same row builder.
 */
function prepareRequest(body: Buffer, encoding: PayloadEncoding, context: RowContext): EncodedRequestRows {
  if (encoding === 'protobuf') {
    const encoded = encodeProtobufRequestRows(body, context);
    if (encoded !== undefined) return encoded;
  }
  let spans: DecodedSpan[];
  try {
    spans =
      encoding === 'protobuf'
        ? decodeExportRequestProtobuf(body)
        : decodeExportRequestJson(body.toString('utf8'));
  } catch (error) {
    if (error instanceof NotTraceRequestError) {
      throw new HeadroomError(ErrorCode.notTraceRequest, error.message, {
        statusCode: 400,
        cause: error,
        details: { expected: error.expected },
      });
    }
    if (error instanceof MalformedPayloadError) {
      throw new HeadroomError(ErrorCode.malformedPayload, error.message, {
        statusCode: 400,
        cause: error,
      });
    }
    throw error;
  }
  return encodeDecodedSpans(spans, context);
}

const MAX_REFUSAL_CHARS = 300;

/** `span <id>: refused by ClickHouse: …` for refused rows, the span id read from the row's fifth field. */
function describeRefusals(refused: RefusedRows, room: number): string[] {
  const reason = refused.error.message.split('\n')[0]?.slice(0, MAX_REFUSAL_CHARS) ?? '';
  return refused.lines.slice(0, room).map((line) => {
    const fields = line.toString('utf8', 0, Math.min(line.length, 4096)).split('\t');
    const spanId = fields[4] ?? '';
    return `span ${spanId === '' ? '(no id)' : spanId}: refused by ${reason}`;
  });
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

export function createIngest(options: {
  config: IngestConfig;
  store: Store;
  /** Spans older than this are refused: the table's TTL would drop them (default 30). */
  retentionDays?: number;
  now?: () => number;
}): Ingest {
  const { config, store } = options;
  const retentionDays = options.retentionDays ?? 30;
  const now = options.now ?? Date.now;
  const committer = new GroupCommitter({
    maxBatchRows: config.maxBatchRows,
    flushIntervalMillis: config.flushIntervalMillis,
    maxQueuedRows: config.maxQueuedRows,
    write: (chunks) => store.insertEncodedApiCalls(chunks),
  });
  const storeRefusal = (message: string, cause: Error): HeadroomError =>
    new HeadroomError(ErrorCode.storeQuery, message, {
      statusCode: 503,
      cause,
      details: { retryAfterSeconds: 5 },
    });

  /** Digest → when it was committed. Insertion order is commit order, so pruning walks from the front. */
  const committed = new Map<string, number>();
  /** Requests being committed right now: a concurrent retry waits for the first attempt. */
  const inFlight = new Map<string, Promise<IngestResult>>();
  /** Digests whose insert failed in a way that may still have committed (e.g. a lost server response). */
  const uncertain = new Set<string>();
  let unavailableUntilMs = 0;
  let backoffMs = MIN_BACKOFF_MS;
  let closing = false;
  const counters = {
    requests: 0,
    acceptedSpans: 0,
    rejectedSpans: 0,
    duplicateRequests: 0,
    overloadedRequests: 0,
    unavailableRequests: 0,
  };
  const dedupWindowMs = config.dedupWindowSeconds * 1000;
  const maxRemembered = 1_000_000;

  function remember(digest: string, atMs: number): void {
    committed.set(digest, atMs);
    const horizon = atMs - dedupWindowMs;
    for (const [d, t] of committed) {
      if (t >= horizon && committed.size <= maxRemembered) break;
      committed.delete(d);
    }
  }

  function unavailable(message: string, retryAfterSeconds: number, cause?: unknown): HeadroomError {
    counters.unavailableRequests++;
    return new HeadroomError(ErrorCode.storeUnavailable, message, {
      statusCode: 503,
      cause,
      details: { retryAfterSeconds },
    });
  }

  async function commit(
    digest: string,
    prepared: EncodedRequestRows,
    receivedAtMs: number,
  ): Promise<IngestResult> {
    const { rows, rejectedSpans: rejected, spanCount, rejections } = prepared;
    const errorMessage = describeRejections(rejected, spanCount, rejections);
    counters.rejectedSpans += rejected;
    if (rows === 0) return { acceptedSpans: 0, rejectedSpans: rejected, errorMessage, duplicate: false };

    if (uncertain.has(digest)) {
      const found = await store.hasRequestDigest(digest, receivedAtMs - dedupWindowMs).catch(() => undefined);
      if (found === undefined) throw unavailable('ClickHouse is unavailable; retry later', 1);
      if (found) {
        uncertain.delete(digest);
        remember(digest, receivedAtMs);
        counters.duplicateRequests++;
        return { acceptedSpans: rows, rejectedSpans: rejected, errorMessage, duplicate: true };
      }
    }

    const queued = committer.tryEnqueue(prepared.chunk, rows);
    if (queued === undefined) {
      counters.overloadedRequests++;
      throw new HeadroomError(
        ErrorCode.overloaded,
        `ingest queue is full (${committer.queuedRows} rows waiting for ClickHouse); retry later`,
        { statusCode: 503, details: { retryAfterSeconds: 1 } },
      );
    }
    const outcome = await queued;
    if (outcome.kind === 'committed') {
      unavailableUntilMs = 0;
      backoffMs = MIN_BACKOFF_MS;
      uncertain.delete(digest);
      remember(digest, now());
      const refused = outcome.refused?.lines.length ?? 0;
      counters.acceptedSpans += rows - refused;
      counters.rejectedSpans += refused;
      if (outcome.refused === undefined) {
        return { acceptedSpans: rows, rejectedSpans: rejected, errorMessage, duplicate: false };
      }
      const room = Math.max(0, MAX_REPORTED_REJECTIONS - rejections.length);
      return {
        acceptedSpans: rows - refused,
        rejectedSpans: rejected + refused,
        errorMessage: describeRejections(rejected + refused, spanCount, [
          ...rejections,
          ...describeRefusals(outcome.refused, room),
        ]),
        duplicate: false,
      };
    }
    if (outcome.kind === 'retryable') {
      uncertain.add(digest);
      if (unavailableUntilMs <= now()) {
        unavailableUntilMs = now() + backoffMs;
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      }
      throw unavailable(
        `ClickHouse is unavailable (${outcome.error.message}); nothing from this request was committed, retry later`,
        Math.max(1, Math.ceil((unavailableUntilMs - now()) / 1000)),
        outcome.error,
      );
    }
    // Not the request's fault (schema, permissions, …): the client keeps its data and retries.
    throw storeRefusal(
      `ClickHouse refused the insert (${outcome.error.message}); nothing from this request was committed, retry later`,
      outcome.error,
    );
  }

  return {
    async start() {
      if (dedupWindowMs === 0) return;
      const since = now() - dedupWindowMs;
      for (const { digest, committedAtMs } of await store.readRecentRequestDigests(since)) {
        committed.set(digest, committedAtMs);
      }
    },
    async ingest(body, encoding) {
      counters.requests++;
      if (closing) {
        throw new HeadroomError(
          ErrorCode.shuttingDown,
          'headroom is shutting down; retry against another instance',
          {
            statusCode: 503,
            details: { retryAfterSeconds: 1 },
          },
        );
      }
      // The digest is part of every row, so it comes first; ingested_at is when the request was read.
      const digest = createHash('sha256').update(encoding).update(body).digest('hex').slice(0, 32);
      const receivedAtMs = now();
      const prepared = prepareRequest(body, encoding, {
        digest,
        receivedAtMs,
        earliestMs: receivedAtMs - retentionDays * DAY_MS,
        latestMs: receivedAtMs + MAX_FUTURE_SKEW_MS,
        retentionDays,
        maxReported: MAX_REPORTED_REJECTIONS,
      });
      if (prepared.spanCount === 0)
        return { acceptedSpans: 0, rejectedSpans: 0, errorMessage: '', duplicate: false };

      if (committed.has(digest)) {
        counters.duplicateRequests++;
        return { acceptedSpans: prepared.spanCount, rejectedSpans: 0, errorMessage: '', duplicate: true };
      }
      const running = inFlight.get(digest);
      if (running !== undefined) {
        counters.duplicateRequests++;
        return { ...(await running), duplicate: true };
      }
      if (unavailableUntilMs > now()) {
        throw unavailable(
          'ClickHouse is unavailable; retry later',
          Math.max(1, Math.ceil((unavailableUntilMs - now()) / 1000)),
        );
      }
      const attempt = commit(digest, prepared, receivedAtMs);
      inFlight.set(digest, attempt);
      try {
        return await attempt;
      } finally {
        inFlight.delete(digest);
      }
    },
    stats() {
      return { ...counters, ...committer.stats, queuedRows: committer.queuedRows };
    },
    async close() {
      closing = true;
      await committer.flush();
    },
  };
}
