import { parseNonNegativeInteger, parseRfc3339 } from '../parse-values.ts';
import { putBucket } from '../parse-state.ts';
import type { BucketHeaderNames, HeaderParser } from './header-parser.ts';

/**
 * Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`.
 * Limits and remaining are counts (token remaining is rounded to the nearest thousand); resets are
 * RFC 3339 instants at which the bucket is fully replenished. The `tokens` family reports the most
 * restrictive token limit in effect. Source: Claude API docs "Rate limits", section "Response
 * headers" (docs.anthropic.com/en/api/rate-limits).
 */
const ANTHROPIC_DIMENSIONS: readonly BucketHeaderNames[] = [
  {
    dimension: 'requests',
    limit: 'anthropic-ratelimit-requests-limit',
    remaining: 'anthropic-ratelimit-requests-remaining',
    reset: 'anthropic-ratelimit-requests-reset',
  },
  {
    dimension: 'tokens',
    limit: 'anthropic-ratelimit-tokens-limit',
    remaining: 'anthropic-ratelimit-tokens-remaining',
    reset: 'anthropic-ratelimit-tokens-reset',
  },
  {
    dimension: 'input_tokens',
    limit: 'anthropic-ratelimit-input-tokens-limit',
    remaining: 'anthropic-ratelimit-input-tokens-remaining',
    reset: 'anthropic-ratelimit-input-tokens-reset',
  },
  {
    dimension: 'output_tokens',
    limit: 'anthropic-ratelimit-output-tokens-limit',
    remaining: 'anthropic-ratelimit-output-tokens-remaining',
    reset: 'anthropic-ratelimit-output-tokens-reset',
  },
];

export const anthropicParser: HeaderParser = {
  id: 'anthropic',
  parse(state) {
    const { headers } = state;
    for (const names of ANTHROPIC_DIMENSIONS) {
      const limitText = headers.get(names.limit);
      const remainingText = headers.get(names.remaining);
      if (limitText === undefined && remainingText === undefined) continue;
      const resetText = headers.get(names.reset);
      putBucket(
        state,
        names.dimension,
        parseNonNegativeInteger(limitText),
        parseNonNegativeInteger(remainingText),
        resetText === undefined ? undefined : parseRfc3339(resetText),
      );
    }
  },
};
