// Gateway API reconciles: a GatewayClass's acceptance, a Gateway's member
// Service, slices and status, and a route's parent statuses. Each reads the
// caches, decides through gateway/model.ts, and writes only what differs.

import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { LOAD_BALANCER } from '../allocator/annotations.ts';
import { serviceKey } from '../allocator/members.ts';
import { POOL_KIND } from '../allocator/pools.ts';
import {
  analyseListeners, attach, gatewayConditions, listenerStatuses, type ListenerAnalysis, type Lookups, parentRefOf,
  type Placement, type PortPlan, portPlans, programmedReason, resolveBackends, type RouteOnGateway, weightsUnequal,
} from '../gateway/model.ts';
import { type Condition, CONTROLLER_NAME, GATEWAY_GROUP, type GatewayClassObject, type GatewayObject, objectKey, type RouteKind, type RouteObject, type RouteParentStatus, type SecretVerdict } from '../gateway/types.ts';
import type { EventRecorder } from './events.ts';
import { desiredGatewaySlices, secretVerdict } from './gateway-objects.ts';
import { desiredMemberService, memberServiceName, memberServicePatch, ownedBy } from '../gateway/member-service.ts';
import { GATEWAY_PATHS, type GatewayState } from './gateway-state.ts';
import { ApiError, type Rest } from './kube-rest.ts';
import type { Logger } from './logger.ts';
import { currentCondition } from './member-status.ts';
import { sliceDiffers } from './mirror.ts';
import type { ClusterState } from './state.ts';
import type { Outcome } from './workqueue.ts';

export interface GatewayContext {
  rest: Rest;
  log: Logger;
  state: ClusterState;
  gateways: GatewayState;
  events: EventRecorder;
  /** How long a newly placed Gateway waits before it says Programmed (default PROGRAMMING_SETTLE_MS). */
  settleMs?: number;
}

/** Features the class claims in its status, which the conformance suite runs tests for. Never HTTPRoute: HTTP is forwarded at L4, not routed. */
export const SUPPORTED_FEATURES = ['Gateway', 'ReferenceGrant', 'TCPRoute', 'UDPRoute'];
/** Secrets are read, not watched (the controller does not list every Secret): a Gateway that names one looks again this often. */
const SECRET_RECHECK_MS = 10_000;

const POOL_GROUP = 'sharedlb.io';

/** The pool a class's Gateways go to (null: the default pool), or why the class cannot be accepted. */
export function classPool(c: GatewayClassObject, pools: ReadonlySet<string>, defaultPool: string | null): { pool: string | null } | { problem: string } {
  const ref = c.spec?.parametersRef;
  if (ref === undefined) return defaultPool === null ? { problem: 'no parametersRef and no default LoadBalancerPool: name a pool' } : { pool: null };
  if (ref.group !== POOL_GROUP || ref.kind !== POOL_KIND) return { problem: `parametersRef must be a ${POOL_GROUP} ${POOL_KIND}, not ${ref.group}/${ref.kind}` };
  if (!pools.has(ref.name ?? '')) return { problem: `LoadBalancerPool ${ref.name} does not exist` };
  return { pool: ref.name ?? null };
}

function poolOf(ctx: GatewayContext, c: GatewayClassObject): ReturnType<typeof classPool> {
  const set = ctx.state.poolSet();
  return classPool(c, new Set(set.pools.keys()), set.defaultPool?.name ?? null);
}

/** Conditions with their transition times kept where the status did not change. */
function stamped(want: Condition[], have: Condition[] | undefined, now: string): Condition[] {
  return want.map((c) => {
    const before = have?.find((h) => h.type === c.type);
    return { ...c, lastTransitionTime: before?.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now };
  });
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
/** JSON with every object's keys sorted: the API server returns a custom resource's fields sorted, not in the order we wrote them. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));
}
const same = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b);
/** The same status but for when its conditions last changed. */
const sameButTimes = (a: unknown, b: unknown): boolean => {
  const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? {}, (k, x) => (k === 'lastTransitionTime' ? undefined : x)));
  return same(strip(a), strip(b));
};

/** A status write over the version read; an object deleted meanwhile needs none. */
async function patchStatus(rest: Rest, path: string, resourceVersion: string | undefined, status: unknown): Promise<void> {
  try {
    await rest.patch(`${path}/status`, { metadata: { resourceVersion }, status }, 'merge');
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
}

const namespaced = (collection: string, key: string): string => {
  const [ns, name] = key.split('/') as [string, string];
  return collection.replace(/\/([a-z]+)$/, `/namespaces/${ns}/$1/${name}`);
};

export async function reconcileGatewayClass(ctx: GatewayContext, name: string): Promise<Outcome> {
  const c = ctx.gateways.classes.get(name);
  if (c === undefined || c.spec?.controllerName !== CONTROLLER_NAME) return;
  const gen = c.metadata?.generation;
  const p = poolOf(ctx, c);
  const accepted: Condition = 'problem' in p
    ? { type: 'Accepted', status: 'False', reason: 'InvalidParameters', message: p.problem, observedGeneration: gen }
    : { type: 'Accepted', status: 'True', reason: 'Accepted', message: `Gateways of this class get ports on shared LBs of ${p.pool === null ? 'the default pool' : `LoadBalancerPool ${p.pool}`}`, observedGeneration: gen };
  const status = { conditions: stamped([accepted], c.status?.conditions, now()), supportedFeatures: SUPPORTED_FEATURES.map((f) => ({ name: f })) };
  if (sameButTimes({ conditions: c.status?.conditions, supportedFeatures: c.status?.supportedFeatures }, status)) return;
  await patchStatus(ctx.rest, `${GATEWAY_PATHS.classes}/${name}`, c.metadata?.resourceVersion, status);
}

/**
 * Lookups for the model, from the caches; with `secretsOf`, the Secrets its
 * HTTPS listeners name are read first. Only a Gateway's own status needs
 * them: whether a route attaches does not depend on a listener's certificate.
 */
async function lookups(ctx: GatewayContext, secretsOf?: GatewayObject): Promise<Lookups> {
  const verdicts = new Map<string, SecretVerdict>();
  for (const l of secretsOf?.spec?.listeners ?? []) {
    for (const r of l.protocol === 'HTTPS' ? (l.tls?.certificateRefs ?? []) : []) {
      const k = `${r.namespace ?? secretsOf?.metadata?.namespace}/${r.name}`;
      if (!verdicts.has(k)) verdicts.set(k, await secretVerdict(ctx.rest, ...(k.split('/') as [string, string])));
    }
  }
  const { state } = ctx;
  return {
    grants: ctx.gateways.grants.list(),
    namespaceLabels: (ns) => state.namespaceLabels(ns),
    secret: (ns, name) => verdicts.get(`${ns}/${name}`) ?? 'missing',
    service: (ns, name) => {
      const svc = state.services.get(name, ns);
      return svc === undefined ? undefined : { ports: (svc.spec?.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })) };
    },
  };
}

/** Services the routes name as backends: kept whole in the caches (with their slices) from now on. */
async function keepBackends(ctx: GatewayContext, routes: RouteObject[]): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const r of routes) for (const rule of r.spec?.rules ?? []) for (const b of rule.backendRefs ?? []) {
    if ((b.group ?? '') === '' && (b.kind ?? 'Service') === 'Service') keys.add(`${b.namespace ?? r.metadata?.namespace}/${b.name}`);
  }
  await ctx.state.keepWhole([...keys]);
  return keys;
}

/**
 * The Gateway of ours a key names, with its class's pool; undefined when it
 * is not ours (or gone); 'frozen' when its class is ours but not accepted
 * (its pool missing or broken): such a Gateway is left exactly as it is —
 * member Service, slices, status — as a broken pool's LBs are.
 */
function ourGateway(ctx: GatewayContext, key: string): { gw: GatewayObject; pool: string | null } | 'frozen' | undefined {
  const gw = ctx.gateways.gateway(key);
  const cls = ctx.gateways.ours(gw?.spec?.gatewayClassName);
  if (gw === undefined || cls === undefined) return undefined;
  const p = poolOf(ctx, cls);
  return 'problem' in p ? 'frozen' : { gw, pool: p.pool };
}

function routesOn(ctx: GatewayContext, gw: GatewayObject, ls: ListenerAnalysis[], look: Lookups): RouteOnGateway[] {
  const key = objectKey(gw);
  return ctx.gateways.routesOf(key).map((route) => {
    const refs = (route.spec?.parentRefs ?? []).filter((p) => {
      const r = parentRefOf(route, p);
      return r.group === GATEWAY_GROUP && r.kind === 'Gateway' && `${r.namespace}/${r.name}` === key;
    });
    const atts = refs.map((p) => attach(route, p, gw, ls, look));
    return { route, listeners: [...new Set(atts.flatMap((a) => a.listeners))], accepted: atts.some((a) => a.accepted.status === 'True') };
  });
}

export async function reconcileGateway(ctx: GatewayContext, key: string): Promise<Outcome> {
  const [ns, name] = key.split('/') as [string, string];
  const ours = ourGateway(ctx, key);
  if (ours === 'frozen') return;
  if (ours === undefined) {
    await deleteMemberService(ctx, ns, name);
    ctx.gateways.setBackends(key, new Set());
    return;
  }
  const { gw, pool } = ours;
  const routes = ctx.gateways.routesOf(key);
  ctx.gateways.setBackends(key, await keepBackends(ctx, routes));
  const look = await lookups(ctx, gw);
  const ls = analyseListeners(gw, look);
  const onGw = routesOn(ctx, gw, ls, look);
  const plans = portPlans(ls, onGw, look);
  const svc = plans.length > 0 && (gw.spec?.addresses ?? []).length === 0 ? await ensureMemberService(ctx, gw, pool, plans) : await deleteMemberService(ctx, ns, name).then(() => null);
  if (svc !== null && 'problem' in svc) {
    await writeGatewayStatus(ctx, gw, ls, onGw, { programmed: false, reason: 'Invalid', message: svc.problem, addresses: [] });
    return;
  }
  if (svc !== null) await syncSlices(ctx, svc, plans);
  const placement = placementOf(ctx, svc);
  await writeGatewayStatus(ctx, gw, ls, onGw, placement);
  if (placement.settleMs > 0) return { requeueAfterMs: placement.settleMs };
  const namesSecrets = (gw.spec?.listeners ?? []).some((l) => l.protocol === 'HTTPS');
  return namesSecrets ? { requeueAfterMs: SECRET_RECHECK_MS } : undefined;
}

/** The member Service of a Gateway that is gone, no longer ours, or has no port to serve: deleted at once, so its ports are free for the next. */
async function deleteMemberService(ctx: GatewayContext, ns: string, gatewayName: string): Promise<void> {
  const svc = ctx.state.service(memberServiceName(gatewayName), ns);
  if (svc === undefined || !(svc.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Gateway' && o.name === gatewayName)) return;
  try {
    await ctx.rest.delete(`/api/v1/namespaces/${ns}/services/${svc.metadata?.name}`, { preconditions: { uid: svc.metadata?.uid } });
  } catch (e) {
    if (!(e instanceof ApiError && (e.status === 404 || e.status === 409))) throw e;
  }
}

async function ensureMemberService(ctx: GatewayContext, gw: GatewayObject, pool: string | null, plans: PortPlan[]): Promise<V1Service | { problem: string }> {
  const want = desiredMemberService(gw, pool, plans);
  const ns = gw.metadata?.namespace as string;
  const have = ctx.state.service(want.metadata?.name as string, ns);
  if (have === undefined) return ctx.rest.post<V1Service>(`/api/v1/namespaces/${ns}/services`, want);
  if (!ownedBy(have, gw)) return { problem: `Service ${ns}/${want.metadata?.name}, which this Gateway's ports would be, exists and is not this Gateway's: delete or rename it` };
  const patch = memberServicePatch(have, want);
  return patch === null ? have : ctx.rest.patch<V1Service>(`/api/v1/namespaces/${ns}/services/${want.metadata?.name}`, { ...patch, metadata: { ...(patch.metadata as object), resourceVersion: have.metadata?.resourceVersion } }, 'merge');
}

async function syncSlices(ctx: GatewayContext, svc: V1Service, plans: PortPlan[]): Promise<void> {
  const ns = svc.metadata?.namespace as string;
  const path = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
  const want = desiredGatewaySlices(svc, plans, (k) => ctx.state.sourceSlices(k));
  const have = new Map(ctx.state.sourceSlices(serviceKey(svc)).map((s) => [s.metadata?.name as string, s]));
  for (const s of want) {
    const cur = have.get(s.metadata?.name as string);
    have.delete(s.metadata?.name as string);
    if (cur === undefined) await ctx.rest.post(path, s);
    else if (sliceDiffers(cur, s)) await ctx.rest.put(`${path}/${s.metadata?.name}`, { ...s, metadata: { ...s.metadata, resourceVersion: cur.metadata?.resourceVersion } } satisfies V1EndpointSlice);
  }
  for (const stale of have.keys()) {
    await ctx.rest.delete(`${path}/${stale}`).catch((e: unknown) => {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    });
  }
}

/**
 * A newly placed Gateway is Programmed this long after its member became
 * Allocated: kube-proxy applies Service and EndpointSlice changes at most
 * once per min-sync-period (1 s by default, pkg/proxy/apis/config/v1alpha1
 * defaults.go), and the condition's time has a one-second grain. A client
 * told Programmed sooner may send its first SYN while a node still has the
 * port's previous holder's rules; conntrack then pins that connection to
 * the old (perhaps dead) endpoint for as long as it retries.
 */
export const PROGRAMMING_SETTLE_MS = 3000;

/** How the Gateway's member fares, read from its Ready condition and its LB's address; and when to look again if it is settling. */
function placementOf(ctx: GatewayContext, svc: V1Service | null): Placement & { settleMs: number } {
  if (svc === null) return { programmed: false, reason: 'Invalid', message: 'no listener can be served', addresses: [], settleMs: 0 };
  const current = ctx.state.service(svc.metadata?.name as string, svc.metadata?.namespace as string) ?? svc;
  const cond = currentCondition(current);
  const lbName = current.metadata?.annotations?.[LOAD_BALANCER]?.split('/')[1];
  const ingress = lbName === undefined ? [] : (ctx.state.lb(lbName)?.status?.loadBalancer?.ingress ?? []);
  const addresses: Placement['addresses'] = ingress.flatMap((i): Placement['addresses'] => (i.ip ? [{ type: 'IPAddress', value: i.ip }] : i.hostname ? [{ type: 'Hostname', value: i.hostname }] : []));
  const placed = cond?.reason === 'Allocated' && addresses.length > 0;
  const settle = ctx.settleMs ?? PROGRAMMING_SETTLE_MS;
  const settleMs = placed ? Math.max(0, Date.parse(cond.lastTransitionTime) + settle - Date.now()) : 0;
  if (placed && settleMs > 0) {
    return { programmed: false, reason: 'Pending', message: `placed on shared LB ${lbName}; nodes are given ${settle / 1000} s to program it`, addresses, settleMs };
  }
  return { programmed: placed, reason: programmedReason(cond?.reason), message: cond?.message ?? 'waiting for a place on a shared LB', addresses, settleMs };
}

async function writeGatewayStatus(ctx: GatewayContext, gw: GatewayObject, ls: ListenerAnalysis[], routes: RouteOnGateway[], placement: Placement): Promise<void> {
  const attached = new Map<string, number>();
  for (const r of routes) for (const l of r.listeners) attached.set(l, (attached.get(l) ?? 0) + 1);
  const t = now();
  const listeners = listenerStatuses(gw, ls, attached, placement).map((l) => ({ ...l, conditions: stamped(l.conditions, gw.status?.listeners?.find((x) => x.name === l.name)?.conditions, t) }));
  const status = { addresses: placement.programmed ? placement.addresses : [], conditions: stamped(gatewayConditions(gw, ls, placement), gw.status?.conditions, t), listeners };
  if (sameButTimes(status, { addresses: gw.status?.addresses ?? [], conditions: gw.status?.conditions ?? [], listeners: gw.status?.listeners ?? [] })) return;
  await patchStatus(ctx.rest, namespaced(GATEWAY_PATHS.gateways, objectKey(gw)), gw.metadata?.resourceVersion, status);
}

/** A route's entries in status.parents for the Gateways of ours it names; other controllers' entries are kept. */
export async function reconcileRoute(ctx: GatewayContext, kind: RouteKind, key: string): Promise<Outcome> {
  const route = ctx.gateways.route(kind, key);
  if (route === undefined) return;
  await keepBackends(ctx, [route]);
  // The same for every parent: a route's backends do not depend on the Gateway it attaches to.
  const look = await lookups(ctx);
  const { resolved, backends } = resolveBackends(route, look);
  const ourParents: RouteParentStatus[] = [];
  const seen = new Set<string>();
  for (const p of route.spec?.parentRefs ?? []) {
    const r = parentRefOf(route, p);
    const id = JSON.stringify([r, p.sectionName ?? null, p.port ?? null]);
    if (seen.has(id) || r.group !== GATEWAY_GROUP || r.kind !== 'Gateway') continue;
    seen.add(id);
    const ours = ourGateway(ctx, `${r.namespace}/${r.name}`);
    if (ours === undefined) continue;
    const parentRef = { group: r.group, kind: r.kind, namespace: r.namespace, name: r.name, ...(p.sectionName !== undefined ? { sectionName: p.sectionName } : {}), ...(p.port !== undefined ? { port: p.port } : {}) };
    if (ours === 'frozen') {
      const kept = (route.status?.parents ?? []).find((x) => x.controllerName === CONTROLLER_NAME && same(x.parentRef, parentRef));
      if (kept !== undefined) ourParents.push(kept);
      continue;
    }
    const att = attach(route, p, ours.gw, analyseListeners(ours.gw, look), look);
    const conditions = [att.accepted, resolved];
    if (weightsUnequal(backends)) {
      conditions.push({ type: 'sharedlb.io/WeightsHonoured', status: 'False', reason: 'UnequalWeights', message: 'kube-proxy picks uniformly among a port\'s endpoints: backends with weight above 0 share traffic by endpoint count, not by weight', observedGeneration: route.metadata?.generation });
    }
    ourParents.push({ parentRef, controllerName: CONTROLLER_NAME, conditions });
  }
  const others = (route.status?.parents ?? []).filter((x) => x.controllerName !== CONTROLLER_NAME);
  const mine = (route.status?.parents ?? []).filter((x) => x.controllerName === CONTROLLER_NAME);
  const t = now();
  const parents = [...others, ...ourParents.map((x) => ({ ...x, conditions: stamped(x.conditions, mine.find((m) => same(m.parentRef, x.parentRef))?.conditions, t) }))];
  if (sameButTimes(parents, route.status?.parents ?? [])) return;
  await patchStatus(ctx.rest, namespaced(GATEWAY_PATHS.routes[kind], key), route.metadata?.resourceVersion, { parents });
}
