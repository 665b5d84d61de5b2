// The shared LB Service: what the object should look like for a pool's
// template, its class and a set of assignments. How its record of "member X
// holds port P" reads and writes is allocator/lb-record.ts (pure: the planner
// reads it too).

import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { ALLOCATIONS, EMPTY_SINCE, LB_CLASS, LB_POOL_LABEL, LB_PROVIDER, MANAGED_BY, MANAGED_BY_LABEL, MEMBER_UIDS, TEMPLATE_ANNOTATIONS } from '../allocator/annotations.ts';
import { parseClassKey } from '../allocator/classes.ts';
import { encodeAllocations, isSharedLBObject, readLoadBalancer, slotName } from '../allocator/lb-record.ts';
import { lbPortName } from './mirror.ts';
import type { Assignment, LoadBalancerState, LoadBalancerTemplate, ProviderName } from '../allocator/types.ts';

export function isSharedLB(svc: V1Service, namespace: string): boolean {
  return svc.metadata?.namespace === namespace && isSharedLBObject(svc);
}


type PoolPart = { name: string; provider?: ProviderName; template: LoadBalancerTemplate };
interface About {
  /** member/servicePort → the member port's appProtocol, carried to the LB's port. */
  appProtocols?: Map<string, string>;
  /** member → its Service's UID, recorded beside the assignments. */
  uids?: Map<string, string>;
  /** What `existing` records (the caller's decoded copy: an LB's record is read once per version). */
  previous?: Assignment[];
}

/**
 * The LB Service as it should be. Built on the existing object when there is
 * one, so the API server's own fields (clusterIP, nodePorts of kept ports,
 * finalizers, other controllers' annotations) survive; everything sharedlb
 * owns is set from the pool's template, the LB's class and the assignments.
 * An empty LB keeps its ports (a LoadBalancer Service needs one) and says
 * since when it is empty.
 */
export function desiredLoadBalancer(pool: PoolPart, lb: LoadBalancerState, namespace: string, existing: V1Service | undefined, now: Date, about: About = {}): V1Service {
  const empty = lb.assignments.length === 0;
  const previous = about.previous ?? (existing === undefined ? [] : readLoadBalancer(existing).state.assignments);
  const ports = empty ? (existing?.spec?.ports ?? []).map((p) => ({ ...p })) : desiredPorts(lb, existing, previous, about.appProtocols);
  const annotations = desiredAnnotations(pool, lb, existing, about.uids);
  if (empty) annotations[EMPTY_SINCE] = existing?.metadata?.annotations?.[EMPTY_SINCE] ?? now.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...(existing?.metadata ?? {}),
      name: lb.name,
      namespace,
      labels: { ...(existing?.metadata?.labels ?? {}), ...pool.template.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [LB_POOL_LABEL]: pool.name },
      annotations,
    },
    spec: desiredSpec(pool.template, lb.classKey, existing, ports),
  };
}

/**
 * A port per assignment. A port its holder keeps keeps its name and NodePort
 * (an LB from before holder-named ports keeps `tcp-9092` until the port
 * changes hands: no upgrade renames a serving port); a port that changes
 * hands is named for its new holder and gets a new NodePort.
 */
function desiredPorts(lb: LoadBalancerState, existing: V1Service | undefined, previous: Assignment[], appProtocols: Map<string, string> | undefined): V1ServicePort[] {
  // By slot: an LB's hundred ports, looked up for each of its hundred assignments at every pool reconcile.
  const oldBySlot = new Map((existing?.spec?.ports ?? []).map((p) => [slotName({ port: p.port, protocol: (p.protocol ?? 'TCP') as Assignment['protocol'] }), p]));
  const oldHolders = new Map(previous.map((a) => [slotName(a), a.member]));
  return lb.assignments.map((a) => {
    const kept = oldHolders.get(slotName(a)) === a.member ? oldBySlot.get(slotName(a)) : undefined;
    const appProtocol = appProtocols?.get(`${a.member}/${a.servicePort}`);
    return { name: kept?.name ?? lbPortName(a), port: a.port, protocol: a.protocol, targetPort: a.port as never, ...(appProtocol ? { appProtocol } : {}), ...(kept?.nodePort ? { nodePort: kept.nodePort } : {}) };
  });
}

/** Others' annotations kept; the template's, the record, the members' UIDs, the provider and the class set. */
function desiredAnnotations(pool: PoolPart, lb: LoadBalancerState, existing: V1Service | undefined, uids: Map<string, string> | undefined): Record<string, string> {
  const t = pool.template;
  const annotations: Record<string, string> = { ...(existing?.metadata?.annotations ?? {}) };
  // Annotations an earlier template set and the current one no longer does are the admin's removals.
  for (const k of (annotations[TEMPLATE_ANNOTATIONS] ?? '').split(',')) if (k !== '' && !(k in t.annotations)) delete annotations[k];
  Object.assign(annotations, t.annotations, { [ALLOCATIONS]: encodeAllocations(lb.assignments) });
  if (Object.keys(t.annotations).length > 0) annotations[TEMPLATE_ANNOTATIONS] = Object.keys(t.annotations).sort().join(',');
  else delete annotations[TEMPLATE_ANNOTATIONS];
  const members = [...new Set(lb.assignments.map((a) => a.member))].filter((m) => uids?.has(m)).sort();
  if (members.length > 0) annotations[MEMBER_UIDS] = JSON.stringify(Object.fromEntries(members.map((m) => [m, uids?.get(m)])));
  else if (lb.assignments.length > 0) delete annotations[MEMBER_UIDS];
  // The provider, so that a report can still price this LB should its pool be deleted.
  if (pool.provider !== undefined) annotations[LB_PROVIDER] = pool.provider;
  if (lb.classKey !== '') annotations[LB_CLASS] = lb.classKey;
  else delete annotations[LB_CLASS];
  delete annotations[EMPTY_SINCE];
  return annotations;
}

/** The template's spec fields, with the class laid over them: what its members declared. */
function desiredSpec(t: LoadBalancerTemplate, classKey: string, existing: V1Service | undefined, ports: V1ServicePort[]): NonNullable<V1Service['spec']> {
  const spec: NonNullable<V1Service['spec']> = { ...(existing?.spec ?? {}), type: 'LoadBalancer', ports };
  delete spec.selector;
  delete spec.externalName;
  // Immutable once a LoadBalancer Service exists: an existing LB keeps its own (the pool's status says so).
  const lbClass = existing === undefined ? t.loadBalancerClass : existing.spec?.loadBalancerClass;
  if (lbClass !== undefined) spec.loadBalancerClass = lbClass;
  else delete spec.loadBalancerClass;
  if (t.externalTrafficPolicy !== undefined) spec.externalTrafficPolicy = t.externalTrafficPolicy;
  if (t.loadBalancerSourceRanges !== undefined) spec.loadBalancerSourceRanges = [...t.loadBalancerSourceRanges];
  if (t.allocateLoadBalancerNodePorts !== undefined) spec.allocateLoadBalancerNodePorts = t.allocateLoadBalancerNodePorts;
  if (t.ipFamilies !== undefined) spec.ipFamilies = [...t.ipFamilies];
  if (t.ipFamilyPolicy !== undefined) spec.ipFamilyPolicy = t.ipFamilyPolicy;
  const c = parseClassKey(classKey);
  if (c.sourceRanges !== undefined) spec.loadBalancerSourceRanges = [...c.sourceRanges];
  if (c.externalTrafficPolicy !== undefined) spec.externalTrafficPolicy = c.externalTrafficPolicy;
  if (c.sessionAffinity !== undefined) {
    spec.sessionAffinity = 'ClientIP';
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: c.sessionAffinity.timeoutSeconds } };
  }
  if (c.ipFamilies !== undefined) {
    spec.ipFamilies = [...c.ipFamilies];
    spec.ipFamilyPolicy = c.ipFamilies.length > 1 ? 'RequireDualStack' : 'SingleStack';
  }
  return spec;
}

/** What sharedlb owns on an LB Service, for comparing desired with actual. */
function owned(svc: V1Service): unknown {
  const s = svc.spec ?? {};
  return {
    labels: svc.metadata?.labels ?? {},
    annotations: svc.metadata?.annotations ?? {},
    type: s.type,
    selector: s.selector ?? null,
    ports: (s.ports ?? []).map((p) => [p.name, p.port, p.protocol ?? 'TCP', String(p.targetPort ?? p.port), p.appProtocol ?? null]),
    loadBalancerClass: s.loadBalancerClass ?? null,
    externalTrafficPolicy: s.externalTrafficPolicy ?? null,
    loadBalancerSourceRanges: s.loadBalancerSourceRanges ?? null,
    sessionAffinity: s.sessionAffinity ?? null,
    sessionAffinityTimeout: s.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? null,
    ipFamilies: s.ipFamilies ?? null,
    allocateLoadBalancerNodePorts: s.allocateLoadBalancerNodePorts ?? null,
  };
}

export function lbDiffers(actual: V1Service, desired: V1Service): boolean {
  return JSON.stringify(owned(actual)) !== JSON.stringify(owned(desired));
}
