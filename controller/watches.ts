// What is watched, and what each event enqueues — in one place, as
// controller-runtime's builder declares it (For / Owns / Watches with
// predicates). Handlers only enqueue; the predicates are pure.
//
//   Service, a shared LB      → its pool; the members whose view of it changed
//   Service, concerning sharing → itself (unless it is only the echo of its own
//                               write-back, or awaits placement); every pool,
//                               when what placement reads of it changed
//   EndpointSlice, our mirror → its member
//   EndpointSlice, a member's → that member
//   EndpointSlice, foreign, naming a shared LB → the LB's pool (which deletes it)
//   LoadBalancerPool          → itself; every member, when a pool's spec changed
//   Namespace, changed        → every pool; that namespace's members

import { createHash } from 'node:crypto';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { GROUP, LB_POOL_LABEL, LOAD_BALANCER } from '../allocator/annotations.ts';
import { serviceKey, type MemberParse } from '../allocator/members.ts';
import type { PoolSet } from '../allocator/pools.ts';
import type { InformerEvent } from './informer.ts';
import { currentCondition } from './member-status.ts';
import { MANAGED_BY_SLICE, MEMBER_ANNOTATION, SERVICE_NAME_LABEL, SLICE_MANAGER } from './mirror.ts';
import { isSharedLB } from './shared-lb.ts';
import type { ClusterState, StateHandlers } from './state.ts';

/** Whether a Service has anything to do with sharing: opted in (or misspelt), of our class, told something, or holding ports. */
export function touchesSharing(svc: V1Service, className: string, holdsPorts: boolean): boolean {
  if (Object.keys(svc.metadata?.annotations ?? {}).some((a) => a.startsWith(`${GROUP}/`))) return true;
  if (svc.spec?.type === 'LoadBalancer' && svc.spec.loadBalancerClass === className) return true;
  return currentCondition(svc) !== undefined || holdsPorts;
}

/** What a slice event concerns: the member whose mirror it is, the member whose own slice it is, or a shared LB it names. */
export type SliceTarget = { mirrorOf: string } | { sourceOf: string; serviceName: string } | null;

export function sliceTarget(s: V1EndpointSlice): SliceTarget {
  const labels = s.metadata?.labels ?? {};
  if (labels[MANAGED_BY_SLICE] === SLICE_MANAGER) {
    const m = s.metadata?.annotations?.[MEMBER_ANNOTATION];
    return m === undefined ? null : { mirrorOf: m };
  }
  const svc = labels[SERVICE_NAME_LABEL];
  return svc === undefined ? null : { sourceOf: `${s.metadata?.namespace}/${svc}`, serviceName: svc };
}

/**
 * What a pool reconcile reads of each member, digested: a member's own
 * write-backs (annotations, status) change none of it, and must not set off
 * a reconcile of its whole pool (work that grows with the pool) each.
 */
export function placementDigest(parsed: MemberParse, svc: V1Service): string {
  const inputs = [parsed, svc.metadata?.annotations?.[LOAD_BALANCER] ?? null, (svc.spec?.ports ?? []).map((p) => p.appProtocol ?? null)];
  return createHash('sha1').update(JSON.stringify(inputs)).digest('base64');
}

export interface Enqueue {
  /** A pool's placement; coalesced while its members keep changing. */
  pool(name: string | undefined): void;
  allPools(): void;
  member(key: string): void;
  /** Every member concerning sharing that `filter` keeps. */
  members(filter?: (svc: V1Service) => boolean): void;
}

export interface WatchOptions {
  state: () => ClusterState;
  namespace: string;
  className: string;
  enqueue: Enqueue;
  /** A valid member with nothing placed yet: its pool's placement wakes it, not its own events. */
  awaitsPlacement(key: string, svc: V1Service): boolean;
  onRelist(informer: string): void;
  onRestart(informer: string, reason: string, error: unknown): void;
}

export function watchHandlers(o: WatchOptions): StateHandlers {
  const { enqueue } = o;
  const digests = new Map<string, string>();
  let poolsSeen: PoolSet | null = null;
  return {
    service: (e: InformerEvent, svc: V1Service, members: Set<string>) => {
      const state = o.state();
      if (isSharedLB(svc, o.namespace)) {
        enqueue.pool(svc.metadata?.labels?.[LB_POOL_LABEL]);
        for (const m of members) enqueue.member(m);
        return;
      }
      const key = serviceKey(svc);
      const echo = state.ownEcho(e, svc);
      if (!touchesSharing(svc, o.className, state.holdings(key).length > 0)) {
        digests.delete(key);
        return;
      }
      if (!echo && (e === 'delete' || !o.awaitsPlacement(key, svc))) enqueue.member(key);
      const before = digests.get(key);
      if (e === 'delete') {
        digests.delete(key);
        return enqueue.allPools();
      }
      const digest = placementDigest(state.member(svc, o.className), svc);
      digests.set(key, digest);
      if (digest !== before) enqueue.allPools();
    },
    slice: (_e, s) => {
      const state = o.state();
      const t = sliceTarget(s);
      if (t === null) return;
      if ('mirrorOf' in t) return enqueue.member(t.mirrorOf);
      if (state.holdings(t.sourceOf).length > 0) enqueue.member(t.sourceOf);
      const lb = s.metadata?.namespace === o.namespace ? state.lb(t.serviceName) : undefined;
      if (lb !== undefined && isSharedLB(lb, o.namespace)) enqueue.pool(lb.metadata?.labels?.[LB_POOL_LABEL]);
    },
    pool: (_e, p) => {
      enqueue.pool(p.metadata?.name);
      // Members read the pools' specs: a status write (the pool reconcile's own) wakes none of them.
      const pools = o.state().poolSet();
      if (pools !== poolsSeen) enqueue.members();
      poolsSeen = pools;
    },
    namespace: (e, n) => {
      if (e === 'add') return; // a new namespace holds no Services yet
      enqueue.allPools();
      enqueue.members((svc) => svc.metadata?.namespace === n.metadata?.name);
    },
    relist: o.onRelist,
    restart: o.onRestart,
  };
}
