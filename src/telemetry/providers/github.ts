import { parseNonNegativeInteger } from '../parse-values.ts';
import { putBucket } from '../parse-state.ts';
import type { HeaderParser } from './header-parser.ts';

/**
 * GitHub (REST API and GitHub Models): `x-ratelimit-limit`, `x-ratelimit-remaining`,
 * `x-ratelimit-used` are request counts for the window of the `x-ratelimit-resource` named in the
 * response (`core`, `search`, `graphql`, ...); `x-ratelimit-reset` is the window's end in epoch
 * SECONDS. Source: GitHub Docs "Rate limits for the REST API", section "Checking the status of
 * your rate limit" (docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
 *
 * Many unrelated APIs send unsuffixed `x-ratelimit-*` with other meanings (reset as a delay, limits
 * in other units), so for an unknown provider they are trusted only next to GitHub's own
 * `x-ratelimit-resource` or `x-ratelimit-used`.
 */
export const gitHubParser: HeaderParser = {
  id: 'github',
  parse(state, options) {
    const { headers } = state;
    const limitText = headers.get('x-ratelimit-limit');
    const remainingText = headers.get('x-ratelimit-remaining');
    if (limitText === undefined && remainingText === undefined) return;
    const usedText = headers.get('x-ratelimit-used');
    if (
      !options.providerKnown &&
      usedText === undefined &&
      headers.get('x-ratelimit-resource') === undefined
    ) {
      return;
    }
    const remaining = parseNonNegativeInteger(remainingText);
    let limit = parseNonNegativeInteger(limitText);
    // GitHub documents used + remaining = limit within a window, so a missing limit is derived.
    const used = parseNonNegativeInteger(usedText);
    if (limit === undefined && used !== undefined && remaining !== undefined) limit = used + remaining;
    const resetSeconds = parseNonNegativeInteger(headers.get('x-ratelimit-reset'));
    putBucket(
      state,
      'requests',
      limit,
      remaining,
      resetSeconds === undefined ? undefined : resetSeconds * 1000,
    );
  },
};
