// The API objects of a Gateway of ours beside its member Service
// (gateway/member-service.ts): EndpointSlices of that Service holding the
// endpoints of the backends each port forwards to — which the member
// machinery mirrors onto the LB under the listener's port — and the
// certificate Secrets its HTTPS listeners name.

import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { PortPlan } from '../gateway/model.ts';
import type { SecretVerdict } from '../gateway/types.ts';
import { ApiError, type Rest } from './kube-rest.ts';
import { MANAGED_BY_SLICE, SERVICE_NAME_LABEL } from './mirror.ts';

/** Slices of a Gateway's member Service are written by the Gateway reconcile, not kube-controller-manager. */
export const GATEWAY_SLICE_MANAGER = 'gateway.sharedlb.io';
/** EndpointSlices hold at most this many endpoints (the API's limit). */
const MAX_ENDPOINTS = 1000;

const hash = (s: string, n: number): string => createHash('sha256').update(s).digest('hex').slice(0, n);

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
