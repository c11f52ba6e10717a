import { parseNonNegativeDecimal, parseNonNegativeInteger } from '../parse-values.ts';
import { putBucket, resetAfter, type ParseState } from '../parse-state.ts';
import type { HeaderParser } from './header-parser.ts';

/**
 * Mistral AI (La Plateforme). Limits are per workspace: tokens per minute, tokens per month and
 * requests per second ("Rate limit and usage tiers", docs.mistral.ai/deployment/laplateforme/tier).
 * The API has sent three generations of headers, all read here (first found wins per dimension):
 * - `ratelimitbysize-{limit,remaining,reset,query-cost}`: the per-minute token bucket; `reset` is
 *   seconds until it refills, `query-cost` the tokens charged for this call (not a limit, ignored).
 * - `x-ratelimitbysize-{limit,remaining}-minute` and `-month`: the per-minute and monthly token
 *   budgets. The monthly one has no reset header and no slot in the span contract, so it is only
 *   used to classify a 429 with nothing left this month as `quota_exhausted`.
 * - `x-ratelimit-{limit,remaining}-tokens-minute` and `x-ratelimit-{limit,remaining}-req-minute`
 *   (newest; no reset value) as seen on api.mistral.ai in mistralai/client-ts issue #169.
 * Mistral documents the limits but not these header names; the names above come from captured
 * api.mistral.ai responses in public client code, so only their obvious meaning is used.
 */
export const mistralParser: HeaderParser = {
  id: 'mistral',
  parse(state) {
    const { headers } = state;
    const minuteLimit =
      headers.get('ratelimitbysize-limit') ??
      headers.get('x-ratelimitbysize-limit-minute') ??
      headers.get('x-ratelimit-limit-tokens-minute');
    const minuteRemaining =
      headers.get('ratelimitbysize-remaining') ??
      headers.get('x-ratelimitbysize-remaining-minute') ??
      headers.get('x-ratelimit-remaining-tokens-minute');
    if (minuteLimit !== undefined || minuteRemaining !== undefined) {
      const resetText = headers.get('ratelimitbysize-reset');
      const resetSeconds = parseNonNegativeDecimal(resetText);
      putBucket(
        state,
        'tokens',
        parseNonNegativeInteger(minuteLimit),
        parseNonNegativeInteger(minuteRemaining),
        resetAfter(state, resetSeconds === undefined ? undefined : resetSeconds * 1000),
      );
    }
    parseRequestsPerMinute(state);
    if (parseNonNegativeInteger(headers.get('x-ratelimitbysize-remaining-month')) === 0) {
      state.quotaExhausted = true;
    }
  },
};

function parseRequestsPerMinute(state: ParseState): void {
  const limitText = state.headers.get('x-ratelimit-limit-req-minute');
  const remainingText = state.headers.get('x-ratelimit-remaining-req-minute');
  if (limitText === undefined && remainingText === undefined) return;
  putBucket(
    state,
    'requests',
    parseNonNegativeInteger(limitText),
    parseNonNegativeInteger(remainingText),
    undefined,
  );
}
