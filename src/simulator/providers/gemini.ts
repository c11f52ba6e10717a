import { asRecord } from '../../telemetry/index.ts';
import type { SimCall, SimDecision, SimRequest, SimResponse } from '../types.ts';
import {
  estimateInputTokens,
  eventStream,
  header,
  jsonResponse,
  positiveInteger,
  secondsCeil,
  textPieces,
  type ProviderAdapter,
  type RouteMatch,
} from './common.ts';

/**
 * Gemini API (`POST /v1beta/models/{model}:generateContent?key=...`, or `x-goog-api-key`;
 * `:streamGenerateContent?alt=sse` streams). No rate-limit headers: a 429 is a Google RPC
 * `RESOURCE_EXHAUSTED` error whose `QuotaFailure` names the violated quota (`...PerMinute...` or
 * `...PerDay...`) and whose `RetryInfo` says when to retry (Google AIP-193; Gemini API "Rate
 * limits"). An invalid or deleted key answers 400 `API_KEY_INVALID`, as the Gemini API does.
 */
const QUOTA_PREFIX: Readonly<Record<string, readonly [quotaId: string, metric: string]>> = {
  requests: ['GenerateRequests', 'generate_content_requests'],
  tokens: ['GenerateContentTokens', 'generate_content_token_count'],
  input_tokens: ['GenerateContentInputTokens', 'generate_content_input_token_count'],
  output_tokens: ['GenerateContentOutputTokens', 'generate_content_output_token_count'],
};

function rpcError(code: number, status: string, message: string, details: unknown[] = []): unknown {
  return { error: { code, message, status, ...(details.length === 0 ? {} : { details }) } };
}

function retryInfo(retryAfterMs: number | undefined): unknown {
  return {
    '@type': 'type.googleapis.com/google.rpc.RetryInfo',
    retryDelay: `${secondsCeil(retryAfterMs ?? 0)}s`,
  };
}

function renderRefusal(decision: SimDecision): SimResponse {
  const refusal = decision.refusal;
  switch (decision.outcome) {
    case 'rate_limited':
    case 'quota_exhausted': {
      const [idPrefix, metric] = QUOTA_PREFIX[refusal?.dimension ?? 'requests'] ??
        QUOTA_PREFIX['requests'] ?? ['', ''];
      const period =
        refusal?.window === 'day' ? 'PerDay' : refusal?.window === 'month' ? 'PerMonth' : 'PerMinute';
      return jsonResponse(
        429,
        rpcError(
          429,
          'RESOURCE_EXHAUSTED',
          'You exceeded your current quota, please check your plan and billing details.',
          [
            {
              '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
              violations: [
                {
                  quotaMetric: `generativelanguage.googleapis.com/${metric}`,
                  quotaId: `${idPrefix}${period}PerProjectPerModel`,
                  quotaDimensions: { location: 'global', model: decision.model },
                  quotaValue: String(refusal?.limit ?? 0),
                },
              ],
            },
            retryInfo(decision.retryAfterMs),
          ],
        ),
        {},
        0,
        decision,
      );
    }
    case 'spend_cap':
      return jsonResponse(
        429,
        rpcError(429, 'RESOURCE_EXHAUSTED', 'Your project has exceeded its spending cap.', [
          retryInfo(decision.retryAfterMs),
        ]),
        {},
        0,
        decision,
      );
    case 'not_found':
      return jsonResponse(
        404,
        rpcError(404, 'NOT_FOUND', `models/${decision.model} is not found.`),
        {},
        0,
        decision,
      );
    default:
      return jsonResponse(
        400,
        rpcError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
        ]),
        {},
        0,
        decision,
      );
  }
}

function usageMetadata(decision: SimDecision, outputTokens: number): Record<string, unknown> {
  return {
    promptTokenCount: decision.inputTokens,
    ...(outputTokens > 0 ? { candidatesTokenCount: outputTokens } : {}),
    totalTokenCount: decision.inputTokens + outputTokens,
  };
}

function renderContent(decision: SimDecision, call: SimCall): SimResponse {
  const pieces = textPieces(decision.outputTokens);
  const finishReason =
    call.maxOutputTokens !== undefined && decision.outputTokens >= call.maxOutputTokens
      ? 'MAX_TOKENS'
      : 'STOP';
  const candidate = (text: string, last: boolean): unknown => ({
    content: { role: 'model', parts: [{ text }] },
    ...(last ? { finishReason } : {}),
    index: 0,
  });
  const chunk = (text: string, outputSoFar: number, last: boolean): Record<string, unknown> => ({
    candidates: [candidate(text, last)],
    usageMetadata: usageMetadata(decision, outputSoFar),
    modelVersion: decision.model,
    responseId: `sim${decision.sequence}`,
  });
  if (!call.stream) {
    return jsonResponse(
      200,
      chunk(pieces.join(''), decision.outputTokens, true),
      {},
      decision.latencyMs,
      decision,
    );
  }
  // Every chunk carries the running totals; the last one is final.
  const perPiece = pieces.length === 0 ? 0 : Math.ceil(decision.outputTokens / pieces.length);
  const chunks = (pieces.length === 0 ? [''] : pieces).map((text, index, all) =>
    chunk(text, Math.min(decision.outputTokens, perPiece * (index + 1)), index === all.length - 1),
  );
  return eventStream(
    chunks.map((value) => `data: ${JSON.stringify(value)}\r\n\r\n`),
    {},
    decision,
  );
}

export const geminiAdapter: ProviderAdapter = {
  format: 'gemini',
  readCall(match: RouteMatch, request: SimRequest, body) {
    // The JSON-array form of streamGenerateContent (without alt=sse) is not simulated.
    if (match.streamMethod === true && match.query.get('alt') !== 'sse') {
      return 'alt: the simulator streams with alt=sse only';
    }
    const contents = body['contents'];
    if (!Array.isArray(contents) || contents.length === 0)
      return '* GenerateContentRequest.contents: contents is not specified';
    const maxOutputTokens = positiveInteger(asRecord(body['generationConfig'])?.['maxOutputTokens']);
    return {
      provider: 'gemini',
      credential: match.query.get('key') ?? header(request, 'x-goog-api-key'),
      model: match.pathModel,
      inputTokens: estimateInputTokens(body['systemInstruction'], contents),
      ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
      stream: match.streamMethod === true,
      includeUsage: true,
    };
  },
  render(decision, call) {
    if (decision.outcome !== 'ok') return renderRefusal(decision);
    return renderContent(decision, call);
  },
  badRequest(message) {
    return jsonResponse(400, rpcError(400, 'INVALID_ARGUMENT', message));
  },
};
