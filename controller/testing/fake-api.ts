// An in-memory API server for in-process reconcile tests, in the spirit of
// client-go's fake clientset: it serves the REST calls and watches the
// controller makes, keeps resourceVersions, preconditions, finalizers and
// status subresources as kube-apiserver does, records every call, and can be
// told to fail calls (404, 409, 410, 429, timeouts) or to hold its watch
// events back (a cache that lags). Test support only: nothing in the product
// imports it.

import { ApiError, type PatchType, type Rest } from '../kube-rest.ts';
import type { WatchFn } from '../informer.ts';
import { entry } from '../../allocator/collections.ts';

export type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown> & {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
};

export interface Call {
  method: string;
  path: string;
  body?: unknown;
  status: number;
}

interface Address {
  /** group/resource, e.g. "/services", "discovery.k8s.io/endpointslices". */
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
  sub: string | undefined;
  query: URLSearchParams;
}

export function parsePath(path: string): Address {
  const [p, q] = path.split('?') as [string, string | undefined];
  const parts = p.split('/').filter((x) => x !== '');
  const group = parts[0] === 'api' ? '' : (parts[1] ?? '');
  const rest = parts.slice(parts[0] === 'api' ? 2 : 3);
  const query = new URLSearchParams(q ?? '');
  if (rest[0] === 'namespaces' && rest.length >= 3) return { resource: `${group}/${rest[2]}`, namespace: rest[1], name: rest[3], sub: rest[4], query };
  return { resource: `${group}/${rest[0]}`, namespace: undefined, name: rest[1], sub: rest[2], query };
}

const CLUSTER_SCOPED = new Set(['/namespaces', 'sharedlb.io/loadbalancerpools', 'gateway.networking.k8s.io/gatewayclasses']);
const clone = <T>(o: T): T => structuredClone(o);

interface Failure {
  method?: string;
  path?: string | RegExp;
  status: number;
  times: number;
  /** A Retry-After the response carries (seconds). */
  retryAfter?: number;
}

type Watcher = { resource: string; namespace: string | undefined; onEvent: (type: string, obj: unknown) => void; onDone: (err: unknown) => void; ac: AbortController };

export class FakeApi implements Rest {
  readonly server = 'https://fake-api';
  readonly calls: Call[] = [];
  private readonly store = new Map<string, Map<string, Obj>>();
  private rv = 1000;
  private uid = 0;
  private nodePort = 30000;
  private readonly failures: Failure[] = [];
  private readonly watchers = new Set<Watcher>();
  private held: Array<() => void> | null = null;
  /** The time the fake stamps creations and deletions with. */
  now: () => Date = () => new Date('2026-01-01T00:00:00Z');

  /** Create or replace objects as an admin would, unrecorded; watchers see them. */
  seed(...objs: Obj[]): void {
    for (const o of objs) {
      const path = pathOf(o);
      const a = parsePath(path);
      const existing = this.bucket(a.resource).get(keyOf(CLUSTER_SCOPED.has(a.resource) ? undefined : a.namespace, o.metadata?.name));
      if (existing === undefined) this.create(a, clone(o));
      else this.replace(a, { ...clone(o), metadata: { ...clone(o).metadata, resourceVersion: existing.metadata?.resourceVersion } }, false);
    }
  }

  /** Remove an object at once (finalizers ignored), as a garbage collector or an admin's force would. */
  remove(kind: string, namespace: string | undefined, name: string): void {
    const a = parsePath(pathOf({ kind, metadata: { namespace, name } }));
    const b = this.bucket(a.resource);
    const k = keyOf(CLUSTER_SCOPED.has(a.resource) ? undefined : a.namespace, name);
    const o = b.get(k);
    if (o === undefined) return;
    b.delete(k);
    this.emit(a.resource, 'DELETED', { ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv) } });
  }

  /** An object as stored now (unrecorded). */
  object(kind: string, namespace: string | undefined, name: string): Obj | undefined {
    const a = parsePath(pathOf({ kind, metadata: { namespace, name } }));
    const o = this.bucket(a.resource).get(keyOf(CLUSTER_SCOPED.has(a.resource) ? undefined : a.namespace, name));
    return o === undefined ? undefined : clone(o);
  }

  get<T>(path: string): Promise<T> {
    return this.json<T>('GET', path);
  }

  /** Every object of a kind (as stored now). */
  list(kind: string, namespace?: string): Obj[] {
    const a = parsePath(pathOf({ kind, metadata: { namespace: namespace ?? 'x', name: 'x' } }));
    return [...this.bucket(a.resource).values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace).map(clone);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.json('POST', path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.json('PUT', path, body);
  }
  patch<T>(path: string, body: unknown, type: PatchType): Promise<T> {
    return this.json('PATCH', path, body, type);
  }
  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.json('DELETE', path, body);
  }
  close(): void {
    for (const w of this.watchers) w.ac.abort();
  }

  /** As the REST client's: the status read, not thrown (injected failures included). */
  async call(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: unknown }> {
    const type = contentType?.includes('strategic') ? 'strategic' : contentType?.includes('merge') ? 'merge' : undefined;
    try {
      return { status: 200, body: await this.json(method, path, body, type) };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return { status: e.status, body: e.body };
    }
  }

  /** The calls that changed something (or tried to). */
  writes(): Call[] {
    return this.calls.filter((c) => c.method !== 'GET');
  }

  /** Fail the next `times` calls that match with `status` (0: a transport failure, as a timeout). */
  failNext(f: { method?: string; path?: string | RegExp; status: number; times?: number; retryAfter?: number }): void {
    this.failures.push({ times: 1, ...f });
  }

  /** Hold watch events back until release(): the controller's caches lag the API server. */
  holdWatches(): void {
    this.held ??= [];
  }

  releaseWatches(): void {
    const h = this.held ?? [];
    this.held = null;
    for (const f of h) f();
  }

  /** Make a watch end with an error, as a dropped connection or a 410 would. */
  breakWatches(err: unknown): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.onDone(err);
    }
  }

  readonly watch: WatchFn = async (path, _query, onEvent, onDone) => {
    const a = parsePath(path);
    const ac = new AbortController();
    const w: Watcher = { resource: a.resource, namespace: a.namespace, onEvent, onDone, ac };
    this.watchers.add(w);
    ac.signal.addEventListener('abort', () => this.watchers.delete(w));
    return ac;
  };

  private async json<T>(method: string, path: string, body?: unknown, type?: PatchType): Promise<T> {
    const f = this.failure(method, path);
    if (f !== undefined) {
      this.calls.push({ method, path, body, status: f.status });
      if (f.status === 0) throw new Error(`${method} ${path}: timed out`);
      throw new ApiError(method, path, f.status, { kind: 'Status', reason: reasonOf(f.status), message: 'injected by the test', code: f.status });
    }
    try {
      const out = this.serve(method, path, body, type);
      this.calls.push({ method, path, body, status: 200 });
      return out as T;
    } catch (e) {
      if (e instanceof ApiError) this.calls.push({ method, path, body, status: e.status });
      throw e;
    }
  }

  private failure(method: string, path: string): Failure | undefined {
    const i = this.failures.findIndex((f) => (f.method === undefined || f.method === method) && (f.path === undefined || (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path))));
    if (i < 0) return undefined;
    const f = this.failures[i] as Failure;
    if (--f.times <= 0) this.failures.splice(i, 1);
    return f;
  }

  private bucket(resource: string): Map<string, Obj> {
    const b = entry(this.store, resource, () => new Map());
    return b;
  }

  private serve(method: string, path: string, body: unknown, type?: PatchType): unknown {
    const a = parsePath(path);
    const b = this.bucket(a.resource);
    const fail = (status: number, message: string): never => {
      throw new ApiError(method, path, status, { kind: 'Status', reason: reasonOf(status), message, code: status });
    };
    if (method === 'GET' && a.name === undefined) {
      const selector = a.query.get('labelSelector');
      // The one field selector the controller sends: a list by name.
      const byName = a.query.get('fieldSelector')?.replace(/^metadata\.name=/, '');
      const items = [...b.values()].filter((o) => (a.namespace === undefined || o.metadata?.namespace === a.namespace) && matches(o, selector) && (byName === undefined || o.metadata?.name === byName));
      return { items: items.map(clone), metadata: { resourceVersion: String(this.rv) } };
    }
    if (method === 'POST') {
      const o = clone(body) as Obj;
      if (b.has(keyOf(CLUSTER_SCOPED.has(a.resource) ? undefined : a.namespace, o.metadata?.name))) fail(409, `${a.resource} "${o.metadata?.name}" already exists`);
      return clone(this.create({ ...a, namespace: a.namespace ?? (o.metadata?.namespace as string | undefined) }, o));
    }
    const k = keyOf(CLUSTER_SCOPED.has(a.resource) ? undefined : a.namespace, a.name);
    const cur = b.get(k);
    if (cur === undefined) return fail(404, `${a.resource} "${a.name}" not found`);
    if (method === 'GET') return clone(cur);
    if (method === 'DELETE') {
      const pre = (body as { preconditions?: { resourceVersion?: string | null } } | undefined)?.preconditions?.resourceVersion;
      if (pre !== undefined && pre !== null && pre !== cur.metadata?.resourceVersion) fail(409, 'the precondition on resourceVersion failed');
      if ((cur.metadata?.finalizers ?? []).length > 0) {
        if (cur.metadata?.deletionTimestamp !== undefined) return clone(cur);
        return clone(this.replace(a, { ...cur, metadata: { ...cur.metadata, deletionTimestamp: this.now().toISOString() } }, false));
      }
      b.delete(k);
      const gone = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(++this.rv) } };
      this.emit(a.resource, 'DELETED', gone);
      return clone(gone);
    }
    let next: Obj;
    if (method === 'PUT') {
      next = clone(body) as Obj;
      const rv = next.metadata?.resourceVersion;
      if (rv !== undefined && rv !== cur.metadata?.resourceVersion) fail(409, `Operation cannot be fulfilled on ${a.resource} "${a.name}": the object has been modified`);
    } else if (method === 'PATCH') {
      next = type === 'strategic' ? strategicMerge(clone(cur), body) : (mergePatch(clone(cur), body) as Obj);
    } else {
      return fail(405, `${method} not served`);
    }
    // The status subresource changes status only; the main resource, everything else.
    if (a.sub === 'status') next = { ...cur, status: next.status };
    else next = { ...next, status: cur.status };
    return clone(this.replace(a, next, true));
  }

  private create(a: Address, o: Obj): Obj {
    const name = o.metadata?.name as string;
    const namespace = CLUSTER_SCOPED.has(a.resource) ? undefined : (a.namespace ?? o.metadata?.namespace ?? 'default');
    o.metadata = {
      ...o.metadata,
      name,
      ...(namespace !== undefined ? { namespace } : {}),
      uid: o.metadata?.uid ?? `uid-${++this.uid}`,
      resourceVersion: String(++this.rv),
      creationTimestamp: o.metadata?.creationTimestamp ?? this.now().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      generation: 1,
    };
    if (a.resource === '/services') this.allocateNodePorts(o);
    this.bucket(a.resource).set(keyOf(namespace, name), o);
    this.emit(a.resource, 'ADDED', o);
    return o;
  }

  private replace(a: Address, next: Obj, checked: boolean): Obj {
    const b = this.bucket(a.resource);
    const k = keyOf(CLUSTER_SCOPED.has(a.resource) ? undefined : (a.namespace ?? next.metadata?.namespace), next.metadata?.name ?? a.name);
    const cur = b.get(k) as Obj;
    const specChanged = JSON.stringify(cur.spec ?? null) !== JSON.stringify(next.spec ?? null);
    next.metadata = {
      ...next.metadata,
      name: cur.metadata?.name,
      ...(cur.metadata?.namespace !== undefined ? { namespace: cur.metadata.namespace } : {}),
      uid: cur.metadata?.uid,
      creationTimestamp: cur.metadata?.creationTimestamp,
      ...(cur.metadata?.deletionTimestamp !== undefined ? { deletionTimestamp: cur.metadata.deletionTimestamp } : {}),
      generation: (cur.metadata?.generation ?? 1) + (specChanged ? 1 : 0),
    };
    if (a.resource === '/services') this.allocateNodePorts(next);
    // Unchanged writes change nothing: no new version, no watch event (kube-apiserver's no-op update).
    const { resourceVersion: _r, ...m1 } = next.metadata;
    const { resourceVersion: _c, ...m2 } = cur.metadata ?? {};
    if (checked && JSON.stringify({ ...next, metadata: m1 }) === JSON.stringify({ ...cur, metadata: m2 })) return cur;
    next.metadata.resourceVersion = String(++this.rv);
    // The last finalizer removed from an object being deleted: it goes.
    if (next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0) {
      b.delete(k);
      this.emit(a.resource, 'DELETED', next);
      return next;
    }
    b.set(k, next);
    this.emit(a.resource, 'MODIFIED', next);
    return next;
  }

  /** A NodePort for each LoadBalancer Service port without one (a port that keeps its NodePort names it in the write). */
  private allocateNodePorts(svc: Obj): void {
    const spec = svc.spec as { type?: string; allocateLoadBalancerNodePorts?: boolean; ports?: Array<{ port: number; protocol?: string; nodePort?: number }> } | undefined;
    if (spec?.type !== 'LoadBalancer' || spec.allocateLoadBalancerNodePorts === false) return;
    for (const p of spec.ports ?? []) p.nodePort ??= ++this.nodePort;
  }

  private emit(resource: string, type: string, o: Obj): void {
    const snapshot = clone(o);
    for (const w of this.watchers) {
      if (w.resource !== resource || (w.namespace !== undefined && w.namespace !== o.metadata?.namespace)) continue;
      const deliver = (): void => w.onEvent(type, clone(snapshot));
      if (this.held !== null) this.held.push(deliver);
      else deliver();
    }
  }
}

function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

function pathOf(o: Obj): string {
  const ns = o.metadata?.namespace ?? 'default';
  switch (o.kind) {
    case 'Service': return `/api/v1/namespaces/${ns}/services`;
    case 'Namespace': return '/api/v1/namespaces';
    case 'EndpointSlice': return `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
    case 'LoadBalancerPool': return '/apis/sharedlb.io/v1alpha1/loadbalancerpools';
    case 'Lease': return `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
    case 'Event': return `/apis/events.k8s.io/v1/namespaces/${ns}/events`;
    case 'Secret': return `/api/v1/namespaces/${ns}/secrets`;
    case 'GatewayClass': return '/apis/gateway.networking.k8s.io/v1/gatewayclasses';
    case 'Gateway': case 'TCPRoute': case 'UDPRoute': case 'HTTPRoute':
      return `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/${o.kind.toLowerCase()}s`;
    case 'ReferenceGrant': return `/apis/gateway.networking.k8s.io/v1beta1/namespaces/${ns}/referencegrants`;
    default: throw new Error(`the fake API does not serve kind ${String(o.kind)}`);
  }
}

function reasonOf(status: number): string {
  return ({ 404: 'NotFound', 409: 'Conflict', 410: 'Expired', 429: 'TooManyRequests', 500: 'InternalError' } as Record<number, string>)[status] ?? 'Unknown';
}

function matches(o: Obj, selector: string | null): boolean {
  if (selector === null || selector === '') return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=') as [string, string | undefined];
    return v === undefined ? o.metadata?.labels?.[k] !== undefined : o.metadata?.labels?.[k] === v;
  });
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Strategic merge patch as Service status uses it: conditions merge by type
 * ($patch: delete removes one), every other list is replaced.
 */
function strategicMerge(target: Obj, patch: unknown): Obj {
  const p = clone(patch) as { status?: { conditions?: Array<Record<string, unknown>> } };
  const conditions = p.status?.conditions;
  if (conditions !== undefined) delete p.status?.conditions;
  const out = mergePatch(target, p) as Obj;
  if (conditions !== undefined) {
    let list = [...((out.status?.conditions as Array<Record<string, unknown>> | undefined) ?? [])];
    for (const c of conditions) {
      list = list.filter((x) => x.type !== c.type);
      if (c.$patch !== 'delete') list.push(c);
    }
    out.status = { ...(out.status ?? {}), conditions: list };
  }
  return out;
}
