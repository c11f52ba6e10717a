import { parseNonNegativeInteger } from '../parse-values.ts';
import { putBucket, resetAfter, type ParseState } from '../parse-state.ts';
import type { BucketHeaderNames } from './header-parser.ts';

/**
 * The `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` family that OpenAI introduced and
 * Azure OpenAI and Groq copied. Only the meaning of the reset value and the window differ per
 * provider, so each provider file supplies its own reset parser.
 */
const FAMILY_DIMENSIONS: readonly BucketHeaderNames[] = [
  {
    dimension: 'requests',
    limit: 'x-ratelimit-limit-requests',
    remaining: 'x-ratelimit-remaining-requests',
    reset: 'x-ratelimit-reset-requests',
  },
  {
    dimension: 'tokens',
    limit: 'x-ratelimit-limit-tokens',
    remaining: 'x-ratelimit-remaining-tokens',
    reset: 'x-ratelimit-reset-tokens',
  },
];

/** Turns one `x-ratelimit-reset-*` value into a delay in ms, or undefined when not understood. */
export type ResetDelayParser = (text: string) => number | undefined;

export function parseXRateLimitFamily(state: ParseState, parseResetDelayMs: ResetDelayParser): void {
  const { headers } = state;
  for (const names of FAMILY_DIMENSIONS) {
    const limitText = headers.get(names.limit);
    const remainingText = headers.get(names.remaining);
    // A reset without a count says nothing about headroom; skipping it saves a lookup per miss.
    if (limitText === undefined && remainingText === undefined) continue;
    const limit = parseNonNegativeInteger(limitText);
    // Azure OpenAI sends a limit of -1 or 0 when it does not track the dimension (its remaining
    // is then -1 and its reset 0): none of the dimension's values mean anything. Microsoft Q&A,
    // "Azure OpenAI Responses API x-ratelimit headers values -1, 0" (learn.microsoft.com/answers/questions/5625878).
    // No provider documents a real zero limit in this family, so the rule is safe for all of them.
    if (limit === 0 || limitText?.trim() === '-1') continue;
    const resetText = headers.get(names.reset);
    const resetDelayMs = resetText === undefined ? undefined : parseResetDelayMs(resetText);
    putBucket(
      state,
      names.dimension,
      limit,
      parseNonNegativeInteger(remainingText),
      resetAfter(state, resetDelayMs),
    );
  }
}
