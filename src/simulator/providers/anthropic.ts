import { formatRfc3339Seconds } from '../go-duration.ts';
import type { BucketReport, SimCall, SimDecision, SimRequest, SimResponse } from '../types.ts';
import {
  describeLimit,
  estimateInputTokens,
  eventStream,
  bearerToken,
  header,
  jsonResponse,
  positiveInteger,
  secondsCeil,
  textPieces,
  type ProviderAdapter,
  type RouteMatch,
} from './common.ts';

/**
 * Anthropic Messages (`POST /v1/messages`, `x-api-key`, or `Authorization: Bearer` as recent SDKs send). Headers per the Claude API docs "Rate
 * limits": `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
 * with RFC 3339 resets (when the bucket is full again); `tokens` reports the most restrictive token
 * bucket; a 429 carries `retry-after` in seconds. Errors per "Errors": `rate_limit_error`, and
 * `details.error_code: enforced_spend_limit_reached` when a spend cap is reached (no retry-after: it
 * lasts until the reset). Anthropic has no daily count quotas; a scenario's day quota on an
 * Anthropic key answers as a rate limit with a retry-after until its reset.
 */
const HEADER_DIMENSIONS = [
  ['requests', 'requests'],
  ['tokens', 'tokens'],
  ['input_tokens', 'input-tokens'],
  ['output_tokens', 'output-tokens'],
] as const;

function anthropicHeaders(decision: SimDecision): Record<string, string> {
  const headers: Record<string, string> = { 'request-id': `req_sim${decision.sequence}` };
  const { buckets } = decision;
  let tokens: BucketReport | undefined = buckets.tokens;
  for (const split of [buckets.input_tokens, buckets.output_tokens]) {
    if (split !== undefined && (tokens === undefined || split.remaining < tokens.remaining)) tokens = split;
  }
  for (const [dimension, name] of HEADER_DIMENSIONS) {
    const bucket = dimension === 'tokens' ? tokens : buckets[dimension];
    if (bucket === undefined) continue;
    headers[`anthropic-ratelimit-${name}-limit`] = String(bucket.limit);
    headers[`anthropic-ratelimit-${name}-remaining`] = String(bucket.remaining);
    headers[`anthropic-ratelimit-${name}-reset`] = formatRfc3339Seconds(bucket.resetAtMs);
  }
  return headers;
}

function anthropicError(type: string, message: string, errorCode?: string): unknown {
  return {
    type: 'error',
    error: { type, message, ...(errorCode === undefined ? {} : { details: { error_code: errorCode } }) },
  };
}

function renderRefusal(decision: SimDecision): SimResponse {
  const headers = anthropicHeaders(decision);
  const refusal = decision.refusal;
  switch (decision.outcome) {
    case 'rate_limited':
    case 'quota_exhausted':
      headers['retry-after'] = String(secondsCeil(decision.retryAfterMs ?? 0));
      return jsonResponse(
        429,
        anthropicError(
          'rate_limit_error',
          `This request would exceed the rate limit for your organization (${refusal?.entityId ?? 'unknown'}) of ` +
            `${refusal?.limit ?? 0} ${describeLimit(refusal?.dimension ?? 'requests', refusal?.window ?? 'minute')}.`,
        ),
        headers,
        0,
        decision,
      );
    case 'spend_cap':
      return jsonResponse(
        429,
        anthropicError(
          'rate_limit_error',
          `You have reached the monthly spend limit of ${refusal?.entityId ?? 'your organization'}.`,
          'enforced_spend_limit_reached',
        ),
        headers,
        0,
        decision,
      );
    case 'not_found':
      return jsonResponse(
        404,
        anthropicError('not_found_error', `model: ${decision.model}`),
        {},
        0,
        decision,
      );
    default:
      return jsonResponse(401, anthropicError('authentication_error', 'invalid x-api-key'), {}, 0, decision);
  }
}

function usage(decision: SimDecision, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: decision.inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

function renderMessage(decision: SimDecision, call: SimCall): SimResponse {
  const headers = anthropicHeaders(decision);
  const pieces = textPieces(decision.outputTokens);
  const stopReason =
    call.maxOutputTokens !== undefined && decision.outputTokens >= call.maxOutputTokens
      ? 'max_tokens'
      : 'end_turn';
  const message = {
    id: `msg_sim${decision.sequence}`,
    type: 'message',
    role: 'assistant',
    model: decision.model,
  };
  if (!call.stream) {
    return jsonResponse(
      200,
      {
        ...message,
        content: [{ type: 'text', text: pieces.join('') }],
        stop_reason: stopReason,
        stop_sequence: null,
        usage: usage(decision, decision.outputTokens),
      },
      headers,
      decision.latencyMs,
      decision,
    );
  }
  const event = (name: string, data: object): string =>
    `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
  const frames = [
    event('message_start', {
      message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: usage(decision, 1) },
    }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', {}),
    ...pieces.map((text) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
    event('content_block_stop', { index: 0 }),
    event('message_delta', {
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: decision.outputTokens },
    }),
    event('message_stop', {}),
  ];
  return eventStream(frames, headers, decision);
}

export const anthropicAdapter: ProviderAdapter = {
  format: 'anthropic',
  readCall(match: RouteMatch, request: SimRequest, body) {
    const model = body['model'];
    if (typeof model !== 'string' || model === '') return 'model: Field required';
    const maxTokens = positiveInteger(body['max_tokens']);
    if (maxTokens === undefined) return 'max_tokens: Field required (a positive integer)';
    const messages = body['messages'];
    if (!Array.isArray(messages) || messages.length === 0)
      return 'messages: Field required (a non-empty array)';
    return {
      provider: 'anthropic',
      credential: header(request, 'x-api-key') ?? bearerToken(request),
      model,
      inputTokens: estimateInputTokens(body['system'], messages),
      maxOutputTokens: maxTokens,
      stream: body['stream'] === true,
      includeUsage: true,
    };
  },
  render(decision, call) {
    return decision.outcome === 'ok' ? renderMessage(decision, call) : renderRefusal(decision);
  },
  badRequest(message) {
    return jsonResponse(400, anthropicError('invalid_request_error', message));
  },
};
