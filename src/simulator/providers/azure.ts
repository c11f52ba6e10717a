import type { SimDecision, SimRequest, SimResponse } from '../types.ts';
import { header, jsonResponse, secondsCeil, type ProviderAdapter, type RouteMatch } from './common.ts';
import { readChatCompletionCall, renderChatCompletion, xRateLimitHeaders } from './openai.ts';

/**
 * Azure OpenAI (`POST /openai/deployments/{deployment}/chat/completions?api-version=...`, `api-key`
 * header): OpenAI's body and `x-ratelimit-*` headers; a 429 adds `retry-after-ms` and `retry-after`
 * and an `{ error: { code: "429", message } }` body (Microsoft Learn, "Azure OpenAI quotas and
 * limits"). One deployment per key's resource.
 */
function renderAzureRefusal(decision: SimDecision): SimResponse {
  const headers: Record<string, string> = {
    ...xRateLimitHeaders(decision),
    'apim-request-id': `sim-${decision.sequence}`,
  };
  const retryAfterMs = decision.retryAfterMs;
  if (retryAfterMs !== undefined) {
    headers['retry-after-ms'] = String(Math.max(1, Math.ceil(retryAfterMs)));
    headers['retry-after'] = String(secondsCeil(retryAfterMs));
  }
  const refusal = decision.refusal;
  switch (decision.outcome) {
    case 'rate_limited': {
      const kind = refusal?.dimension === 'requests' ? 'call' : 'token';
      return jsonResponse(
        429,
        {
          error: {
            code: '429',
            message:
              `Requests to the ChatCompletions_Create Operation have exceeded ${kind} rate limit of your ` +
              `current pricing tier. Please retry after ${secondsCeil(retryAfterMs ?? 0)} seconds.`,
          },
        },
        headers,
        0,
        decision,
      );
    }
    case 'quota_exhausted':
    case 'spend_cap':
      return jsonResponse(
        429,
        {
          error: {
            code: 'insufficient_quota',
            type: 'insufficient_quota',
            message: `The quota of ${refusal?.entityId ?? 'this resource'} is spent until it resets.`,
          },
        },
        headers,
        0,
        decision,
      );
    case 'not_found':
      return jsonResponse(
        404,
        {
          error: {
            code: 'DeploymentNotFound',
            message: 'The API deployment for this resource does not exist.',
          },
        },
        {},
        0,
        decision,
      );
    default:
      return jsonResponse(
        401,
        {
          error: {
            code: '401',
            message:
              'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
          },
        },
        {},
        0,
        decision,
      );
  }
}

export const azureAdapter: ProviderAdapter = {
  format: 'azure',
  readCall(match: RouteMatch, request: SimRequest, body) {
    return readChatCompletionCall(match, body, header(request, 'api-key'));
  },
  render(decision, call) {
    if (decision.outcome !== 'ok') return renderAzureRefusal(decision);
    return renderChatCompletion(decision, call, {
      ...xRateLimitHeaders(decision),
      'apim-request-id': `sim-${decision.sequence}`,
    });
  },
  badRequest(message) {
    return jsonResponse(400, { error: { code: 'BadRequest', message } });
  },
};
