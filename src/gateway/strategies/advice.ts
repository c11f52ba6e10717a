import { asRecord } from '../../telemetry/index.ts';

/** A key's entry in headroom's advice, with times as epoch ms. */
export interface AdvisedKey {
  readonly weight: number;
  readonly state: string;
  readonly untilMs?: number;
}

/** headroom's rebalance advice for one pool, as the gateway holds it. */
export interface PoolAdvice {
  readonly version: number;
  readonly generatedAtMs: number;
  readonly validUntilMs: number;
  readonly keys: ReadonlyMap<string, AdvisedKey>;
  /** Shares (0..1, summing to at most 1) of the pool's requests to send to other pools. */
  readonly spill: readonly AdvisedSpill[];
}

/** A share of the pool's requests that headroom advises sending to a fallback pool. */
export interface AdvisedSpill {
  readonly pool: string;
  readonly share: number;
}

export type ParsedAdvice = { ok: true; advice: PoolAdvice } | { ok: false; error: string };

/** Key states in which an `until` takes the key out of the rotation until then. */
const STATES = ['active', 'exhausted', 'cooling_down', 'unknown'] as const;

/**
 * Reads the body of `GET /v1/pools/:pool/advice` (or the same body pushed to the admin API).
 * Times may be RFC 3339 strings (as headroom serves them) or epoch ms. Fields beyond these are
 * ignored, so newer advice still parses. The error names the offending field and value.
 */
export function parseAdvice(body: unknown): ParsedAdvice {
  const root = asRecord(body);
  if (root === undefined)
    return { ok: false, error: 'expected a JSON object with version, valid_until and keys' };
  const fail = (field: string, value: unknown, expected: string): ParsedAdvice => ({
    ok: false,
    error: `${field}=${JSON.stringify(value) ?? 'undefined'} is invalid: expected ${expected}`,
  });
  const version = root['version'] ?? 0;
  if (typeof version !== 'number' || !Number.isFinite(version)) return fail('version', version, 'a number');
  const validUntilMs = readTimeMs(root['valid_until']);
  if (validUntilMs === undefined)
    return fail('valid_until', root['valid_until'], 'an RFC 3339 time or epoch ms');
  const generatedAtMs = root['generated_at'] === undefined ? undefined : readTimeMs(root['generated_at']);
  if (root['generated_at'] !== undefined && generatedAtMs === undefined) {
    return fail('generated_at', root['generated_at'], 'an RFC 3339 time or epoch ms');
  }
  const list = root['keys'];
  if (!Array.isArray(list)) return fail('keys', list, 'an array of {key_id, weight, state, until?}');
  const keys = new Map<string, AdvisedKey>();
  for (const [i, item] of list.entries()) {
    const entry = asRecord(item);
    const keyId = entry?.['key_id'];
    if (typeof keyId !== 'string' || keyId === '')
      return fail(`keys[${i}].key_id`, keyId, 'a non-empty string');
    const weight = entry?.['weight'];
    if (typeof weight !== 'number' || !(weight >= 0) || !Number.isFinite(weight)) {
      return fail(`keys[${i}].weight`, weight, 'a number >= 0');
    }
    const state = entry?.['state'] ?? 'active';
    if (typeof state !== 'string' || !(STATES as readonly string[]).includes(state)) {
      return fail(`keys[${i}].state`, state, `one of ${STATES.join(', ')}`);
    }
    const rawUntil = entry?.['until'];
    const untilMs = rawUntil === undefined || rawUntil === null ? undefined : readTimeMs(rawUntil);
    if (rawUntil !== undefined && rawUntil !== null && untilMs === undefined) {
      return fail(`keys[${i}].until`, rawUntil, 'an RFC 3339 time or epoch ms');
    }
    keys.set(keyId, untilMs === undefined ? { weight, state } : { weight, state, untilMs });
  }
  const rawSpill = root['spill'] ?? [];
  if (!Array.isArray(rawSpill)) return fail('spill', rawSpill, 'an array of {pool, share}');
  const spill: AdvisedSpill[] = [];
  let total = 0;
  for (const [i, item] of rawSpill.entries()) {
    const entry = asRecord(item);
    const pool = entry?.['pool'];
    if (typeof pool !== 'string' || pool === '') return fail(`spill[${i}].pool`, pool, 'a non-empty string');
    const share = entry?.['share'];
    if (typeof share !== 'number' || !(share >= 0 && share <= 1)) {
      return fail(`spill[${i}].share`, share, 'a number from 0 to 1');
    }
    total += share;
    if (total > 1 + 1e-9) return fail(`spill[${i}].share`, share, 'shares that sum to at most 1');
    spill.push({ pool, share });
  }
  return {
    ok: true,
    advice: { version, generatedAtMs: generatedAtMs ?? validUntilMs, validUntilMs, keys, spill },
  };
}

function readTimeMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
