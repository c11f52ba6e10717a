import { parseGoDuration } from '../parse-values.ts';
import type { HeaderParser } from './header-parser.ts';
import { parseXRateLimitFamily } from './x-ratelimit-family.ts';

/**
 * Groq: the OpenAI header names, but `x-ratelimit-limit-requests` is requests per DAY (RPD) while
 * the token headers are per minute (TPM); resets are Go durations such as `2m59.56s` and `7.66s`.
 * The bucket shape is the same, so only the window differs: the reset instant already tells
 * forecasting when each bucket refills. Source: GroqDocs "Rate Limits", section "Rate Limit
 * Headers" (console.groq.com/docs/rate-limits).
 */
export const groqParser: HeaderParser = {
  id: 'groq',
  parse(state) {
    parseXRateLimitFamily(state, parseGoDuration);
  },
};
