import { asRecord } from '../../telemetry/index.ts';
import { formatGoDuration } from '../go-duration.ts';
import type { SimCall, SimDecision, SimRequest, SimResponse } from '../types.ts';
import {
  describeLimit,
  estimateInputTokens,
  bearerToken,
  eventStream,
  jsonResponse,
  positiveInteger,
  textPieces,
  type ProviderAdapter,
  type RouteMatch,
} from './common.ts';

/**
 * OpenAI chat completions (`POST /v1/chat/completions`, `Authorization: Bearer`). Headers per the
 * OpenAI "Rate limits" guide: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as
 * Go durations until the bucket is full. 429 bodies per the "Error codes" guide: `rate_limit_exceeded`
 * for a per-minute limit, `insufficient_quota` for a spent quota, a spend-limit code for a hard
 * spend limit ("Spend limits" guide). Azure OpenAI shares the body format (see azure.ts).
 */
export function readChatCompletionCall(
  match: RouteMatch,
  body: Readonly<Record<string, unknown>>,
  credential: string | undefined,
): SimCall | string {
  const model = body['model'];
  if (match.format === 'openai' && (typeof model !== 'string' || model === '')) {
    return 'model: required, a non-empty string';
  }
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return 'messages: required, a non-empty array';
  const maxOutputTokens =
    positiveInteger(body['max_completion_tokens']) ?? positiveInteger(body['max_tokens']);
  const stream = body['stream'] === true;
  return {
    provider: match.format,
    credential,
    model: typeof model === 'string' && model !== '' ? model : undefined,
    ...(match.deployment === undefined ? {} : { deployment: match.deployment }),
    inputTokens: estimateInputTokens(messages),
    ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
    stream,
    includeUsage: stream && asRecord(body['stream_options'])?.['include_usage'] === true,
  };
}

/** The `x-ratelimit-*` headers of the key's per-minute buckets. */
export function xRateLimitHeaders(decision: SimDecision): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const dimension of ['requests', 'tokens'] as const) {
    const bucket = decision.buckets[dimension];
    if (bucket === undefined) continue;
    headers[`x-ratelimit-limit-${dimension}`] = String(bucket.limit);
    headers[`x-ratelimit-remaining-${dimension}`] = String(bucket.remaining);
    headers[`x-ratelimit-reset-${dimension}`] = formatGoDuration(bucket.resetAtMs - decision.nowMs);
  }
  return headers;
}

export function chatUsage(decision: SimDecision): Record<string, unknown> {
  return {
    prompt_tokens: decision.inputTokens,
    completion_tokens: decision.outputTokens,
    total_tokens: decision.inputTokens + decision.outputTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
  };
}

/** A successful chat completion, whole or streamed as `chat.completion.chunk` events. */
export function renderChatCompletion(
  decision: SimDecision,
  call: SimCall,
  headers: Record<string, string>,
): SimResponse {
  const pieces = textPieces(decision.outputTokens);
  const finishReason =
    call.maxOutputTokens !== undefined && decision.outputTokens >= call.maxOutputTokens ? 'length' : 'stop';
  const base = {
    id: `chatcmpl-sim${decision.sequence}`,
    created: Math.floor(decision.nowMs / 1000),
    model: decision.model,
    system_fingerprint: 'fp_simulator',
  };
  if (!call.stream) {
    return jsonResponse(
      200,
      {
        ...base,
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: pieces.join(''), refusal: null },
            logprobs: null,
            finish_reason: finishReason,
          },
        ],
        usage: chatUsage(decision),
      },
      headers,
      decision.latencyMs,
      decision,
    );
  }
  // With include_usage every chunk carries `usage: null` and one last chunk the totals.
  const usage = call.includeUsage ? { usage: null } : {};
  const chunk = (choices: unknown[], extra: object = usage): string =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
  const frames = [
    chunk([
      {
        index: 0,
        delta: { role: 'assistant', content: '', refusal: null },
        logprobs: null,
        finish_reason: null,
      },
    ]),
    ...pieces.map((content) =>
      chunk([{ index: 0, delta: { content }, logprobs: null, finish_reason: null }]),
    ),
    chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }]),
  ];
  if (call.includeUsage) frames.push(chunk([], { usage: chatUsage(decision) }));
  frames.push('data: [DONE]\n\n');
  return eventStream(frames, headers, decision);
}

function openAiError(
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
): unknown {
  return { error: { message, type, param, code } };
}

function renderOpenAiRefusal(decision: SimDecision): SimResponse {
  const headers = { ...xRateLimitHeaders(decision), 'x-request-id': `req_sim${decision.sequence}` };
  const refusal = decision.refusal;
  switch (decision.outcome) {
    case 'rate_limited': {
      const dimension = refusal?.dimension ?? 'requests';
      const wait = formatGoDuration(decision.retryAfterMs ?? 0);
      return jsonResponse(
        429,
        openAiError(
          `Rate limit reached for ${decision.model} in organization ${refusal?.entityId ?? 'unknown'} on ` +
            `${describeLimit(dimension, refusal?.window ?? 'minute')}: Limit ${refusal?.limit ?? 0}, ` +
            `Used ${Math.ceil(refusal?.used ?? 0)}, Requested ${refusal?.requested ?? 1}. Please try again in ${wait}.`,
          dimension === 'requests' ? 'requests' : 'tokens',
          'rate_limit_exceeded',
        ),
        headers,
        0,
        decision,
      );
    }
    case 'quota_exhausted':
      return jsonResponse(
        429,
        openAiError(
          'You exceeded your current quota, please check your plan and billing details.',
          'insufficient_quota',
          'insufficient_quota',
        ),
        headers,
        0,
        decision,
      );
    case 'spend_cap':
      return jsonResponse(
        429,
        openAiError(
          `Project ${refusal?.entityId ?? 'unknown'} has reached its spend limit for this month.`,
          'insufficient_quota',
          'project_spend_limit_exceeded',
        ),
        headers,
        0,
        decision,
      );
    case 'not_found':
      return jsonResponse(
        404,
        openAiError(
          `The model ${decision.model} does not exist.`,
          'invalid_request_error',
          'model_not_found',
        ),
        {},
        0,
        decision,
      );
    default:
      // The secret is never echoed, not even masked.
      return jsonResponse(
        401,
        openAiError('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'),
        {},
        0,
        decision,
      );
  }
}

export const openAiAdapter: ProviderAdapter = {
  format: 'openai',
  readCall(match: RouteMatch, request: SimRequest, body) {
    return readChatCompletionCall(match, body, bearerToken(request));
  },
  render(decision, call) {
    if (decision.outcome !== 'ok') return renderOpenAiRefusal(decision);
    return renderChatCompletion(decision, call, {
      ...xRateLimitHeaders(decision),
      'x-request-id': `req_sim${decision.sequence}`,
    });
  },
  badRequest(message) {
    return jsonResponse(400, openAiError(message, 'invalid_request_error', null));
  },
};
