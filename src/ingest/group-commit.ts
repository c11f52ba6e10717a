import type { IoResult } from '../errors/index.ts';

/** What a submitter learns once its rows are committed or the batch they rode in failed. */
export type CommitOutcome =
  { kind: 'committed' } | { kind: 'retryable'; error: Error } | { kind: 'failure'; error: Error };

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
  #stats = { batches: 0, rows: 0, failedBatches: 0 };

  constructor(options: GroupCommitOptions) {
    this.#options = options;
  }

  /** Rows accepted and not yet committed (pending plus the insert under way). */
  get queuedRows(): number {
    return this.#pendingRows + this.#inFlightRows;
  }

  get stats(): Readonly<{ batches: number; rows: number; failedBatches: number }> {
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

  async #write(batch: Pending[]): Promise<void> {
    let result: IoResult<void>;
    try {
      result = await this.#options.write(batch.map((p) => p.chunk));
    } catch (error) {
      result = { kind: 'failure', error: error instanceof Error ? error : new Error(String(error)) };
    }
    const rows = batch.reduce((sum, p) => sum + p.rows, 0);
    this.#stats.batches++;
    const outcome: CommitOutcome =
      result.kind === 'success'
        ? { kind: 'committed' }
        : result.kind === 'retryable'
          ? { kind: 'retryable', error: result.error }
          : { kind: 'failure', error: result.error };
    if (outcome.kind === 'committed') this.#stats.rows += rows;
    else this.#stats.failedBatches++;
    this.#inFlightRows = 0;
    for (const p of batch) p.resolve(outcome);
  }
}
