// The controller's read side: informer caches of Services, EndpointSlices,
// LoadBalancerPools and Namespaces, with the indexes reconciles need, and
// the write expectations that keep a reconcile from acting on a cache that
// has not yet seen the controller's own last write (client-go's
// "expectations"): without them a second placement could run on stale LB
// records and place a member twice.

import type { V1EndpointSlice, V1Namespace, V1Service } from '@kubernetes/client-node';
import { parseMember, serviceKey, type MemberParse } from '../allocator/members.ts';
import { parsePool, poolSet, type PoolSet } from '../allocator/pools.ts';
import { clusterIPFamilies } from '../allocator/classes.ts';
import type { IPFamily } from '../allocator/types.ts';
import { isStub, serviceForm, sliceForm } from './cache-forms.ts';
import { POOLS_PATH } from './cluster-read.ts';
import { ResilientInformer, trimMetadata, type InformerEvent, type WatchFn } from './informer.ts';
import type { Rest } from './kube-rest.ts';
import { isSourceSlice, MANAGED_BY_SLICE, MEMBER_LABEL, SERVICE_NAME_LABEL, SLICE_MANAGER } from './mirror.ts';
import { readLoadBalancer } from '../allocator/lb-record.ts';
import { isSharedLB } from './shared-lb.ts';
import { entry } from '../allocator/collections.ts';

export interface PoolObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; resourceVersion?: string; generation?: number; uid?: string; annotations?: Record<string, string> };
  spec?: unknown;
  status?: Record<string, unknown>;
}

export interface StateHandlers {
  /** For a shared LB, `members` are those whose view of it (their ports, its address) this event changed. */
  service(event: InformerEvent, svc: V1Service, members: Set<string>): void;
  slice(event: InformerEvent, slice: V1EndpointSlice): void;
  pool(event: InformerEvent, pool: PoolObject): void;
  namespace(event: InformerEvent, ns: V1Namespace): void;
  restart(informer: string, reason: string, error: unknown): void;
  relist(informer: string): void;
}


export class ClusterState {
  readonly namespace: string;
  readonly services: ResilientInformer<V1Service>;
  readonly slices: ResilientInformer<V1EndpointSlice>;
  readonly pools: ResilientInformer<PoolObject>;
  readonly namespaces: ResilientInformer<V1Namespace>;
  /** namespace/name → our last write of a Service that the cache may not show yet (obj null: deleted). */
  private readonly expected = new Map<string, { from: string | null; obj: V1Service | null }>();
  /** Names of LBs among `expected`: lbs() must not walk every member's write-back. */
  private readonly expectedLBs = new Set<string>();
  /** namespace/name → versions of it that member write-backs produced and the watch has not shown yet. */
  private readonly ownVersions = new Map<string, Set<string>>();
  /** LB name → its decoded record, at a resourceVersion. */
  private readonly decoded = new Map<string, { rv: string } & ReturnType<typeof readLoadBalancer>>();
  /** LB name → what its members' reconciles read of it, as of its last watch event or our own write of it. */
  private readonly lbViews = new Map<string, { lb: string; members: Map<string, string> }>();
  private readonly byMember = new Map<string, Set<string>>();
  private readonly byLB = new Map<string, Set<string>>();
  private readonly sources = new Map<string, Set<string>>();
  private readonly mirrors = new Map<string, Set<string>>();
  private poolCache: { key: string; set: PoolSet } | null = null;
  /** A pool event came since poolSet() last looked: most calls (one per member, per pool reconcile) need not. */
  private poolsMoved = true;
  /** The cluster's default IP families, until the API server's own Service changes. */
  private families: IPFamily[] | null = null;
  private readonly parsed = new Map<string, { stamp: string; result: MemberParse }>();
  /** Services kept whole (see cache-forms.ts): the only ones that can be members. */
  private readonly concerned = new Set<string>();
  /** Services that Gateways forward to: kept whole with their slices, though they concern no sharing. */
  private readonly backends = new Set<string>();
  /** NodePorts each Service (not a shared LB) takes from the cluster's range. */
  private readonly nodePortsOf = new Map<string, number>();
  private nodePortsTotal = 0;
  private readonly rest: Rest;

  constructor(watch: WatchFn, rest: Rest, namespace: string, className: string, h: StateHandlers, relistSeconds = 300) {
    this.namespace = namespace;
    this.rest = rest;
    this.services = new ResilientInformer<V1Service>({
      name: 'services', watch, rest, path: '/api/v1/services', relistSeconds, onRestart: h.restart, onRelist: h.relist,
      cacheForm: (svc) => {
        if (!this.backends.has(serviceKey(svc))) return serviceForm(svc, namespace, className);
        trimMetadata(svc);
        return svc;
      },
      onEvent: (e, svc) => {
        const key = serviceKey(svc);
        if (e === 'delete') this.parsed.delete(key);
        if (key === 'default/kubernetes') this.families = null;
        this.track(key, e === 'delete' ? undefined : svc);
        // The cache has moved past the version our write was made over: it shows our write, or something newer.
        const x = this.expected.get(key);
        if (x !== undefined && (e === 'delete' ? null : (svc.metadata?.resourceVersion ?? null)) !== x.from) this.expected.delete(key);
        let members = new Set<string>();
        if (isSharedLB(svc, namespace)) {
          const name = svc.metadata?.name as string;
          this.reindex(name);
          members = this.lbViewChanged(name, e === 'delete' ? undefined : svc);
        }
        h.service(e, svc, members);
      },
    });
    this.slices = new ResilientInformer<V1EndpointSlice>({
      name: 'endpointslices', watch, rest, path: '/apis/discovery.k8s.io/v1/endpointslices',
      relistSeconds, onRestart: h.restart, onRelist: h.relist,
      cacheForm: (s) => sliceForm(s, namespace, (svc) => this.concerned.has(svc)),
      onEvent: (e, s) => {
        this.indexSlice(e, s);
        h.slice(e, s);
      },
    });
    this.pools = new ResilientInformer<PoolObject>({
      name: 'loadbalancerpools', watch, rest, path: POOLS_PATH, relistSeconds, onRestart: h.restart, onRelist: h.relist,
      onEvent: (e, p) => {
        this.poolsMoved = true;
        h.pool(e, p);
      },
    });
    this.namespaces = new ResilientInformer<V1Namespace>({
      name: 'namespaces', watch, rest, path: '/api/v1/namespaces', relistSeconds, onRestart: h.restart, onRelist: h.relist, onEvent: h.namespace,
    });
  }

  /** Slices after Services: what is kept of a slice depends on its Service. */
  async start(): Promise<void> {
    await Promise.all([this.pools.start(), this.namespaces.start(), this.services.start()]);
    await this.slices.start();
  }

  /** Keep the index of whole Services and the NodePort count; a Service no longer concerned lets its slices go. */
  private track(key: string, svc: V1Service | undefined): void {
    const was = this.concerned.has(key);
    if (svc !== undefined && !isStub(svc)) this.concerned.add(key);
    else this.concerned.delete(key);
    if (!was && this.concerned.has(key)) {
      // Its slices were kept as stubs and left out of the index: index them, for fillSlices to find.
      const [ns, name] = key.split('/') as [string, string];
      for (const sl of this.slices.list(ns)) if (sl.metadata?.labels?.[SERVICE_NAME_LABEL] === name) this.indexSlice('update', sl, true);
    } else if (was && svc !== undefined && isStub(svc)) {
      for (const s of this.sourceSlices(key)) this.slices.refresh(s, (cached) => cached === s);
    }
    this.nodePortsTotal -= this.nodePortsOf.get(key) ?? 0;
    this.nodePortsOf.delete(key);
    const n = svc === undefined || isSharedLB(svc, this.namespace) ? 0 : (svc.spec?.ports ?? []).filter((p) => p.nodePort).length;
    if (n > 0) this.nodePortsOf.set(key, n);
    this.nodePortsTotal += n;
  }

  /** NodePorts the cluster's Services other than the shared LBs hold. */
  nodePortsInUse(): number {
    return this.nodePortsTotal;
  }

  /** Services that may be members (or were, and are to be released), whole. */
  sharingServices(): V1Service[] {
    return [...this.concerned].flatMap((k) => {
      const [ns, name] = k.split('/') as [string, string];
      const svc = this.services.get(name, ns);
      return svc === undefined || isStub(svc) ? [] : [svc];
    });
  }

  /**
   * A Service that has just come to concern sharing may have slices cached
   * as stubs: fetch them whole. A stub is replaced only by the version it
   * stands for; anything newer arrives through the watch. Returns whether
   * every source slice of the member is now whole.
   */
  async fillSlices(member: string): Promise<boolean> {
    if (!this.sourceSlices(member).some(isStub)) return true;
    const [ns, name] = member.split('/') as [string, string];
    const list = await this.rest.get<{ items: V1EndpointSlice[] }>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`${SERVICE_NAME_LABEL}=${name}`)}`);
    for (const s of list.items) {
      this.slices.refresh(s, (cached) => isStub(cached) && cached.metadata?.resourceVersion === s.metadata?.resourceVersion);
    }
    return !this.sourceSlices(member).some(isStub);
  }

  /**
   * Keep these Services (Gateway backends) and their slices whole from now
   * on: each one cached as a stub is read whole once, as fillSlices does for
   * a Service that comes to concern sharing.
   */
  async keepWhole(keys: string[]): Promise<void> {
    for (const key of keys) {
      this.backends.add(key);
      const [ns, name] = key.split('/') as [string, string];
      const cached = this.services.get(name, ns);
      if (cached !== undefined && isStub(cached)) {
        // A list by name, not a get: the controller's grants on Services are list and watch.
        const list = await this.rest.get<{ items: V1Service[] }>(`/api/v1/namespaces/${ns}/services?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`);
        const svc = list.items[0];
        if (svc !== undefined) this.services.refresh(svc, (c) => isStub(c) && c.metadata?.resourceVersion === svc.metadata?.resourceVersion);
      }
      if (this.concerned.has(key)) await this.fillSlices(key);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.pools.stop(), this.namespaces.stop(), this.services.stop(), this.slices.stop()]);
  }

  get synced(): boolean {
    return this.services.synced && this.slices.synced && this.pools.synced && this.namespaces.synced;
  }

  /** The caches not yet listed, each with why (its last error), e.g. a CRD that is not installed. */
  unsynced(): string[] {
    return [this.pools, this.namespaces, this.services, this.slices].filter((i) => !i.synced).map((i) => `${i.name}: ${i.lastError ?? 'listing'}`);
  }

  /**
   * The pools, parsed once per change of any one's spec (its generation): the
   * pool reconcile's own status writes change none, and must not make every
   * member be parsed again.
   */
  poolSet(): PoolSet {
    if (this.poolCache !== null && !this.poolsMoved) return this.poolCache.set;
    this.poolsMoved = false;
    const key = this.pools.list().map((p) => `${p.metadata?.name}@${p.metadata?.generation ?? p.metadata?.resourceVersion}`).sort().join(',');
    if (this.poolCache?.key !== key) this.poolCache = { key, set: poolSet(this.pools.list().map((p) => parsePool(p))) };
    return this.poolCache.set;
  }

  /**
   * A Service as a member, parsed once per version of it, of the pools and of
   * its namespace: pool reconciles read every Service, and most have not changed.
   */
  member(svc: V1Service, className: string): MemberParse {
    if (isStub(svc)) return { kind: 'ignored' };
    const ns = svc.metadata?.namespace ?? '';
    const key = `${ns}/${svc.metadata?.name}`;
    const pools = this.poolSet();
    const families = this.defaultIPFamilies();
    const stamp = `${svc.metadata?.resourceVersion}|${this.poolCache?.key}|${this.namespaces.get(ns)?.metadata?.resourceVersion ?? ''}|${className}|${families[0]}`;
    const hit = this.parsed.get(key);
    if (hit !== undefined && hit.stamp === stamp) return hit.result;
    const result = parseMember(svc, pools, { className, namespaceLabels: this.namespaceLabels(ns), defaultIPFamilies: families });
    this.parsed.set(key, { stamp, result });
    return result;
  }

  /** The family a Service gets when it asks for none: the API server's own Service shows the cluster's primary one. */
  defaultIPFamilies(): IPFamily[] {
    this.families ??= clusterIPFamilies([this.services.get('kubernetes', 'default') ?? {}]);
    return this.families;
  }

  namespaceLabels(ns: string): Record<string, string> {
    return this.namespaces.get(ns)?.metadata?.labels ?? { 'kubernetes.io/metadata.name': ns };
  }

  /** A Service as the controller last knew it: its own write if the cache lags behind. */
  service(name: string, ns: string): V1Service | undefined {
    const cached = this.services.get(name, ns);
    const key = `${ns}/${name}`;
    const e = this.expected.get(key);
    if (e === undefined) return cached;
    if ((cached?.metadata?.resourceVersion ?? null) === e.from) return e.obj ?? undefined;
    this.expected.delete(key);
    return cached;
  }

  lb(name: string): V1Service | undefined {
    return this.service(name, this.namespace);
  }

  /** Every shared LB (optionally of one pool), expectations applied. */
  lbs(pool?: string): V1Service[] {
    const names = new Set(this.services.list(this.namespace).filter((s) => isSharedLB(s, this.namespace)).map((s) => s.metadata?.name as string));
    // Not every expectation: members' write-backs are many (one per member at a mass placement).
    for (const n of this.expectedLBs) {
      if (this.expected.has(`${this.namespace}/${n}`)) names.add(n);
      else this.expectedLBs.delete(n);
    }
    const out: V1Service[] = [];
    for (const n of names) {
      const svc = this.lb(n);
      if (svc !== undefined && isSharedLB(svc, this.namespace) && (pool === undefined || svc.metadata?.labels?.['sharedlb.io/pool'] === pool)) out.push(svc);
    }
    return out;
  }

  /**
   * Record a write (or, with obj null, a delete) of an LB made over the
   * version `from`. Returns the members whose view of the LB it changed:
   * the writer wakes them now, and the write's own watch event, which
   * changes nothing more, wakes none of them again.
   */
  wrote(name: string, from: string | null, obj: V1Service | null): Set<string> {
    if (obj !== null) trimMetadata(obj);
    this.expected.set(`${this.namespace}/${name}`, { from, obj });
    this.expectedLBs.add(name);
    this.reindex(name);
    return this.lbViewChanged(name, obj ?? undefined);
  }

  /** Record a member's write-back (the API server's answer to a patch made over the version `from`). */
  wroteMember(from: string | null, obj: V1Service): void {
    trimMetadata(obj);
    const key = serviceKey(obj);
    this.expected.set(key, { from, obj });
    const own = entry(this.ownVersions, key, () => new Set());
    own.add(obj.metadata?.resourceVersion ?? '');
  }

  /**
   * Whether a watch event shows exactly a version a member reconcile wrote
   * (and so had already converged on): the echo of its own write-back, which
   * needs no reconcile of its own. Each version answers once.
   */
  ownEcho(e: InformerEvent, svc: V1Service): boolean {
    const key = serviceKey(svc);
    const own = this.ownVersions.get(key);
    if (own === undefined) return false;
    const echo = e !== 'delete' && own.delete(svc.metadata?.resourceVersion ?? '');
    // Anything else moves past what we wrote before it: those echoes may never come (at worst, one more reconcile).
    if (!echo || own.size === 0) this.ownVersions.delete(key);
    return echo;
  }

  record(name: string): ReturnType<typeof readLoadBalancer> | undefined {
    const svc = this.lb(name);
    if (svc === undefined) return undefined;
    const rv = svc.metadata?.resourceVersion ?? '';
    const d = this.decoded.get(name);
    if (d !== undefined && d.rv === rv) return d;
    const r = { rv, ...readLoadBalancer(svc) };
    this.decoded.set(name, r);
    return r;
  }

  /** Names of the live LBs recording ports for a member (an LB being deleted holds nothing for anyone). */
  holdings(member: string): string[] {
    return [...(this.byMember.get(member) ?? [])].filter((n) => this.lb(n)?.metadata?.deletionTimestamp === undefined).sort();
  }

  /** Members an LB records, before and after its latest change. */
  membersOf(name: string): Set<string> {
    return new Set((this.record(name)?.state.assignments ?? []).map((a) => a.member));
  }

  /**
   * The members whose view of an LB this watch event changed: those whose own
   * ports on it changed, or all of them when its address, identity or
   * deletion did. An LB filling up must not wake its hundred other members
   * at every port it gains.
   */
  private lbViewChanged(name: string, svc: V1Service | undefined): Set<string> {
    const before = this.lbViews.get(name);
    let after: { lb: string; members: Map<string, string> } | undefined;
    if (svc === undefined) this.lbViews.delete(name);
    else {
      const members = new Map<string, string>();
      // The port's name too: mirrors carry it, so a renamed port is news to its holder.
      const names = new Map((svc.spec?.ports ?? []).map((p) => [`${p.port}/${p.protocol ?? 'TCP'}`, p.name]));
      for (const a of this.record(name)?.state.assignments ?? []) members.set(a.member, `${members.get(a.member) ?? ''}${a.servicePort}=${a.port}/${a.protocol}@${names.get(`${a.port}/${a.protocol}`) ?? ''};`);
      after = { lb: JSON.stringify([svc.metadata?.uid, svc.metadata?.deletionTimestamp ?? null, svc.status?.loadBalancer?.ingress ?? []]), members };
      this.lbViews.set(name, after);
    }
    const all = before?.lb !== after?.lb;
    const changed = new Set<string>();
    for (const m of [...(before?.members.keys() ?? []), ...(after?.members.keys() ?? [])]) {
      if (all || before?.members.get(m) !== after?.members.get(m)) changed.add(m);
    }
    return changed;
  }

  /** Update member → LB index for one LB. */
  private reindex(name: string): void {
    const before = this.byLB.get(name) ?? new Set<string>();
    const after = this.membersOf(name);
    if (after.size > 0) this.byLB.set(name, after);
    else this.byLB.delete(name);
    for (const m of before) if (!after.has(m)) this.byMember.get(m)?.delete(name);
    for (const m of after) {
      const s = entry(this.byMember, m, () => new Set());
      s.add(name);
    }
    for (const m of before) if (this.byMember.get(m)?.size === 0) this.byMember.delete(m);
  }

  /**
   * Index a member's own slices and our mirrors by owner. Slices kept as
   * stubs stay out (most of a big cluster's are), unless `stub` says their
   * Service has just come to concern sharing and they are to be fetched.
   */
  private indexSlice(e: InformerEvent, s: V1EndpointSlice, stub = false): void {
    const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
    let index: Map<string, Set<string>>;
    let owner: string | undefined;
    if (s.metadata?.labels?.[MANAGED_BY_SLICE] === SLICE_MANAGER && s.metadata.namespace === this.namespace) {
      index = this.mirrors;
      owner = s.metadata.labels[MEMBER_LABEL];
    } else if (isSourceSlice(s)) {
      index = this.sources;
      owner = `${s.metadata?.namespace}/${s.metadata?.labels?.[SERVICE_NAME_LABEL]}`;
    } else {
      return;
    }
    if (owner === undefined) return;
    const set = index.get(owner);
    if (e === 'delete' || (isStub(s) && index === this.sources && !stub)) {
      set?.delete(key);
      if (set?.size === 0) index.delete(owner);
      return;
    }
    (set ?? entry(index, owner, () => new Set<string>())).add(key);
  }

  private slicesBy(index: Map<string, Set<string>>, owner: string): V1EndpointSlice[] {
    return [...(index.get(owner) ?? [])].flatMap((k) => {
      const [ns, name] = k.split('/') as [string, string];
      const s = this.slices.get(name, ns);
      return s === undefined ? [] : [s];
    });
  }

  /** The member's own EndpointSlices. */
  sourceSlices(member: string): V1EndpointSlice[] {
    return this.slicesBy(this.sources, member);
  }

  /** Slices sharedlb wrote for a member (by member hash). */
  mirroredSlices(hash: string): V1EndpointSlice[] {
    return this.slicesBy(this.mirrors, hash);
  }
}
