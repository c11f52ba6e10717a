import type { ProviderFormat } from '../scenario.ts';
import type { SimCall, SimDecision, SimEvent, SimRequest, SimResponse } from '../types.ts';

/** What the router learnt from the path before the adapter reads the body. */
export interface RouteMatch {
  format: ProviderFormat;
  /** Gemini: the model in `models/{model}:method`. */
  pathModel?: string;
  /** Azure: the deployment in `deployments/{deployment}/`. */
  deployment?: string;
  /** Gemini: `:streamGenerateContent`. */
  streamMethod?: boolean;
  query: URLSearchParams;
}

/** One provider's API format: reading its requests and writing its answers. */
export interface ProviderAdapter {
  readonly format: ProviderFormat;
  /** The call a request asks for, or a message saying what is wrong with it (a 400). */
  readCall(match: RouteMatch, request: SimRequest, body: Readonly<Record<string, unknown>>): SimCall | string;
  render(decision: SimDecision, call: SimCall): SimResponse;
  badRequest(message: string): SimResponse;
}

const JSON_TYPE = 'application/json';
const EVENT_STREAM_TYPE = 'text/event-stream; charset=utf-8';
/** A streamed answer has at most this many content events, however long the text. */
const MAX_CONTENT_EVENTS = 8;

export function header(request: SimRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : value?.[0];
}

export function bearerToken(request: SimRequest): string | undefined {
  const authorization = header(request, 'authorization');
  return authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined;
}

export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  delayMs = 0,
  decision?: SimDecision,
): SimResponse {
  return {
    status,
    headers: { ...headers, 'content-type': JSON_TYPE },
    body: JSON.stringify(body),
    delayMs,
    ...(decision === undefined ? {} : { decision }),
  };
}

/**
 * A streamed answer: the first event when the first token is due, the last when the last one is,
 * the others evenly between.
 */
export function eventStream(
  frames: readonly string[],
  headers: Record<string, string>,
  decision: SimDecision,
): SimResponse {
  const last = Math.max(1, frames.length - 1);
  const spanMs = Math.max(0, decision.latencyMs - decision.firstTokenMs);
  const events: SimEvent[] = frames.map((data, index) => ({
    atMs: decision.firstTokenMs + (spanMs * index) / last,
    data,
  }));
  return {
    status: 200,
    headers: { ...headers, 'content-type': EVENT_STREAM_TYPE, 'cache-control': 'no-cache' },
    body: '',
    events,
    delayMs: decision.firstTokenMs,
    decision,
  };
}

const WORDS = ['Simulated', 'answer', 'text', 'from', 'the', 'provider', 'simulator.'];

/** The response text in at most {@link MAX_CONTENT_EVENTS} pieces, about one word per output token. */
export function textPieces(outputTokens: number): string[] {
  const pieces: string[] = [];
  const perPiece = Math.max(1, Math.ceil(outputTokens / MAX_CONTENT_EVENTS));
  for (let start = 0; start < outputTokens; start += perPiece) {
    let piece = '';
    for (let i = start; i < Math.min(outputTokens, start + perPiece); i++) {
      piece += `${i === 0 ? '' : ' '}${WORDS[i % WORDS.length] ?? ''}`;
    }
    pieces.push(piece);
  }
  return pieces;
}

/**
 * About four characters per token (the rule of thumb OpenAI and Anthropic give), plus a few tokens
 * of framing per message: every `text` or string `content` under the given values counts.
 */
export function estimateInputTokens(...values: unknown[]): number {
  let characters = 0;
  let messages = 0;
  const walk = (value: unknown, depth: number): void => {
    if (depth > 8 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) walk(item, depth + 1);
      return;
    }
    const record = value as Record<string, unknown>;
    if ('role' in record) messages += 1;
    for (const [name, child] of Object.entries(record)) {
      if (typeof child === 'string' && (name === 'text' || name === 'content')) characters += child.length;
      else walk(child, depth + 1);
    }
  };
  for (const value of values) {
    if (typeof value === 'string') characters += value.length;
    else walk(value, 0);
  }
  return Math.ceil(characters / 4) + 3 * messages;
}

export function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

export function secondsCeil(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** `requests per min (RPM)` and the like, for error messages. */
export function describeLimit(dimension: string, window: string): string {
  const unit = dimension.replace('_', ' ');
  if (window === 'minute') return `${unit} per min`;
  if (window === 'day') return `${unit} per day`;
  if (window === 'month') return `${unit} per month`;
  return `${unit} per ${window}`;
}
