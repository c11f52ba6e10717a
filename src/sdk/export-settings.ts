import { ErrorCode, HeadroomError } from '../errors/index.ts';

/** headroom's OTLP/HTTP port on loopback: where `headroom serve` listens by default. */
export const DEFAULT_TRACES_ENDPOINT = 'http://127.0.0.1:4318/v1/traces';

/** How long `shutdown()` waits for the last export by default. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MILLIS = 2_000;

/** The standard OpenTelemetry variables the SDK reads, as the app's environment holds them. */
export type ExportEnvironment = Readonly<Record<string, string | undefined>>;

export interface ExportSettings {
  /** OTLP/HTTP traces URL. */
  url: string;
  /** Export request headers, names in lower case. */
  headers: Record<string, string>;
  shutdownTimeoutMillis: number;
}

/**
 * Where and how spans are exported, as OpenTelemetry SDKs decide it: an option given in code wins
 * over the standard environment, which wins over the default. The traces endpoint variable is a
 * full URL; the generic one is a base to which `v1/traces` is appended. Header variables hold
 * `name=value` pairs separated by commas, values percent-encoded; the traces-specific variable and
 * then the code option override a header of the same name.
 */
export function resolveExportSettings(
  options: { endpoint?: string; headers?: Record<string, string>; shutdownTimeoutMillis?: number },
  env: ExportEnvironment,
): ExportSettings {
  const url = resolveEndpoint(options.endpoint, env);
  const headers: Record<string, string> = {};
  for (const source of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'] as const) {
    Object.assign(headers, parseHeaderList(env[source], source));
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (typeof value !== 'string') throw invalidSetting('options.headers', value, `a string for ${name}`);
    headers[name.toLowerCase()] = value;
  }
  const shutdownTimeoutMillis = options.shutdownTimeoutMillis ?? DEFAULT_SHUTDOWN_TIMEOUT_MILLIS;
  if (!Number.isFinite(shutdownTimeoutMillis) || shutdownTimeoutMillis < 0) {
    throw invalidSetting(
      'options.shutdownTimeoutMillis',
      shutdownTimeoutMillis,
      'a number of milliseconds >= 0',
    );
  }
  return { url, headers, shutdownTimeoutMillis };
}

function resolveEndpoint(option: string | undefined, env: ExportEnvironment): string {
  if (option !== undefined) return checkUrl(option, 'options.endpoint');
  const traces = nonEmpty(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
  if (traces !== undefined) return checkUrl(traces, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = nonEmpty(env['OTEL_EXPORTER_OTLP_ENDPOINT']);
  if (base !== undefined) {
    checkUrl(base, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    return `${base.endsWith('/') ? base : `${base}/`}v1/traces`;
  }
  return DEFAULT_TRACES_ENDPOINT;
}

function checkUrl(value: string, source: string): string {
  if (typeof value !== 'string' || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw invalidSetting(source, value, 'an http(s) URL such as http://127.0.0.1:4318/v1/traces');
  }
  return value;
}

function parseHeaderList(raw: string | undefined, source: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const entry of (raw ?? '').split(',')) {
    if (entry.trim() === '') continue;
    const equals = entry.indexOf('=');
    const name = entry.slice(0, Math.max(equals, 0)).trim().toLowerCase();
    if (equals < 0 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      throw invalidSetting(
        source,
        raw,
        'comma-separated name=value pairs, e.g. authorization=Bearer%20token',
      );
    }
    const value = entry.slice(equals + 1).trim();
    try {
      headers[name] = decodeURIComponent(value);
    } catch {
      throw invalidSetting(source, raw, `a percent-encoded value for ${name}`);
    }
  }
  return headers;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** A startTelemetry setting error naming where the value came from (`options.x` or a variable). */
export function invalidSetting(source: string, value: unknown, expected: string): HeadroomError {
  // Header values may carry an ingest token: the message names the variable, never echoes them.
  const shown = /HEADERS$|^options\.headers$/.test(source)
    ? 'a value'
    : (JSON.stringify(value) ?? typeof value);
  return new HeadroomError(
    ErrorCode.config,
    `startTelemetry: ${source} is invalid: got ${shown}, expected ${expected}`,
    { details: { field: source } },
  );
}
