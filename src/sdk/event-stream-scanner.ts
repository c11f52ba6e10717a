import { Buffer } from 'node:buffer';
import type { UsageCollector } from './usage-collector.ts';

/** Longest partial line kept between chunks; a longer one is not an event worth reading. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
const LINE_FEED = 10;

/**
 * UTF-8 decoding of a byte range of any Uint8Array (fetch hands out plain Uint8Arrays, not
 * Buffers). Buffer's own slice method takes any Uint8Array as `this` and costs about half of
 * `TextDecoder.decode` for an event-sized chunk, which is paid for every chunk of every stream;
 * TextDecoder stands in should a runtime not have it.
 */
const decodeUtf8: (bytes: Uint8Array, end: number) => string = (() => {
  const utf8Slice = (Buffer.prototype as { utf8Slice?: unknown }).utf8Slice;
  if (typeof utf8Slice === 'function') {
    const slice = utf8Slice as (this: Uint8Array, start: number, end: number) => string;
    return (bytes, end) => slice.call(bytes, 0, end);
  }
  const decoder = new TextDecoder();
  return (bytes, end) => decoder.decode(end === bytes.length ? bytes : bytes.subarray(0, end));
})();

/**
 * Feeds complete lines of a server-sent-event (or newline-delimited JSON) stream to a
 * {@link UsageCollector}, one chunk at a time. Chunks are cut at their last line feed, which is
 * never inside a UTF-8 sequence, so each complete part decodes on its own; a line split across
 * chunks waits for its end (copied, since the caller owns the chunks).
 */
export class EventStreamScanner {
  readonly #collector: UsageCollector;
  #pending: Uint8Array | undefined;

  constructor(collector: UsageCollector) {
    this.#collector = collector;
  }

  write(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.#pending !== undefined) {
      bytes = new Uint8Array(this.#pending.length + chunk.length);
      bytes.set(this.#pending);
      bytes.set(chunk, this.#pending.length);
      this.#pending = undefined;
    }
    const lastBreak = bytes.lastIndexOf(LINE_FEED);
    if (lastBreak !== bytes.length - 1) {
      const restLength = bytes.length - lastBreak - 1;
      this.#pending = restLength > MAX_PENDING_BYTES ? undefined : bytes.slice(lastBreak + 1);
    }
    if (lastBreak === -1) return;
    this.#collector.scanText(decodeUtf8(bytes, lastBreak + 1));
  }

  end(): void {
    const rest = this.#pending;
    this.#pending = undefined;
    if (rest !== undefined) this.#collector.scanText(decodeUtf8(rest, rest.length));
  }
}
