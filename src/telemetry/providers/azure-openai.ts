import { parseGoDuration, parseNonNegativeDecimal } from '../parse-values.ts';
import type { HeaderParser } from './header-parser.ts';
import { parseXRateLimitFamily } from './x-ratelimit-family.ts';

/**
 * Azure OpenAI: the OpenAI `x-ratelimit-*` names (often only the `remaining` ones). Quirks:
 * - a limit of -1 or 0 means "not tracked" (handled for the whole family in x-ratelimit-family.ts);
 * - the reset is sometimes plain seconds instead of a Go duration, and `0` accompanies the
 *   "not tracked" values, so a zero reset is ignored. Microsoft Q&A "Azure OpenAI Responses API
 *   x-ratelimit headers values -1, 0" (learn.microsoft.com/answers/questions/5625878).
 * `retry-after-ms` / `x-ms-retry-after-ms` / `retry-after` are read for every provider in
 * retry-after-headers.ts. Source: Microsoft Learn "Azure OpenAI in Microsoft Foundry Models quotas
 * and limits" and "Manage Azure OpenAI quota".
 */
export const azureOpenAiParser: HeaderParser = {
  id: 'azure_openai',
  parse(state) {
    parseXRateLimitFamily(state, parseAzureResetDelayMs);
  },
};

function parseAzureResetDelayMs(text: string): number | undefined {
  const seconds = parseNonNegativeDecimal(text);
  const delayMs = seconds === undefined ? parseGoDuration(text) : seconds * 1000;
  return delayMs === 0 ? undefined : delayMs;
}
