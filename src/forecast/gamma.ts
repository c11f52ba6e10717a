import { errorFunction, gammaln } from 'simple-statistics';

/** Above this shape the Wilson-Hilferty cube-root normal approximation is within ~1e-4 of the exact tail. */
const WILSON_HILFERTY_MIN_SHAPE = 150;
const MAX_ITERATIONS = 1000;
const EPSILON = 1e-12;
const TINY = 1e-300;

function standardNormalTail(z: number): number {
  return 0.5 * (1 - errorFunction(z / Math.SQRT2));
}

/** Regularised upper incomplete gamma Q(shape, x) (Numerical Recipes: series below shape+1, else Lentz). */
function upperRegularisedGamma(shape: number, x: number): number {
  if (x <= 0) return 1;
  const logPrefix = -x + shape * Math.log(x) - gammaln(shape);
  if (x < shape + 1) {
    let term = 1 / shape;
    let sum = term;
    let denominator = shape;
    for (let i = 0; i < MAX_ITERATIONS; i += 1) {
      denominator += 1;
      term *= x / denominator;
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
    }
    return Math.min(1, Math.max(0, 1 - sum * Math.exp(logPrefix)));
  }
  let b = x + 1 - shape;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i += 1) {
    const an = -i * (i - shape);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return Math.min(1, Math.max(0, Math.exp(logPrefix) * h));
}

/**
 * P(X >= x) for X ~ Gamma with the given mean and variance (moment-matched). The predictive
 * distribution of future usage is a scaled negative binomial; a gamma with the same two moments is its
 * continuous counterpart and has a cheap, accurate tail.
 */
export function gammaTailByMoments(mean: number, variance: number, x: number): number {
  if (x <= 0) return 1;
  if (!(mean > 0)) return 0;
  if (!(variance > 0)) return mean >= x ? 1 : 0;
  const shape = (mean * mean) / variance;
  const scale = variance / mean;
  if (shape >= WILSON_HILFERTY_MIN_SHAPE) {
    const ninth = 1 / (9 * shape);
    const z = (Math.cbrt(x / (shape * scale)) - (1 - ninth)) / Math.sqrt(ninth);
    return standardNormalTail(z);
  }
  return upperRegularisedGamma(shape, x / scale);
}
