import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue } from './workqueue.ts';

describe('WorkQueue', () => {
  it('a key added many times while waiting is processed once', async () => {
    const seen: string[] = [];
    const q = new WorkQueue({ name: 't', concurrency: 1, handler: async (k) => void seen.push(k) });
    q.pause(); // p-queue may start a task inside add(): hold them so that all adds land while 'a' waits
    for (let i = 0; i < 10; i++) q.add('a');
    q.add('b');
    q.resume();
    await q.idle();
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('never runs one key twice at once, and reruns a key added while it ran', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const q = new WorkQueue({
      name: 't', concurrency: 4,
      handler: async () => {
        active++;
        runs++;
        maxActive = Math.max(maxActive, active);
        await sleep(20);
        active--;
      },
    });
    q.add('k');
    await sleep(5);
    q.add('k');
    q.add('k');
    await sleep(100);
    await q.idle();
    assert.equal(maxActive, 1);
    assert.equal(runs, 2);
  });

  it('retries failures with growing backoff, then forgets the key', async () => {
    const times: number[] = [];
    const errors: number[] = [];
    const q = new WorkQueue({
      name: 't', concurrency: 1, baseDelayMs: 10,
      handler: async () => {
        times.push(performance.now());
        if (times.length < 4) throw new Error('conflict');
      },
      onError: (_k, _e, delay) => errors.push(delay),
    });
    q.add('k');
    await sleep(200);
    assert.equal(times.length, 4);
    assert.deepEqual(errors, [10, 20, 40]);
  });

  it('a run serves the requeue its key had pending, and asks again only if it must', async () => {
    const runs: number[] = [];
    const t0 = performance.now();
    let ask = true;
    const q = new WorkQueue({
      name: 't', concurrency: 1,
      handler: async () => {
        runs.push(performance.now() - t0);
        if (!ask) return;
        ask = false;
        return { requeueAfterMs: 60 };
      },
    });
    q.add('k'); // asks to run again in 60 ms
    await sleep(20);
    q.add('k'); // a change comes first: this run is the one the requeue was for
    await sleep(150);
    assert.equal(runs.length, 2, `runs at ${runs.map((t) => t.toFixed(0)).join(', ')} ms`);
    assert.ok((runs[1] as number) < 60);
    ask = true;
    q.add('k'); // asks again: the requeue it asks for still comes
    await sleep(150);
    assert.equal(runs.length, 4);
    await q.shutdown();
  });

  it('lets a pass over everything wait behind changes, and raises a key a change comes for', async () => {
    const seen: string[] = [];
    const q = new WorkQueue({ name: 't', concurrency: 1, handler: async (k) => void seen.push(k) });
    q.pause();
    for (const k of ['r1', 'r2', 'r3']) q.add(k, true);
    q.add('new');
    q.add('r3'); // a change for a key the pass had queued
    q.add('new', true); // a pass does not lower a change
    q.resume();
    await q.idle();
    assert.deepEqual(seen, ['new', 'r3', 'r1', 'r2']);
  });
});

describe('WorkQueue.drained', () => {
  it('moves only when nothing is left waiting or running', async () => {
    let release = (): void => {};
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue({ name: 't', concurrency: 1, handler: async (k) => (k === 'slow' ? gate : undefined) });
    const d0 = q.drained;
    q.add('slow');
    q.add('b');
    await sleep(10);
    assert.equal(q.drained, d0, 'a key still waits');
    release();
    await q.idle();
    assert.equal(q.drained, d0 + 1);
  });
});

describe('WorkQueue.busy', () => {
  it('is busy while keys wait or run and for a quiet period after the last add', async () => {
    const q = new WorkQueue({ name: 't', concurrency: 1, handler: async () => {
      await sleep(30);
    } });
    assert.equal(q.busy(50), false);
    q.add('a');
    assert.equal(q.busy(0), true);
    await q.idle();
    assert.equal(q.busy(10_000), true, 'added moments ago');
    await sleep(60);
    assert.equal(q.busy(50), false);
  });
});

describe('WorkQueue.addCoalesced', () => {
  it('starts at once after a quiet spell, then at most once a gap while adds keep coming, and a run follows the last add', async () => {
    const starts: number[] = [];
    const q = new WorkQueue({ name: 't', concurrency: 2, coalesceMs: 100, handler: async () => void starts.push(performance.now()) });
    const t0 = performance.now();
    q.addCoalesced('pool');
    await sleep(50);
    assert.equal(starts.length, 1, 'the first add runs without waiting for a gap');
    assert.ok((starts[0] as number) - t0 < 50);
    let lastAdd = 0;
    for (let i = 0; i < 50; i++) {
      q.addCoalesced('pool');
      lastAdd = performance.now();
      await sleep(6);
    }
    await sleep(250);
    await q.idle();
    for (let i = 1; i < starts.length; i++) assert.ok((starts[i] as number) - (starts[i - 1] as number) >= 98, `starts ${i - 1} and ${i} only ${((starts[i] as number) - (starts[i - 1] as number)).toFixed(0)} ms apart`);
    assert.ok(starts.length <= 6, `${starts.length} runs for 51 adds over ~350 ms`);
    assert.ok((starts.at(-1) as number) >= lastAdd, 'the last add is seen by a run that starts after it');
    const quiet = performance.now();
    q.addCoalesced('pool');
    await sleep(50);
    assert.ok((starts.at(-1) as number) >= quiet, 'after a quiet spell the next add runs at once');
    await q.shutdown();
  });

  it('spaces a key by 25 times the compute its last run reported, not by how long it waited', async () => {
    const starts: number[] = [];
    const q = new WorkQueue({ name: 't', concurrency: 1, coalesceMs: 10, handler: async () => {
      starts.push(performance.now());
      await sleep(40); // waiting on the API server: no part of the gap
      return { workMs: 10 };
    } });
    q.addCoalesced('pool');
    await sleep(60);
    q.addCoalesced('pool');
    q.addCoalesced('pool');
    await sleep(140);
    assert.equal(starts.length, 1, 'held until 250 ms after the first start');
    await sleep(200);
    await q.idle();
    assert.equal(starts.length, 2);
    assert.ok((starts[1] as number) - (starts[0] as number) >= 248, `${((starts[1] as number) - (starts[0] as number)).toFixed(0)} ms apart`);
    await q.shutdown();
  });

  it('a plain add is not held back', async () => {
    const starts: number[] = [];
    const q = new WorkQueue({ name: 't', concurrency: 1, coalesceMs: 1000, handler: async () => void starts.push(performance.now()) });
    q.addCoalesced('pool');
    await sleep(10);
    const t = performance.now();
    q.add('pool');
    await sleep(20);
    assert.equal(starts.length, 2);
    assert.ok((starts[1] as number) >= t);
    await q.shutdown();
  });
});
