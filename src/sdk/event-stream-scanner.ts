import type { UsageCollector } from './usage-collector.ts';

/** Longest partial line kept between chunks; a longer one is not an event worth reading. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
const LINE_FEED = 10;

const decoder = new TextDecoder();

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
    this.#collector.scanText(
      decoder.decode(lastBreak === bytes.length - 1 ? bytes : bytes.subarray(0, lastBreak + 1)),
    );
  }

  end(): void {
    const rest = this.#pending;
    this.#pending = undefined;
    if (rest !== undefined) this.#collector.scanText(decoder.decode(rest));
  }
}
