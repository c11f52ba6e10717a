/** A uniform generator on [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a small, fast, seeded 32-bit generator, so that simulations, back-tests and demos give
 * the same figures on every run and machine (not for cryptography).
 */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
