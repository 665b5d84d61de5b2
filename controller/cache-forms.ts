// What the caches keep of each object. Caching every Service and
// EndpointSlice in full makes memory follow the cluster's size rather than
// what sharedlb manages: a Service that has nothing to do with sharing, and
// each slice of one, is kept as a stub holding only what decides whether it
// ever will (and the NodePorts it takes from the range the LBs share).
// Mirrored slices are kept as a digest of what decides whether to rewrite them.

import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { GROUP, READY_CONDITION } from '../allocator/annotations.ts';
import { trimMetadata } from './informer.ts';
import { MANAGED_BY_SLICE, mirrorDigest, SERVICE_NAME_LABEL, SLICE_MANAGER } from './mirror.ts';

const stubs = new WeakSet<object>();

/** A stub stands for an object whose content the cache did not keep. */
export const isStub = (o: object): boolean => stubs.has(o);

function stub<T extends object>(o: T): T {
  stubs.add(o);
  return o;
}

/** One copy of each namespace's name for all the stubs in it (there are few namespaces, and many stubs). */
const namespaces = new Map<string, string>();
function intern(ns: string | undefined): string | undefined {
  if (ns === undefined) return undefined;
  const known = namespaces.get(ns);
  if (known !== undefined) return known;
  namespaces.set(ns, ns);
  return ns;
}

/**
 * Whether a Service has, or may have, anything to do with sharing: the
 * controller's own (shared LBs), the API server's (its IP families are the
 * cluster's), and any that carries a sharedlb.io annotation, our class or
 * our condition (opted in, misspelt, or still to be released).
 */
export function concernsSharing(svc: V1Service, namespace: string, className: string): boolean {
  const m = svc.metadata;
  if (m?.namespace === namespace || (m?.namespace === 'default' && m.name === 'kubernetes')) return true;
  if (svc.spec?.type === 'LoadBalancer' && svc.spec.loadBalancerClass === className) return true;
  for (const a in m?.annotations ?? {}) if (a.startsWith(`${GROUP}/`)) return true;
  return (svc.status?.conditions ?? []).some((c) => c.type === READY_CONDITION);
}

export function serviceForm(svc: V1Service, namespace: string, className: string): V1Service {
  if (concernsSharing(svc, namespace, className)) {
    trimMetadata(svc);
    return svc;
  }
  const m = svc.metadata;
  const nodePorts = (svc.spec?.ports ?? []).filter((p) => p.nodePort !== undefined).map((p) => ({ port: p.port, nodePort: p.nodePort }));
  return stub({
    metadata: { name: m?.name, namespace: intern(m?.namespace), resourceVersion: m?.resourceVersion },
    ...(nodePorts.length > 0 ? { spec: { ports: nodePorts } } : {}),
  });
}

/**
 * `concerned(namespace/name)` says whether a slice's Service is kept whole.
 * Mirrors are copied from the member's slices: a pod reference per endpoint
 * is most of a slice and nothing reads it.
 */
export function sliceForm(s: V1EndpointSlice, namespace: string, concerned: (service: string) => boolean): V1EndpointSlice {
  const m = s.metadata;
  const labels = m?.labels ?? {};
  if (m?.namespace === namespace && labels[MANAGED_BY_SLICE] === SLICE_MANAGER) {
    return mirrorDigest(s, stub({
      metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion, labels, annotations: m.annotations, ownerReferences: m.ownerReferences },
      addressType: s.addressType,
      endpoints: [],
    }));
  }
  const service = labels[SERVICE_NAME_LABEL];
  if (service === undefined || !concerned(`${m?.namespace}/${service}`)) {
    // No address type and no ports: a stub can never be mirrored by mistake.
    return stub({ metadata: { name: m?.name, namespace: intern(m?.namespace), resourceVersion: m?.resourceVersion, ...(service === undefined ? {} : { labels: { [SERVICE_NAME_LABEL]: service } }) } } as V1EndpointSlice);
  }
  trimMetadata(s);
  if (s.endpoints?.some((e) => e.targetRef !== undefined || e.deprecatedTopology !== undefined)) {
    s.endpoints = s.endpoints.map(({ targetRef: _t, deprecatedTopology: _d, ...e }) => e);
  }
  return s;
}
