import { describe, expect, it } from 'vitest';
import { ErrorCode, HeadroomError, type IoResult } from '../../src/errors/index.ts';
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
    expect(committer.stats).toEqual({ batches: 2, rows: 1, failedBatches: 1, isolatedBatches: 0 });
  });

  it("finds the rows ClickHouse refuses by splitting the batch, and commits everyone else's", async () => {
    const committed: string[] = [];
    let writes = 0;
    const committer = new GroupCommitter({
      maxBatchRows: 1000,
      flushIntervalMillis: 5,
      maxQueuedRows: 10_000,
      // A store that refuses any insert holding a "poison" row, as ClickHouse refuses a whole insert.
      write: async (chunks) => {
        writes++;
        const lines = chunks.flatMap((c) =>
          c
            .toString()
            .split('\n')
            .filter((l) => l !== ''),
        );
        if (lines.some((l) => l.startsWith('poison'))) {
          return {
            kind: 'failure',
            error: new HeadroomError(ErrorCode.storeRefusedRows, 'ClickHouse: constraint violated'),
          };
        }
        committed.push(...lines);
        return { kind: 'success', value: undefined };
      },
    });
    const submit = (text: string) =>
      committer.tryEnqueue(Buffer.from(text), text.split('\n').length - 1) ??
      Promise.reject(new Error('refused'));
    const [a, b, c] = await Promise.all([
      submit('a1\na2\n'),
      submit('b1\npoison-1\nb3\nb4\npoison-2\n'),
      submit('c1\n'),
    ]);
    expect(a).toEqual({ kind: 'committed' });
    expect(c).toEqual({ kind: 'committed' });
    expect(b?.kind).toBe('committed');
    const refused = b?.kind === 'committed' ? b.refused : undefined;
    expect(refused?.lines.map((l) => l.toString())).toEqual(['poison-1\n', 'poison-2\n']);
    expect(refused?.error.message).toBe('ClickHouse: constraint violated');
    expect(committed.sort()).toEqual(['a1', 'a2', 'b1', 'b3', 'b4', 'c1']);
    expect(writes).toBeLessThan(16);
    expect(committer.stats).toMatchObject({ batches: 1, rows: 6, failedBatches: 1, isolatedBatches: 1 });
  });

  it('fails every submitter when the insert failed for a reason other than its rows', async () => {
    const error = new HeadroomError(ErrorCode.storeQuery, 'ClickHouse: unknown table');
    const sink = recorder([{ kind: 'failure', error }]);
    const committer = new GroupCommitter({
      maxBatchRows: 100,
      flushIntervalMillis: 1,
      maxQueuedRows: 100,
      write: sink.write,
    });
    const outcomes = await Promise.all([
      committer.tryEnqueue(Buffer.from('a\n'), 1),
      committer.tryEnqueue(Buffer.from('b\n'), 1),
    ]);
    expect(outcomes).toEqual([
      { kind: 'failure', error },
      { kind: 'failure', error },
    ]);
    expect(sink.batches).toHaveLength(1);
  });
});
