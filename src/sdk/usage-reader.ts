import { Buffer } from 'node:buffer';
import { EventStreamScanner } from './event-stream-scanner.ts';
import { UsageCollector, type TokenUsage } from './usage-collector.ts';

/** A whole JSON body larger than this is not kept for its usage (embeddings of big batches). */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

/** What a response body said about the call, once it has been read to its end. */
export interface ResponseUsage extends TokenUsage {
  responseModel?: string;
  /** An in-band error object, e.g. an SSE `error` event after a 200. */
  errorBody?: Readonly<Record<string, unknown>>;
}

/**
 * Reads token usage and the response model from a response body as a gateway passes it on, one
 * chunk at a time, for {@link recordApiCall}: an event stream is scanned line by line as it goes; a
 * JSON body is kept (up to 4 MiB) and searched once at its end. Chunks are only read, never held
 * back or changed.
 */
export interface UsageReader {
  write(chunk: Uint8Array): void;
  finish(): ResponseUsage;
}

/** A reader for a body of `contentType` (`text/event-stream` or newline-delimited JSON: streamed). */
export function createUsageReader(contentType: string | undefined): UsageReader {
  const collector = new UsageCollector();
  const type = contentType?.toLowerCase() ?? '';
  const finish = (): ResponseUsage => {
    const usage: ResponseUsage = collector.readUsage();
    if (collector.responseModel !== undefined) usage.responseModel = collector.responseModel;
    if (collector.errorBody !== undefined) usage.errorBody = collector.errorBody;
    return usage;
  };
  if (type.includes('event-stream') || type.includes('ndjson')) {
    const scanner = new EventStreamScanner(collector);
    return {
      write: (chunk) => scanner.write(chunk),
      finish: () => {
        scanner.end();
        return finish();
      },
    };
  }
  let chunks: Uint8Array[] | undefined = [];
  let bytes = 0;
  return {
    write: (chunk) => {
      if (chunks === undefined) return;
      bytes += chunk.byteLength;
      if (bytes > MAX_DOCUMENT_BYTES) chunks = undefined;
      else chunks.push(chunk);
    },
    finish: () => {
      if (chunks !== undefined && chunks.length > 0) collector.scanDocumentBytes(Buffer.concat(chunks));
      chunks = undefined;
      return finish();
    },
  };
}
