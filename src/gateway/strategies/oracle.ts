import { asRecord } from '../../telemetry/index.ts';
import { SmoothWeightedPicker, normaliseWeights } from './smooth-weights.ts';
import type { KeyChoiceStrategy, StrategyKey } from './types.ts';

/** One key in the provider simulator's `GET /sim/state`. */
export interface SimulatorKeyState {
  readonly keyId: string;
  readonly usable: boolean;
  /** Requests the key can still make before its tightest bucket or quota refuses. */
  readonly headroomRequests: number;
}

export interface SimulatorState {
  readonly nowMs: number;
  readonly keys: readonly SimulatorKeyState[];
}

/** Reads `GET /sim/state`: `{nowMs, keys:[{keyId, usable, headroomRequests, ...}]}`; undefined when malformed. */
export function parseSimulatorState(body: unknown): SimulatorState | undefined {
  const root = asRecord(body);
  const list = root?.['keys'];
  if (root === undefined || typeof root['nowMs'] !== 'number' || !Array.isArray(list)) return undefined;
  const keys: SimulatorKeyState[] = [];
  for (const item of list) {
    const key = asRecord(item);
    if (typeof key?.['keyId'] !== 'string') return undefined;
    const headroom = key['headroomRequests'];
    keys.push({
      keyId: key['keyId'],
      usable: key['usable'] === true,
      headroomRequests: typeof headroom === 'number' && Number.isFinite(headroom) ? Math.max(0, headroom) : 0,
    });
  }
  return { nowMs: root['nowMs'], keys };
}

/**
 * The upper bound: reads the simulator's buckets and weights each usable key by the requests it
 * can still make; unusable keys are left out. Before the first state, the configured defaults.
 */
export function createOracleStrategy(keys: readonly StrategyKey[]): KeyChoiceStrategy {
  const defaults = new Map(keys.map((k) => [k.keyId, k.weight]));
  const picker = new SmoothWeightedPicker();
  let state: Map<string, SimulatorKeyState> | undefined;
  const usable = (keyId: string): boolean => state === undefined || state.get(keyId)?.usable !== false;
  const weightOf = (keyId: string): number => {
    if (state === undefined) return defaults.get(keyId) ?? 0;
    const key = state.get(keyId);
    return key?.usable === true ? key.headroomRequests : 0;
  };
  return {
    name: 'oracle',
    choose: (_nowMs, candidates) =>
      picker.pick(candidates, weightOf) ?? picker.pick(candidates, (keyId) => (usable(keyId) ? 1 : 0)),
    readyAtMs: (_keyId, nowMs) => nowMs,
    observe: () => {},
    describe: () => ({
      source: state === undefined ? 'defaults (no simulator state)' : 'simulator',
      weights: normaliseWeights(new Map(keys.map((k) => [k.keyId, weightOf(k.keyId)]))),
    }),
    applySimulatorState: (next) => {
      state = new Map(next.keys.map((k) => [k.keyId, k]));
    },
  };
}
