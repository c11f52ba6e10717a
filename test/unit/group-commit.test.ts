import { describe, expect, it } from 'vitest';
import type { IoResult } from '../../src/errors/index.ts';
import { GroupCommitter } from '../../src/ingest/group-commit.ts';

function recorder(results: Array<IoResult<void>> = []) {
  const batches: string[][] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  return {
    batches,
    hold() {
      gate = new Promise((r) => (release = r));
    },
    release() {
      release?.();
      gate = undefined;
    },
    write: async (chunks: readonly Buffer[]): Promise<IoResult<void>> => {
      batches.push(chunks.map((c) => c.toString()));
      if (gate) await gate;
      return results.shift() ?? { kind: 'success', value: undefined };
    },
  };
}

describe('group commit', () => {
  it('shares one insert among concurrent submitters and settles each only after the insert returns', async () => {
    const sink = recorder();
    const committer = new GroupCommitter({
      maxBatchRows: 1000,
      flushIntervalMillis: 5,
      maxQueuedRows: 10_000,
      write: sink.write,
    });
    sink.hold();
    const outcomes = ['a', 'b', 'c'].map(
      (chunk) => committer.tryEnqueue(Buffer.from(chunk), 1) ?? Promise.reject(new Error('refused')),
    );
    let settled = 0;
    outcomes.forEach((p) => void p.then(() => settled++));
    await new Promise((r) => setTimeout(r, 30));
    expect(sink.batches).toEqual([['a', 'b', 'c']]);
    expect(settled).toBe(0);
    sink.release();
    expect(await Promise.all(outcomes)).toEqual([
      { kind: 'committed' },
      { kind: 'committed' },
      { kind: 'committed' },
    ]);
  });

  it('batches rows that arrive during an insert into the next one', async () => {
    const sink = recorder();
    const committer = new GroupCommitter({
      maxBatchRows: 1,
      flushIntervalMillis: 5,
      maxQueuedRows: 100,
      write: sink.write,
    });
    sink.hold();
    const first = committer.tryEnqueue(Buffer.from('1'), 1);
    await new Promise((r) => setTimeout(r, 5));
    const later = [committer.tryEnqueue(Buffer.from('2'), 1), committer.tryEnqueue(Buffer.from('3'), 1)];
    sink.release();
    await Promise.all([first, ...later]);
    expect(sink.batches).toEqual([['1'], ['2', '3']]);
  });

  it('refuses new rows when the queue is full instead of growing without bound', async () => {
    const sink = recorder();
    const committer = new GroupCommitter({
      maxBatchRows: 10,
      flushIntervalMillis: 1,
      maxQueuedRows: 10,
      write: sink.write,
    });
    sink.hold();
    const accepted = committer.tryEnqueue(Buffer.from('x'), 8);
    expect(committer.tryEnqueue(Buffer.from('y'), 5)).toBeUndefined();
    expect(committer.queuedRows).toBe(8);
    sink.release();
    await accepted;
    expect(committer.tryEnqueue(Buffer.from('y'), 5)).toBeDefined();
    await committer.flush();
  });

  it('reports a failed insert to every submitter of that batch, and the next batch succeeds again', async () => {
    const error = new Error('connection refused');
    const sink = recorder([{ kind: 'retryable', error }]);
    const committer = new GroupCommitter({
      maxBatchRows: 100,
      flushIntervalMillis: 1,
      maxQueuedRows: 100,
      write: sink.write,
    });
    const failed = await Promise.all([
      committer.tryEnqueue(Buffer.from('a'), 1),
      committer.tryEnqueue(Buffer.from('b'), 1),
    ]);
    expect(failed).toEqual([
      { kind: 'retryable', error },
      { kind: 'retryable', error },
    ]);
    expect(await committer.tryEnqueue(Buffer.from('a'), 1)).toEqual({ kind: 'committed' });
    expect(committer.stats).toEqual({ batches: 2, rows: 1, failedBatches: 1 });
  });
});
