import type { AdvisedSpill, PoolAdvice } from './strategies/advice.ts';
import type { KeyChoiceStrategy } from './strategies/types.ts';

/** The spill a pool carries out now. */
export interface SpillView {
  readonly pool: string;
  readonly share: number;
}

/**
 * Carries out the spill of headroom's advice for one pool: which of the pool's incoming requests go
 * to a fallback pool of the same gateway. Deterministic share tracking: each request adds every
 * fallback's share to its credit, and a request goes to the fallback with the largest credit once
 * that credit reaches a whole request. Credits start at zero with each new advice, so from any
 * advice on, a fallback never receives more than `floor(share × requests)`. Pure: time is an
 * argument.
 */
export class SpillRouter {
  readonly #fallbacks: ReadonlySet<string>;
  #spill: readonly AdvisedSpill[] = [];
  #credits: number[] = [];
  #validUntilMs = -Infinity;
  #lifetimeMs = 0;

  /** `pools`: the pools configured in the gateway; a spill to any other pool (or to itself) is ignored. */
  constructor(pool: string, pools: Iterable<string>) {
    this.#fallbacks = new Set([...pools].filter((p) => p !== pool));
  }

  /** Takes the advice's spill; returns the pools it names that this gateway cannot spill to. */
  apply(advice: PoolAdvice): string[] {
    const ignored: string[] = [];
    const spill: AdvisedSpill[] = [];
    for (const share of advice.spill) {
      if (!this.#fallbacks.has(share.pool)) ignored.push(share.pool);
      else if (share.share > 0) spill.push(share);
    }
    this.#spill = spill;
    this.#credits = spill.map(() => 0);
    this.#validUntilMs = advice.validUntilMs;
    this.#lifetimeMs = Math.max(0, advice.validUntilMs - advice.generatedAtMs);
    return ignored;
  }

  /** headroom confirmed the advice held (a 304): its spill stays valid for as long again. */
  confirm(nowMs: number): void {
    if (this.#spill.length === 0) return;
    this.#validUntilMs = Math.max(this.#validUntilMs, nowMs + this.#lifetimeMs);
  }

  /** The fallback pool that serves the next request of this pool, or undefined: the pool itself. */
  route(nowMs: number): string | undefined {
    if (this.#spill.length === 0 || nowMs > this.#validUntilMs) return undefined;
    let best = -1;
    for (const [i, share] of this.#spill.entries()) {
      const credit = (this.#credits[i] as number) + share.share;
      this.#credits[i] = credit;
      if (credit >= 1 - 1e-9 && (best === -1 || credit > (this.#credits[best] as number))) best = i;
    }
    if (best === -1) return undefined;
    this.#credits[best] = (this.#credits[best] as number) - 1;
    return (this.#spill[best] as AdvisedSpill).pool;
  }

  /** The spill in force now (empty when there is none or the advice expired). */
  describe(nowMs: number): SpillView[] {
    if (nowMs > this.#validUntilMs) return [];
    return this.#spill.map((s) => ({ pool: s.pool, share: s.share }));
  }
}

/**
 * The pool's strategy with its advice also feeding `spill`, so advice polled or pushed reaches both.
 * `onIgnored` hears the fallback pools an advice names that the gateway cannot spill to.
 */
export function withSpill(
  strategy: KeyChoiceStrategy,
  spill: SpillRouter,
  onIgnored: (pools: readonly string[]) => void,
): KeyChoiceStrategy {
  if (strategy.applyAdvice === undefined) return strategy;
  return {
    ...strategy,
    applyAdvice: (advice, nowMs) => {
      strategy.applyAdvice?.(advice, nowMs);
      const ignored = spill.apply(advice);
      if (ignored.length > 0) onIgnored(ignored);
    },
    confirmAdvice: (nowMs) => {
      strategy.confirmAdvice?.(nowMs);
      spill.confirm(nowMs);
    },
  };
}
