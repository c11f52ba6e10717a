import { parseNonNegativeInteger } from '../parse-values.ts';
import { putBucket, resetAfter, type ParseState } from '../parse-state.ts';
import {
  parseSfDictionary,
  parseSfList,
  type SfBareItem,
  type SfItem,
  type SfParameters,
} from '../structured-fields.ts';
import type { HeaderParser } from './header-parser.ts';

/**
 * IETF "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers), in the three
 * shapes deployed over the draft's history, newest first:
 * - drafts 07+: `RateLimit: "default";r=50;t=30` with `RateLimit-Policy: "default";q=100;w=60`
 *   (Structured Field Lists; `r` remaining, `t` seconds until more quota, `q` quota, `w` window,
 *   `qu` quota unit, default "requests");
 * - drafts 03-06: `RateLimit: limit=100, remaining=50, reset=30` (a Dictionary) with
 *   `RateLimit-Policy: 100;w=60`;
 * - drafts 00-02 and draft-polli: separate `RateLimit-Limit`, `RateLimit-Remaining`,
 *   `RateLimit-Reset` (delay seconds).
 * Only quotas counted in requests map to a span dimension; `content-bytes` and
 * `concurrent-requests` policies are ignored.
 */
export const ietfRateLimitParser: HeaderParser = {
  id: 'ietf',
  parse(state) {
    // Every shape reports the requests dimension only, and the provider's own family came first.
    if (state.rateLimits.requests !== undefined) return;
    const { headers } = state;
    const rateLimit = headers.get('ratelimit');
    const policy = headers.get('ratelimit-policy');
    if (rateLimit !== undefined || policy !== undefined) {
      parseStructuredFields(state, rateLimit, policy);
      return;
    }
    parseSplitFields(state);
  },
};

interface QuotaPolicy {
  readonly name: string | undefined;
  readonly quota: number;
  readonly countsRequests: boolean;
}

function parseStructuredFields(
  state: ParseState,
  rateLimit: string | undefined,
  policy: string | undefined,
): void {
  const policies = policy === undefined ? [] : parsePolicies(policy);
  if (rateLimit === undefined) {
    // Without a RateLimit field only the quota is known; with several request policies (say per
    // minute and per hour) the one that applies to the current window cannot be told apart.
    const requestPolicies = policies.filter((candidate) => candidate.countsRequests);
    const only = requestPolicies.length === 1 ? requestPolicies[0] : undefined;
    if (only !== undefined) putBucket(state, 'requests', only.quota, undefined, undefined);
    return;
  }
  const items = parseSfList(rateLimit);
  if (items !== undefined && items.some((item) => item.params.r !== undefined)) {
    parseServiceLimitItems(state, items, policies);
    return;
  }
  const members = parseSfDictionary(rateLimit);
  if (members === undefined) return;
  const fields = new Map(members.map((member) => [member.key, member.value]));
  putBucket(
    state,
    'requests',
    asNonNegativeInteger(fields.get('limit')) ?? singleRequestQuota(policies),
    asNonNegativeInteger(fields.get('remaining')),
    resetAfterSeconds(state, asNonNegativeInteger(fields.get('reset'))),
  );
}

function parsePolicies(text: string): QuotaPolicy[] {
  const items = parseSfList(text);
  if (items === undefined) return [];
  const policies: QuotaPolicy[] = [];
  for (const item of items) {
    // Drafts 03-06 put the quota in the item itself (`100;w=60`); later drafts name the policy.
    const quota = asNonNegativeInteger(item.params.q) ?? asNonNegativeInteger(item.value);
    if (quota === undefined) continue;
    policies.push({
      name: typeof item.value === 'string' ? item.value : undefined,
      quota,
      countsRequests: countsRequests(item.params),
    });
  }
  return policies;
}

function countsRequests(params: SfParameters): boolean {
  return params.qu === undefined || params.qu === 'requests';
}

function singleRequestQuota(policies: readonly QuotaPolicy[]): number | undefined {
  const requestPolicies = policies.filter((policy) => policy.countsRequests);
  return requestPolicies.length === 1 ? requestPolicies[0]?.quota : undefined;
}

/**
 * Several policies can apply at once (e.g. per minute and per day). The one with the fewest
 * remaining units is the one that throttles next, so it becomes the `requests` bucket; on a tie
 * the later reset wins because that is when requests really flow again.
 */
function parseServiceLimitItems(
  state: ParseState,
  items: readonly SfItem[],
  policies: readonly QuotaPolicy[],
): void {
  let best:
    { remaining: number; resetSeconds: number | undefined; policy: QuotaPolicy | undefined } | undefined;
  for (const item of items) {
    const remaining = asNonNegativeInteger(item.params.r);
    if (remaining === undefined) continue;
    const name = typeof item.value === 'string' ? item.value : undefined;
    const policy = name === undefined ? undefined : policies.find((candidate) => candidate.name === name);
    if (policy !== undefined && !policy.countsRequests) continue;
    const resetSeconds = asNonNegativeInteger(item.params.t);
    const better =
      best === undefined ||
      remaining < best.remaining ||
      (remaining === best.remaining && (resetSeconds ?? -1) > (best.resetSeconds ?? -1));
    if (better) best = { remaining, resetSeconds, policy };
  }
  if (best === undefined) return;
  putBucket(
    state,
    'requests',
    best.policy?.quota,
    best.remaining,
    resetAfterSeconds(state, best.resetSeconds),
  );
}

// Some servers put an epoch timestamp in RateLimit-Reset although the drafts define delay seconds;
// a "delay" of 31+ years can only be such a timestamp, and guessing which is worse than ignoring it.
const MAX_PLAUSIBLE_DELAY_SECONDS = 1_000_000_000;

function parseSplitFields(state: ParseState): void {
  const { headers } = state;
  const limitText = headers.get('ratelimit-limit');
  const remainingText = headers.get('ratelimit-remaining');
  if (limitText === undefined && remainingText === undefined) return;
  // `RateLimit-Limit: 100, 100;w=60`: the first item is the limit, the rest describe policies.
  const firstLimitItem = limitText === undefined ? undefined : parseSfList(limitText)?.[0];
  putBucket(
    state,
    'requests',
    asNonNegativeInteger(firstLimitItem?.value),
    parseNonNegativeInteger(remainingText),
    resetAfterSeconds(state, parseNonNegativeInteger(headers.get('ratelimit-reset'))),
  );
}

function resetAfterSeconds(state: ParseState, seconds: number | undefined): number | undefined {
  if (seconds === undefined || seconds >= MAX_PLAUSIBLE_DELAY_SECONDS) return undefined;
  return resetAfter(state, seconds * 1000);
}

function asNonNegativeInteger(value: SfBareItem | undefined): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
