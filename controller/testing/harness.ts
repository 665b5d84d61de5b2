// The reconciles in-process: a ClusterState on the fake API server's lists
// and watches, the pool and member reconciles as the controller runs them,
// and a cloud that gives each shared LB an address. `converge` runs every
// reconcile until a round writes nothing — reconciles are level-triggered,
// so that fixed point is what the controller reaches whatever the order of
// its events. Test support only.

import type { V1Service } from '@kubernetes/client-node';
import type { MemberOutcome } from '../../allocator/placement/allocate.ts';
import { LB_POOL_LABEL } from '../../allocator/annotations.ts';
import type { EventRecorder, Regarding } from '../events.ts';
import { makeLogger } from '../logger.ts';
import { reconcileMember, type MemberContext } from '../reconcile-member.ts';
import { reconcilePool, type PoolContext } from '../reconcile-pool.ts';
import { isSharedLB } from '../shared-lb.ts';
import { ClusterState } from '../state.ts';
import { GatewayState } from '../gateway-state.ts';
import { reconcileGateway, reconcileGatewayClass, reconcileRoute, type GatewayContext } from '../reconcile-gateway.ts';
import { objectKey } from '../../gateway/types.ts';
import { GATEWAY_ANNOTATION } from '../../gateway/member-service.ts';
import { FakeApi, type Obj } from './fake-api.ts';

export const NS = 'sharedlb-system';
export const CLASS = 'sharedlb.io/shared';

export interface RecordedEvent {
  type: 'Normal' | 'Warning';
  regarding: Regarding;
  reason: string;
  note: string;
}

export interface Harness {
  api: FakeApi;
  state: ClusterState;
  pool: PoolContext;
  member: MemberContext;
  /** The Gateway API side, when asked for (`gateways: true`). */
  gateway: GatewayContext | null;
  events: RecordedEvent[];
  /** Run every reconcile until a round writes nothing and fails nothing (or throw after `rounds`); failures are retried. */
  converge(rounds?: number): Promise<void>;
  /** A shared LB or member Service as stored now. */
  service(namespace: string, name: string): V1Service | undefined;
  stop(): Promise<void>;
}

function recorder(events: RecordedEvent[]): EventRecorder {
  return {
    normal: (regarding, reason, _action, note) => void events.push({ type: 'Normal', regarding, reason, note }),
    warning: (regarding, reason, _action, note) => void events.push({ type: 'Warning', regarding, reason, note }),
    flush: async () => undefined,
    written: 0,
  } as EventRecorder;
}

export async function startHarness(objects: Obj[], opts: { cloud?: boolean; now?: () => Date; gateways?: boolean } = {}): Promise<Harness> {
  const api = new FakeApi();
  api.seed(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'kubernetes.io/metadata.name': NS } } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubernetes', namespace: 'default' }, spec: { type: 'ClusterIP', ipFamilies: ['IPv4'], ports: [{ name: 'https', port: 443 }] } },
  );
  api.seed(...objects);
  const events: RecordedEvent[] = [];
  const log = makeLogger('error');
  const noop = (): void => undefined;
  const state = new ClusterState(api.watch, api, NS, CLASS, { service: noop, slice: noop, pool: noop, namespace: noop, restart: noop, relist: noop }, 0);
  await state.start();
  const outcomes = new Map<string, MemberOutcome>();
  const moves = new Map<string, string>();
  const ev = recorder(events);
  const pool: PoolContext = { rest: api, log, state, events: ev, className: CLASS, nodePortRange: { from: 30000, to: 32767 }, outcomes, moves, enqueueMember: noop, ...(opts.now ? { now: opts.now } : {}) };
  const member: MemberContext = { rest: api, log, state, events: ev, className: CLASS, outcomes, moves, waitingSince: new Map() };
  let gateway: GatewayContext | null = null;
  if (opts.gateways === true) {
    const gws = new GatewayState(api.watch, api, { gatewayClass: noop, gateway: noop, route: noop, grants: noop, restart: noop, relist: noop }, 0);
    await gws.start();
    // Nodes program at once here: no settling time before Programmed.
    gateway = { rest: api, log, state, gateways: gws, events: ev, settleMs: 0 };
  }
  let address = 0;
  const cloud = (): void => {
    if (opts.cloud === false) return;
    for (const lb of api.list('Service', NS)) {
      if (lb.metadata?.deletionTimestamp !== undefined || (lb.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress?.length) continue;
      api.seed({ ...lb, status: { loadBalancer: { ingress: [{ ip: `203.0.113.${++address}`, ipMode: 'VIP' }] } } });
    }
  };
  // A failed reconcile is retried in the next round, as the work queue retries it.
  const errors: unknown[] = [];
  const attempt = async (run: () => Promise<unknown>): Promise<void> => {
    try {
      await run();
    } catch (e) {
      errors.push(e);
    }
  };
  const converge = async (rounds = 10): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      const before = api.writes().length;
      const failedBefore = errors.length;
      const pools = new Set(state.pools.list().map((p) => p.metadata?.name as string));
      for (const lb of state.lbs()) pools.add(lb.metadata?.labels?.[LB_POOL_LABEL] as string);
      for (const p of [...pools].sort()) await attempt(() => reconcilePool(pool, p));
      cloud();
      const keys = new Set<string>();
      for (const svc of state.services.list()) if (!isSharedLB(svc, NS)) keys.add(`${svc.metadata?.namespace}/${svc.metadata?.name}`);
      for (const s of api.list('EndpointSlice', NS)) {
        const m = s.metadata?.annotations?.['sharedlb.io/member'];
        if (m !== undefined) keys.add(m);
      }
      for (const k of [...keys].sort()) {
        // The debounce of WaitingForAddress is for a live cloud; here the cloud answers at once.
        member.waitingSince.set(k, 0);
        await attempt(() => reconcileMember(member, k));
      }
      if (gateway !== null) await gatewayRound(gateway, attempt);
      if (api.writes().length === before && errors.length === failedBefore) return;
    }
    throw new Error(`no fixed point after ${rounds} rounds: ${api.writes().slice(-5).map((c) => `${c.method} ${c.path}`).join('; ')}; errors: ${errors.slice(-3).map(String).join('; ')}`);
  };
  return {
    api, state, pool, member, gateway, events, converge,
    service: (namespace, name) => api.object('Service', namespace, name) as V1Service | undefined,
    stop: async () => {
      await state.stop();
      await gateway?.gateways.stop();
    },
  };
}

/** Every GatewayClass, Gateway and route reconciled once, in a fixed order. */
async function gatewayRound(ctx: GatewayContext, attempt: (run: () => Promise<unknown>) => Promise<void>): Promise<void> {
  const g = ctx.gateways;
  for (const c of g.classes.list()) await attempt(() => reconcileGatewayClass(ctx, c.metadata?.name as string));
  const keys = new Set(g.gateways.list().map(objectKey));
  // A deleted Gateway's key still comes (its delete event): through the member Service it leaves.
  for (const svc of ctx.state.services.list()) {
    const owner = svc.metadata?.annotations?.[GATEWAY_ANNOTATION];
    if (owner !== undefined) keys.add(`${svc.metadata?.namespace}/${owner}`);
  }
  for (const k of [...keys].sort()) await attempt(() => reconcileGateway(ctx, k));
  for (const r of g.allRoutes()) await attempt(() => reconcileRoute(ctx, r.kind, objectKey(r)));
}

/** A LoadBalancerPool object. */
export function poolObject(name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: 'sharedlb.io/v1alpha1', kind: 'LoadBalancerPool', metadata: { name }, spec };
}

/** A member Service with the opt-in annotation (or the class, for type LoadBalancer). */
export function memberService(namespace: string, name: string, ports: Array<{ name: string; port: number; protocol?: string }>, extra: { annotations?: Record<string, string>; spec?: Record<string, unknown>; created?: string } = {}): Obj {
  const lbClass = extra.spec?.type === 'LoadBalancer';
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace, ...(extra.created ? { creationTimestamp: extra.created } : {}), annotations: { ...(lbClass ? {} : { 'sharedlb.io/enabled': 'true' }), ...(extra.annotations ?? {}) } },
    spec: { type: 'ClusterIP', selector: { app: name }, ports: ports.map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })), ...(lbClass ? { loadBalancerClass: CLASS } : {}), ...(extra.spec ?? {}) },
  };
}

/** The EndpointSlice kube-controller-manager would write for a member: one ready pod per address. */
export function memberSlice(namespace: string, service: string, addresses: string[], ports: Array<{ name: string; port: number; protocol?: string }>): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${service}-abcde`, namespace, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-1' })),
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
  };
}
