/**
 * Observing a response body without copying it and without delaying the caller.
 *
 * `response.clone()` (a tee) or a pass-through stream would cost more CPU than the rest of the
 * instrumentation together (Node's web streams are JavaScript; a tee or an extra stream layer
 * costs about a microsecond per chunk), so the caller keeps the very Response object, and the very
 * body stream, that fetch returned, and the body is observed where the caller reads it:
 * - the response's prototype is swapped for one (derived from its own, once per Response class)
 *   whose `text`, `json`, `arrayBuffer`, `bytes`, `blob` and `formData` also hand the result (or
 *   the failure) to the observer;
 * - when `body` is asked for, the stream's prototype is swapped the same way (observed
 *   `getReader`, `values` / `Symbol.asyncIterator`, `cancel`, `tee`, `pipeTo`, `pipeThrough`), and
 *   so is its readers': their `read()` shows each chunk to the observer as the caller receives it. Nothing is read ahead of the caller, so nothing is
 *   buffered or delayed, and a cancel reaches the connection. (`tee` and `pipe*` go through a
 *   pass-through stream: rare, and they read on their own schedule anyway.)
 * A body nobody reads is reported once the response (or, after `body` was taken, the stream) has
 * been garbage collected. Registering every response for that costs more than the rest of the
 * observation, and almost every caller starts reading the body in the same turn of the event loop
 * it got the response in, so a sweep at the end of that turn registers only the observations whose
 * body nobody has claimed by then (and streams still being read).
 */

import type { ReadableStreamReadResult, ReadableWritablePair, StreamPipeOptions } from 'node:stream/web';

/** Told how a response body was consumed; no method may throw. */
export interface ResponseObserver {
  /** The caller read the whole body as text (`text()`, or `json()` of a body that is not JSON). */
  text(text: string): void;
  /** The caller read the whole body with `json()`: the parsed value, before the caller sees it. */
  document(value: unknown): void;
  /** The caller read the whole body as bytes (`arrayBuffer()`, `bytes()`, `blob()`). */
  bytes(bytes: Uint8Array): void;
  /** A chunk the caller just read from `body`. */
  chunk(bytes: Uint8Array): void;
  /** `body` ended normally. */
  done(): void;
  /** Reading the body failed (connection reset, abort, timeout). */
  fail(error: unknown): void;
  /** The caller cancelled `body` before its end. */
  cancel(): void;
  /** The body was consumed out of sight (`formData()`) or never (the response was collected). */
  abandon(): void;
}

interface ObservedState {
  readonly observer: ResponseObserver;
  /** How the body is consumed: not yet, whole (`text()` and friends), or through `body`'s readers. */
  mode: 'unread' | 'whole' | 'stream';
  /** The stream `body` returned, once patched. */
  stream: ReadableStream<Uint8Array> | undefined;
  /** The observer has been told how the body ended; later events are not reported. */
  settled: boolean;
  /** Continuations of an observed reader's reads, made at the first read. */
  readHandlers: ReadHandlers | undefined;
  /** What must be collected before the body counts as abandoned: the response, or its patched stream. */
  holder: object | undefined;
  /** `holder` is registered in the finalization registry (the sweep found the body unsettled). */
  registered: boolean;
}

interface ReadHandlers {
  readonly onResult: (result: ReadableStreamReadResult<Chunk>) => ReadableStreamReadResult<Chunk>;
  readonly onError: (error: unknown) => never;
}

type BodyGetter = (this: Response) => ReadableStream<Uint8Array> | null;
type BodyMethod<T> = (this: Response) => Promise<T>;
type Chunk = Uint8Array;
type StreamReader = ReadableStreamDefaultReader<Chunk>;

/**
 * The observation of a response, body stream or reader, kept on the object itself under a symbol:
 * a WeakMap entry per response costs more than the rest of the bookkeeping.
 */
const STATE = Symbol('headroom.observedBody');

interface Observed {
  [STATE]?: ObservedState;
}

function stateOf(target: object): ObservedState | undefined {
  return (target as Observed)[STATE];
}

function setState(target: object, state: ObservedState): void {
  (target as Observed)[STATE] = state;
}
const observedPrototypes = new WeakMap<object, object>();
const abandoned = new FinalizationRegistry<ResponseObserver>((observer) => observer.abandon());

let awaitingSweep: ObservedState[] = [];
let sweepTimer: ReturnType<typeof setImmediate> | undefined;

/**
 * The queue is swept early once this long, so calls made back to back without the event loop
 * turning (responses that need no I/O) cannot pile up.
 */
const MAX_AWAITING_SWEEP = 256;

/** Queues `state` for the next sweep, which registers its holder if the body is still unsettled. */
function watchForAbandon(state: ObservedState): void {
  if (awaitingSweep.length >= MAX_AWAITING_SWEEP) sweep();
  awaitingSweep.push(state);
  if (sweepTimer === undefined) {
    sweepTimer = setImmediate(sweep);
    // A pending sweep never keeps the process alive.
    sweepTimer.unref();
  }
}

function sweep(): void {
  if (sweepTimer !== undefined) {
    clearImmediate(sweepTimer);
    sweepTimer = undefined;
  }
  const queued = awaitingSweep;
  awaitingSweep = [];
  for (const state of queued) {
    // A whole-body read in flight settles by itself.
    if (!state.settled && state.mode !== 'whole' && state.holder !== undefined) {
      abandoned.register(state.holder, state.observer, state.observer);
      state.registered = true;
    }
    state.holder = undefined;
  }
}

/** Moves the abandonment watch of `state` to `holder` (the body stream, once patched). */
function moveAbandonWatch(state: ObservedState, holder: object): void {
  if (state.registered) {
    abandoned.unregister(state.observer);
    abandoned.register(holder, state.observer, state.observer);
  } else {
    state.holder = holder;
  }
}

/** Starts observing `response`'s body; returns false when this response cannot be observed. */
export function observeResponse(response: Response, observer: ResponseObserver): boolean {
  const prototype = Object.getPrototypeOf(response) as object | null;
  if (prototype === null) return false;
  let observedPrototype = observedPrototypes.get(prototype);
  if (observedPrototype === undefined) {
    const created = createObservedPrototype(prototype);
    if (created === undefined) return false;
    observedPrototype = created;
    observedPrototypes.set(prototype, observedPrototype);
  }
  const state = newState(observer);
  setState(response, state);
  Object.setPrototypeOf(response, observedPrototype);
  state.holder = response;
  watchForAbandon(state);
  return true;
}

/**
 * For a streamed body (server-sent events): observes the body stream itself right away instead of
 * the response, so every way of reading it (`body` readers, `for await`, `text()`, which reads
 * through the stream's `getReader`) reports chunk by chunk. Returns false when the body is not a
 * stream of this runtime.
 */
export function observeResponseStream(response: Response, observer: ResponseObserver): boolean {
  const stream = response.body;
  if (stream === null || Object.getPrototypeOf(stream) !== ReadableStream.prototype) return false;
  const state = newState(observer);
  patchStream(stream, state);
  watchForAbandon(state);
  return true;
}

function newState(observer: ResponseObserver): ObservedState {
  return {
    observer,
    mode: 'unread',
    stream: undefined,
    settled: false,
    readHandlers: undefined,
    holder: undefined,
    registered: false,
  };
}

/** Called by the observer once it has settled, so a collected response is not reported again. */
export function forgetObserver(observer: ResponseObserver): void {
  abandoned.unregister(observer);
}

function createObservedPrototype(base: object): object | undefined {
  const bodyGetter = findGetter(base, 'body');
  const text = findMethod<string>(base, 'text');
  const arrayBuffer = findMethod<ArrayBuffer>(base, 'arrayBuffer');
  if (bodyGetter === undefined || text === undefined || arrayBuffer === undefined) return undefined;
  const bytes = findMethod<Uint8Array>(base, 'bytes');
  const blob = findMethod<Blob>(base, 'blob');
  const formData = findMethod<FormData>(base, 'formData');

  const properties: PropertyDescriptorMap = {
    body: {
      configurable: true,
      enumerable: true,
      get(this: Response) {
        const stream = bodyGetter.call(this);
        const state = stateOf(this);
        if (stream !== null && state !== undefined && state.stream === undefined && state.mode === 'unread') {
          patchStream(stream, state);
        }
        return stream;
      },
    },
    text: method(function observedText(this: Response) {
      return observeWhole(this, () => text.call(this), reportText);
    }),
    json: method(function observedJson(this: Response): Promise<unknown> {
      // What fetch's json() does: the text, parsed; the parsed value is reported in the same continuation.
      return observeWhole(this, () => text.call(this), reportJson, parseJson);
    }),
    arrayBuffer: method(function observedArrayBuffer(this: Response) {
      return observeWhole(this, () => arrayBuffer.call(this), reportArrayBuffer);
    }),
  };
  if (bytes !== undefined) {
    properties['bytes'] = method(function observedBytes(this: Response) {
      return observeWhole(this, () => bytes.call(this), reportBytes);
    });
  }
  if (blob !== undefined) {
    properties['blob'] = method(function observedBlob(this: Response) {
      return observeWhole(this, () => blob.call(this), reportBlob);
    });
  }
  if (formData !== undefined) {
    properties['formData'] = method(function observedFormData(this: Response) {
      return observeWhole(this, () => formData.call(this), reportAbandoned);
    });
  }
  return Object.create(base, properties) as object;
}

const reportText = (observer: ResponseObserver, value: string): void => observer.text(value);
const reportJson = (observer: ResponseObserver, value: string, parsed: unknown): void => {
  if (parsed === undefined) observer.text(value);
  else observer.document(parsed);
};
const reportBytes = (observer: ResponseObserver, value: Uint8Array): void => observer.bytes(value);
const reportArrayBuffer = (observer: ResponseObserver, value: ArrayBuffer): void =>
  observer.bytes(new Uint8Array(value));
const reportBlob = (observer: ResponseObserver, value: Blob): void => {
  void value.arrayBuffer().then(
    (buffer) => observer.bytes(new Uint8Array(buffer)),
    () => observer.abandon(),
  );
};
const reportAbandoned = (observer: ResponseObserver): void => observer.abandon();
const parseJson = (text: string): unknown => JSON.parse(text) as unknown;

function method(value: (...args: never[]) => unknown): PropertyDescriptor {
  return { configurable: true, writable: true, enumerable: false, value };
}

/**
 * Reads the whole body with `read` and reports the result, unless the body is already being read;
 * resolves to the result, or to `convert(result)` (json()), converted in the same continuation and
 * reported along with the result (undefined when the conversion failed).
 */
function observeWhole<T, R = T>(
  response: Response,
  read: () => Promise<T>,
  report: (observer: ResponseObserver, value: T, converted: R | undefined) => void,
  convert?: (value: T) => R,
): Promise<R> {
  const state = stateOf(response);
  if (state === undefined || state.mode !== 'unread') {
    return convert === undefined ? (read() as Promise<unknown> as Promise<R>) : read().then(convert);
  }
  // Claimed before reading: fetch's own reader must not be taken for the caller's.
  state.mode = 'whole';
  const { observer } = state;
  // The pending read now ends the observation; the response may be dropped while it runs.
  if (state.registered) abandoned.unregister(observer);
  return read().then(
    (value) => {
      if (convert === undefined) {
        settle(state, observer, report, value, undefined);
        return value as unknown as R;
      }
      let converted: R;
      try {
        converted = convert(value);
      } catch (error) {
        settle(state, observer, report, value, undefined);
        throw error;
      }
      settle(state, observer, report, value, converted);
      return converted;
    },
    (error: unknown) => {
      if (!state.settled) {
        state.settled = true;
        observer.fail(error);
      }
      throw error;
    },
  );
}

function settle<T, R>(
  state: ObservedState,
  observer: ResponseObserver,
  report: (observer: ResponseObserver, value: T, converted: R | undefined) => void,
  value: T,
  converted: R | undefined,
): void {
  if (state.settled) return;
  state.settled = true;
  report(observer, value, converted);
}

// Native stream methods, called on the stream itself after its own properties shadow them.
/* eslint-disable @typescript-eslint/unbound-method -- always invoked with .call(stream) */
const nativeGetReader = ReadableStream.prototype.getReader as (
  this: ReadableStream<Chunk>,
  options?: { mode?: 'byob' },
) => StreamReader;
const nativeCancel = ReadableStream.prototype.cancel;
const nativeTee = ReadableStream.prototype.tee;
const nativePipeTo = ReadableStream.prototype.pipeTo;
const nativePipeThrough = ReadableStream.prototype.pipeThrough;
/* eslint-enable @typescript-eslint/unbound-method */

/** `ReadableStream.prototype` with the methods that take a reader observed; streams of patched bodies use it. */
const OBSERVED_STREAM_PROTOTYPE = Object.create(ReadableStream.prototype, {
  getReader: method(observedGetReader),
  values: method(observedValues),
  [Symbol.asyncIterator]: method(observedValues),
  cancel: method(observedCancel),
  tee: method(function observedTee(this: ReadableStream<Chunk>) {
    return nativeTee.call(passThroughOf(this));
  }),
  pipeTo: method(function observedPipeTo(
    this: ReadableStream<Chunk>,
    destination: WritableStream<Chunk>,
    options?: StreamPipeOptions,
  ) {
    return nativePipeTo.call(passThroughOf(this), destination, options);
  }),
  pipeThrough: method(function observedPipeThrough<T>(
    this: ReadableStream<Chunk>,
    transform: ReadableWritablePair<T, Chunk>,
    options?: StreamPipeOptions,
  ) {
    return nativePipeThrough.call(passThroughOf(this), transform, options);
  }),
}) as object;

/** Reader prototypes (default and BYOB) with `read` and `cancel` observed, made once per class. */
const observedReaderPrototypes = new WeakMap<object, object>();

function patchStream(stream: ReadableStream<Chunk>, state: ObservedState): void {
  // Only this runtime's own streams: their methods live on ReadableStream.prototype.
  if (Object.getPrototypeOf(stream) !== ReadableStream.prototype) return;
  setState(stream, state);
  Object.setPrototypeOf(stream, OBSERVED_STREAM_PROTOTYPE);
  state.stream = stream;
  // Whoever reads the body holds the stream (a reader keeps it alive), maybe not the response.
  moveAbandonWatch(state, stream);
}

function observedGetReader(this: ReadableStream<Chunk>, options?: { mode?: 'byob' }): StreamReader {
  const reader = nativeGetReader.call(this, options);
  const state = stateOf(this);
  if (state === undefined || state.mode === 'whole' || state.settled) return reader;
  state.mode = 'stream';
  observeReader(reader, state);
  return reader;
}

/** Makes `reader` report what it reads (and a cancel) to the stream's observer. */
function observeReader(reader: StreamReader, state: ObservedState): void {
  const base = Object.getPrototypeOf(reader) as object;
  let observed = observedReaderPrototypes.get(base);
  if (observed === undefined) {
    observed = createObservedReaderPrototype(base);
    observedReaderPrototypes.set(base, observed);
  }
  setState(reader, state);
  Object.setPrototypeOf(reader, observed);
}

function createObservedReaderPrototype(base: object): object {
  const { read, cancel } = base as {
    read: (this: StreamReader, ...args: []) => Promise<ReadableStreamReadResult<Chunk>>;
    cancel: (this: StreamReader, reason?: unknown) => Promise<void>;
  };
  return Object.create(base, {
    // A BYOB reader's read(view) takes an argument; it is passed on as given.
    read: method(function observedRead(this: StreamReader, ...args: []) {
      const state = stateOf(this);
      const pending = read.apply(this, args);
      if (state === undefined || state.settled) return pending;
      // Handlers made once per stream: a read per chunk must not also allocate two closures.
      state.readHandlers ??= createReadHandlers(state);
      return pending.then(state.readHandlers.onResult, state.readHandlers.onError);
    }),
    cancel: method(function observedReaderCancel(this: StreamReader, reason?: unknown) {
      const state = stateOf(this);
      if (state !== undefined && !state.settled) {
        state.settled = true;
        state.observer.cancel();
      }
      return cancel.call(this, reason);
    }),
  }) as object;
}

function createReadHandlers(state: ObservedState): ReadHandlers {
  return {
    onResult: (result) => {
      if (!state.settled) {
        if (result.done) {
          state.settled = true;
          state.observer.done();
        } else {
          state.observer.chunk(result.value);
        }
      }
      return result;
    },
    onError: (error) => {
      if (!state.settled) {
        state.settled = true;
        state.observer.fail(error);
      }
      throw error;
    },
  };
}

function observedCancel(this: ReadableStream<Chunk>, reason?: unknown): Promise<void> {
  const state = stateOf(this);
  if (state !== undefined && !this.locked && !state.settled) {
    state.settled = true;
    state.observer.cancel();
  }
  return nativeCancel.call(this, reason);
}

/**
 * The stream's async iterator (`for await`), over an observed reader; as the Streams standard
 * specifies it: reads are queued, the lock is released at the end, and leaving the loop early
 * cancels the stream unless `preventCancel` is set.
 */
function observedValues(
  this: ReadableStream<Chunk>,
  options?: { preventCancel?: boolean },
): AsyncIterableIterator<Chunk> {
  const reader = observedGetReader.call(this);
  const preventCancel = options?.preventCancel === true;
  let finished = false;
  let ongoing: Promise<IteratorResult<Chunk>> | undefined;
  let queued = 0;
  const release = (): void => {
    finished = true;
    reader.releaseLock();
  };
  const nextSteps = (): Promise<IteratorResult<Chunk>> => {
    if (finished) {
      queued--;
      return Promise.resolve({ done: true, value: undefined });
    }
    return reader.read().then(
      (result): IteratorResult<Chunk> => {
        queued--;
        if (!result.done) return { done: false, value: result.value };
        release();
        return { done: true, value: undefined };
      },
      (error: unknown) => {
        queued--;
        release();
        throw error;
      },
    );
  };
  const returnSteps = (value: unknown): Promise<IteratorResult<Chunk>> => {
    queued--;
    const result: IteratorResult<Chunk> = { done: true, value: value as undefined };
    if (finished) return Promise.resolve(result);
    if (preventCancel) {
      release();
      return Promise.resolve(result);
    }
    const cancelled = reader.cancel(value);
    release();
    return cancelled.then(() => result);
  };
  const enqueue = (steps: () => Promise<IteratorResult<Chunk>>): Promise<IteratorResult<Chunk>> => {
    queued++;
    // Only chain behind a read still in flight: a resolved one would cost an extra turn per chunk.
    ongoing = queued > 1 && ongoing !== undefined ? ongoing.then(steps, steps) : steps();
    return ongoing;
  };
  return {
    next: () => enqueue(nextSteps),
    return: (value?: unknown) => enqueue(() => returnSteps(value)),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * For `tee` and `pipe*`: a stream that passes the chunks of `source` on as they are pulled and
 * shows them to the observer; high-water mark 0, so it reads nothing ahead of its consumer.
 */
function passThroughOf(source: ReadableStream<Chunk>): ReadableStream<Chunk> {
  const state = stateOf(source);
  const reader = nativeGetReader.call(source);
  if (state !== undefined && state.mode !== 'whole' && !state.settled) {
    state.mode = 'stream';
    observeReader(reader, state);
  }
  return new ReadableStream<Chunk>(
    {
      pull(controller) {
        return reader.read().then(
          (result) => {
            if (result.done) controller.close();
            else controller.enqueue(result.value);
          },
          (error: unknown) => controller.error(error),
        );
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

function findGetter(prototype: object, name: string): BodyGetter | undefined {
  for (let at: object | null = prototype; at !== null; at = Object.getPrototypeOf(at) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(at, name);
    // The getter is only ever invoked with `.call(response)`.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    if (descriptor !== undefined) return descriptor.get as BodyGetter | undefined;
  }
  return undefined;
}

function findMethod<T>(prototype: object, name: string): BodyMethod<T> | undefined {
  const value = (prototype as Record<string, unknown>)[name];
  return typeof value === 'function' ? (value as BodyMethod<T>) : undefined;
}
