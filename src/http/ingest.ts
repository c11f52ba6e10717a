import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { encodeExportResponse, type Ingest, type PayloadEncoding } from '../ingest/index.ts';
import type { MetricsRegistry } from '../metrics/index.ts';

const gunzipAsync = promisify(gunzip);

/** OTLP/HTTP ingest: `POST /v1/traces` (protobuf or JSON, optionally gzipped), and its counters on /metrics. */
export async function ingestPlugin(
  scope: FastifyInstance,
  options: { config: Config; ingest: Ingest; metrics: MetricsRegistry },
): Promise<void> {
  const { config, ingest, metrics } = options;
  const bodyLimit = config.ingest.bodyLimitBytes;
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(
    ['application/x-protobuf', 'application/json'],
    { parseAs: 'buffer', bodyLimit },
    (_request, body, done) => done(null, body),
  );

  metrics.collect(() => {
    const stats = ingest.stats();
    return [
      counter('headroom_ingest_requests_total', 'OTLP export requests received.', stats.requests),
      counter('headroom_ingest_spans_accepted_total', 'Spans committed to ClickHouse.', stats.acceptedSpans),
      counter('headroom_ingest_spans_rejected_total', 'Spans rejected by validation.', stats.rejectedSpans),
      counter(
        'headroom_ingest_duplicate_requests_total',
        'Retried requests recognised and not re-counted.',
        stats.duplicateRequests,
      ),
      counter(
        'headroom_ingest_overloaded_requests_total',
        'Requests refused because the queue was full.',
        stats.overloadedRequests,
      ),
      counter(
        'headroom_ingest_unavailable_requests_total',
        'Requests refused because ClickHouse was unavailable.',
        stats.unavailableRequests,
      ),
      counter('headroom_ingest_batches_total', 'Group-commit inserts.', stats.batches),
      counter(
        'headroom_ingest_failed_batches_total',
        'Group-commit inserts that failed.',
        stats.failedBatches,
      ),
      counter(
        'headroom_ingest_isolated_batches_total',
        'Group-commit inserts ClickHouse refused because of some rows, split so the other rows commit.',
        stats.isolatedBatches,
      ),
      {
        name: 'headroom_ingest_queued_rows',
        help: 'Rows accepted and waiting for ClickHouse.',
        kind: 'gauge' as const,
        value: stats.queuedRows,
      },
    ];
  });

  scope.post('/v1/traces', { bodyLimit, config: { access: 'ingest' } }, async (request, reply) => {
    const encoding = payloadEncoding(request);
    const body = await decompress(request, bodyLimit);
    const result = await ingest.ingest(body, encoding);
    if (encoding === 'protobuf') {
      return reply
        .type('application/x-protobuf')
        .send(Buffer.from(encodeExportResponse(result.rejectedSpans, result.errorMessage)));
    }
    return reply.send(
      result.rejectedSpans > 0 || result.errorMessage !== ''
        ? { partialSuccess: { rejectedSpans: result.rejectedSpans, errorMessage: result.errorMessage } }
        : {},
    );
  });
}

function counter(name: string, help: string, value: number) {
  return { name, help, kind: 'counter' as const, value };
}

function payloadEncoding(request: FastifyRequest): PayloadEncoding {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/json' ? 'json' : 'protobuf';
}

async function decompress(request: FastifyRequest, bodyLimit: number): Promise<Buffer> {
  const body = request.body as Buffer;
  const contentEncoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (contentEncoding === 'identity' || contentEncoding === '') return body;
  if (contentEncoding !== 'gzip') {
    throw new HeadroomError(
      ErrorCode.unsupportedMediaType,
      `unsupported Content-Encoding ${JSON.stringify(contentEncoding)}: expected gzip or identity`,
      { statusCode: 415 },
    );
  }
  try {
    return await gunzipAsync(body, { maxOutputLength: bodyLimit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new HeadroomError(
        ErrorCode.payloadTooLarge,
        `request body is larger than the limit of ${bodyLimit} bytes once decompressed`,
        { statusCode: 413 },
      );
    }
    throw new HeadroomError(ErrorCode.malformedPayload, `malformed gzip body: ${(error as Error).message}`, {
      statusCode: 400,
      cause: error,
    });
  }
}
