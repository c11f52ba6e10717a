/**
 * headroom's client SDK (the package `@headroom/sdk`, built by packages/sdk): emits one OpenTelemetry span per upstream
 * API call with the span contract of DESIGN.md (GenAI conventions plus `keypool.*`), so headroom
 * can forecast when each key runs out.
 *
 * - {@link startTelemetry}: export spans to headroom (OTLP/HTTP protobuf) from this process;
 * - {@link instrumentFetch}: a `fetch` for the official OpenAI / Anthropic clients (or any code
 *   that takes a fetch) that records every call, streamed ones included;
 * - {@link recordApiCall}: for gateways that already hold the response, with
 *   {@link createUsageReader} to read token usage from the body they pass on.
 */

export { instrumentFetch } from './instrument-fetch.ts';
export type { FetchFunction, InstrumentFetchOptions } from './instrument-fetch.ts';
export { recordApiCall } from './record-api-call.ts';
export { readRequestModel } from './request-facts.ts';
export { createUsageReader } from './usage-reader.ts';
export type { ResponseUsage, UsageReader } from './usage-reader.ts';
export type { ApiCallFields, ApiCallRecord, KeyIdentity } from './record-api-call.ts';
export { DEFAULT_SHUTDOWN_TIMEOUT_MILLIS, DEFAULT_TRACES_ENDPOINT } from './export-settings.ts';
export type { ExportEnvironment } from './export-settings.ts';
export { startTelemetry } from './start-telemetry.ts';
export type { Telemetry, TelemetryOptions } from './start-telemetry.ts';
