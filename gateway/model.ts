// What the Gateway API means for a Gateway served by kube-proxy behind a
// shared LB: which listeners are valid, which routes attach to which
// listener, which backends each LB port forwards to, and the status the
// specification asks for. Pure: the controller gathers the objects, this
// module decides, and the controller writes.
//
// The data path is L4: an LB port per listener port, and the endpoints of
// the winning route's backends mirrored under it. What needs more than that
// (unequal weights, HTTP matching, TLS termination) is said in status, never
// claimed.

import { matchesSelector } from '../allocator/selector.ts';
import {
  type BackendRef,
  type BackendService,
  type Condition,
  GATEWAY_GROUP,
  type GatewayObject,
  type Listener,
  type ListenerStatus,
  type ParentRef,
  type ReferenceGrantObject,
  type RouteKind,
  type RouteObject,
  type SecretVerdict,
} from './types.ts';

export type Transport = 'TCP' | 'UDP';

/** The route kinds a listener of each protocol serves; TLS (passthrough) needs TLSRoute, which sharedlb does not serve. */
const KINDS_BY_PROTOCOL: Record<string, RouteKind[]> = { TCP: ['TCPRoute'], UDP: ['UDPRoute'], HTTP: ['HTTPRoute'], HTTPS: ['HTTPRoute'] };

export const transportOf = (protocol: string): Transport => (protocol === 'UDP' ? 'UDP' : 'TCP');
/** An LB port: its number and transport, e.g. 9300/TCP. */
export const slotOf = (l: { port: number; protocol: string }): string => `${l.port}/${transportOf(l.protocol)}`;

export interface ListenerAnalysis {
  listener: Listener;
  /** Its protocol is one sharedlb serves. */
  accepted: boolean;
  /** Shares its port with a listener it cannot be told apart from at L4. */
  conflicted: null | { reason: 'ProtocolConflict' | 'HostnameConflict'; message: string };
  /** Why its references do not resolve (certificate or route kinds), or null. */
  unresolved: null | { reason: 'InvalidRouteKinds' | 'InvalidCertificateRef' | 'RefNotPermitted'; message: string };
  kinds: RouteKind[];
}

export interface Lookups {
  namespaceLabels(ns: string): Record<string, string>;
  service(ns: string, name: string): BackendService | undefined;
  secret(ns: string, name: string): SecretVerdict;
  grants: ReferenceGrantObject[];
}

const nsOf = (o: { metadata?: { namespace?: string } }): string => o.metadata?.namespace ?? 'default';

/** Does a ReferenceGrant in the target's namespace let `from` (group, kind, namespace) refer to it? */
export function granted(grants: ReferenceGrantObject[], from: { group: string; kind: string; namespace: string }, to: { group: string; kind: string; namespace: string; name: string }): boolean {
  if (from.namespace === to.namespace) return true;
  return grants.some((g) =>
    nsOf(g) === to.namespace &&
    (g.spec?.from ?? []).some((f) => (f.group ?? '') === from.group && f.kind === from.kind && f.namespace === from.namespace) &&
    (g.spec?.to ?? []).some((t) => (t.group ?? '') === to.group && t.kind === to.kind && (t.name === undefined || t.name === '' || t.name === to.name)),
  );
}

function routeKinds(l: Listener): { kinds: RouteKind[]; invalid: string[] } {
  const served = KINDS_BY_PROTOCOL[l.protocol] ?? [];
  if (l.allowedRoutes?.kinds === undefined || l.allowedRoutes.kinds.length === 0) return { kinds: served, invalid: [] };
  const kinds: RouteKind[] = [];
  const invalid: string[] = [];
  for (const k of l.allowedRoutes.kinds) {
    const ok = (k.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && served.includes(k.kind as RouteKind);
    if (ok && !kinds.includes(k.kind as RouteKind)) kinds.push(k.kind as RouteKind);
    else if (!ok) invalid.push(`${k.group ?? GATEWAY_GROUP}/${k.kind}`);
  }
  return { kinds, invalid };
}

function certificateProblem(gw: GatewayObject, l: Listener, look: Lookups): ListenerAnalysis['unresolved'] {
  if (l.protocol !== 'HTTPS') return null;
  const refs = l.tls?.certificateRefs ?? [];
  if (refs.length === 0) return { reason: 'InvalidCertificateRef', message: 'an HTTPS listener needs tls.certificateRefs' };
  for (const r of refs) {
    const ns = r.namespace ?? nsOf(gw);
    const what = `certificateRef ${ns}/${r.name}`;
    if ((r.group ?? '') !== '' || (r.kind ?? 'Secret') !== 'Secret') return { reason: 'InvalidCertificateRef', message: `${what}: only core Secrets are read, not ${r.group ?? ''}/${r.kind}` };
    if (!granted(look.grants, { group: GATEWAY_GROUP, kind: 'Gateway', namespace: nsOf(gw) }, { group: '', kind: 'Secret', namespace: ns, name: r.name })) {
      return { reason: 'RefNotPermitted', message: `${what}: no ReferenceGrant in ${ns} lets Gateways of ${nsOf(gw)} refer to it` };
    }
    const v = look.secret(ns, r.name);
    if (v !== 'valid') return { reason: 'InvalidCertificateRef', message: `${what}: ${v === 'missing' ? 'no such Secret' : 'not a kubernetes.io/tls Secret holding a PEM certificate and its key'}` };
  }
  return null;
}

/**
 * Listeners that share a port must be told apart by the data path. At L4
 * only the transport tells them apart: listeners of one transport on one
 * port are a conflict unless all are HTTP (or all HTTPS) with distinct
 * hostnames — which the specification allows, and which then share the LB
 * port (HTTPRoutes on such a port are not served: see l7Needs).
 */
function conflicts(listeners: Listener[]): Map<string, ListenerAnalysis['conflicted']> {
  const out = new Map<string, ListenerAnalysis['conflicted']>();
  const bySlot = new Map<string, Listener[]>();
  for (const l of listeners) bySlot.set(slotOf(l), [...(bySlot.get(slotOf(l)) ?? []), l]);
  for (const [slot, ls] of bySlot) {
    if (ls.length < 2) continue;
    const protocols = new Set(ls.map((l) => l.protocol));
    if (protocols.size > 1) {
      for (const l of ls) out.set(l.name, { reason: 'ProtocolConflict', message: `port ${slot} is also a ${[...protocols].filter((p) => p !== l.protocol).join('/')} listener's` });
      continue;
    }
    const proto = ls[0]?.protocol ?? '';
    const hosts = new Map<string, number>();
    for (const l of ls) hosts.set(l.hostname ?? '', (hosts.get(l.hostname ?? '') ?? 0) + 1);
    for (const l of ls) {
      if (proto !== 'HTTP' && proto !== 'HTTPS') out.set(l.name, { reason: 'ProtocolConflict', message: `${ls.length} ${proto} listeners on port ${slot}: one port forwards to one set of backends` });
      else if ((hosts.get(l.hostname ?? '') ?? 0) > 1) out.set(l.name, { reason: 'HostnameConflict', message: `another ${proto} listener on port ${slot} has hostname ${JSON.stringify(l.hostname ?? '')}` });
    }
  }
  return out;
}

export function analyseListeners(gw: GatewayObject, look: Lookups): ListenerAnalysis[] {
  const listeners = gw.spec?.listeners ?? [];
  const clash = conflicts(listeners.filter((l) => KINDS_BY_PROTOCOL[l.protocol] !== undefined));
  return listeners.map((l) => {
    const accepted = KINDS_BY_PROTOCOL[l.protocol] !== undefined;
    if (!accepted) return { listener: l, accepted, conflicted: null, unresolved: null, kinds: [] };
    const { kinds, invalid } = routeKinds(l);
    const unresolved = invalid.length > 0
      ? { reason: 'InvalidRouteKinds' as const, message: `a ${l.protocol} listener serves ${(KINDS_BY_PROTOCOL[l.protocol] ?? []).join(', ')}, not ${invalid.join(', ')}` }
      : certificateProblem(gw, l, look);
    return { listener: l, accepted, conflicted: clash.get(l.name) ?? null, unresolved, kinds };
  });
}

/** Listeners that take a port on the LB: accepted and not in conflict. */
export const portListeners = (ls: ListenerAnalysis[]): ListenerAnalysis[] => ls.filter((l) => l.accepted && l.conflicted === null);

// ---- Routes ----------------------------------------------------------------

export function parentRefOf(route: RouteObject, p: ParentRef): { group: string; kind: string; namespace: string; name: string } {
  return { group: p.group ?? GATEWAY_GROUP, kind: p.kind ?? 'Gateway', namespace: p.namespace ?? nsOf(route), name: p.name };
}

/** Does the listener let routes from this namespace in? */
function namespaceAllowed(gw: GatewayObject, l: Listener, routeNs: string, look: Lookups): boolean {
  const from = l.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return routeNs === nsOf(gw);
  if (from === 'Selector') {
    const sel = l.allowedRoutes?.namespaces?.selector;
    return sel !== undefined && matchesSelector(sel, look.namespaceLabels(routeNs));
  }
  return false;
}

export interface Attachment {
  /** Listener names the route attached to through this parentRef. */
  listeners: string[];
  accepted: Condition;
}

const condition = (type: string, ok: boolean, reason: string, message: string, generation?: number): Condition => ({
  type, status: ok ? 'True' : 'False', reason, message, ...(generation !== undefined ? { observedGeneration: generation } : {}),
});

/** How one parentRef of a route attaches to a Gateway of ours (the ref names it). */
export function attach(route: RouteObject, p: ParentRef, gw: GatewayObject, ls: ListenerAnalysis[], look: Lookups): Attachment {
  const gen = route.metadata?.generation;
  const named = ls.filter((a) => (p.sectionName === undefined || a.listener.name === p.sectionName) && (p.port === undefined || a.listener.port === p.port));
  if (named.length === 0) {
    const which = [p.sectionName !== undefined ? `sectionName ${p.sectionName}` : '', p.port !== undefined ? `port ${p.port}` : ''].filter(Boolean).join(' and ');
    return { listeners: [], accepted: condition('Accepted', false, 'NoMatchingParent', `Gateway ${nsOf(gw)}/${gw.metadata?.name} has no listener with ${which}`, gen) };
  }
  const allowed = named.filter((a) => a.accepted && a.conflicted === null && a.kinds.includes(route.kind) && namespaceAllowed(gw, a.listener, nsOf(route), look));
  if (allowed.length === 0) {
    return { listeners: [], accepted: condition('Accepted', false, 'NotAllowedByListeners', `no listener of Gateway ${nsOf(gw)}/${gw.metadata?.name} that this parentRef names admits a ${route.kind} from namespace ${nsOf(route)}`, gen) };
  }
  const names = allowed.map((a) => a.listener.name);
  if (route.kind === 'HTTPRoute') {
    const why = l7Needs(route, allowed, ls);
    if (why !== null) return { listeners: names, accepted: condition('Accepted', false, 'UnsupportedValue', `sharedlb forwards at L4 (kube-proxy): ${why}`, gen) };
  }
  return { listeners: names, accepted: condition('Accepted', true, 'Accepted', `attached to listener${names.length > 1 ? 's' : ''} ${names.join(', ')}`, gen) };
}

/**
 * Why an HTTPRoute cannot be served by forwarding its listener's port to its
 * backends: anything that reads the request (matches, filters, hostnames),
 * TLS to terminate, or a port whose traffic is not the route's alone.
 */
export function l7Needs(route: RouteObject, attached: ListenerAnalysis[], all: ListenerAnalysis[]): string | null {
  const rules = route.spec?.rules ?? [];
  if (rules.length !== 1) return `${rules.length} rules need request matching`;
  const r = rules[0] ?? {};
  const matches = r.matches ?? [];
  const onlyRoot = matches.every((m) => (m.path?.type ?? 'PathPrefix') === 'PathPrefix' && (m.path?.value ?? '/') === '/' && !m.headers?.length && !m.queryParams?.length && m.method === undefined);
  if (!onlyRoot) return 'matches other than every path need an HTTP proxy';
  if ((r.filters ?? []).length > 0) return 'filters need an HTTP proxy';
  if (r.timeouts !== undefined || r.retry !== undefined || r.sessionPersistence !== undefined) return 'timeouts, retries and session persistence need an HTTP proxy';
  if ((route.spec?.hostnames ?? []).length > 0) return 'hostnames need the Host header read';
  for (const a of attached) {
    if (a.listener.protocol === 'HTTPS') return `listener ${a.listener.name} is HTTPS and sharedlb does not terminate TLS`;
    if (a.listener.hostname !== undefined) return `listener ${a.listener.name} has a hostname, which needs the Host header read`;
    if (all.some((o) => o !== a && slotOf(o.listener) === slotOf(a.listener))) return `listener ${a.listener.name} shares its port with another listener`;
  }
  return null;
}

export interface ResolvedBackend {
  namespace: string;
  name: string;
  /** The Service port's name: what its EndpointSlices' ports are called. */
  portName: string;
  weight: number;
}

/** Weights the data path cannot honour: kube-proxy shares a port's traffic by endpoint, not by backend. */
export const weightsUnequal = (backends: ResolvedBackend[]): boolean => new Set(backends.map((b) => b.weight)).size > 1;

/** The route's ResolvedRefs condition and the backends traffic may go to (weight 0 and unresolved refs excluded). */
export function resolveBackends(route: RouteObject, look: Lookups): { resolved: Condition; backends: ResolvedBackend[] } {
  const gen = route.metadata?.generation;
  const problems: Array<{ reason: string; message: string }> = [];
  const backends: ResolvedBackend[] = [];
  const transport = route.kind === 'UDPRoute' ? 'UDP' : 'TCP';
  for (const r of route.spec?.rules ?? []) {
    for (const b of r.backendRefs ?? []) {
      const p = backendProblem(route, b, transport, look);
      if ('reason' in p) problems.push(p);
      else if ((b.weight ?? 1) > 0) backends.push({ ...p, weight: b.weight ?? 1 });
    }
  }
  // The specification's order: a kind we cannot read, then a reference not permitted, then one not found.
  const order = ['InvalidKind', 'RefNotPermitted', 'BackendNotFound'];
  problems.sort((a, b) => order.indexOf(a.reason) - order.indexOf(b.reason));
  const first = problems[0];
  const resolved = first === undefined
    ? condition('ResolvedRefs', true, 'ResolvedRefs', 'every backendRef resolves', gen)
    : condition('ResolvedRefs', false, first.reason, problems.map((p) => p.message).join('; '), gen);
  return { resolved, backends };
}

function backendProblem(route: RouteObject, b: BackendRef, transport: Transport, look: Lookups): { reason: string; message: string } | Omit<ResolvedBackend, 'weight'> {
  const ns = b.namespace ?? nsOf(route);
  const what = `backendRef ${ns}/${b.name}`;
  if ((b.group ?? '') !== '' || (b.kind ?? 'Service') !== 'Service') return { reason: 'InvalidKind', message: `${what}: only core Services are backends, not ${b.group ?? ''}/${b.kind}` };
  if (!granted(look.grants, { group: GATEWAY_GROUP, kind: route.kind, namespace: nsOf(route) }, { group: '', kind: 'Service', namespace: ns, name: b.name })) {
    return { reason: 'RefNotPermitted', message: `${what}: no ReferenceGrant in ${ns} lets ${route.kind}s of ${nsOf(route)} refer to it` };
  }
  const svc = look.service(ns, b.name);
  if (svc === undefined) return { reason: 'BackendNotFound', message: `${what}: no such Service` };
  if (b.port === undefined) return { reason: 'BackendNotFound', message: `${what}: a Service backend needs a port` };
  const port = svc.ports.find((p) => p.port === b.port && (p.protocol || 'TCP') === transport);
  if (port === undefined) return { reason: 'BackendNotFound', message: `${what}: the Service has no ${transport} port ${b.port}` };
  return { namespace: ns, name: b.name, portName: port.name };
}

// ---- What the data path serves ---------------------------------------------

const createdOf = (r: RouteObject): string => {
  const t = r.metadata?.creationTimestamp as string | Date | undefined;
  return t instanceof Date ? t.toISOString() : (t ?? '');
};

/** The specification's tie-break for routes competing for one listener: the oldest, then by namespace/name. */
function oldestFirst(a: RouteObject, b: RouteObject): number {
  const ta = Date.parse(createdOf(a));
  const tb = Date.parse(createdOf(b));
  if (ta !== tb) return (Number.isNaN(ta) ? Infinity : ta) - (Number.isNaN(tb) ? Infinity : tb);
  const ka = `${nsOf(a)}/${a.metadata?.name}`;
  const kb = `${nsOf(b)}/${b.metadata?.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export interface RouteOnGateway {
  route: RouteObject;
  /** Listener names it attached to, over all its parentRefs to this Gateway. */
  listeners: string[];
  /** Accepted on at least one of them. */
  accepted: boolean;
}

export interface PortPlan {
  /** The derived Service's port: e.g. tcp-9300. */
  name: string;
  port: number;
  protocol: Transport;
  /** The route served on this port, if any, and its backends. */
  route: string | null;
  backends: ResolvedBackend[];
  /** Weights the data path cannot honour, said in the route's status. */
  unequalWeights: boolean;
}

export const portName = (slot: { port: number; protocol: Transport }): string => `${slot.protocol.toLowerCase()}-${slot.port}`;

/**
 * Each LB port the Gateway takes, and what it forwards to: the oldest route
 * accepted on a listener of that port, its resolved backends with a weight
 * above 0. kube-proxy picks uniformly among a port's endpoints, so equal
 * weights hold only per endpoint; unequal ones are reported, not claimed.
 */
export function portPlans(ls: ListenerAnalysis[], routes: RouteOnGateway[], look: Lookups): PortPlan[] {
  const plans = new Map<string, PortPlan>();
  for (const a of portListeners(ls)) {
    const slot = { port: a.listener.port, protocol: transportOf(a.listener.protocol) };
    if (!plans.has(slotOf(a.listener))) plans.set(slotOf(a.listener), { name: portName(slot), ...slot, route: null, backends: [], unequalWeights: false });
  }
  const served = routes.filter((r) => r.accepted).sort((a, b) => oldestFirst(a.route, b.route));
  for (const r of served) {
    for (const l of r.listeners) {
      const a = ls.find((x) => x.listener.name === l);
      if (a === undefined || a.unresolved !== null) continue;
      const plan = plans.get(slotOf(a.listener));
      if (plan === undefined || plan.route !== null) continue;
      const { backends } = resolveBackends(r.route, look);
      plan.route = `${r.route.kind}/${nsOf(r.route)}/${r.route.metadata?.name}`;
      plan.backends = backends;
      plan.unequalWeights = weightsUnequal(backends);
    }
  }
  return [...plans.values()].sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1));
}

// ---- Status -----------------------------------------------------------------

/** How the Gateway's derived member fares on its LB: what the controller read back. */
export interface Placement {
  /** Allocated, with addresses. */
  programmed: boolean;
  reason: string;
  message: string;
  addresses: Array<{ type: 'IPAddress' | 'Hostname'; value: string }>;
}

export function listenerStatuses(gw: GatewayObject, ls: ListenerAnalysis[], attached: Map<string, number>, placement: Placement): ListenerStatus[] {
  const gen = gw.metadata?.generation;
  return ls.map((a) => {
    const c = (type: string, ok: boolean, reason: string, message: string): Condition => condition(type, ok, reason, message, gen);
    const kinds = a.kinds.map((k) => ({ group: GATEWAY_GROUP, kind: k }));
    if (!a.accepted) {
      return {
        name: a.listener.name, supportedKinds: [], attachedRoutes: 0,
        conditions: [
          c('Accepted', false, 'UnsupportedProtocol', `sharedlb serves TCP, UDP, HTTP and HTTPS listeners, not ${a.listener.protocol}`),
          c('Programmed', false, 'Invalid', 'the listener is not accepted'),
          c('ResolvedRefs', true, 'ResolvedRefs', 'nothing to resolve'),
          c('Conflicted', false, 'NoConflicts', 'no conflict'),
        ],
      };
    }
    const ok = a.conflicted === null && a.unresolved === null;
    const programmed = ok && placement.programmed;
    const tlsNote = a.listener.protocol === 'HTTPS' ? '; TLS is not terminated: HTTPRoutes on it are refused' : '';
    return {
      name: a.listener.name, supportedKinds: kinds, attachedRoutes: attached.get(a.listener.name) ?? 0,
      conditions: [
        c('Accepted', true, 'Accepted', `port ${slotOf(a.listener)}${tlsNote}`),
        c('Programmed', programmed, programmed ? 'Programmed' : ok ? 'Pending' : 'Invalid', programmed ? `open on the shared LB at ${placement.addresses.map((x) => x.value).join(', ')}` : ok ? placement.message : (a.conflicted ?? a.unresolved)?.message ?? ''),
        a.unresolved === null ? c('ResolvedRefs', true, 'ResolvedRefs', 'references resolve') : c('ResolvedRefs', false, a.unresolved.reason, a.unresolved.message),
        a.conflicted === null ? c('Conflicted', false, 'NoConflicts', 'no conflict') : c('Conflicted', true, a.conflicted.reason, a.conflicted.message),
      ],
    };
  });
}

export function gatewayConditions(gw: GatewayObject, ls: ListenerAnalysis[], placement: Placement): Condition[] {
  const gen = gw.metadata?.generation;
  const addresses = gw.spec?.addresses ?? [];
  if (addresses.length > 0) {
    const msg = `spec.addresses (${addresses.map((a) => a.value).join(', ')}) cannot be honoured: a shared LB's address belongs to its pool, and members never choose it`;
    return [condition('Accepted', false, 'UnsupportedAddress', msg, gen), condition('Programmed', false, 'AddressNotUsable', msg, gen)];
  }
  const valid = ls.filter((a) => a.accepted && a.conflicted === null && a.unresolved === null);
  const ports = portListeners(ls);
  const accepted = ports.length > 0
    ? condition('Accepted', true, valid.length === ls.length ? 'Accepted' : 'ListenersNotValid', valid.length === ls.length ? 'every listener is valid' : `invalid listeners: ${ls.filter((a) => !valid.includes(a)).map((a) => a.listener.name).join(', ')}`, gen)
    : condition('Accepted', false, 'ListenersNotValid', 'no listener can be served', gen);
  const programmed = ports.length > 0 && placement.programmed
    ? condition('Programmed', true, 'Programmed', `on the shared LB at ${placement.addresses.map((a) => a.value).join(', ')}`, gen)
    : condition('Programmed', false, ports.length > 0 ? placement.reason : 'Invalid', ports.length > 0 ? placement.message : 'no listener can be served', gen);
  return [accepted, programmed];
}

/** Gateway reasons for how its member fares: WaitingForAddress → AddressNotAssigned, a shortage → NoResources, a refusal → Invalid. */
export function programmedReason(memberReason: string | undefined): string {
  if (memberReason === undefined || memberReason === 'WaitingForAddress') return 'AddressNotAssigned';
  if (memberReason === 'NoCapacity' || memberReason === 'PortConflict' || memberReason === 'QuotaExceeded') return 'NoResources';
  if (memberReason === 'Allocated') return 'Programmed';
  return 'Invalid';
}
