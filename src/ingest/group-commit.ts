import { ErrorCode, HeadroomError, type IoResult } from '../errors/index.ts';

/** Rows of one submission that ClickHouse refused, each a TabSeparated line with its newline. */
export interface RefusedRows {
  lines: Buffer[];
  /** Why the first of them was refused. */
  error: Error;
}

/**
 * What a submitter learns once its rows are committed (all of them, or all but `refused`) or the
 * batch they rode in failed.
 */
export type CommitOutcome =
  | { kind: 'committed'; refused?: RefusedRows }
  | { kind: 'retryable'; error: Error }
  | { kind: 'failure'; error: Error };

interface Pending {
  chunk: Buffer;
  rows: number;
  resolve: (outcome: CommitOutcome) => void;
}

export interface GroupCommitOptions {
  /** Rows that trigger a flush without waiting. */
  maxBatchRows: number;
  /** Longest the first pending row waits for companions. */
  flushIntervalMillis: number;
  /** Rows accepted but not yet committed; beyond this, {@link GroupCommitter.tryEnqueue} refuses. */
  maxQueuedRows: number;
  /** Writes one batch; must not throw. */
  write: (chunks: readonly Buffer[]) => Promise<IoResult<void>>;
}

/**
 * Group commit: concurrent requests share one insert. Each request's promise settles only when the
 * insert carrying its rows has returned, so an acknowledgement always means "committed". One insert
 * runs at a time; rows arriving meanwhile form the next batch, so batches grow with load.
 */
export class GroupCommitter {
  readonly #options: GroupCommitOptions;
  #pending: Pending[] = [];
  #pendingRows = 0;
  #inFlightRows = 0;
  #writing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stats = { batches: 0, rows: 0, failedBatches: 0, isolatedBatches: 0 };

  constructor(options: GroupCommitOptions) {
    this.#options = options;
  }

  /** Rows accepted and not yet committed (pending plus the insert under way). */
  get queuedRows(): number {
    return this.#pendingRows + this.#inFlightRows;
  }

  get stats(): Readonly<{ batches: number; rows: number; failedBatches: number; isolatedBatches: number }> {
    return this.#stats;
  }

  /** Queues rows for the next batch, or returns undefined when the queue is full. */
  tryEnqueue(chunk: Buffer, rows: number): Promise<CommitOutcome> | undefined {
    if (rows > 0 && this.queuedRows + rows > this.#options.maxQueuedRows && this.queuedRows > 0)
      return undefined;
    return new Promise<CommitOutcome>((resolve) => {
      this.#pending.push({ chunk, rows, resolve });
      this.#pendingRows += rows;
      this.#schedule();
    });
  }

  /** Writes everything pending and waits for it. */
  async flush(): Promise<void> {
    while (this.#pending.length > 0 || this.#writing !== undefined) {
      if (this.#writing === undefined) this.#startWrite();
      await this.#writing;
    }
  }

  #schedule(): void {
    if (this.#writing !== undefined) return; // the running write picks the batch up when it ends
    if (this.#pendingRows >= this.#options.maxBatchRows || this.#options.flushIntervalMillis === 0) {
      this.#startWrite();
    } else {
      this.#timer ??= setTimeout(() => this.#startWrite(), this.#options.flushIntervalMillis);
    }
  }

  #startWrite(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#writing !== undefined || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#inFlightRows = this.#pendingRows;
    this.#pendingRows = 0;
    this.#writing = this.#write(batch).finally(() => {
      this.#writing = undefined;
      if (this.#pending.length > 0) {
        // Rows that queued while the insert ran have already waited at least one insert: go now.
        this.#startWrite();
      }
    });
  }

  async #tryWrite(chunks: readonly Buffer[]): Promise<IoResult<void>> {
    try {
      return await this.#options.write(chunks);
    } catch (error) {
      return { kind: 'failure', error: error instanceof Error ? error : new Error(String(error)) };
    }
  }

  async #write(batch: Pending[]): Promise<void> {
    const result = await this.#tryWrite(batch.map((p) => p.chunk));
    const rows = batch.reduce((sum, p) => sum + p.rows, 0);
    this.#stats.batches++;
    if (result.kind === 'success') {
      this.#stats.rows += rows;
      this.#inFlightRows = 0;
      for (const p of batch) p.resolve({ kind: 'committed' });
      return;
    }
    this.#stats.failedBatches++;
    if (result.kind === 'failure' && refusesRows(result.error)) {
      this.#stats.isolatedBatches++;
      await this.#isolate(batch, result.error);
      this.#inFlightRows = 0;
      return;
    }
    const outcome: CommitOutcome =
      result.kind === 'retryable'
        ? { kind: 'retryable', error: result.error }
        : { kind: 'failure', error: result.error };
    this.#inFlightRows = 0;
    for (const p of batch) p.resolve(outcome);
  }

  /**
   * ClickHouse refused the batch because of some rows in it: finds them by splitting, first between
   * submissions, then within a submission between rows, so that every other row still commits and
   * only the submission that sent the refused rows hears about them.
   */
  async #isolate(batch: Pending[], error: Error): Promise<void> {
    const settled = new Map<Pending, Settlement>(
      batch.map((p) => [p, { refused: [], refusedError: undefined, failed: undefined, rowWrites: 0 }]),
    );
    const descend = async (parts: Part[], cause: Error): Promise<void> => {
      if (parts.length > 1) {
        const middle = parts.length >>> 1;
        await attempt(parts.slice(0, middle));
        await attempt(parts.slice(middle));
        return;
      }
      const part = parts[0] as Part;
      const settlement = settled.get(part.pending) as Settlement;
      if (part.rows <= 1 || settlement.rowWrites >= MAX_ROW_ISOLATION_WRITES) {
        settlement.refused.push(...splitLines(part.chunk));
        settlement.refusedError ??= cause;
        return;
      }
      const at = lineBoundary(part.chunk, part.rows >>> 1);
      await attempt([{ pending: part.pending, chunk: part.chunk.subarray(0, at), rows: part.rows >>> 1 }]);
      await attempt([
        { pending: part.pending, chunk: part.chunk.subarray(at), rows: part.rows - (part.rows >>> 1) },
      ]);
    };
    const attempt = async (parts: Part[]): Promise<void> => {
      if (parts.length === 1) (settled.get((parts[0] as Part).pending) as Settlement).rowWrites++;
      const result = await this.#tryWrite(parts.map((p) => p.chunk));
      if (result.kind === 'success') return;
      if (result.kind === 'failure' && refusesRows(result.error)) {
        await descend(parts, result.error);
        return;
      }
      const outcome: CommitOutcome =
        result.kind === 'retryable'
          ? { kind: 'retryable', error: result.error }
          : { kind: 'failure', error: result.error };
      for (const part of parts) (settled.get(part.pending) as Settlement).failed ??= outcome;
    };
    await descend(
      batch.map((p) => ({ pending: p, chunk: p.chunk, rows: p.rows })),
      error,
    );
    for (const [pending, settlement] of settled) {
      if (settlement.failed !== undefined) {
        pending.resolve(settlement.failed);
        continue;
      }
      this.#stats.rows += pending.rows - settlement.refused.length;
      pending.resolve(
        settlement.refused.length === 0
          ? { kind: 'committed' }
          : {
              kind: 'committed',
              refused: { lines: settlement.refused, error: settlement.refusedError ?? error },
            },
      );
    }
  }
}

/** Inserts spent finding refused rows inside one submission; past it, what is left is refused whole. */
const MAX_ROW_ISOLATION_WRITES = 32;

interface Part {
  pending: Pending;
  chunk: Buffer;
  rows: number;
}

interface Settlement {
  refused: Buffer[];
  refusedError: Error | undefined;
  failed: CommitOutcome | undefined;
  rowWrites: number;
}

/** Whether ClickHouse refused the insert because of the rows in it (so splitting the batch helps). */
function refusesRows(error: Error): boolean {
  return error instanceof HeadroomError && error.code === ErrorCode.storeRefusedRows;
}

const NEWLINE = 0x0a;

/** The offset just after the `rows`-th line. Escaped TabSeparated text has no newline inside a field. */
function lineBoundary(chunk: Buffer, rows: number): number {
  let at = 0;
  for (let i = 0; i < rows; i++) {
    const next = chunk.indexOf(NEWLINE, at);
    if (next < 0) return chunk.length;
    at = next + 1;
  }
  return at;
}

function splitLines(chunk: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let at = 0;
  while (at < chunk.length) {
    const next = chunk.indexOf(NEWLINE, at);
    const end = next < 0 ? chunk.length : next + 1;
    lines.push(chunk.subarray(at, end));
    at = end;
  }
  return lines;
}
