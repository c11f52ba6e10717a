import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Config } from '../config/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { encodeExportResponse, type Ingest, type PayloadEncoding } from '../ingest/index.ts';
import type { Store } from '../store/index.ts';
import { bearerMatches } from '../auth/index.ts';
import { installErrorHandler } from './errors.ts';

const gunzipAsync = promisify(gunzip);

export interface AppDependencies {
  config: Config;
  store: Store;
  /** Absent when this process does not run the ingest role. */
  ingest?: Ingest;
  /** Pino logger options or `false`; defaults to the configured level. */
  logger?: boolean | { level: string };
}

export { registerApi } from './api.ts';

/** Builds the HTTP app without listening: tests drive it with `inject()` or a real port, `serve` calls `listen`. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, store, ingest } = deps;
  const app = Fastify({
    logger: deps.logger ?? (config.logLevel === 'silent' ? false : { level: config.logLevel }),
    bodyLimit: 1024 * 1024,
    // Per-request logs would dominate at ingest rates; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  installErrorHandler(app);

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const readiness = await store.checkReady();
    if (readiness.ready) return { status: 'ready' };
    return reply.status(503).send({
      code: ErrorCode.storeUnavailable,
      message: readiness.reason ?? 'not ready',
      status: 'not_ready',
    });
  });

  app.get('/metrics', async (_request, reply) => {
    const lines: string[] = [];
    if (ingest !== undefined) {
      const stats = ingest.stats();
      const metric = (name: string, type: string, help: string, value: number): void => {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
      };
      metric('headroom_ingest_requests_total', 'counter', 'OTLP export requests received.', stats.requests);
      metric(
        'headroom_ingest_spans_accepted_total',
        'counter',
        'Spans committed to ClickHouse.',
        stats.acceptedSpans,
      );
      metric(
        'headroom_ingest_spans_rejected_total',
        'counter',
        'Spans rejected by validation.',
        stats.rejectedSpans,
      );
      metric(
        'headroom_ingest_duplicate_requests_total',
        'counter',
        'Retried requests recognised and not re-counted.',
        stats.duplicateRequests,
      );
      metric(
        'headroom_ingest_overloaded_requests_total',
        'counter',
        'Requests refused because the queue was full.',
        stats.overloadedRequests,
      );
      metric(
        'headroom_ingest_unavailable_requests_total',
        'counter',
        'Requests refused because ClickHouse was unavailable.',
        stats.unavailableRequests,
      );
      metric('headroom_ingest_batches_total', 'counter', 'Group-commit inserts.', stats.batches);
      metric(
        'headroom_ingest_failed_batches_total',
        'counter',
        'Group-commit inserts that failed.',
        stats.failedBatches,
      );
      metric(
        'headroom_ingest_isolated_batches_total',
        'counter',
        'Group-commit inserts ClickHouse refused because of some rows, split so the other rows commit.',
        stats.isolatedBatches,
      );
      metric(
        'headroom_ingest_queued_rows',
        'gauge',
        'Rows accepted and waiting for ClickHouse.',
        stats.queuedRows,
      );
    }
    const memory = process.memoryUsage();
    lines.push(
      '# HELP headroom_process_resident_memory_bytes Resident set size.',
      '# TYPE headroom_process_resident_memory_bytes gauge',
      `headroom_process_resident_memory_bytes ${memory.rss}`,
    );
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });

  if (ingest !== undefined) {
    await app.register(async (scope) => registerTraces(scope, config, ingest));
  }

  return app;
}

async function registerTraces(scope: FastifyInstance, config: Config, ingest: Ingest): Promise<void> {
  const bodyLimit = config.ingest.bodyLimitBytes;
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(
    ['application/x-protobuf', 'application/json'],
    { parseAs: 'buffer', bodyLimit },
    (_request, body, done) => done(null, body),
  );

  if (config.ingest.tokens.length > 0) {
    scope.addHook('onRequest', async (request) => {
      if (!bearerMatches(request.headers.authorization, config.ingest.tokens)) {
        throw new HeadroomError(
          ErrorCode.unauthorized,
          'missing or invalid ingest token: send Authorization: Bearer <token> with one of HEADROOM_INGEST_TOKENS',
          { statusCode: 401 },
        );
      }
    });
  }

  scope.post('/v1/traces', { bodyLimit }, async (request, reply) => {
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
