import { parseGoDuration } from '../parse-values.ts';
import type { HeaderParser } from './header-parser.ts';
import { parseXRateLimitFamily } from './x-ratelimit-family.ts';

/**
 * OpenAI: `x-ratelimit-{limit,remaining}-{requests,tokens}` are counts; `x-ratelimit-reset-*` is
 * the time until the bucket is full again as a Go duration (`6m0s`, `1s`, `12ms`).
 * Source: OpenAI "Rate limits" guide, section "Rate limits in headers"
 * (platform.openai.com/docs/guides/rate-limits).
 */
export const openAiParser: HeaderParser = {
  id: 'openai',
  parse(state) {
    parseXRateLimitFamily(state, parseGoDuration);
  },
};
