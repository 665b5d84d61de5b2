// A cache of one resource kept by list+watch, robust where client-node's
// ListWatch is not (it stops for good on the first non-410 error, never
// notices objects deleted while it was away, and holds a second copy of
// every object and, while relisting, of the whole list). Here:
//   - lists come in pages and each object replaces its old version as it
//     arrives, so a relist costs one page of memory, not a second cache;
//   - any error restarts it with capped exponential backoff; a watch that
//     ends or goes silent past its server timeout resumes from the last
//     resourceVersion; 410 Gone lists afresh;
//   - every restart, and a periodic relist, emits a delete for every object
//     that vanished meanwhile;
//   - restarts and relists are counted and reported, so a stuck watch is
//     visible rather than silent;
//   - `cacheForm` decides what is kept of each object (client-go's
//     SetTransform): objects the controller does not manage cost a stub.
// Handlers get (event, object) and should only enqueue.

import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { listPages, type Rest } from './kube-rest.ts';
import { entry } from '../allocator/collections.ts';

export type InformerEvent = 'add' | 'update' | 'delete';

/** Opens a watch of `path`; resolves to what aborts it. `onDone` is called once when it ends (with the error, if any). */
export type WatchFn = (
  path: string,
  query: { resourceVersion: string; allowWatchBookmarks: boolean; timeoutSeconds: number },
  onEvent: (type: string, obj: unknown) => void,
  onDone: (err: unknown) => void,
) => Promise<AbortController>;

/** Watches through client-node, on a kubeconfig. */
export function kubeWatch(kc: KubeConfig): WatchFn {
  return (path, query, onEvent, onDone) => {
    const w = new Watch(kc);
    // The watchdog: the server ends the watch at its timeout, so silence past that means a dead connection.
    // Watch's own inactivity limit (30 s, private) would cut every quiet watch short.
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (query.timeoutSeconds + 60) * 1000;
    return w.watch(path, query, onEvent, onDone);
  };
}

export interface InformerOptions<T extends KubernetesObject> {
  name: string;
  watch: WatchFn;
  /** List and watch path, e.g. /api/v1/services. */
  path: string;
  /** Lists go through this client, so list and watch objects have one shape. */
  rest: Rest;
  onEvent: (event: InformerEvent, obj: T) => void;
  /** A full relist this often, whatever the watch says (0: never). */
  relistSeconds?: number;
  onRestart?: (informer: string, reason: string, error: unknown) => void;
  /** A periodic relist began. */
  onRelist?: (informer: string) => void;
  maxBackoffMs?: number;
  /** What is cached of an object (it may return the object itself, trimmed, or a stub); must be cheap. Default: trimMetadata. */
  cacheForm?: (obj: T) => T;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Never read by sharedlb, and often most of an object: its managedFields and
 * kubectl's copy of the whole manifest. Objects are rebuilt without them, not
 * `delete`d from: V8 turns an object whose property was deleted into a
 * dictionary, several times its size.
 */
export function trimMetadata(obj: KubernetesObject): void {
  if (obj.metadata === undefined || (obj.metadata.managedFields === undefined && obj.metadata.annotations?.[LAST_APPLIED] === undefined)) return;
  const { managedFields: _mf, ...m } = obj.metadata;
  if (m.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _la, ...annotations } = m.annotations;
    m.annotations = annotations;
  }
  obj.metadata = m;
}


/** The API server's way of saying a resourceVersion is too old to watch from: list afresh. */
class Gone extends Error {}

const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** As client-go's reflector: a server-side watch timeout of 5 to 10 minutes, so that many watches do not end together. */
const watchTimeoutSeconds = (): number => 300 + Math.floor(Math.random() * 300);

export class ResilientInformer<T extends KubernetesObject> {
  private stopped = false;
  private backoffMs = 0;
  private relistTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private watching: AbortController | null = null;
  /** The cached objects, carried across restarts to find deletions. */
  private known = new Map<string, T>();
  /** The same objects by namespace: reconciles list one namespace (the shared LBs') far more often than all. */
  private byNamespace = new Map<string, Map<string, T>>();
  /** Bumped by every restart and relist: callbacks of an older connection are ignored. */
  private generation = 0;
  private resourceVersion = '';
  /** A list is under way: if it fails, the retry lists again rather than watching from before it. */
  private listing = false;
  restarts = 0;
  relists = 0;
  /** Why the last list or watch failed, until a list succeeds: what a probe shows of a cache that never syncs. */
  lastError: string | null = null;
  /** Watches that went silent past their own server timeout and were resumed (the watchdog). */
  silentWatches = 0;
  synced = false;
  private readonly opts: InformerOptions<T>;
  readonly name: string;
  private readonly cacheForm: (obj: T) => T;
  private onSynced: () => void = () => undefined;
  private readonly firstSync: Promise<void>;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.name = opts.name;
    this.cacheForm = opts.cacheForm ?? ((o) => {
      trimMetadata(o);
      return o;
    });
    this.firstSync = new Promise((resolve) => (this.onSynced = resolve));
  }

  /** Resolves once a first list has been delivered, however many retries that takes. */
  async start(): Promise<void> {
    this.stopped = false;
    void this.run(++this.generation, true);
    this.scheduleRelist();
    await this.firstSync;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.relistTimer);
    clearTimeout(this.restartTimer);
    this.watching?.abort();
    this.watching = null;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.known.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): T[] {
    return [...(namespace === undefined ? this.known : (this.byNamespace.get(namespace) ?? [])).values()];
  }

  get size(): number {
    return this.known.size;
  }

  /**
   * Replace a cached object with a fuller version of it fetched by the
   * caller, if `still(cached)` says the cache has not moved on meanwhile;
   * handlers see an update.
   */
  refresh(obj: T, still: (cached: T) => boolean): boolean {
    const k = keyOf(obj);
    const cached = this.known.get(k);
    if (cached === undefined || !still(cached)) return false;
    const form = this.cacheForm(obj);
    this.put(k, form);
    this.opts.onEvent('update', form);
    return true;
  }

  private put(k: string, obj: T): void {
    this.known.set(k, obj);
    const ns = obj.metadata?.namespace ?? '';
    const m = entry(this.byNamespace, ns, () => new Map());
    m.set(k, obj);
  }

  private remove(k: string, obj: T): void {
    this.known.delete(k);
    const ns = obj.metadata?.namespace ?? '';
    const m = this.byNamespace.get(ns);
    m?.delete(k);
    if (m?.size === 0) this.byNamespace.delete(ns);
  }

  private upsert(obj: T): string {
    const k = keyOf(obj);
    const form = this.cacheForm(obj);
    const before = this.known.get(k);
    this.put(k, form);
    if (before === undefined) this.opts.onEvent('add', form);
    else if (before.metadata?.resourceVersion !== form.metadata?.resourceVersion) this.opts.onEvent('update', form);
    return k;
  }

  private drop(obj: T): void {
    const k = keyOf(obj);
    const had = this.known.get(k);
    if (had !== undefined) this.remove(k, had);
    this.opts.onEvent('delete', had ?? this.cacheForm(obj));
  }

  /** List (when asked, or when there is nothing to resume from), then watch until the watch ends; resume or restart. */
  private async run(gen: number, relist: boolean): Promise<void> {
    const current = (): boolean => gen === this.generation && !this.stopped;
    this.listing = false;
    try {
      if (relist || this.resourceVersion === '') await this.listAll(current);
      if (!current()) return;
      const started = Date.now();
      await this.watch(current);
      if (!current()) return;
      // A watch the server ends at once, again and again, is a fault, not a timeout.
      if (Date.now() - started < 1000) throw new Error('watch ended as soon as it started');
      void this.run(gen, false);
    } catch (e) {
      if (!current()) return;
      if (e instanceof Gone) {
        this.resourceVersion = '';
        this.restart('resourceVersion too old', e, 0);
      } else if (this.listing) {
        // A list that failed part way (a continue token expired: 410, or any error) is made again whole:
        // resuming the watch from the version before it would skip what the list was to bring.
        this.restart('list failed', e, undefined, true);
      } else {
        this.restart('watch failed', e);
      }
    }
  }

  /**
   * A full list in pages (listPages); each object replaces its cached
   * version as its page arrives, so a relist holds one page, not a second
   * cache.
   */
  private async listAll(current: () => boolean): Promise<void> {
    const seen = new Set<string>();
    let resourceVersion = '';
    this.listing = true;
    for await (const page of listPages<T>(this.opts.rest, this.opts.path)) {
      if (!current()) return;
      for (const o of page.items) seen.add(this.upsert(o));
      resourceVersion ||= page.metadata.resourceVersion;
    }
    for (const [k, obj] of [...this.known]) {
      if (!seen.has(k)) {
        this.remove(k, obj);
        this.opts.onEvent('delete', obj);
      }
    }
    this.resourceVersion = resourceVersion;
    this.listing = false;
    this.lastError = null;
    this.synced = true;
    this.backoffMs = 0;
    this.onSynced();
  }

  /** Resolves when the watch ends (server timeout, or silence beyond it), rejects on errors (Gone for 410). */
  private watch(current: () => boolean): Promise<void> {
    const timeout = watchTimeoutSeconds();
    return new Promise((resolve, reject) => {
      let failure: unknown = null;
      const onEvent = (type: string, obj: T & { code?: number; message?: string }): void => {
        if (!current()) return;
        if (type === 'ERROR') {
          failure = obj.code === 410 ? new Gone(obj.message) : new Error(`watch error ${obj.code ?? ''}: ${obj.message ?? ''}`);
          return;
        }
        if (type === 'ADDED' || type === 'MODIFIED') this.upsert(obj);
        else if (type === 'DELETED') this.drop(obj);
        this.resourceVersion = obj.metadata?.resourceVersion || this.resourceVersion;
      };
      const onDone = (err: unknown): void => {
        const e = err as { statusCode?: number; name?: string } | null;
        if (failure !== null) reject(failure);
        else if (e?.statusCode === 410) reject(new Gone('410 Gone'));
        else if (e?.name === 'TimeoutError') {
          this.silentWatches++;
          resolve();
        } else if (err) reject(err);
        else resolve();
      };
      this.opts.watch(this.opts.path, { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: timeout }, onEvent as (type: string, obj: unknown) => void, onDone).then((ac) => {
        if (current()) this.watching = ac;
        else ac.abort();
      }, reject);
    });
  }

  private restart(reason: string, err: unknown, waitMs?: number, relist = false): void {
    if (this.stopped) return;
    this.restarts++;
    this.lastError = `${reason}: ${err instanceof Error ? err.message : String(err)}`;
    this.opts.onRestart?.(this.opts.name, reason, err);
    const gen = ++this.generation; // silence the old connection at once
    this.watching?.abort();
    this.watching = null;
    const max = this.opts.maxBackoffMs ?? 30_000;
    this.backoffMs = waitMs ?? Math.min(max, this.backoffMs === 0 ? 250 : this.backoffMs * 2);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.run(gen, relist), this.backoffMs);
  }

  private scheduleRelist(): void {
    const s = this.opts.relistSeconds ?? 300;
    if (s <= 0 || this.stopped) return;
    this.relistTimer = setTimeout(() => {
      this.relists++;
      this.opts.onRelist?.(this.opts.name);
      const gen = ++this.generation;
      this.watching?.abort();
      this.watching = null;
      void this.run(gen, true);
      this.scheduleRelist();
    }, s * 1000);
    this.relistTimer.unref();
  }
}
