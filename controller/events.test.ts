import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventRecorder, MAX_PENDING_EVENTS } from './events.ts';
import type { Rest } from './kube-rest.ts';
import { makeLogger } from './logger.ts';

/** A Rest whose writes wait until released, recording what was asked. */
function heldRest(): { rest: Rest; calls: Array<{ method: string; path: string; body: unknown }>; release(): void } {
  const calls: Array<{ method: string; path: string; body: unknown }> = [];
  let open = (): void => {};
  const gate = new Promise<void>((r) => (open = r));
  const write = (method: string) => async <T>(path: string, body?: unknown): Promise<T> => {
    calls.push({ method, path, body });
    await gate;
    return {} as T;
  };
  const rest: Rest = {
    server: 'http://unused',
    get: write('GET'),
    post: write('POST'),
    put: write('PUT'),
    patch: (path, body) => write('PATCH')(path, body),
    delete: write('DELETE'),
    call: async () => ({ status: 200, body: {} }),
    close: () => {},
  };
  return { rest, calls, release: open };
}

const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', namespace: 'ns', name, uid: `uid-${name}` });

describe('eventRecorder', () => {
  it('writes one event at a time, and counts a repeat into the first one\'s series', async () => {
    const h = heldRest();
    const rec = eventRecorder(h.rest, makeLogger('error'), 'test', { seriesEveryMs: 0 });
    rec.normal(svc('a'), 'Allocated', 'Allocate', 'x');
    rec.normal(svc('b'), 'Allocated', 'Allocate', 'x');
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls.length, 1, 'the second waits for the first');
    rec.normal(svc('a'), 'Allocated', 'Allocate', 'x');
    h.release();
    await rec.flush();
    assert.deepEqual(h.calls.map((c) => c.method), ['POST', 'POST', 'PATCH']);
    assert.deepEqual((h.calls[2]?.body as { series: { count: number } } | undefined)?.series.count, 2);
    assert.equal(rec.written, 3);
  });

  it('holds Normal events while the controller is busy, up to a limit, and never holds a Warning', async () => {
    const h = heldRest();
    h.release();
    let busy = true;
    const rec = eventRecorder(h.rest, makeLogger('error'), 'test', { busy: () => busy, maxDeferMs: 400 });
    rec.normal(svc('a'), 'Allocated', 'Allocate', 'x');
    rec.warning(svc('b'), 'NoCapacity', 'Allocate', 'y');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(h.calls.map((c) => (c.body as { reason: string }).reason), ['NoCapacity']);
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(h.calls.map((c) => (c.body as { reason: string }).reason), ['NoCapacity', 'Allocated'], 'written once it had waited long enough');
    rec.normal(svc('c'), 'Allocated', 'Allocate', 'x');
    busy = false;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(h.calls.length, 3, 'written once the controller is idle');
    busy = true;
    rec.normal(svc('d'), 'Allocated', 'Allocate', 'x');
    await rec.flush();
    assert.equal(h.calls.length, 4, 'flush writes what waits');
  });

  it('drops what it cannot write once too many wait, counts it, and never patches a dropped event\'s series', async () => {
    const h = heldRest();
    const drops: string[] = [];
    const rec = eventRecorder(h.rest, makeLogger('error'), 'test', { seriesEveryMs: 0, onDrop: (type) => drops.push(type) });
    for (let i = 0; i < MAX_PENDING_EVENTS + 5; i++) rec.normal(svc(`m${i}`), 'Allocated', 'Allocate', 'x');
    assert.equal(drops.length, 5);
    assert.deepEqual(new Set(drops), new Set(['Normal']));
    h.release();
    await rec.flush();
    assert.equal(rec.written, MAX_PENDING_EVENTS);
    // The dropped ones were never created: the same event again is a new one, not a series of nothing.
    const last = `m${MAX_PENDING_EVENTS + 4}`;
    rec.warning(svc(last), 'Allocated', 'Allocate', 'x');
    rec.normal(svc(last), 'Allocated', 'Allocate', 'x');
    await rec.flush();
    const forLast = h.calls.filter((c) => JSON.stringify(c.body).includes(`uid-${last}`));
    assert.deepEqual(forLast.map((c) => c.method), ['POST', 'POST']);
  });

  it('lets a Warning take the place of a waiting Normal event when too many wait', async () => {
    const h = heldRest();
    h.release();
    const drops: string[] = [];
    const rec = eventRecorder(h.rest, makeLogger('error'), 'test', { busy: () => true, maxDeferMs: 60_000, onDrop: (type) => drops.push(type) });
    for (let i = 0; i < MAX_PENDING_EVENTS; i++) rec.normal(svc(`m${i}`), 'Allocated', 'Allocate', 'x');
    rec.warning(svc('bad'), 'Invalid', 'Allocate', 'unreadable annotation');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(h.calls.map((c) => (c.body as { reason: string }).reason), ['Invalid'], 'the Warning is written at once');
    assert.deepEqual(drops, ['Normal'], 'a waiting Normal event made room');
    await rec.flush();
    assert.equal(rec.written, MAX_PENDING_EVENTS);
    // The evicted one was never written: the same note again is a new event, not a series of nothing.
    const evicted = `m${MAX_PENDING_EVENTS - 1}`;
    assert.ok(!h.calls.some((c) => JSON.stringify(c.body).includes(`uid-${evicted}`)));
    rec.normal(svc(evicted), 'Allocated', 'Allocate', 'x');
    await rec.flush();
    assert.equal(h.calls.at(-1)?.method, 'POST');
  });
});

describe('eventRecorder, when a write is refused before it is sent', () => {
  it('neither crashes nor stops writing: a replica that lost its lease refuses by throwing', async () => {
    let refuse = true;
    const posted: string[] = [];
    const rest = { ...heldRest().rest, post: <T>(path: string): Promise<T> => {
      if (refuse) throw new Error(`not the leader: refusing POST ${path}`);
      posted.push(path);
      return Promise.resolve({} as T);
    } } as Rest;
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const rec = eventRecorder(rest, makeLogger('error'), 'test');
      rec.normal(svc('a'), 'Allocated', 'Allocate', 'x');
      await rec.flush();
      refuse = false;
      rec.normal(svc('b'), 'Allocated', 'Allocate', 'x');
      await rec.flush();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
      assert.equal(posted.length, 1, 'the write after the refused one went out');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
