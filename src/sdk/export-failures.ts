import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/**
 * Passes spans on to the OTLP exporter and reports each kind of export failure once, as one line:
 * an app exporting while headroom is down would otherwise either hear nothing (OpenTelemetry logs
 * through `diag`, silent unless the app configured it) or a line per batch. Nothing here throws
 * into the exporting code.
 */
export class FailureReportingExporter implements SpanExporter {
  readonly #createExporter: (timeoutMillis?: number) => SpanExporter;
  #next: SpanExporter;
  readonly #url: string;
  readonly #warn: (line: string) => void;
  readonly #reported = new Set<string>();

  /**
   * `createExporter` makes the OTLP exporter: with no argument the one for the app's lifetime (its
   * own timeout, retries included), with one the exporter for the last spans at shutdown.
   */
  constructor(
    createExporter: (timeoutMillis?: number) => SpanExporter,
    url: string,
    warn: (line: string) => void,
  ) {
    this.#createExporter = createExporter;
    this.#next = createExporter();
    this.#url = url;
    this.#warn = warn;
  }

  /**
   * From now on, exports give up (retries included) within `timeoutMillis`: an exporter whose
   * retries outlive shutdown would keep the app's process alive after it.
   */
  limitExportsTo(timeoutMillis: number): void {
    const previous = this.#next;
    this.#next = this.#createExporter(timeoutMillis);
    previous.shutdown().catch((error: unknown) => this.report(describeExportFailure(error)));
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.#next.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.report(describeExportFailure(result.error));
      resultCallback(result);
    });
  }

  /** Writes the line for a kind of failure the first time it happens. */
  report(failure: ExportFailure): void {
    if (this.#reported.has(failure.kind)) return;
    this.#reported.add(failure.kind);
    try {
      this.#warn(
        `headroom-sdk: exporting spans to ${this.#url} failed: ${failure.kind}` +
          `${failure.hint === undefined ? '' : ` (${failure.hint})`}; those spans are dropped. ` +
          'Later failures of this kind are not reported.',
      );
    } catch {
      // A failing log sink must not reach the app either.
    }
  }

  shutdown(): Promise<void> {
    return this.#next.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#next.forceFlush?.() ?? Promise.resolve();
  }
}

export interface ExportFailure {
  /** What went wrong, stable across occurrences: `connection refused`, `HTTP 401`, `timeout`, … */
  kind: string;
  /** What to check. */
  hint?: string;
}

const NETWORK_FAILURES: Readonly<Record<string, ExportFailure>> = {
  ECONNREFUSED: { kind: 'connection refused', hint: 'is headroom running at that address?' },
  ENOTFOUND: { kind: 'host not found' },
  EAI_AGAIN: { kind: 'host not found' },
  ECONNRESET: { kind: 'connection reset' },
  EPIPE: { kind: 'connection reset' },
  ETIMEDOUT: { kind: 'timeout' },
  EHOSTUNREACH: { kind: 'host unreachable' },
  ENETUNREACH: { kind: 'host unreachable' },
};

/**
 * The kind of an OTLP export failure, from the error the exporter reports: a network error code,
 * an HTTP status (the exporter gives up on 429/502/503/504 only after retrying until its timeout,
 * without passing the status on), or its own timeout.
 */
export function describeExportFailure(error: unknown): ExportFailure {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
  };
  if (typeof fields.code === 'string') {
    return NETWORK_FAILURES[fields.code] ?? { kind: `network error ${fields.code}` };
  }
  if (typeof fields.code === 'number') {
    const status = fields.code;
    if (status === 401 || status === 403) {
      return {
        kind: `HTTP ${status}`,
        hint: 'check the ingest token: the headers option or OTEL_EXPORTER_OTLP_HEADERS',
      };
    }
    return { kind: `HTTP ${status}` };
  }
  const message = typeof fields.message === 'string' ? fields.message : String(error);
  if (/timed? ?out/i.test(message)) return { kind: 'timeout' };
  if (/retryable status/i.test(message)) {
    return { kind: 'overloaded', hint: 'HTTP 429, 502, 503 or 504 until the export timeout' };
  }
  return { kind: message };
}
