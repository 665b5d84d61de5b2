// A keyed work queue in the manner of client-go's workqueue, on p-queue:
//   - a key waits once however often it is added;
//   - a key is never processed twice at once (added while running, it runs
//     again afterwards);
//   - a failing key is retried with per-key exponential backoff, and forgotten
//     (backoff reset) once it succeeds;
//   - p-queue bounds concurrency, and so the requests in flight (--qps, if
//     set, limits them a second in the REST client, as client-go's QPS: a
//     reconcile that finds nothing to change costs the API server nothing);
//   - a key added in the background (a resync, a start-up pass over every
//     object) waits behind keys added for a change, and is raised if a change
//     comes for it: a full pass over every member must not hold a new one up;
//   - a key whose work grows with what it covers (a pool's placement reads
//     every member) can be added coalesced: it starts at once after a quiet
//     spell, but while adds keep coming at most once a gap that grows with
//     the compute its last run reported, so a burst of changes is taken by a
//     few runs that each see many of them, not by one run per change.

import PQueue from 'p-queue';

export interface QueueMetrics {
  depth(n: number): void;
  added(): void;
  retried(): void;
  queued(seconds: number): void;
  worked(key: string, seconds: number, result: 'success' | 'error' | 'requeue'): void;
}

/**
 * What a run may ask for: to run again after a while, and — for a coalesced
 * key — how long its own compute took (not its waiting on the API server,
 * which under load is most of its length and says nothing of its cost).
 */
export type Outcome = undefined | { requeueAfterMs?: number; workMs?: number };

/**
 * A coalesced key's gap is this many times its last run's reported compute.
 * A pool reconcile reports its placement (gather + allocate), most of its
 * CPU: so in a burst a pool takes a small, fixed share of one core whatever
 * its size, and a member waits at most the gap for its placement. How many
 * placements a burst makes: bench/results/controller.md.
 */
const COALESCE_FACTOR = 25;

const FOREGROUND = 0;
const BACKGROUND = -1;

export interface WorkQueueOptions {
  name: string;
  concurrency: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Coalesced keys: the least time between two starts of one, and at
   * least COALESCE_FACTOR × the compute its last run reported.
   */
  coalesceMs?: number;
  /** A handler with nothing to ask for may return nothing. */
  handler: (key: string) => Promise<Outcome> | Promise<void>;
  onError?: (key: string, error: unknown, retryInMs: number) => void;
  metrics?: QueueMetrics;
}

export class WorkQueue {
  private readonly q: PQueue;
  private readonly waiting = new Map<string, { since: number; background: boolean }>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Coalesced keys: when each last started, and the timer of an add held back. */
  private readonly coalesced = new Map<string, { startedAt: number; workMs: number; held?: NodeJS.Timeout }>();
  private closed = false;
  private readonly opts: WorkQueueOptions;
  /** Bumped each time the queue runs dry: a resync waits for the previous one to drain. */
  private drains = 0;
  private lastAdd = -Infinity;

  constructor(opts: WorkQueueOptions) {
    this.opts = opts;
    this.q = new PQueue({ concurrency: opts.concurrency });
  }

  get depth(): number {
    return this.waiting.size;
  }

  /** Keys waiting, running or held back (coalesced), or one added within quietMs: work is still arriving. */
  busy(quietMs: number): boolean {
    if (this.waiting.size > 0 || this.running.size > 0 || performance.now() - this.lastAdd < quietMs) return true;
    for (const c of this.coalesced.values()) if (c.held !== undefined) return true;
    return false;
  }

  /** How many times nothing was left waiting or running; unchanged means the queue has not drained since. */
  get drained(): number {
    return this.drains;
  }

  /** `background`: a pass over everything rather than a change; it yields to changes. */
  add(key: string, background = false): void {
    if (this.closed) return;
    this.opts.metrics?.added();
    this.lastAdd = performance.now();
    const w = this.waiting.get(key);
    if (w !== undefined) {
      if (w.background && !background) {
        w.background = false;
        this.q.setPriority(key, FOREGROUND);
      }
      return;
    }
    if (this.running.has(key)) {
      // The run under way serves a pass over everything as well as a run after it would.
      if (!background) this.dirty.add(key);
      return;
    }
    this.waiting.set(key, { since: performance.now(), background });
    this.opts.metrics?.depth(this.waiting.size);
    void this.q.add(() => this.process(key), { id: key, priority: background ? BACKGROUND : FOREGROUND });
  }

  /** Add after a delay; an earlier pending delay for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.closed || this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  /**
   * Add a key whose run is costly in proportion to what it covers: at once if
   * it has not started within its gap, else when the gap is over. Waiting or
   * already held back, it will see this change when it runs.
   */
  addCoalesced(key: string): void {
    if (this.closed || this.waiting.has(key)) return;
    const c = this.coalesced.get(key) ?? { startedAt: -Infinity, workMs: 0 };
    this.coalesced.set(key, c);
    if (c.held !== undefined) return;
    const wait = c.startedAt + Math.max(this.opts.coalesceMs ?? 200, COALESCE_FACTOR * c.workMs) - performance.now();
    if (wait <= 0) {
      this.add(key);
      return;
    }
    c.held = setTimeout(() => {
      c.held = undefined;
      this.add(key);
    }, wait);
    c.held.unref();
  }

  /** Stop starting keys (they keep collecting, deduplicated) until resume(). */
  pause(): void {
    this.q.pause();
  }

  resume(): void {
    this.q.start();
  }

  /** Resolves when nothing is waiting or running. */
  async idle(): Promise<void> {
    while (this.waiting.size > 0 || this.running.size > 0) await this.q.onIdle();
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const c of this.coalesced.values()) clearTimeout(c.held);
    this.q.clear();
    this.waiting.clear();
    await this.q.onIdle();
  }

  private async process(key: string): Promise<void> {
    const w = this.waiting.get(key);
    if (w === undefined) return; // cleared by shutdown
    this.waiting.delete(key);
    this.opts.metrics?.depth(this.waiting.size);
    this.opts.metrics?.queued((performance.now() - w.since) / 1000);
    this.running.add(key);
    const pending = this.timers.get(key);
    if (pending !== undefined) {
      clearTimeout(pending);
      this.timers.delete(key);
    }
    const t0 = performance.now();
    const c = this.coalesced.get(key);
    if (c !== undefined) c.startedAt = t0;
    try {
      const r = (await this.opts.handler(key)) as Outcome;
      this.failures.delete(key);
      if (c !== undefined && r?.workMs !== undefined) c.workMs = r.workMs;
      if (r?.requeueAfterMs !== undefined && r.requeueAfterMs >= 0) {
        this.opts.metrics?.worked(key, (performance.now() - t0) / 1000, 'requeue');
        this.addAfter(key, r.requeueAfterMs);
      } else {
        this.opts.metrics?.worked(key, (performance.now() - t0) / 1000, 'success');
      }
    } catch (e) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = Math.min(this.opts.maxDelayMs ?? 60_000, (this.opts.baseDelayMs ?? 50) * 2 ** (n - 1));
      this.opts.metrics?.worked(key, (performance.now() - t0) / 1000, 'error');
      this.opts.metrics?.retried();
      this.opts.onError?.(key, e, delay);
      this.addAfter(key, delay);
    } finally {
      this.running.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      if (this.waiting.size === 0 && this.running.size === 0) this.drains++;
    }
  }
}
