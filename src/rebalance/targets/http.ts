import type { IoResult } from '../../errors/index.ts';

export function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** Runs `step` for each item in order and stops at the first outcome that is not a success. */
export async function eachUntilFailure<T>(
  items: readonly T[],
  step: (item: T) => Promise<IoResult<unknown>>,
): Promise<IoResult<void>> {
  for (const item of items) {
    const result = await step(item);
    if (result.kind !== 'success') return result;
  }
  return { kind: 'success', value: undefined };
}
