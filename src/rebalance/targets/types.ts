import type { PushTargetType } from '../../config/index.ts';
import type { IoResult } from '../../errors/index.ts';
import { eachUntilFailure } from './http.ts';
import type { Advice } from '../index.ts';

/** What one push told the gateway, in a line for logs and the `pushes` table. */
export interface PushApplied {
  summary: string;
}

/**
 * A gateway that headroom pushes advice to. `push` makes one attempt at bringing the gateway in line
 * with the whole advice; it is idempotent, so the retry wrapper may repeat it. Outcomes are results:
 * `failure` when the gateway refused (repeating cannot help), `retryable` when it could not be
 * reached or failed on its side.
 */
export interface PushTarget {
  readonly pool: string;
  readonly name: string;
  readonly type: PushTargetType;
  push(advice: Advice, signal: AbortSignal): Promise<IoResult<PushApplied>>;
}

/** Keys of the advice that the gateway knows, under the gateway's own names. */
export function mappedKeys(
  advice: Advice,
  keys: Readonly<Record<string, string>> | undefined,
): Array<{ gatewayId: string; key: Advice['keys'][number] }> {
  return advice.keys.flatMap((key) => {
    const gatewayId = keys === undefined ? key.key_id : keys[key.key_id];
    return gatewayId === undefined ? [] : [{ gatewayId, key }];
  });
}

/** The advice with key ids renamed to the gateway's names; keys the gateway does not know are left out. */
export function renameAdviceKeys(advice: Advice, keys: Readonly<Record<string, string>> | undefined): Advice {
  if (keys === undefined) return advice;
  return {
    ...advice,
    keys: mappedKeys(advice, keys).map(({ gatewayId, key }) => ({ ...key, key_id: gatewayId })),
  };
}

type MappedKey = ReturnType<typeof mappedKeys>[number];

/**
 * Brings each key the gateway knows in line, in order, one request (or a few) per key, stopping at
 * the first outcome that is not a success (a retry repeats the whole push); the summary lists what
 * each key was told.
 */
export async function pushEachKey(
  advice: Advice,
  keys: Readonly<Record<string, string>> | undefined,
  step: (mapped: MappedKey) => Promise<IoResult<unknown>>,
  describe: (mapped: MappedKey) => string,
): Promise<IoResult<PushApplied>> {
  const mapped = mappedKeys(advice, keys);
  const result = await eachUntilFailure(mapped, step);
  if (result.kind !== 'success') return result;
  return { kind: 'success', value: { summary: mapped.map(describe).join(', ') } };
}
