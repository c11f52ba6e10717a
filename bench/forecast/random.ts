/**
 * Seeded random numbers for the forecast back-test: every sampled arrival, and so every figure the
 * bench prints, is the same on every run and on every machine.
 */

import { createRandom, type Random } from '../../src/forecast/index.ts';

export { createRandom };
export type { Random };

/** A 32-bit seed from a string (FNV-1a), so each key draws its own stream whatever else is replayed. */
export function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A uniform draw on (0, 1]: safe under a logarithm. */
function positiveUniform(random: Random): number {
  return 1 - random();
}

export function sampleStandardNormal(random: Random): number {
  return Math.sqrt(-2 * Math.log(positiveUniform(random))) * Math.cos(2 * Math.PI * random());
}

export function sampleExponential(random: Random): number {
  return -Math.log(positiveUniform(random));
}

/** Gamma(shape, 1) by Marsaglia and Tsang; shapes below 1 by the boost Gamma(a) = Gamma(a + 1) U^(1/a). */
export function sampleGamma(random: Random, shape: number): number {
  if (shape < 1) return sampleGamma(random, shape + 1) * positiveUniform(random) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = sampleStandardNormal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    if (Math.log(positiveUniform(random)) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Weibull(shape, 1) by inversion. */
export function sampleWeibull(random: Random, shape: number): number {
  return sampleExponential(random) ** (1 / shape);
}

/** Poisson(mean): Knuth's product method in slices of 30 (it underflows beyond), normal above 1e4. */
export function samplePoisson(random: Random, mean: number): number {
  if (!(mean > 0)) return 0;
  if (mean > 10_000) {
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * sampleStandardNormal(random)));
  }
  let count = 0;
  let left = mean;
  while (left > 0) {
    const slice = Math.min(30, left);
    left -= slice;
    const floor = Math.exp(-slice);
    let product = random();
    while (product > floor) {
      count += 1;
      product *= random();
    }
  }
  return count;
}

/** Negative binomial with the given mean and variance-to-mean ratio (`dispersion` >= 1): gamma-mixed Poisson. */
export function sampleOverdispersed(random: Random, mean: number, dispersion: number): number {
  if (!(mean > 0)) return 0;
  if (dispersion <= 1) return samplePoisson(random, mean);
  const shape = mean / (dispersion - 1);
  return samplePoisson(random, (sampleGamma(random, shape) * mean) / shape);
}

/** The `q`-quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
