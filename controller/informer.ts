// A cache of one resource kept by list+watch, robust where client-node's
// ListWatch is not: that one stops for good on the first non-410 error and
// never notices objects deleted while it was away. Here:
//   - any error restarts it with capped exponential backoff;
//   - every restart, and a periodic relist, lists afresh and emits a delete
//     for every object that vanished meanwhile;
//   - every restart and relist is counted and reported, so a stuck watch is
//     visible rather than silent.
// Handlers get (event, object) and should only enqueue.

import { makeInformer, type Informer, type KubeConfig, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { Rest } from './kube-rest.ts';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface InformerOptions<T extends KubernetesObject> {
  name: string;
  kc: KubeConfig;
  /** List and watch path, e.g. /api/v1/services. */
  path: string;
  /** Lists go through this client, so list and watch objects have one shape. */
  rest: Rest;
  onEvent: (event: InformerEvent, obj: T) => void;
  /** A full relist this often, whatever the watch says (0: never). */
  relistSeconds?: number;
  onRestart?: (informer: string, reason: string, error: unknown) => void;
  maxBackoffMs?: number;
  /** Drops what no reconcile reads before the object is cached (client-go's SetTransform); must be cheap when there is nothing to drop. */
  trim?: (obj: T) => void;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Never read by sharedlb, and often most of an object: its managedFields and
 * kubectl's copy of the whole manifest. Objects are rebuilt without them, not
 * `delete`d from: V8 turns an object whose property was deleted into a
 * dictionary, several times its size (the heap snapshot of a 5000-member run
 * showed it).
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

/**
 * A full list in pages of 500, as client-go's pager makes it: one response
 * of every Service or EndpointSlice in a big cluster is tens of MB held at
 * once, as bytes, as text and as objects; each page is trimmed as it comes.
 * All pages are one snapshot (the continue token pins the resourceVersion);
 * an expired token fails the list and the informer lists again.
 */
async function listInPages<T>(rest: Rest, path: string, trim: (o: T) => void): Promise<{ items: T[]; metadata: { resourceVersion: string } }> {
  const items: T[] = [];
  let resourceVersion = '';
  let next = '';
  do {
    const page = await rest.get<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>(`${path}?limit=500${next ? `&continue=${encodeURIComponent(next)}` : ''}`);
    for (const o of page.items) {
      trim(o);
      items.push(o);
    }
    resourceVersion ||= page.metadata.resourceVersion;
    next = page.metadata.continue ?? '';
  } while (next !== '');
  return { items, metadata: { resourceVersion } };
}

const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class ResilientInformer<T extends KubernetesObject> {
  private inner: (Informer<T> & ObjectCache<T>) | null = null;
  private stopped = false;
  private backoffMs = 0;
  private relistTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  /** The last known objects, carried across restarts to find deletions. */
  private known = new Map<string, T>();
  /** The same objects by namespace: reconciles list one namespace (the shared LBs') far more often than all. */
  private byNamespace = new Map<string, Map<string, T>>();
  private generation = 0;
  restarts = 0;
  relists = 0;
  synced = false;
  private readonly opts: InformerOptions<T>;
  private onSynced: () => void = () => undefined;
  private readonly firstSync: Promise<void>;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.firstSync = new Promise((resolve) => (this.onSynced = resolve));
  }

  /** Resolves once a first list has been delivered, however many retries that takes. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect().catch((e: unknown) => this.restart('list failed', e));
    this.scheduleRelist();
    await this.firstSync;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.relistTimer);
    clearTimeout(this.restartTimer);
    const inner = this.inner;
    this.inner = null;
    await inner?.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.known.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): T[] {
    return [...(namespace === undefined ? this.known : (this.byNamespace.get(namespace) ?? [])).values()];
  }

  private put(k: string, obj: T): void {
    this.known.set(k, obj);
    const ns = obj.metadata?.namespace ?? '';
    let m = this.byNamespace.get(ns);
    if (m === undefined) this.byNamespace.set(ns, (m = new Map()));
    m.set(k, obj);
  }

  private remove(k: string, obj: T): void {
    this.known.delete(k);
    const ns = obj.metadata?.namespace ?? '';
    const m = this.byNamespace.get(ns);
    m?.delete(k);
    if (m?.size === 0) this.byNamespace.delete(ns);
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    const trim = this.opts.trim ?? trimMetadata;
    const inf = makeInformer<T>(this.opts.kc, this.opts.path, () => listInPages(this.opts.rest, this.opts.path, trim));
    const current = (): boolean => gen === this.generation && !this.stopped;
    const seen = new Set<string>();
    const upsert = (obj: T): void => {
      if (!current()) return;
      trim(obj); // a listed object was trimmed page by page: this only checks
      const k = keyOf(obj);
      seen.add(k);
      const before = this.known.get(k);
      this.put(k, obj);
      if (before === undefined) this.opts.onEvent('add', obj);
      else if (before.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.opts.onEvent('update', obj);
    };
    inf.on('add', upsert);
    inf.on('update', upsert);
    inf.on('delete', (obj: T) => {
      if (!current()) return;
      const k = keyOf(obj);
      const had = this.known.get(k);
      if (had !== undefined) this.remove(k, had);
      this.opts.onEvent('delete', obj);
    });
    inf.on('error', (err: unknown) => {
      if (current()) this.restart('watch error', err);
    });
    this.inner = inf;
    await inf.start();
    // A failed list reports through 'error' (which restarts and bumps the
    // generation) and resolves start() anyway: never take it for an empty list.
    if (!current() || (inf as unknown as { latestResourceVersion(): string }).latestResourceVersion() === '') return;
    // Objects that vanished while the previous connection was away.
    for (const [k, obj] of [...this.known]) {
      if (!seen.has(k)) {
        this.remove(k, obj);
        this.opts.onEvent('delete', obj);
      }
    }
    this.synced = true;
    this.backoffMs = 0;
    this.onSynced();
  }

  private restart(reason: string, err: unknown): void {
    if (this.stopped) return;
    this.restarts++;
    this.opts.onRestart?.(this.opts.name, reason, err);
    this.generation++; // silence the old connection at once
    const old = this.inner;
    this.inner = null;
    void old?.stop().catch(() => undefined);
    const max = this.opts.maxBackoffMs ?? 30_000;
    this.backoffMs = Math.min(max, this.backoffMs === 0 ? 250 : this.backoffMs * 2);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.connect().catch((e: unknown) => this.restart('relist failed', e));
    }, this.backoffMs);
  }

  private scheduleRelist(): void {
    const s = this.opts.relistSeconds ?? 300;
    if (s <= 0 || this.stopped) return;
    this.relistTimer = setTimeout(() => {
      this.relists++;
      this.generation++;
      const old = this.inner;
      this.inner = null;
      void old?.stop().catch(() => undefined);
      this.connect()
        .catch((e: unknown) => this.restart('relist failed', e))
        .finally(() => this.scheduleRelist());
    }, s * 1000);
    this.relistTimer.unref();
  }
}
