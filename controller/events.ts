// events.k8s.io/v1 Events, deduplicated: the same (object, reason, note)
// within the window is counted into the first event's series with at most one
// write per minute, never a new event each time. A storm of reconciles is
// never a storm of events.
//
// Written one at a time, after the reconcile that emitted them: an event
// never holds up convergence, and takes at most one of the API server's
// request slots; Normal ones also wait while the work queue is busy. As
// client-go's broadcaster does, a recorder that falls too far behind drops
// what it cannot write (and counts it) rather than grow without bound — a
// mass placement of N members would otherwise queue N writes in
// memory. A Warning is what a person must act on: it takes the place of a
// waiting Normal one rather than be dropped.

import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from './logger.ts';
import { microTime, type Rest } from './kube-rest.ts';

export interface Regarding {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  lastWrite: number;
}

export interface EventRecorder {
  normal(obj: Regarding, reason: string, action: string, note: string): void;
  warning(obj: Regarding, reason: string, action: string, note: string): void;
  /** Writes in flight, for tests and shutdown. */
  flush(): Promise<void>;
  written: number;
}

/** client-go's broadcaster queues this many events before it drops them. */
export const MAX_PENDING_EVENTS = 1000;

export interface RecorderOptions {
  /** A repeat within this long counts into the first event's series, written at most this often. */
  seriesEveryMs?: number;
  onDrop?: (type: string) => void;
  /**
   * While this says the controller has work waiting, Normal events wait too
   * (up to maxDeferMs): a member waiting for its address must not queue
   * behind others' notes that they got theirs. Warnings never wait.
   */
  busy?: () => boolean;
  /**
   * Long enough for a mass placement to spend the API server on placing,
   * not on notes (how long one takes: bench/results/controller.md); a
   * member's condition says at once what its Normal event will.
   */
  maxDeferMs?: number;
}

/**
 * The writes behind the recorder: one at a time, in order; Warnings at once,
 * Normal ones deferred while the queue is busy (up to maxDeferMs); past
 * MAX_PENDING_EVENTS waiting, dropped and counted — a Warning takes the
 * place of the newest waiting Normal one. `forget` hears of a Normal event
 * evicted unwritten.
 */
function pacedWrites(log: Logger, opts: RecorderOptions, forget: (seenKey: string) => void): { enqueue(type: string, w: () => Promise<void>, seenKey?: string): boolean; flush(): Promise<void> } {
  const { onDrop = () => {}, busy = () => false, maxDeferMs = 120_000 } = opts;
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  let dropped = 0;
  const deferred: Array<{ at: number; write: () => Promise<void>; seenKey?: string }> = [];
  let pump: NodeJS.Timeout | undefined;
  const write = (w: () => Promise<void>): void => {
    // A write that throws (even before it is sent: a replica that has just lost its lease refuses it) is
    // logged by the write itself; it must neither stop the writes after it nor reject the chain unhandled.
    chain = chain.then(w).catch((e: unknown) => void log.warn('event write failed', { error: String(e) })).finally(() => {
      if (--pending > 0 || dropped === 0) return;
      log.warn('events were dropped while too many were waiting to be written', { dropped });
      dropped = 0;
    });
  };
  /** Deferred events go out, oldest first, once the controller is idle or they have waited long enough. */
  const release = (all: boolean): void => {
    const now = Date.now();
    while (deferred.length > 0 && (all || !busy() || now - (deferred[0]?.at ?? now) >= maxDeferMs)) write((deferred.shift() as { write: () => Promise<void> }).write);
    if (deferred.length > 0 && pump === undefined) {
      pump = setTimeout(() => {
        pump = undefined;
        release(false);
      }, 250);
      pump.unref();
    }
  };
  const drop = (type: string): void => {
    onDrop(type);
    if (dropped++ === 0) log.warn('dropping events: too many are waiting to be written', { pending });
  };
  return {
    /** False if the event was dropped. */
    enqueue: (type, w, seenKey) => {
      if (pending >= MAX_PENDING_EVENTS) {
        const evicted = type === 'Warning' ? deferred.pop() : undefined;
        if (evicted === undefined) {
          drop(type);
          return false;
        }
        // The newest waiting Normal event makes room; it was never written, so no series may name it.
        if (evicted.seenKey !== undefined) forget(evicted.seenKey);
        drop('Normal');
        pending--;
      }
      pending++;
      if (type === 'Warning') write(w);
      else {
        deferred.push({ at: Date.now(), write: w, seenKey });
        release(false);
      }
      return true;
    },
    flush: () => {
      release(true);
      return chain;
    },
  };
}

/** What identifies an event for deduplication: its object, type, reason and note. */
function eventKey(obj: Regarding, type: string, reason: string, note: string): string {
  return createHash('sha256').update(`${obj.uid ?? `${obj.namespace ?? 'default'}/${obj.name}`}\0${type}\0${reason}\0${note}`).digest('hex').slice(0, 20);
}

function eventBody(obj: Regarding, type: string, reason: string, action: string, note: string, name: string, instance: string): object {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name, namespace: obj.namespace ?? 'default' },
    eventTime: microTime(),
    reportingController: 'sharedlb.io/controller',
    reportingInstance: instance,
    action,
    reason,
    note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
    type,
    regarding: obj,
  };
}

export function eventRecorder(rest: Rest, log: Logger, instance: string, opts: RecorderOptions = {}): EventRecorder {
  const seriesEveryMs = opts.seriesEveryMs ?? 60_000;
  const seen = new LRUCache<string, Seen>({ max: 10_000, ttl: 10 * 60_000 });
  const writes = pacedWrites(log, opts, (k) => seen.delete(k));
  const rec: EventRecorder = {
    written: 0,
    normal: (o, r, a, n) => emit(o, 'Normal', r, a, n),
    warning: (o, r, a, n) => emit(o, 'Warning', r, a, n),
    flush: () => writes.flush(),
  };
  function emit(obj: Regarding, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void {
    const namespace = obj.namespace ?? 'default';
    const key = eventKey(obj, type, reason, note);
    const s = seen.get(key);
    const now = Date.now();
    if (s !== undefined) {
      s.count++;
      if (now - s.lastWrite < seriesEveryMs) return;
      s.lastWrite = now;
      const count = s.count;
      writes.enqueue(type, () =>
        rest.patch(`/apis/events.k8s.io/v1/namespaces/${s.namespace}/events/${s.name}`, { series: { count, lastObservedTime: microTime() } }, 'merge')
          .then(() => void rec.written++)
          .catch((e: unknown) => void log.warn('event series update failed', { event: s.name, error: String(e) })),
      );
      return;
    }
    const name = `${obj.name}.${key.slice(0, 12)}${now.toString(16)}`;
    const queued = writes.enqueue(type, () =>
      rest.post(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`, eventBody(obj, type, reason, action, note, name, instance))
        .then(() => void rec.written++)
        .catch((e: unknown) => void log.warn('event write failed', { regarding: `${namespace}/${obj.name}`, reason, error: String(e) })),
      key,
    );
    // A dropped event has no object for a later series to count into.
    if (queued) seen.set(key, { name, namespace, count: 1, lastWrite: now });
  }
  return rec;
}
