import { Buffer } from 'node:buffer';
import { asRecord } from '../telemetry/index.ts';
import { findObjectEnd, readObjectAt, readStringAt, skipToValue } from './json-scan.ts';

/** Token usage of one call, as the GenAI semantic conventions count it. */
export interface TokenUsage {
  /** All input tokens, cached ones included (`gen_ai.usage.input_tokens`). */
  inputTokens?: number;
  outputTokens?: number;
  /** Input tokens served from the provider's prompt cache (`gen_ai.usage.cache_read.input_tokens`). */
  cachedInputTokens?: number;
}

const USAGE_KEY = '"usage';
const MODEL_KEY = '"model';
const MODEL_NEEDLE = Buffer.from(MODEL_KEY);
/**
 * Cheap first look at a piece of an event stream (one regular-expression pass, cheaper than a
 * single `indexOf`): most events hold neither a usage object (OpenAI sends `"usage":null` in every
 * chunk), nor an error object, nor (after the first) a model name worth reading.
 */
const WORTH_SCANNING = /"(?:usage(?:Metadata)?"\s*:\s*\{|error"\s*:\s*\{)/;
const WORTH_SCANNING_FOR_MODEL = /"(?:usage(?:Metadata)?"\s*:\s*\{|error"\s*:\s*\{|model)/;
const USAGE_PREFIX_NEEDLE = Buffer.from(USAGE_KEY);
/** A count of a usage object: a known field name and a non-negative integer (no fraction, no exponent). */
const USAGE_FIELD =
  /"(prompt_tokens|completion_tokens|input_tokens|output_tokens|cached_tokens|cache_read_input_tokens|cache_creation_input_tokens|promptTokenCount|candidatesTokenCount|thoughtsTokenCount|cachedContentTokenCount)"\s*:\s*(\d+)(?![\d.eE])/g;
const MODEL_WINDOW_BYTES = 512;
const USAGE_WINDOW_BYTES = 64 * 1024;

/**
 * Collects token usage, the response model and an in-band error from provider response text: a
 * whole JSON body, or the events of a server-sent-event stream one piece at a time. Later usage
 * objects override the fields they carry, which is how every provider's stream reports its final
 * (cumulative) counts:
 * - OpenAI Chat Completions: `usage.prompt_tokens`, `completion_tokens`,
 *   `prompt_tokens_details.cached_tokens`; streamed in the last chunk with
 *   `stream_options.include_usage` (earlier chunks carry `"usage":null`);
 * - OpenAI Responses: `usage.input_tokens` (cached included), `output_tokens`,
 *   `input_tokens_details.cached_tokens`; streamed in `response.completed`;
 * - Anthropic Messages: `usage.input_tokens` (cache reads and writes excluded),
 *   `cache_read_input_tokens`, `cache_creation_input_tokens`, `output_tokens`; streamed in
 *   `message_start` (input) and `message_delta` (cumulative output);
 * - Gemini: `usageMetadata.promptTokenCount` (cached included), `candidatesTokenCount`,
 *   `thoughtsTokenCount`, `cachedContentTokenCount`; every streamed chunk carries the running totals.
 */
export class UsageCollector {
  responseModel: string | undefined;
  /** In-band error object (`{ error: {...} }` shape), e.g. an SSE `error` event after a 200. */
  errorBody: Record<string, unknown> | undefined;

  // Raw provider fields; combined only when read, because streams report them in pieces.
  #promptTokens: number | undefined;
  #completionTokens: number | undefined;
  #inputTokens: number | undefined;
  #outputTokens: number | undefined;
  /** `prompt_tokens_details.cached_tokens` (Chat Completions), `input_tokens_details.cached_tokens` (Responses). */
  #cachedTokens: number | undefined;
  #cacheReadInputTokens: number | undefined;
  #cacheCreationInputTokens: number | undefined;
  #promptTokenCount: number | undefined;
  #candidatesTokenCount: number | undefined;
  #thoughtsTokenCount: number | undefined;
  #cachedContentTokenCount: number | undefined;

  /** Applies every usage object, the first model name and any error object found in `text`. */
  scanText(text: string): void {
    if (!(this.responseModel === undefined ? WORTH_SCANNING_FOR_MODEL : WORTH_SCANNING).test(text)) return;
    if (this.responseModel === undefined) this.#scanModel(text);
    for (let at = text.indexOf(USAGE_KEY); at !== -1; at = text.indexOf(USAGE_KEY, at + USAGE_KEY.length)) {
      this.#applyUsageAt(text, at);
    }
    if (text.includes('"error"')) this.#scanError(text);
  }

  /**
   * For a whole (non-streamed) JSON body: only the first model and the last usage object count
   * (the top-level ones in every provider's format, Gemini's streamed JSON array included). Both
   * searches stop near where they start, so a large body (embeddings) costs little.
   */
  scanDocument(text: string): void {
    if (this.responseModel === undefined) this.#scanModel(text);
    // One backward search finds both `"usage"` and `"usageMetadata"`; other keys are skipped.
    let at = text.lastIndexOf(USAGE_KEY);
    while (at !== -1 && this.#applyUsageAt(text, at) === -1)
      at = at === 0 ? -1 : text.lastIndexOf(USAGE_KEY, at - 1);
  }

  /**
   * {@link scanDocument} for a body the caller parsed itself (`json()`): the first top-level model
   * name and the last top-level usage object (of the last element, for Gemini's streamed array).
   */
  readDocument(document: unknown): void {
    const items: readonly unknown[] = Array.isArray(document) ? document : [document];
    for (const item of items) {
      if (this.responseModel !== undefined) break;
      const record = asRecord(item);
      const model = record?.['model'] ?? record?.['modelVersion'];
      if (typeof model === 'string' && model !== '') this.responseModel = model;
    }
    for (let index = items.length - 1; index >= 0; index--) {
      const record = asRecord(items[index]);
      const usage = asRecord(record?.['usage'] ?? record?.['usageMetadata']);
      if (usage !== undefined) {
        this.#applyUsageObject(usage, 0);
        return;
      }
    }
  }

  /** {@link scanDocument} for a body read as bytes: only the bytes around the keys are decoded. */
  scanDocumentBytes(bytes: Buffer): void {
    if (this.responseModel === undefined) {
      let at = bytes.indexOf(MODEL_NEEDLE);
      for (let tries = 0; at !== -1 && tries < 8 && this.responseModel === undefined; tries++) {
        this.#scanModel(bytes.toString('utf8', at, at + MODEL_WINDOW_BYTES));
        at = bytes.indexOf(MODEL_NEEDLE, at + MODEL_NEEDLE.length);
      }
    }
    let at = bytes.lastIndexOf(USAGE_PREFIX_NEEDLE);
    while (at !== -1 && this.#applyUsageAt(bytes.toString('utf8', at, at + USAGE_WINDOW_BYTES), 0) === -1) {
      at = at === 0 ? -1 : bytes.lastIndexOf(USAGE_PREFIX_NEEDLE, at - 1);
    }
  }

  /**
   * Applies the counts of the usage object in `text[start, end)`. Read with one regular-expression
   * pass rather than JSON.parse (which costs twice as much for a usage object): the field names
   * are distinct enough that nesting does not matter, and only non-negative integers are taken.
   */
  #applyUsageFields(text: string, start: number, end: number): void {
    const pattern = USAGE_FIELD;
    pattern.lastIndex = start;
    for (let match = pattern.exec(text); match !== null && match.index < end; match = pattern.exec(text)) {
      const count = Number(match[2]);
      if (Number.isSafeInteger(count)) this.#applyCount(match[1] as string, count);
    }
  }

  /** Applies the counts of a parsed usage object and of the `*_details` objects inside it. */
  #applyUsageObject(usage: Readonly<Record<string, unknown>>, depth: number): void {
    for (const name in usage) {
      const value = usage[name];
      if (typeof value === 'number') {
        if (Number.isSafeInteger(value) && value >= 0) this.#applyCount(name, value);
        continue;
      }
      const details = depth === 0 ? asRecord(value) : undefined;
      if (details !== undefined) this.#applyUsageObject(details, 1);
    }
  }

  #applyCount(name: string, count: number): void {
    switch (name) {
      case 'prompt_tokens':
        this.#promptTokens = count;
        break;
      case 'completion_tokens':
        this.#completionTokens = count;
        break;
      case 'input_tokens':
        this.#inputTokens = count;
        break;
      case 'output_tokens':
        this.#outputTokens = count;
        break;
      case 'cached_tokens':
        this.#cachedTokens = count;
        break;
      case 'cache_read_input_tokens':
        this.#cacheReadInputTokens = count;
        break;
      case 'cache_creation_input_tokens':
        this.#cacheCreationInputTokens = count;
        break;
      case 'promptTokenCount':
        this.#promptTokenCount = count;
        break;
      case 'candidatesTokenCount':
        this.#candidatesTokenCount = count;
        break;
      case 'thoughtsTokenCount':
        this.#thoughtsTokenCount = count;
        break;
      case 'cachedContentTokenCount':
        this.#cachedContentTokenCount = count;
        break;
    }
  }

  /** The usage collected so far, in GenAI semantic-convention terms. */
  readUsage(): TokenUsage {
    const usage: TokenUsage = {};
    const input = this.#readInputTokens();
    if (input !== undefined) usage.inputTokens = input;
    const output =
      this.#completionTokens ??
      this.#outputTokens ??
      sumKnown(this.#candidatesTokenCount, this.#thoughtsTokenCount);
    if (output !== undefined) usage.outputTokens = output;
    const cached = this.#cachedTokens ?? this.#cacheReadInputTokens ?? this.#cachedContentTokenCount;
    if (cached !== undefined) usage.cachedInputTokens = cached;
    return usage;
  }

  #readInputTokens(): number | undefined {
    if (this.#promptTokens !== undefined) return this.#promptTokens;
    if (this.#inputTokens !== undefined) {
      // Anthropic counts cache reads and writes apart from input_tokens; the semantic conventions
      // (and OpenAI, Gemini) count every input token.
      return this.#inputTokens + (this.#cacheReadInputTokens ?? 0) + (this.#cacheCreationInputTokens ?? 0);
    }
    return this.#promptTokenCount;
  }

  #scanModel(text: string): void {
    let at = text.indexOf(MODEL_KEY);
    while (at !== -1) {
      // `"model"` (OpenAI, Anthropic) or `"modelVersion"` (Gemini).
      let end = at + MODEL_KEY.length;
      if (text.startsWith('Version"', end)) end += 8;
      else if (text.charCodeAt(end) === 34 /* " */) end += 1;
      else end = -1;
      if (end !== -1) {
        const valueAt = skipToValue(text, end);
        const model = valueAt === -1 ? undefined : readStringAt(text, valueAt);
        if (model !== undefined && model !== '') {
          this.responseModel = model;
          return;
        }
      }
      at = text.indexOf(MODEL_KEY, at + MODEL_KEY.length);
    }
  }

  /**
   * Applies the usage object whose key token starts at `at`; returns the index just past it, or
   * -1 when `at` holds no usage object (another key such as `"usage_tier"`, or `"usage":null`).
   */
  #applyUsageAt(text: string, at: number): number {
    let end = at + USAGE_KEY.length;
    if (text.charCodeAt(end) === 34 /* " */) end += 1;
    else if (text.startsWith('Metadata"', end)) end += 9;
    else return -1;
    const valueAt = skipToValue(text, end);
    if (valueAt === -1) return -1;
    const objectEnd = findObjectEnd(text, valueAt);
    if (objectEnd === -1) return -1;
    this.#applyUsageFields(text, valueAt, objectEnd);
    return objectEnd;
  }

  #scanError(text: string): void {
    // `{"error":{...}}` (OpenAI) and `{"type":"error","error":{...}}` (Anthropic, e.g. an
    // `overloaded_error` after the stream started).
    let at = text.indexOf('"error"');
    while (at !== -1) {
      const valueAt = skipToValue(text, at + 7);
      const error = valueAt === -1 ? undefined : readObjectAt(text, valueAt);
      if (error !== undefined) {
        this.errorBody = { error };
        return;
      }
      at = text.indexOf('"error"', at + 7);
    }
  }
}

function sumKnown(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined && b === undefined) return undefined;
  return (a ?? 0) + (b ?? 0);
}
