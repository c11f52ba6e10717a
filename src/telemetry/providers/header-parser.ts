import type { RateLimitDimension } from '../index.ts';
import type { ParseState } from '../parse-state.ts';

/** One provider's header family. Implementations live one per file and are listed in `registry.ts`. */
export interface HeaderParser {
  /** Short id of the header family, for debugging and logs. */
  readonly id: string;
  /**
   * Reads this family's headers from `state.headers` and records what it finds with `putBucket`.
   * Must do nothing (and cost a few lookups at most) when the family's headers are absent, because
   * responses of unknown providers are offered to every parser.
   */
  parse(state: ParseState, options: HeaderParseOptions): void;
}

export interface HeaderParseOptions {
  /**
   * True when the caller named this parser's provider. Families whose header names are generic
   * (GitHub's unsuffixed `x-ratelimit-*`) only trust them then, or when other evidence is present.
   */
  readonly providerKnown: boolean;
}

/** The names of the headers reporting one dimension's bucket, in families that name one per field. */
export interface BucketHeaderNames {
  readonly dimension: RateLimitDimension;
  readonly limit: string;
  readonly remaining: string;
  readonly reset: string;
}
