// Pool reconcile: run the allocator over the pool's members and shared LBs
// as the caches show them, then converge the LB Services — one write per LB
// that changed, however many members changed; none when nothing did.

import type { V1Service } from '@kubernetes/client-node';
import { allocate, type AllocationInput, type AllocationResult, type MemberOutcome } from '../allocator/placement/allocate.ts';
import { EMPTY_SINCE, LB_POOL_LABEL, LOAD_BALANCER, REPACK } from '../allocator/annotations.ts';
import type { LoadBalancerState, MemberRequest, Pool } from '../allocator/types.ts';
import { classRefusal } from '../allocator/classes.ts';
import { matchesSelector } from '../allocator/selector.ts';
import type { EventRecorder } from './events.ts';
import type { Outcome } from './workqueue.ts';
import { ApiError, type Rest } from './kube-rest.ts';
import type { Logger } from './logger.ts';
import { poolStatus, poolStatusDiffers } from './pool-status.ts';
import { MANAGED_BY_SLICE } from './mirror.ts';
import { desiredLoadBalancer, isSharedLB, lbDiffers } from './shared-lb.ts';
import type { ClusterState, PoolObject } from './state.ts';
import { POOLS_PATH } from './cluster-read.ts';

export interface PoolContext {
  rest: Rest;
  log: Logger;
  state: ClusterState;
  events: EventRecorder;
  className: string;
  nodePortRange: { from: number; to: number };
  /** Last allocator outcome per member: derived state, rebuilt by every pool reconcile. */
  outcomes: Map<string, MemberOutcome>;
  /** Why a member was moved, until its own reconcile tells it (AddressChanged). */
  moves: Map<string, string>;
  enqueueMember(key: string): void;
  now?: () => Date;
}

const svcPath = (ns: string, name?: string): string => `/api/v1/namespaces/${ns}/services${name ? `/${name}` : ''}`;

/**
 * gather (pure, over the caches) → allocate → converge the LB Services →
 * publish outcomes (events, member wake-ups) → the pool's status.
 */
export async function reconcilePool(ctx: PoolContext, poolName: string): Promise<Outcome> {
  const now = ctx.now?.() ?? new Date();
  if (!ctx.state.poolSet().pools.has(poolName)) return freezePool(ctx, poolName, now);
  const t0 = performance.now();
  const inputs = gatherInputs(ctx, ctx.state.poolSet().pools.get(poolName) as Pool);
  const result = allocate(inputs.allocation);
  // The part that grows with the pool: in a burst, the queue spaces this pool's reconciles by it.
  const workMs = performance.now() - t0;
  const woken = new Set<string>();
  // Why each member moves, for its own reconcile to say when it sees its new LB (even if these writes stop part way).
  for (const [key, o] of result.outcomes) if (o.moved !== null) ctx.moves.set(key, moveReason(inputs, key, o.moved.from));
  // An admin's repack is recorded before it is carried out: at most once per request, even if a write below fails.
  if (inputs.repack.now) await writePoolStatus(ctx, poolName, [], [], now, inputs.repack.asked, true);
  let requeueAfterMs: number | undefined;
  try {
    requeueAfterMs = await convergeLoadBalancers(ctx, inputs, result, now, woken);
  } catch (e) {
    if (inputs.repack.now) {
      ctx.events.warning({ apiVersion: 'sharedlb.io/v1alpha1', kind: 'LoadBalancerPool', name: poolName, uid: ctx.state.pools.get(poolName)?.metadata?.uid }, 'RepackInterrupted', 'Repack',
        `repack ${REPACK}=${inputs.repack.asked} stopped part way (${e instanceof Error ? e.message : String(e)}): members moved so far stay where they are, nobody is moved twice; set ${REPACK} to a new value to repack again`);
    }
    // The LBs written so far are news to their members (their watch events will not say so again). This
    // placement's outcomes were not all carried out: those members read their LB records, the store of record.
    for (const m of woken) {
      ctx.outcomes.delete(m);
      ctx.enqueueMember(m);
    }
    throw e;
  }
  publishOutcomes(ctx, inputs, result, woken);
  await removeForeignSlices(ctx, ctx.state.lbs(poolName));
  const used = result.loadBalancers.filter((l) => l.assignments.length > 0);
  await writePoolStatus(ctx, poolName, used, [...result.outcomes.values()], now, inputs.repack.now ? inputs.repack.asked : inputs.repack.done);
  return { requeueAfterMs, workMs };
}

/**
 * A pool that is gone or broken builds nothing and changes nothing: what its
 * LBs are (scope, source ranges, ports, members) was its admin's decision,
 * and a template we cannot read is not one to apply — dropping it would turn
 * an internal LB public. Its LBs stay exactly as they are, each with a
 * Warning saying why, until the pool is fixed or an admin deletes them.
 */
async function freezePool(ctx: PoolContext, poolName: string, now: Date): Promise<Outcome> {
  const { state } = ctx;
  const problems = state.poolSet().broken.get(poolName);
  const why = problems === undefined
    ? `LoadBalancerPool ${poolName} does not exist`
    : `LoadBalancerPool ${poolName} cannot be used: ${problems.join('; ')}`;
  let lbs = state.lbs(poolName);
  if (problems === undefined) lbs = await deleteUnused(ctx, poolName, lbs);
  for (const lb of lbs) {
    ctx.events.warning({ apiVersion: 'v1', kind: 'Service', namespace: state.namespace, name: lb.metadata?.name as string, uid: lb.metadata?.uid },
      'PoolUnavailable', 'Freeze', `${why}; this shared LB is frozen as it is (template, ports, members) until the pool is fixed or re-created; delete this Service to retire it`);
  }
  if (lbs.length > 0) ctx.log.warn('pool unavailable: its shared LBs are frozen', { pool: poolName, why, loadBalancers: lbs.map((l) => l.metadata?.name) });
  await removeForeignSlices(ctx, lbs);
  await writePoolStatus(ctx, poolName, lbs.flatMap((l) => state.record(l.metadata?.name as string)?.state ?? []), [], now, undefined);
  return {};
}

/**
 * EndpointSlices in the controller's namespace that name a shared LB but
 * were not written by sharedlb would send its traffic wherever they point
 * (kube-proxy serves every slice of a Service: pkg/proxy/endpointslicecache.go).
 * Only sharedlb routes a shared LB; any other is deleted, loudly.
 */
async function removeForeignSlices(ctx: PoolContext, lbs: V1Service[]): Promise<void> {
  const { state } = ctx;
  for (const lb of lbs) {
    const name = lb.metadata?.name as string;
    for (const s of state.sourceSlices(`${state.namespace}/${name}`)) {
      const manager = s.metadata?.labels?.[MANAGED_BY_SLICE] ?? '(none)';
      try {
        await ctx.rest.delete(`/apis/discovery.k8s.io/v1/namespaces/${state.namespace}/endpointslices/${s.metadata?.name}`, { preconditions: { resourceVersion: s.metadata?.resourceVersion } });
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
      }
      ctx.events.warning({ apiVersion: 'v1', kind: 'Service', namespace: state.namespace, name, uid: lb.metadata?.uid }, 'ForeignEndpoints', 'Protect',
        `deleted EndpointSlice ${s.metadata?.name} (managed-by ${manager}): it names this shared LB, whose endpoints only sharedlb writes${manager.startsWith('endpointslicemirroring') ? `; delete Endpoints ${state.namespace}/${name}, which kube-controller-manager mirrors into it` : ''}`);
      ctx.log.warn('deleted a foreign EndpointSlice of a shared LB', { loadBalancer: `${state.namespace}/${name}`, slice: s.metadata?.name, managedBy: manager });
    }
  }
}

/**
 * The LBs of a deleted pool that serve no existing Service are deleted: no
 * member's reach changes, and nothing keeps billing for nobody. The others
 * stay frozen. Returns those that stay.
 */
async function deleteUnused(ctx: PoolContext, poolName: string, lbs: V1Service[]): Promise<V1Service[]> {
  const { state } = ctx;
  const kept: V1Service[] = [];
  for (const lb of lbs) {
    const name = lb.metadata?.name as string;
    const serving = (state.record(name)?.state.assignments ?? []).some((a) => {
      const [ns, svc] = a.member.split('/') as [string, string];
      return state.services.get(svc, ns) !== undefined;
    });
    if (serving || lb.metadata?.deletionTimestamp !== undefined) {
      kept.push(lb);
      continue;
    }
    const rv = lb.metadata?.resourceVersion ?? null;
    try {
      await ctx.rest.delete(svcPath(state.namespace, name), { preconditions: { resourceVersion: rv } });
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    state.wrote(name, rv, null);
    ctx.log.info('deleted a shared LB of a deleted pool that served nobody', { loadBalancer: `${state.namespace}/${name}`, pool: poolName });
  }
  return kept;
}

interface PoolInputs {
  poolName: string;
  pool: Pool;
  allocation: AllocationInput;
  /** member/servicePort → appProtocol, carried to the LB's ports. */
  appProtocols: Map<string, string>;
  /** Frozen (Invalid) members that lose what they hold: the pool no longer admits them there. Member → why. */
  released: Map<string, string>;
  /** namespace/name → the UID of the Service that is that member now. */
  uids: Map<string, string>;
  /** An admin's repack: asked (the annotation's value), done (the one last acted on), now (act on it this time). */
  repack: { asked: string | undefined; done: string | undefined; now: boolean };
}

/**
 * A frozen member keeps what it holds only while the pool would still admit
 * it there: its namespace, and its LB's class. An admin's narrowing reaches
 * every member, whatever state its own spec is in.
 */
function frozenRefusal(ctx: PoolContext, pool: Pool, svc: V1Service, holdings: string[]): string | null {
  const { state } = ctx;
  const ns = svc.metadata?.namespace ?? '';
  if (pool.namespaceSelector !== null && !matchesSelector(pool.namespaceSelector, state.namespaceLabels(ns))) {
    return `namespace ${ns} may no longer use LoadBalancerPool ${pool.name} (its namespaceSelector does not match)`;
  }
  for (const name of holdings) {
    const lb = state.record(name)?.state;
    if (lb === undefined) continue;
    const refusal = classRefusal(pool, lb.classKey, state.defaultIPFamilies());
    if (refusal !== null) return `its shared LB ${state.namespace}/${name} is of a class the pool no longer builds: ${refusal}`;
  }
  return null;
}

/**
 * An LB's record without what it holds for Services since deleted and made
 * again under the same name: a new Service is a new member, placed by the
 * rules like any other, never heir to its predecessor's address. Adds the
 * current UID of every member it records to `uids`. `recorded`: the UIDs
 * the LB records (decoded with its record, once per version of it).
 */
function withoutPredecessors(ctx: PoolContext, r: LoadBalancerState, recorded: Map<string, string>, uids: Map<string, string>): LoadBalancerState {
  const { state } = ctx;
  const gone = new Set<string>();
  for (const a of r.assignments) {
    const [ns, name] = a.member.split('/') as [string, string];
    const uid = state.services.get(name, ns)?.metadata?.uid;
    if (uid === undefined) continue;
    uids.set(a.member, uid);
    const was = recorded.get(a.member);
    if (was !== undefined && was !== uid) gone.add(a.member);
  }
  if (gone.size === 0) return r;
  ctx.log.info('members made again under an old name are placed as new', { loadBalancer: `${state.namespace}/${r.name}`, members: [...gone] });
  return { ...r, assignments: r.assignments.filter((a) => !gone.has(a.member)) };
}

/** What the allocator needs, read from the caches (and our own last writes). */
function gatherInputs(ctx: PoolContext, pool: Pool): PoolInputs {
  const { state, log } = ctx;
  const poolName = pool.name;
  // Members: who asks for this pool, and who is frozen on its LBs (now invalid, placed before).
  const requests: MemberRequest[] = [];
  const frozen: Array<{ key: string; created: string }> = [];
  /** Frozen members the pool's admin has since shut out: member → why. */
  const released = new Map<string, string>();
  const appProtocols = new Map<string, string>();
  const uids = new Map<string, string>();
  // NodePorts in use: other Services' from the cache, shared LBs' from our own
  // last writes too (the cache may not show them yet, and the range is cluster-wide).
  let nodePortsUsed = state.nodePortsInUse();
  for (const lb of state.lbs()) for (const p of lb.spec?.ports ?? []) if (p.nodePort) nodePortsUsed++;
  for (const svc of state.sharingServices()) {
    if (isSharedLB(svc, state.namespace)) continue;
    const parsed = state.member(svc, ctx.className);
    if (parsed.kind === 'member' && parsed.request.pool === poolName) {
      requests.push(parsed.request);
      if (svc.metadata?.uid !== undefined) uids.set(parsed.request.key, svc.metadata.uid);
      for (const p of svc.spec?.ports ?? []) if (p.appProtocol) appProtocols.set(`${parsed.request.key}/${p.name ?? ''}`, p.appProtocol);
    } else if (parsed.kind === 'rejected' && parsed.reason === 'Invalid') {
      // Frozen on this pool's LBs (another pool's reconcile sees to its own).
      const here = state.holdings(parsed.key).filter((n) => state.lb(n)?.metadata?.labels?.[LB_POOL_LABEL] === poolName);
      if (here.length === 0) continue;
      const refusal = frozenRefusal(ctx, pool, svc, here);
      if (refusal === null) frozen.push({ key: parsed.key, created: parsed.created });
      else released.set(parsed.key, refusal);
    }
  }
  // An LB being deleted (by hand, or held by a cloud's finalizer) is not a place to be: its members are placed anew.
  const lbObjects = state.lbs(poolName);
  const live = lbObjects.filter((lb) => lb.metadata?.deletionTimestamp === undefined);
  const loadBalancers = live.map((lb) => {
    const r = state.record(lb.metadata?.name as string);
    if (r !== undefined && r.problems.length > 0) log.warn('unreadable allocations on shared LB', { loadBalancer: `${state.namespace}/${lb.metadata?.name}`, problems: r.problems });
    const lbState = r?.state ?? { name: lb.metadata?.name as string, pool: poolName, classKey: '', assignments: [] };
    return withoutPredecessors(ctx, lbState, r?.uids ?? new Map(), uids);
  });
  // An admin's repack: once per new value of the pool's annotation, never by itself.
  const poolObj = state.pools.get(poolName);
  const asked = poolObj?.metadata?.annotations?.[REPACK];
  const done = typeof poolObj?.status?.lastRepack === 'string' ? poolObj.status.lastRepack : undefined;
  const repack = asked !== undefined && asked !== done;
  if (repack) log.info('repacking pool at an admin\'s request', { pool: poolName, [REPACK]: asked });
  const rangeSize = ctx.nodePortRange.to - ctx.nodePortRange.from + 1;
  return {
    poolName,
    pool,
    appProtocols,
    released,
    uids,
    repack: { asked, done, now: repack },
    allocation: {
      pools: [pool],
      loadBalancers,
      requests,
      frozen,
      nodePortsFree: Math.max(0, rangeSize - nodePortsUsed),
      departed: departedMembers(ctx, requests, new Set(live.map((lb) => lb.metadata?.name as string)), lbObjects),
      dying: lbObjects.filter((lb) => lb.metadata?.deletionTimestamp !== undefined).map((lb) => lb.metadata?.name as string),
      repack,
    },
  };
}

/**
 * One write per LB that changed; empty LBs deleted after their grace. Returns
 * when to look again, if an LB is waiting out its grace; adds to `woken` the
 * members whose view of an LB the writes changed.
 */
async function convergeLoadBalancers(ctx: PoolContext, inputs: PoolInputs, result: AllocationResult, now: Date, woken: Set<string>): Promise<number | undefined> {
  const { state, log } = ctx;
  const { pool, poolName } = inputs;
  const grace = pool.emptyLoadBalancerGraceSeconds * 1000;
  let requeueAfterMs: number | undefined;
  const wrote = (name: string, from: string | null, obj: V1Service | null): void => {
    for (const m of state.wrote(name, from, obj)) woken.add(m);
  };
  for (const lb of result.loadBalancers) {
    const existing = state.lb(lb.name);
    const lbKey = `${state.namespace}/${lb.name}`;
    if (lb.assignments.length === 0) {
      if (existing === undefined) continue;
      const since = Date.parse(existing.metadata?.annotations?.[EMPTY_SINCE] ?? '');
      if (!Number.isNaN(since) && now.getTime() - since >= grace) {
        const rv = existing.metadata?.resourceVersion ?? null;
        await ctx.rest.delete(svcPath(state.namespace, lb.name), { preconditions: { resourceVersion: rv } });
        wrote(lb.name, rv, null);
        log.info('deleted empty shared LB', { loadBalancer: lbKey, pool: poolName, emptySince: existing.metadata?.annotations?.[EMPTY_SINCE] });
        continue;
      }
      const wait = Number.isNaN(since) ? grace : grace - (now.getTime() - since);
      requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, Math.max(50, wait + 10));
    }
    const desired = desiredLoadBalancer(pool, lb, state.namespace, existing, now, { appProtocols: inputs.appProtocols, uids: inputs.uids, previous: state.record(lb.name)?.state.assignments });
    if (existing === undefined) {
      const created = await ctx.rest.post<V1Service>(svcPath(state.namespace), desired);
      wrote(lb.name, null, created);
      log.info('created shared LB', { loadBalancer: lbKey, pool: poolName, members: [...new Set(lb.assignments.map((a) => a.member))] });
    } else if (lbDiffers(existing, desired)) {
      const from = existing.metadata?.resourceVersion ?? null;
      const updated = await ctx.rest.put<V1Service>(svcPath(state.namespace, lb.name), desired);
      wrote(lb.name, from, updated);
      log.info('updated shared LB', { loadBalancer: lbKey, pool: poolName, ports: lb.assignments.length, members: [...new Set(lb.assignments.map((a) => a.member))] });
    }
  }
  return requeueAfterMs;
}

/** Remember each outcome, and wake members whose outcome or view of their LB changed. */
function publishOutcomes(ctx: PoolContext, inputs: PoolInputs, result: AllocationResult, woken: Set<string>): void {
  const { state, log } = ctx;
  for (const [key, o] of result.outcomes) {
    const before = ctx.outcomes.get(key);
    ctx.outcomes.set(key, o);
    if (o.moved !== null) log.warn('member moved', { member: key, from: o.moved.from, to: o.moved.to });
    if (before === undefined || before.state !== o.state || before.reason !== o.reason || before.message !== o.message || before.loadBalancer !== o.loadBalancer) {
      ctx.enqueueMember(key);
    }
  }
  for (const [key, why] of inputs.released) {
    const [ns, name] = key.split('/') as [string, string];
    ctx.events.warning({ apiVersion: 'v1', kind: 'Service', namespace: ns, name, uid: state.services.get(name, ns)?.metadata?.uid },
      'Released', 'Release', `its ports were released though its spec is invalid (a frozen member keeps them only while the pool admits it): ${why}`);
    log.warn('frozen member released', { member: key, why });
    ctx.enqueueMember(key);
  }
  for (const m of woken) ctx.enqueueMember(m);
}

function moveReason(inputs: PoolInputs, key: string, from: string): string {
  if (inputs.allocation.departed?.has(key)) return `shared LB ${from} was deleted`;
  if (inputs.repack.now) return `an admin repacked pool ${inputs.poolName} (${REPACK}=${inputs.repack.asked}) and this member is movable`;
  return 'its request could no longer be met where it was';
}

/**
 * Members whose LB is being deleted, or is gone though the member's own
 * record still names it (deleted by hand: its allocation record went with it).
 */
function departedMembers(ctx: PoolContext, requests: MemberRequest[], live: Set<string>, all: V1Service[]): Map<string, string> {
  const { state } = ctx;
  const departed = new Map<string, string>();
  const terminating = all.filter((lb) => lb.metadata?.deletionTimestamp !== undefined).map((lb) => lb.metadata?.name as string);
  for (const name of terminating) for (const m of state.membersOf(name)) departed.set(m, name);
  const prefix = `${state.namespace}/`;
  for (const r of requests) {
    if (departed.has(r.key) || state.holdings(r.key).some((h) => live.has(h))) continue;
    const said = state.services.get(r.name, r.namespace)?.metadata?.annotations?.[LOAD_BALANCER];
    if (said?.startsWith(prefix) && state.lb(said.slice(prefix.length)) === undefined) departed.set(r.key, said.slice(prefix.length));
  }
  return departed;
}

/** `repackOnly`: record that a repack is under way, and nothing else of the status (its figures come after the writes). */
async function writePoolStatus(ctx: PoolContext, poolName: string, lbs: LoadBalancerState[], outcomes: MemberOutcome[], now: Date, lastRepack: string | undefined, repackOnly = false): Promise<void> {
  const { state } = ctx;
  const obj = state.pools.get(poolName);
  if (obj === undefined) return;
  const before = obj.status ?? {};
  if (repackOnly) {
    await patchPoolStatus(ctx, poolName, { lastRepack });
    return;
  }
  const status = poolStatus({
    pool: state.poolSet().pools.get(poolName) ?? null,
    problems: state.poolSet().broken.get(poolName) ?? [],
    generation: obj.metadata?.generation,
    loadBalancers: lbs,
    outcomes,
    lbObject: (name) => state.lb(name),
    before,
    now,
    lastRepack,
  });
  if (!poolStatusDiffers(before, status)) return;
  await patchPoolStatus(ctx, poolName, status);
}

/** The cache takes our write at once (a repack recorded must not be read back as not done). */
async function patchPoolStatus(ctx: PoolContext, poolName: string, status: Record<string, unknown>): Promise<void> {
  const from = ctx.state.pools.get(poolName)?.metadata?.resourceVersion;
  try {
    const updated = await ctx.rest.patch<PoolObject>(`${POOLS_PATH}/${poolName}/status`, { status }, 'merge');
    ctx.state.pools.refresh(updated, (cached) => cached.metadata?.resourceVersion === from);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
}
