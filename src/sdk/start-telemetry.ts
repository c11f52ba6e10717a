import { hostname } from 'node:os';
import { diag, type Context } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ErrorCode, HeadroomError } from '../errors/index.ts';

/** headroom's OTLP/HTTP port on loopback: where `headroom serve` listens by default. */
export const DEFAULT_TRACES_ENDPOINT = 'http://127.0.0.1:4318/v1/traces';

export interface TelemetryOptions {
  /** OTLP/HTTP traces URL of headroom (or a collector); default {@link DEFAULT_TRACES_ENDPOINT}. */
  endpoint?: string;
  /** Resource `service.name`: the gateway or application. */
  serviceName: string;
  /** Resource `service.instance.id`: the gateway node; default the host name. */
  serviceInstanceId?: string;
  /** Extra export request headers, e.g. `{ authorization: 'Bearer <ingest token>' }`. */
  headers?: Record<string, string>;
  /** Export encoding; only OTLP protobuf (`proto`) is offered. */
  exporter?: 'proto';
}

export interface Telemetry {
  /** Exports every span ended so far. Resolves even when the export fails (the failure is logged). */
  forceFlush(): Promise<void>;
  /** Flushes, then stops exporting. Resolves even when the last export fails. */
  shutdown(): Promise<void>;
}

/**
 * Starts an OpenTelemetry NodeSDK that exports spans to headroom as OTLP/HTTP protobuf through a
 * batch span processor and registers it as the global tracer provider, so {@link recordApiCall}
 * and {@link instrumentFetch} spans flow to headroom. Only spans of the contract (those with a
 * `keypool.pool` attribute) are exported: headroom would reject any other span, such as those
 * provider SDKs emit on their own. Nothing else is set up: no metrics, no logs, no
 * auto-instrumentation, no resource detection. Export failures (headroom down, overloaded,
 * unauthorised) are reported through OpenTelemetry's `diag` logger and never reach the app; spans
 * beyond the processor's queue are dropped rather than held.
 *
 * Call it once per process, before the first instrumented call. An app that already runs its own
 * OpenTelemetry SDK does not need it: the SDK's spans use whatever provider is registered.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const serviceName = options.serviceName;
  if (typeof serviceName !== 'string' || serviceName.trim() === '') {
    throw invalid('serviceName', serviceName, 'a non-empty string');
  }
  if (options.exporter !== undefined && options.exporter !== 'proto') {
    throw invalid('exporter', options.exporter, '"proto"');
  }
  const endpoint = options.endpoint ?? DEFAULT_TRACES_ENDPOINT;
  if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol)) {
    throw invalid('endpoint', endpoint, 'an http(s) URL such as http://127.0.0.1:4318/v1/traces');
  }

  const exporter = new OTLPTraceExporter({ url: endpoint, headers: { ...options.headers } });
  const processor = new BatchSpanProcessor({ exporter });
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      'service.name': serviceName,
      'service.instance.id': options.serviceInstanceId ?? hostname(),
    }),
    autoDetectResources: false,
    spanProcessors: [new ContractSpanFilter(processor)],
    instrumentations: [],
    // Explicitly empty: left undefined, NodeSDK would start OTLP metrics and logs exporters from env.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();

  let shutdown: Promise<void> | undefined;
  return {
    forceFlush: () => processor.forceFlush().catch((error: unknown) => reportExportFailure('flush', error)),
    shutdown: () =>
      (shutdown ??= sdk.shutdown().catch((error: unknown) => reportExportFailure('shutdown', error))),
  };
}

/** Passes on only the spans headroom accepts: those carrying `keypool.pool`. */
class ContractSpanFilter implements SpanProcessor {
  readonly #next: SpanProcessor;

  constructor(next: SpanProcessor) {
    this.#next = next;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (span.attributes['keypool.pool'] !== undefined) this.#next.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.#next.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#next.shutdown();
  }
}

function reportExportFailure(step: string, error: unknown): void {
  diag.warn(`headroom-sdk: span export failed during ${step}; the spans are dropped`, error);
}

function invalid(name: string, value: unknown, expected: string): HeadroomError {
  return new HeadroomError(
    ErrorCode.config,
    `startTelemetry: options.${name} is invalid: got ${JSON.stringify(value) ?? typeof value}, expected ${expected}`,
    { details: { field: name } },
  );
}
