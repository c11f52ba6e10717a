/**
 * Readers for the public traces in `bench/traces` (see its README for their licences):
 * ServeGen per-client windows, the Azure LLM inference trace 2023 and Mooncake's conversation trace.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const TRACES_URL = new URL('../traces/', import.meta.url);

/** Absolute path of a trace file; exits with a clear message when the traces are not there. */
export function tracePath(relative: string): string {
  const path = fileURLToPath(new URL(relative, TRACES_URL));
  if (!existsSync(path)) {
    throw new Error(
      `bench:forecast needs the public traces in ${fileURLToPath(TRACES_URL)}, which are part of ` +
        `the repository (missing ${relative})`,
    );
  }
  return path;
}

/** Every trace file the back-test reads. */
const TRACE_FILES = [
  'servegen/client_windows.csv.gz',
  'azure-llm-2023/AzureLLMInferenceTrace_code.csv',
  'azure-llm-2023/AzureLLMInferenceTrace_conv.csv',
  'mooncake-conversation/conversation_trace.jsonl.gz',
];

/** Null when every trace is there, else what is missing and where it was looked for. */
export function missingTraces(): string | null {
  for (const file of TRACE_FILES) {
    try {
      tracePath(file);
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
  return null;
}

function readText(relative: string): string {
  const path = tracePath(relative);
  const raw = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
}

/** Lines of a CSV with a header, as records of named string fields. Fields hold no quotes or commas. */
function parseCsv(text: string): { header: string[]; rows: string[][] } {
  const lines = text.split('\n').filter((line) => line.length > 0);
  const header = (lines[0] ?? '').trim().split(',');
  return { header, rows: lines.slice(1).map((line) => line.trim().split(',')) };
}

function column(header: string[], name: string, file: string): number {
  const index = header.indexOf(name);
  if (index < 0)
    throw new Error(`bench:forecast: ${file} has no column ${name} (header: ${header.join(',')})`);
  return index;
}

export const SERVEGEN_WINDOW_S = 600;
export const SERVEGEN_DAYS = 14;
export const SERVEGEN_WINDOWS_PER_DAY = 86_400 / SERVEGEN_WINDOW_S;

/** Inter-arrival distribution of one ten-minute window: 0 idle, 1 Weibull, 2 Gamma. */
export const IAT_IDLE = 0;
export const IAT_WEIBULL = 1;
export const IAT_GAMMA = 2;

/** One ServeGen client: its ten-minute windows over the 14 days, indexed by `window_start_s / 600`. */
export interface ServegenClient {
  id: string;
  rateRps: Float64Array;
  iatDist: Uint8Array;
  /** Weibull shape or Gamma shape. */
  iatShape: Float64Array;
}

export function readServegenClients(): ServegenClient[] {
  const file = 'servegen/client_windows.csv.gz';
  const { header, rows } = parseCsv(readText(file));
  const col = {
    model: column(header, 'model', file),
    client: column(header, 'client_id', file),
    start: column(header, 'window_start_s', file),
    rate: column(header, 'rate_rps', file),
    dist: column(header, 'iat_dist', file),
    param1: column(header, 'iat_param1', file),
  };
  const windows = SERVEGEN_DAYS * SERVEGEN_WINDOWS_PER_DAY;
  const clients = new Map<string, ServegenClient>();
  for (const row of rows) {
    const id = `${row[col.model] ?? ''}/${row[col.client] ?? ''}`;
    let client = clients.get(id);
    if (client === undefined) {
      client = {
        id,
        rateRps: new Float64Array(windows),
        iatDist: new Uint8Array(windows),
        iatShape: new Float64Array(windows),
      };
      clients.set(id, client);
    }
    const index = Math.round(Number(row[col.start]) / SERVEGEN_WINDOW_S);
    const rate = Number(row[col.rate]);
    if (!(index >= 0 && index < windows) || !(rate > 0)) continue;
    const dist = row[col.dist];
    const shape = Number(row[col.param1]);
    client.rateRps[index] = rate;
    if ((dist === 'Weibull' || dist === 'Gamma') && shape > 0) {
      client.iatDist[index] = dist === 'Weibull' ? IAT_WEIBULL : IAT_GAMMA;
      client.iatShape[index] = shape;
    } else {
      // A window with traffic but no fitted distribution: Poisson arrivals.
      client.iatDist[index] = IAT_GAMMA;
      client.iatShape[index] = 1;
    }
  }
  return [...clients.values()];
}

/** One request of a minute-level trace: ms since the trace's first minute, and its tokens. */
export interface TraceRequest {
  atMs: number;
  tokens: number;
}

/** Azure LLM inference trace 2023 (`code` or `conv`): TIMESTAMP (UTC), ContextTokens, GeneratedTokens. */
export function readAzureTrace(kind: 'code' | 'conv'): TraceRequest[] {
  const file = `azure-llm-2023/AzureLLMInferenceTrace_${kind}.csv`;
  const { header, rows } = parseCsv(readText(file));
  const col = {
    time: column(header, 'TIMESTAMP', file),
    context: column(header, 'ContextTokens', file),
    generated: column(header, 'GeneratedTokens', file),
  };
  const requests = rows.map((row) => {
    // "2023-11-16 18:17:03.9799600": seven fractional digits; Date parses three.
    const stamp = row[col.time] ?? '';
    const [date, time] = stamp.split(' ');
    const [whole, fraction = '0'] = (time ?? '').split('.');
    const atMs = Date.parse(`${date ?? ''}T${whole ?? ''}Z`) + Number(`0.${fraction}`) * 1000;
    return { atMs, tokens: Number(row[col.context]) + Number(row[col.generated]) };
  });
  return fromFirstMinute(requests);
}

/** Mooncake conversation trace: JSON lines with `timestamp` (ms from start), input and output lengths. */
export function readMooncakeTrace(): TraceRequest[] {
  const text = readText('mooncake-conversation/conversation_trace.jsonl.gz');
  const requests: TraceRequest[] = [];
  for (const line of text.split('\n')) {
    if (line.trim().length === 0) continue;
    const record = JSON.parse(line) as { timestamp: number; input_length: number; output_length: number };
    requests.push({ atMs: record.timestamp, tokens: record.input_length + record.output_length });
  }
  return fromFirstMinute(requests);
}

/** Sorted by time, relative to the start of the first request's minute. */
function fromFirstMinute(requests: TraceRequest[]): TraceRequest[] {
  const valid = requests.filter((r) => Number.isFinite(r.atMs) && Number.isFinite(r.tokens));
  valid.sort((a, b) => a.atMs - b.atMs);
  const originMs = Math.floor((valid[0]?.atMs ?? 0) / 60_000) * 60_000;
  return valid.map((r) => ({ atMs: r.atMs - originMs, tokens: r.tokens }));
}
