// What a Gateway of ours is made of in the API: a member Service (its
// listeners' ports, port-policy preserve, in its pool) that sharedlb places
// on a shared LB like any other member, and EndpointSlices of that Service
// holding the endpoints of the backends each port forwards to. The member
// machinery then mirrors those slices onto the LB under the listener's port.

import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { ENABLED, MANAGED_BY, MANAGED_BY_LABEL, POOL, PORT_POLICY } from '../allocator/annotations.ts';
import type { PortPlan } from '../gateway/model.ts';
import { GATEWAY_GROUP, type GatewayObject, type SecretVerdict } from '../gateway/types.ts';
import { ApiError, type Rest } from './kube-rest.ts';
import { MANAGED_BY_SLICE, SERVICE_NAME_LABEL } from './mirror.ts';

/** On a Gateway's member Service: the Gateway's name (its owner reference holds the UID). */
export const GATEWAY_ANNOTATION = 'gateway.sharedlb.io/gateway';
/** Slices of a Gateway's member Service are written by the Gateway reconcile, not kube-controller-manager. */
export const GATEWAY_SLICE_MANAGER = 'gateway.sharedlb.io';
/** EndpointSlices hold at most this many endpoints (the API's limit). */
const MAX_ENDPOINTS = 1000;

const hash = (s: string, n: number): string => createHash('sha256').update(s).digest('hex').slice(0, n);

/** The member Service's name: a DNS-1035 label from the Gateway's name, hashed so that two names never meet. */
export function memberServiceName(gatewayName: string): string {
  const clip = gatewayName.replace(/[^a-z0-9-]/g, '-').slice(0, 48).replace(/-+$/, '');
  return `gw-${clip}-${hash(gatewayName, 6)}`;
}

export function desiredMemberService(gw: GatewayObject, pool: string | null, plans: PortPlan[]): V1Service {
  const name = gw.metadata?.name as string;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: memberServiceName(name),
      namespace: gw.metadata?.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
      annotations: { [ENABLED]: 'true', [PORT_POLICY]: 'preserve', ...(pool === null ? {} : { [POOL]: pool }), [GATEWAY_ANNOTATION]: name },
      ownerReferences: [{ apiVersion: `${GATEWAY_GROUP}/v1`, kind: 'Gateway', name, uid: gw.metadata?.uid as string, controller: true }],
    },
    spec: {
      type: 'ClusterIP',
      ports: plans.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, targetPort: p.port })),
    },
  };
}

/** Whether the Service is this Gateway's (not a user's that happens to bear the name). */
export const ownedBy = (svc: V1Service, gw: GatewayObject): boolean =>
  (svc.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Gateway' && o.uid === gw.metadata?.uid);

/** What the member Service's spec and annotations must be changed to, or null when they match. */
export function memberServicePatch(have: V1Service, want: V1Service): Record<string, unknown> | null {
  const ports = (s: V1Service): string => JSON.stringify((s.spec?.ports ?? []).map((p) => [p.name, p.port, p.protocol ?? 'TCP', p.targetPort ?? p.port]));
  const annotations = Object.entries(want.metadata?.annotations ?? {}).filter(([k, v]) => have.metadata?.annotations?.[k] !== v);
  const droppedPool = want.metadata?.annotations?.[POOL] === undefined && have.metadata?.annotations?.[POOL] !== undefined;
  if (ports(have) === ports(want) && annotations.length === 0 && !droppedPool) return null;
  return {
    metadata: { annotations: { ...Object.fromEntries(annotations), ...(droppedPool ? { [POOL]: null } : {}) } },
    spec: { ports: want.spec?.ports },
  };
}

/** The endpoints one LB port forwards to, from the backends' own slices, grouped as slices must be: one address type and one target port each. */
export function desiredGatewaySlices(svc: V1Service, plans: PortPlan[], backendSlices: (service: string) => V1EndpointSlice[]): V1EndpointSlice[] {
  const name = svc.metadata?.name as string;
  const groups = new Map<string, { plan: PortPlan; addressType: string; port: number; endpoints: Map<string, NonNullable<V1EndpointSlice['endpoints']>[number]> }>();
  for (const plan of plans) {
    for (const b of plan.backends) {
      for (const s of backendSlices(`${b.namespace}/${b.name}`)) {
        if (s.addressType !== 'IPv4' && s.addressType !== 'IPv6') continue;
        const p = (s.ports ?? []).find((x) => (x.name ?? '') === b.portName && (x.protocol ?? 'TCP') === plan.protocol);
        if (p?.port === undefined) continue;
        const gk = `${plan.name}|${s.addressType}|${p.port}`;
        const g = groups.get(gk) ?? { plan, addressType: s.addressType, port: p.port, endpoints: new Map() };
        groups.set(gk, g);
        for (const e of s.endpoints ?? []) {
          const ek = e.addresses.join(',');
          if (!g.endpoints.has(ek)) g.endpoints.set(ek, e);
        }
      }
    }
  }
  const out: V1EndpointSlice[] = [];
  for (const [gk, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const all = [...g.endpoints.values()].sort((a, b) => (a.addresses.join() < b.addresses.join() ? -1 : 1));
    for (let i = 0; i < all.length || i === 0; i += MAX_ENDPOINTS) {
      out.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${name}-${hash(`${gk}|${i}`, 10)}`,
          namespace: svc.metadata?.namespace,
          labels: { [SERVICE_NAME_LABEL]: name, [MANAGED_BY_SLICE]: GATEWAY_SLICE_MANAGER },
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: svc.metadata?.uid as string, controller: true }],
        },
        addressType: g.addressType,
        endpoints: all.slice(i, i + MAX_ENDPOINTS).map((e) => ({
          addresses: [...e.addresses],
          ...(e.conditions ? { conditions: { ...e.conditions } } : {}),
          ...(e.nodeName ? { nodeName: e.nodeName } : {}),
          ...(e.zone ? { zone: e.zone } : {}),
        })),
        ports: [{ name: g.plan.name, port: g.port, protocol: g.plan.protocol }],
      });
    }
  }
  return out;
}

/** A certificate Secret as an HTTPS listener needs it: a PEM certificate and its private key that parse. */
export async function secretVerdict(rest: Rest, ns: string, name: string): Promise<SecretVerdict> {
  let s: { data?: Record<string, string> };
  try {
    s = await rest.get(`/api/v1/namespaces/${ns}/secrets/${name}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return 'missing';
    throw e;
  }
  const crt = s.data?.['tls.crt'];
  const key = s.data?.['tls.key'];
  if (crt === undefined || key === undefined) return 'malformed';
  try {
    new X509Certificate(Buffer.from(crt, 'base64'));
    createPrivateKey(Buffer.from(key, 'base64'));
    return 'valid';
  } catch {
    return 'malformed';
  }
}
