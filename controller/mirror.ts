// EndpointSlices of a shared LB that mirror a member's own: same endpoints,
// conditions, nodeName and zone; each port renamed to the LB's port name and
// kept at the member's resolved target port. kube-proxy (or the cloud's pod-IP
// targeting) then sends LB:externalPort straight to the member's pods.

import { createHash } from 'node:crypto';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { Assignment } from '../allocator/types.ts';
import { slotName } from '../allocator/lb-record.ts';

export const MANAGED_BY_SLICE = 'endpointslice.kubernetes.io/managed-by';
// A label value cannot hold '/', so not "sharedlb.io/controller" as DESIGN §2 has it; named like kube-controller-manager's endpointslice-controller.k8s.io.
export const SLICE_MANAGER = 'controller.sharedlb.io';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** On mirrored slices: a hash of the member's namespace/name (label values are short). */
export const MEMBER_LABEL = 'sharedlb.io/member';
/** On mirrored slices: the member's namespace/name, readable. */
export const MEMBER_ANNOTATION = 'sharedlb.io/member';

export function memberHash(member: string): string {
  return createHash('sha256').update(member).digest('hex').slice(0, 16);
}

/**
 * An LB port's name: its slot and its holder, e.g. tcp-9092-1a2b3c4d.
 * kube-proxy joins a Service's ports to its EndpointSlices' ports by name
 * (pkg/proxy/endpointslicecache.go), so a port handed from one member to
 * another gets a new name in the same write, and the old holder's mirrors,
 * named for the old one, match nothing from that moment — whatever order
 * the two members' reconciles then run in, even after a restart.
 */
export function lbPortName(a: { port: number; protocol: Assignment['protocol']; member: string }): string {
  return `${slotName(a)}-${memberHash(a.member).slice(0, 8)}`;
}

/** The member's own slices, as kube-controller-manager (or a person, for selector-less Services) wrote them. */
export function isSourceSlice(slice: V1EndpointSlice): boolean {
  return slice.metadata?.labels?.[MANAGED_BY_SLICE] !== SLICE_MANAGER && slice.metadata?.labels?.[SERVICE_NAME_LABEL] !== undefined;
}

export function desiredSlices(lb: V1Service, member: string, assignments: Assignment[], sources: V1EndpointSlice[]): V1EndpointSlice[] {
  const lbName = lb.metadata?.name as string;
  // Each port under the name the LB gives it (kept across a holder's tenure), or the one it will give it.
  const names = new Map((lb.spec?.ports ?? []).map((p) => [slotName({ port: p.port, protocol: (p.protocol ?? 'TCP') as Assignment['protocol'] }), p.name]));
  const portName = (a: Assignment): string => names.get(slotName(a)) ?? lbPortName(a);
  const out: V1EndpointSlice[] = [];
  for (const src of [...sources].sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1))) {
    // FQDN endpoints name hosts anywhere; no proxy or cloud LB forwards to them, and a shared LB must not try.
    if (src.addressType !== 'IPv4' && src.addressType !== 'IPv6') continue;
    const ports = assignments.flatMap((a) => {
      const p = (src.ports ?? []).find((x) => (x.name ?? '') === a.servicePort && (x.protocol ?? 'TCP') === a.protocol);
      return p?.port === undefined ? [] : [{ name: portName(a), port: p.port, protocol: a.protocol, ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }];
    });
    if (ports.length === 0) continue;
    const name = `${lbName}-${createHash('sha256').update(`${member}/${src.metadata?.name}`).digest('hex').slice(0, 10)}`;
    out.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name,
        namespace: lb.metadata?.namespace,
        labels: { [SERVICE_NAME_LABEL]: lbName, [MANAGED_BY_SLICE]: SLICE_MANAGER, [MEMBER_LABEL]: memberHash(member) },
        annotations: { [MEMBER_ANNOTATION]: member },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: lbName, uid: lb.metadata?.uid as string, controller: true }],
      },
      addressType: src.addressType,
      endpoints: (src.endpoints ?? []).map((e) => ({
        addresses: [...e.addresses],
        ...(e.conditions ? { conditions: { ...e.conditions } } : {}),
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        ...(e.zone ? { zone: e.zone } : {}),
        ...(e.hostname ? { hostname: e.hostname } : {}),
        ...(e.hints ? { hints: e.hints } : {}),
      })),
      ports,
    });
  }
  return out;
}

function comparable(s: V1EndpointSlice): string {
  return JSON.stringify({
    // The API server returns a map's keys sorted; ours are in the order we wrote them.
    labels: Object.entries(s.metadata?.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)),
    owner: s.metadata?.ownerReferences?.map((o) => o.uid) ?? [],
    addressType: s.addressType,
    endpoints: (s.endpoints ?? []).map((e) => [e.addresses, e.conditions?.ready ?? null, e.conditions?.serving ?? null, e.conditions?.terminating ?? null, e.nodeName ?? null, e.zone ?? null, e.hostname ?? null, e.hints ?? null]),
    ports: (s.ports ?? []).map((p) => [p.name, p.port, p.protocol ?? 'TCP', p.appProtocol ?? null]),
  });
}

const digests = new WeakMap<object, string>();
const digestOf = (s: V1EndpointSlice): string => digests.get(s) ?? createHash('sha256').update(comparable(s)).digest('base64');

/** `kept` stands for `full` in a cache: it compares as `full` does, without its endpoints. */
export function mirrorDigest(full: V1EndpointSlice, kept: V1EndpointSlice): V1EndpointSlice {
  digests.set(kept, digestOf(full));
  return kept;
}

export function sliceDiffers(actual: V1EndpointSlice, desired: V1EndpointSlice): boolean {
  return digestOf(actual) !== digestOf(desired);
}
