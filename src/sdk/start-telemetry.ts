import { hostname } from 'node:os';
import { context, propagation, trace, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  TracerProvider,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { FailureReportingExporter, describeExportFailure } from './export-failures.ts';
import { invalidSetting, resolveExportSettings, type ExportEnvironment } from './export-settings.ts';

export interface TelemetryOptions {
  /**
   * OTLP/HTTP traces URL of headroom (or a collector). Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
   * else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else {@link DEFAULT_TRACES_ENDPOINT}.
   */
  endpoint?: string;
  /** Resource `service.name`: the gateway or application. */
  serviceName: string;
  /** Resource `service.instance.id`: the gateway node; default the host name. */
  serviceInstanceId?: string;
  /**
   * Export request headers, e.g. `{ authorization: 'Bearer <ingest token>' }`; they override those
   * of `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TRACES_HEADERS` of the same name.
   */
  headers?: Record<string, string>;
  /** Export encoding; only OTLP protobuf (`proto`) is offered. */
  exporter?: 'proto';
  /** How long `shutdown()` waits for the last spans to be exported; default 2000 ms. */
  shutdownTimeoutMillis?: number;
  /** Where the standard `OTEL_EXPORTER_OTLP_*` variables are read; default `process.env`. */
  env?: ExportEnvironment;
  /** Receives one line per kind of export failure; default `console.warn`. */
  warn?: (line: string) => void;
  /**
   * Largest batch of spans exported at once (default 512). A busy proxy sets it lower: a batch is
   * encoded in one go on the event loop, so smaller batches mean shorter pauses for the calls it
   * carries.
   */
  maxExportBatchSize?: number;
  /** Longest a span waits for its batch to fill, in ms (default 5 000). */
  scheduledDelayMillis?: number;
}

export interface Telemetry {
  /** Exports every span ended so far. Resolves even when the export fails (the failure is logged). */
  forceFlush(): Promise<void>;
  /**
   * Exports what is left, then stops. Resolves within `shutdownTimeoutMillis` even when nothing
   * answers (the spans not yet exported are dropped), and never rejects.
   */
  shutdown(): Promise<void>;
}

/**
 * Starts exporting spans to headroom as OTLP/HTTP protobuf through a batch span processor, and
 * registers the tracer provider (with an async-context manager and the W3C propagators) as
 * OpenTelemetry's global one, so {@link recordApiCall} and {@link instrumentFetch} spans flow to
 * headroom. Only spans of the contract (those with a `keypool.pool` attribute) are exported:
 * headroom would reject any other span, such as those provider SDKs emit on their own. Nothing else
 * is set up: no metrics, no logs, no auto-instrumentation, no resource detection. Export failures
 * (headroom down, overloaded, unauthorised) never reach the app: each kind is reported once through
 * `warn`. Spans beyond the processor's queue are dropped rather than held.
 *
 * Call it once per process, before the first instrumented call (again only after `shutdown()`). An
 * app that already runs its own OpenTelemetry SDK does not need it: the SDK's spans use whatever
 * provider is registered.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const serviceName = options.serviceName;
  if (typeof serviceName !== 'string' || serviceName.trim() === '') {
    throw invalidSetting('options.serviceName', serviceName, 'a non-empty string');
  }
  if (options.exporter !== undefined && options.exporter !== 'proto') {
    throw invalidSetting('options.exporter', options.exporter, '"proto"');
  }
  // The one place the SDK reads the app's environment: the variables every OpenTelemetry SDK honours.
  const settings = resolveExportSettings(options, options.env ?? process.env);
  const warn = options.warn ?? ((line: string) => console.warn(line));

  const exporter = new FailureReportingExporter(
    (timeoutMillis) => new OTLPTraceExporter({ url: settings.url, headers: settings.headers, timeoutMillis }),
    settings.url,
    warn,
  );
  const processor = new BatchSpanProcessor({
    exporter,
    ...(options.maxExportBatchSize === undefined ? {} : { maxExportBatchSize: options.maxExportBatchSize }),
    ...(options.scheduledDelayMillis === undefined
      ? {}
      : { scheduledDelayMillis: options.scheduledDelayMillis }),
  });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': serviceName,
      'service.instance.id': options.serviceInstanceId ?? hostname(),
    }),
    spanProcessors: [new ContractSpanFilter(processor)],
  });
  const unregister = registerGlobals(provider, warn);

  let shutdown: Promise<void> | undefined;
  return {
    forceFlush: () =>
      processor.forceFlush().catch((error: unknown) => exporter.report(describeExportFailure(error))),
    shutdown: () => {
      if (shutdown !== undefined) return shutdown;
      // The last exports end a little before shutdown gives up, so that their failure is the one reported.
      exporter.limitExportsTo(Math.max(1, Math.floor(settings.shutdownTimeoutMillis * 0.9)));
      return (shutdown = settleWithin(provider.shutdown(), settings.shutdownTimeoutMillis)
        .then((settled) => {
          if (!settled) {
            exporter.report({
              kind: `no answer within shutdownTimeoutMillis (${settings.shutdownTimeoutMillis} ms)`,
            });
          }
        })
        .catch((error: unknown) => exporter.report(describeExportFailure(error)))
        .finally(unregister));
    },
  };
}

/**
 * Registers the provider, context manager and propagator as OpenTelemetry's globals, each unless
 * the app registered its own; returns what undoes exactly those registrations.
 */
function registerGlobals(provider: TracerProvider, warn: (line: string) => void): () => void {
  const undo: (() => void)[] = [];
  if (trace.setGlobalTracerProvider(provider)) undo.push(() => trace.disable());
  else {
    warn(
      'headroom-sdk: another OpenTelemetry tracer provider is already registered; ' +
        "the SDK's spans go to it, not to startTelemetry's exporter",
    );
  }
  if (context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())) {
    undo.push(() => context.disable());
  }
  const propagator = new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
  if (propagation.setGlobalPropagator(propagator)) undo.push(() => propagation.disable());
  return () => undo.forEach((step) => step());
}

/** True when `promise` settles within `timeoutMillis`, false when the time ran out first. */
async function settleWithin(promise: Promise<unknown>, timeoutMillis: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMillis);
  });
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
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
