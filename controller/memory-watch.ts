// Running short of memory is reported before it kills the controller: a
// heap that stays nearly full after V8's full collections, or a process
// close to its container's limit, is a metric, a log line and an event on
// every pool, while there is still time for an admin to raise the limit.

import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

export interface MemorySample {
  /** Heap in use right after a full (mark-compact) GC: what the controller really keeps. */
  liveHeapBytes: number;
  /** V8's heap limit, which the Deployment derives from the container's (--max-old-space-size-percentage). */
  heapLimitBytes: number;
  rssBytes: number;
  /** The cgroup's memory limit; 0 where there is none. */
  containerLimitBytes: number;
}

/** Full collections that leave the heap this full mean the next growth fails. */
export const HEAP_PRESSURE = 0.8;
/** RSS this close to the container's limit is close to the OOM killer. */
export const RSS_PRESSURE = 0.9;

const mb = (b: number): string => `${Math.round(b / 2 ** 20)} MB`;

/** Pressure ends only this far below where it began: a heap that hovers at the line is one episode, not one a minute. */
export const HYSTERESIS = 0.1;

/** Why memory is short, in words for an admin, or null when it is not; `relief` lowers the lines (to decide that pressure is over). */
export function memoryPressure(s: MemorySample, relief = 0): string | null {
  const why: string[] = [];
  if (s.heapLimitBytes > 0 && s.liveHeapBytes > (HEAP_PRESSURE - relief) * s.heapLimitBytes) {
    why.push(`the heap holds ${mb(s.liveHeapBytes)} after a full garbage collection, ${Math.round((100 * s.liveHeapBytes) / s.heapLimitBytes)}% of its ${mb(s.heapLimitBytes)} limit`);
  }
  if (s.containerLimitBytes > 0 && s.rssBytes > (RSS_PRESSURE - relief) * s.containerLimitBytes) {
    why.push(`the process uses ${mb(s.rssBytes)}, ${Math.round((100 * s.rssBytes) / s.containerLimitBytes)}% of the container's ${mb(s.containerLimitBytes)} limit`);
  }
  return why.length === 0 ? null : why.join(', and ');
}

export interface MemoryWatch {
  last(): MemorySample | null;
  stop(): void;
}

/**
 * Samples after every full GC (when the heap holds only what is live) and
 * calls `report` with the reason on entering pressure, every `repeatMs`
 * while it lasts, and with null when it ends.
 */
export function watchMemory(report: (why: string | null, s: MemorySample) => void, repeatMs = 10 * 60_000): MemoryWatch {
  let sample: MemorySample | null = null;
  let since: number | null = null;
  let lastReport = 0;
  const observer = new PerformanceObserver((list) => {
    if (!list.getEntries().some((e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) return;
    const h = getHeapStatistics();
    const limit = process.constrainedMemory();
    sample = { liveHeapBytes: h.used_heap_size, heapLimitBytes: h.heap_size_limit, rssBytes: process.memoryUsage.rss(), containerLimitBytes: limit > 0 && limit < Number.MAX_SAFE_INTEGER ? limit : 0 };
    const why = memoryPressure(sample);
    const now = Date.now();
    if (why !== null && (since === null || now - lastReport >= repeatMs)) {
      since ??= now;
      lastReport = now;
      report(why, sample);
    } else if (since !== null && memoryPressure(sample, HYSTERESIS) === null) {
      since = null;
      report(null, sample);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return { last: () => sample, stop: () => observer.disconnect() };
}
