// A Gateway of ours is a member Service: its listeners' ports, port-policy
// preserve, in its class's pool, owned by the Gateway. sharedlb places it on
// a shared LB like any other member — the controller, and `sharedlb plan`
// for Gateways in its input.

import { createHash } from 'node:crypto';
import type { V1Service } from '@kubernetes/client-node';
import { ENABLED, MANAGED_BY, MANAGED_BY_LABEL, POOL, PORT_POLICY } from '../allocator/annotations.ts';
import type { PortPlan } from './model.ts';
import { GATEWAY_GROUP, type GatewayObject } from './types.ts';

/** On a Gateway's member Service: the Gateway's name (its owner reference holds the UID). */
export const GATEWAY_ANNOTATION = 'gateway.sharedlb.io/gateway';
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
