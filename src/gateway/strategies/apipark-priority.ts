import type { KeyChoiceStrategy, StrategyKey } from './types.ts';

/**
 * APIPark's priority failover: every call goes to the highest-priority key the gateway allows;
 * the next one takes over only while it cools down.
 */
export function createApiparkPriorityStrategy(keys: readonly StrategyKey[]): KeyChoiceStrategy {
  const order = new Map(
    [...keys]
      .map((k, i) => ({ keyId: k.keyId, rank: k.priority, i }))
      .sort((a, b) => a.rank - b.rank || a.i - b.i)
      .map((k, position) => [k.keyId, position]),
  );
  const first = [...order.keys()][0];
  return {
    name: 'apipark-priority',
    choose: (_nowMs, candidates) => {
      let best: string | undefined;
      let bestRank = Infinity;
      for (const keyId of candidates) {
        const rank = order.get(keyId) ?? Infinity;
        if (rank < bestRank) {
          bestRank = rank;
          best = keyId;
        }
      }
      return best;
    },
    readyAtMs: (_keyId, nowMs) => nowMs,
    observe: () => {},
    describe: () => ({
      source: 'defaults',
      weights: Object.fromEntries(keys.map((k) => [k.keyId, k.keyId === first ? 1 : 0])),
    }),
  };
}
