/**
 * Smooth weighted round-robin (the nginx upstream algorithm): deterministic, spreads a key's turns
 * evenly instead of in runs, and follows weights that change between calls. Every weight-based
 * strategy picks through it, so strategies differ only in the weights they give.
 */
export class SmoothWeightedPicker {
  readonly #current = new Map<string, number>();

  /** The candidate to use now, given each candidate's weight (absent or <= 0: not used). */
  pick(candidates: readonly string[], weightOf: (keyId: string) => number): string | undefined {
    let total = 0;
    let best: string | undefined;
    let bestScore = -Infinity;
    for (const keyId of candidates) {
      const weight = weightOf(keyId);
      if (!(weight > 0)) continue;
      const score = (this.#current.get(keyId) ?? 0) + weight;
      this.#current.set(keyId, score);
      total += weight;
      if (score > bestScore) {
        bestScore = score;
        best = keyId;
      }
    }
    if (best !== undefined) this.#current.set(best, bestScore - total);
    return best;
  }
}

/** Weights normalised to sum to 1 (all zero stays zero). */
export function normaliseWeights(weights: ReadonlyMap<string, number>): Record<string, number> {
  let total = 0;
  for (const w of weights.values()) total += Math.max(0, w);
  const out: Record<string, number> = {};
  for (const [keyId, w] of weights)
    out[keyId] = total > 0 ? Math.round((Math.max(0, w) / total) * 1e6) / 1e6 : 0;
  return out;
}
