// events.k8s.io/v1 Events, deduplicated: the same (object, reason, note)
// within the window is counted into the first event's series with at most one
// write per minute, never a new event each time. A storm of reconciles is
// never a storm of events.

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

export function eventRecorder(rest: Rest, log: Logger, instance: string, seriesEvery = 60_000): EventRecorder {
  const seen = new LRUCache<string, Seen>({ max: 10_000, ttl: 10 * 60_000 });
  let chain: Promise<void> = Promise.resolve();
  const rec: EventRecorder = {
    written: 0,
    normal: (o, r, a, n) => emit(o, 'Normal', r, a, n),
    warning: (o, r, a, n) => emit(o, 'Warning', r, a, n),
    flush: () => chain,
  };
  function emit(obj: Regarding, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void {
    const namespace = obj.namespace ?? 'default';
    const key = createHash('sha256').update(`${obj.uid ?? `${namespace}/${obj.name}`}\0${type}\0${reason}\0${note}`).digest('hex').slice(0, 20);
    const s = seen.get(key);
    const now = Date.now();
    if (s !== undefined) {
      s.count++;
      if (now - s.lastWrite < seriesEvery) return;
      s.lastWrite = now;
      const count = s.count;
      chain = chain.then(() =>
        rest.patch(`/apis/events.k8s.io/v1/namespaces/${s.namespace}/events/${s.name}`, { series: { count, lastObservedTime: microTime() } }, 'merge')
          .then(() => void rec.written++)
          .catch((e: unknown) => void log.warn('event series update failed', { event: s.name, error: String(e) })),
      );
      return;
    }
    const name = `${obj.name}.${key.slice(0, 12)}${now.toString(16)}`;
    seen.set(key, { name, namespace, count: 1, lastWrite: now });
    chain = chain.then(() =>
      rest.post(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace },
        eventTime: microTime(),
        reportingController: 'sharedlb.io/controller',
        reportingInstance: instance,
        action,
        reason,
        note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
        type,
        regarding: obj,
      })
        .then(() => void rec.written++)
        .catch((e: unknown) => void log.warn('event write failed', { regarding: `${namespace}/${obj.name}`, reason, error: String(e) })),
    );
  }
  return rec;
}
