/**
 * Small, allocation-light readers for the few values the SDK needs from provider response text,
 * without parsing (or even decoding) whole bodies: the key is located with a string search and only
 * the value after it is parsed. JSON escapes every `"` inside a string value, so a key token such as
 * `"usage"` followed by `:` can only be a real object key, never text inside a message.
 */

import { asRecord } from '../telemetry/index.ts';

const MAX_OBJECT_CHARS = 64 * 1024;

/** Index just past the whitespace and `:` that follow a key token ending at `from`, or -1. */
export function skipToValue(text: string, from: number): number {
  const colon = skipSpace(text, from);
  if (text.charCodeAt(colon) !== 58 /* : */) return -1;
  return skipSpace(text, colon + 1);
}

function skipSpace(text: string, from: number): number {
  let i = from;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return i;
    i++;
  }
}

/**
 * The JSON object that starts at `start` (which must be a `{`), parsed; undefined when there is
 * none, it is not closed within the text, or it is not valid JSON.
 */
export function readObjectAt(text: string, start: number): Readonly<Record<string, unknown>> | undefined {
  const end = findObjectEnd(text, start);
  return end === -1 ? undefined : parseObject(text.slice(start, end));
}

/**
 * Index just past the `}` closing the object that starts at `start` (which must be a `{`),
 * strings and nesting respected; -1 when there is no such object within reach.
 */
export function findObjectEnd(text: string, start: number): number {
  if (text.charCodeAt(start) !== 123 /* { */) return -1;
  const limit = Math.min(text.length, start + MAX_OBJECT_CHARS);
  let depth = 0;
  let inString = false;
  for (let i = start; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 123) {
      depth++;
    } else if (c === 125 /* } */) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function parseObject(text: string): Readonly<Record<string, unknown>> | undefined {
  try {
    return asRecord(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** The JSON string value that starts at `start` (which must be a `"`), unescaped; or undefined. */
export function readStringAt(text: string, start: number, maxChars = 256): string | undefined {
  if (text.charCodeAt(start) !== 34 /* " */) return undefined;
  const limit = Math.min(text.length, start + 1 + maxChars);
  let escaped = false;
  for (let i = start + 1; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (c === 92 /* \ */) {
      escaped = true;
      i++;
    } else if (c === 34) {
      if (!escaped) return text.slice(start + 1, i);
      try {
        return JSON.parse(text.slice(start, i + 1)) as string;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * The first string value of `"key"` in `text` (a JSON document or a fragment of one), skipping
 * occurrences whose value is not a string (e.g. a JSON-schema property named `model`).
 */
export function findStringValue(text: string, keyToken: string, from = 0): string | undefined {
  let at = text.indexOf(keyToken, from);
  while (at !== -1) {
    const valueAt = skipToValue(text, at + keyToken.length);
    if (valueAt !== -1 && text.charCodeAt(valueAt) === 34) {
      const value = readStringAt(text, valueAt);
      if (value !== undefined) return value;
    }
    at = text.indexOf(keyToken, at + keyToken.length);
  }
  return undefined;
}
