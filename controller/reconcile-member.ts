// Member reconcile: mirror the member's EndpointSlices onto its shared LB and
// write back what it got (annotations, Ready condition, ingress for
// LoadBalancer-class members, events). Reads caches; writes only what differs.

import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { ADDRESS, LOAD_BALANCER, READY_CONDITION } from '../allocator/annotations.ts';
import type { MemberOutcome, PortOutcome } from '../allocator/placement/allocate.ts';
import type { Assignment } from '../allocator/types.ts';
import type { EventRecorder } from './events.ts';
import type { Outcome } from './workqueue.ts';
import { ApiError, type Rest } from './kube-rest.ts';
import type { Logger } from './logger.ts';
import { annotationPatch, conditionDiffers, currentCondition, desiredAnnotations, desiredCondition, desiredIngress, ingressDiffers, type MemberView } from './member-status.ts';
import { desiredSlices, memberHash, sliceDiffers } from './mirror.ts';
import { isSharedLB } from './shared-lb.ts';
import type { ClusterState } from './state.ts';

export interface MemberContext {
  rest: Rest;
  log: Logger;
  state: ClusterState;
  events: EventRecorder;
  className: string;
  outcomes: Map<string, MemberOutcome>;
  /** Why a member was moved, set by its pool's reconcile (see there). */
  moves: Map<string, string>;
  /** When each member was first seen placed on an LB that has no address yet (debounce, not state). */
  waitingSince: Map<string, number>;
}

/**
 * A new LB usually gets its address within moments; a member says it is
 * waiting only if it still is after this long. Saves an annotation patch, a
 * status patch and an event per member of every new LB.
 */
export const WAITING_DEBOUNCE_MS = 2000;

/**
 * A valid member that holds no ports, has no mirrored slices and no outcome
 * yet has nothing to converge: its pool's placement, which every change of
 * its request sets off, gives it an outcome and wakes it. Until then its
 * watch events need not wake it (at a burst of creates: one reconcile fewer
 * per member).
 */
export function awaitsPlacement(ctx: Pick<MemberContext, 'state' | 'outcomes' | 'className'>, key: string, svc: V1Service): boolean {
  const { state } = ctx;
  return !ctx.outcomes.has(key) && state.holdings(key).length === 0 && state.mirroredSlices(memberHash(key)).length === 0 && state.member(svc, ctx.className).kind === 'member';
}

const slicePath = (ns: string, name?: string): string => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices${name ? `/${name}` : ''}`;

export async function reconcileMember(ctx: MemberContext, key: string): Promise<Outcome> {
  const { state } = ctx;
  const [namespace, name] = key.split('/') as [string, string];
  const svc = state.service(name, namespace);
  if (svc !== undefined && isSharedLB(svc, state.namespace)) return;
  const parsed = svc === undefined ? ({ kind: 'ignored' } as const) : state.member(svc, ctx.className);

  // Where the LBs' records say it holds ports (the store of record).
  const home = state.holdings(key)[0];
  const lb = home === undefined ? undefined : state.lb(home);
  const assignments = home === undefined ? [] : (state.record(home)?.state.assignments ?? []).filter((a) => a.member === key);
  // A frozen (now invalid) member keeps serving; opted-out and forbidden ones are released by the pool reconcile.
  const serving = lb !== undefined && assignments.length > 0 && (parsed.kind === 'member' || (parsed.kind === 'rejected' && parsed.reason === 'Invalid'));

  // Slices of a Service that has just opted in may still be stubs: mirror only whole ones.
  if (serving && !(await state.fillSlices(key))) return { requeueAfterMs: 500 };
  await mirror(ctx, key, serving ? lb : undefined, serving ? assignments : [], svc === undefined ? [] : state.sourceSlices(key));
  if (svc === undefined) {
    ctx.waitingSince.delete(key);
    return;
  }

  let view: MemberView | null = null;
  const ingress = lb?.status?.loadBalancer?.ingress ?? [];
  const ports: PortOutcome[] = serving
    ? assignments.map((a) => {
        const own = svc.spec?.ports?.find((p) => (p.name ?? '') === a.servicePort);
        return { servicePort: a.servicePort, protocol: a.protocol, port: own?.port ?? a.port, externalPort: a.port };
      }).sort((x, y) => x.externalPort - y.externalPort)
    : [];
  const lbRef = serving ? `${state.namespace}/${home}` : null;
  if (parsed.kind === 'rejected') {
    view = { ready: false, reason: parsed.reason, message: serving ? `${parsed.message} (it keeps its current ports until this is fixed)` : parsed.message, loadBalancer: lbRef, ingress, ports };
  } else if (parsed.kind === 'member') {
    const o = ctx.outcomes.get(key);
    if (serving && (o === undefined || o.state === 'Allocated')) {
      view = ingress.length > 0
        ? { ready: true, reason: 'Allocated', message: `served by shared LB ${lbRef}`, loadBalancer: lbRef, ingress, ports }
        : { ready: false, reason: 'WaitingForAddress', message: `placed on shared LB ${lbRef}; waiting for the cloud to give it an address (if the cloud refused the LB, the events of Service ${lbRef} say why)`, loadBalancer: lbRef, ingress, ports };
    } else if (o !== undefined && o.state === 'Pending') {
      view = { ready: false, reason: o.reason, message: o.message, loadBalancer: lbRef, ingress, ports };
    } else {
      return; // not yet placed: the pool reconcile will say what happened
    }
  }
  if (view?.reason === 'WaitingForAddress' && currentCondition(svc)?.reason !== 'WaitingForAddress') {
    // The LB's address arriving wakes this member; the requeue is for a cloud that is slow.
    const now = Date.now();
    const since = ctx.waitingSince.get(key) ?? now;
    ctx.waitingSince.set(key, since);
    if (now - since < WAITING_DEBOUNCE_MS) return { requeueAfterMs: since + WAITING_DEBOUNCE_MS - now };
  }
  if (view?.reason !== 'WaitingForAddress') ctx.waitingSince.delete(key);
  await writeStatus(ctx, svc, view, svc.spec?.type === 'LoadBalancer' && svc.spec.loadBalancerClass === ctx.className);
}

async function mirror(ctx: MemberContext, key: string, lb: V1Service | undefined, assignments: Assignment[], sources: V1EndpointSlice[]): Promise<void> {
  const { state } = ctx;
  const want = lb === undefined ? [] : desiredSlices(lb, key, assignments, sources);
  const have = state.mirroredSlices(memberHash(key));
  const wanted = new Set(want.map((s) => s.metadata?.name));
  for (const s of have) {
    if (wanted.has(s.metadata?.name)) continue;
    await ignoreNotFound(ctx.rest.delete(slicePath(state.namespace, s.metadata?.name), { preconditions: { resourceVersion: s.metadata?.resourceVersion } }));
  }
  for (const d of want) {
    const cur = have.find((s) => s.metadata?.name === d.metadata?.name);
    if (cur === undefined) {
      try {
        await ctx.rest.post(slicePath(state.namespace), d);
      } catch (e) {
        // The cache lags our own create: the next reconcile compares and updates.
        if (!(e instanceof ApiError && e.status === 409)) throw e;
      }
    } else if (sliceDiffers(cur, d)) {
      await ctx.rest.put(slicePath(state.namespace, d.metadata?.name), { ...d, metadata: { ...d.metadata, resourceVersion: cur.metadata?.resourceVersion } });
    }
  }
}

async function writeStatus(ctx: MemberContext, current: V1Service, view: MemberView | null, lbClass: boolean): Promise<void> {
  const { rest, log, events, state } = ctx;
  let svc = current;
  // Remember what each write returned: a reconcile before the watch catches up must not write it again.
  const write = async (p: string, body: unknown, type: 'merge' | 'strategic'): Promise<void> => {
    const from = svc.metadata?.resourceVersion ?? null;
    svc = await rest.patch<V1Service>(p, body, type);
    state.wroteMember(from, svc);
  };
  const ns = svc.metadata?.namespace as string;
  const name = svc.metadata?.name as string;
  const key = `${ns}/${name}`;
  const regarding = { apiVersion: 'v1', kind: 'Service', namespace: ns, name, uid: svc.metadata?.uid };
  const path = `/api/v1/namespaces/${ns}/services/${name}`;

  const patch = annotationPatch(svc, desiredAnnotations(view));
  if (patch !== null) {
    const told = svc.metadata?.annotations?.[LOAD_BALANCER];
    await write(path, { metadata: { annotations: patch } }, 'merge');
    // What the member was last told is the record of where its clients go: a new LB there is a move, however it came about.
    if (told !== undefined && view !== null && view.loadBalancer !== null && view.loadBalancer !== told) {
      const why = ctx.moves.get(key) ?? 'its shared LB changed';
      events.warning(regarding, 'AddressChanged', 'Allocate', `moved from shared LB ${told} to ${view.loadBalancer}: ${why}; clients must use the new address`);
      log.warn('member address changed', { member: key, from: told, to: view.loadBalancer, why });
    }
    ctx.moves.delete(key);
  }

  const before = currentCondition(svc);
  if (view === null) {
    // Opted out: take back what sharedlb wrote.
    const clearIngress = lbClass && (svc.status?.loadBalancer?.ingress ?? []).length > 0;
    if (before !== undefined || clearIngress) {
      await write(`${path}/status`, {
        status: {
          ...(before !== undefined ? { conditions: [{ type: READY_CONDITION, $patch: 'delete' }] } : {}),
          ...(clearIngress ? { loadBalancer: { ingress: [] } } : {}),
        },
      }, 'strategic');
      events.normal(regarding, 'Released', 'Release', 'no longer shares a load balancer: its ports were released');
      log.info('member released', { member: key });
    }
    return;
  }
  const cond = desiredCondition(svc, view, new Date());
  const ingress = lbClass ? desiredIngress(view, svc.spec?.ports ?? []) : null;
  const statusPatch: Record<string, unknown> = {};
  if (conditionDiffers(svc, cond)) statusPatch.conditions = [cond];
  if (ingress !== null && ingressDiffers(svc, ingress)) statusPatch.loadBalancer = { ingress };
  if (Object.keys(statusPatch).length === 0) return;
  await write(`${path}/status`, { status: statusPatch }, 'strategic');
  if (statusPatch.conditions !== undefined && (before?.reason !== cond.reason || before?.status !== cond.status)) {
    const address = desiredAnnotations(view)[ADDRESS];
    if (view.ready) events.normal(regarding, 'Allocated', 'Allocate', `reachable at ${address ?? '(no address)'} on shared LB ${view.loadBalancer}`);
    else if (view.reason === 'WaitingForAddress') events.normal(regarding, 'WaitingForAddress', 'Allocate', view.message);
    else events.warning(regarding, view.reason, 'Allocate', view.message);
    log.info('member status', { member: key, reason: cond.reason, loadBalancer: view.loadBalancer, address: desiredAnnotations(view)[ADDRESS] ?? null });
  }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
}
