// Gateways in `sharedlb plan`'s input: each Gateway of a sharedlb class is
// planned as the member Service the controller would make of it (its
// listeners' ports, preserve, in its class's pool). Routes, grants and
// certificates change what a port forwards to, never which ports a Gateway
// takes: they are read past.

import type { ServiceLike } from '../allocator/types.ts';
import { desiredMemberService } from './member-service.ts';
import { analyseListeners, type Lookups, portPlans } from './model.ts';
import { CONTROLLER_NAME, type GatewayClassObject, type GatewayObject, objectKey } from './types.ts';

export const GATEWAY_KINDS = ['GatewayClass', 'Gateway', 'TCPRoute', 'UDPRoute', 'HTTPRoute', 'ReferenceGrant'] as const;

/** Offline, every reference counts as resolved: it decides status, not ports. */
const OFFLINE: Lookups = {
  grants: [],
  namespaceLabels: (ns) => ({ 'kubernetes.io/metadata.name': ns }),
  service: () => undefined,
  secret: () => 'valid',
};

export interface GatewayMembers {
  services: ServiceLike[];
  /** What a person should know about how the Gateways were read. */
  notes: string[];
}

/**
 * With GatewayClasses in the input, only Gateways of a class whose
 * controller is sharedlb's are planned, in the pool its parametersRef
 * names; without any, every Gateway is taken as sharedlb's, in the default
 * pool (and the notes say so).
 */
export function gatewaysAsMembers(objects: Array<{ kind?: string }>): GatewayMembers {
  const classes = objects.filter((o): o is GatewayClassObject & { kind: string } => o.kind === 'GatewayClass');
  const gateways = objects.filter((o): o is GatewayObject & { kind: string } => o.kind === 'Gateway');
  const notes: string[] = [];
  if (gateways.length === 0) return { services: [], notes };
  const pools = new Map(classes.filter((c) => c.spec?.controllerName === CONTROLLER_NAME).map((c) => [c.metadata?.name ?? '', c.spec?.parametersRef?.kind === 'LoadBalancerPool' ? (c.spec.parametersRef.name ?? null) : null]));
  if (classes.length === 0) notes.push(`no GatewayClass in the input: all ${gateways.length} Gateways are planned as sharedlb's, in the default pool`);
  const services: ServiceLike[] = [];
  let foreign = 0;
  for (const gw of gateways) {
    const cls = gw.spec?.gatewayClassName ?? '';
    if (classes.length > 0 && !pools.has(cls)) {
      foreign++;
      continue;
    }
    const plans = portPlans(analyseListeners(gw, OFFLINE), [], OFFLINE);
    if (plans.length === 0) {
      notes.push(`Gateway ${objectKey(gw)}: no listener sharedlb serves (TCP, UDP, HTTP, HTTPS without conflicts); not planned`);
      continue;
    }
    const svc = desiredMemberService(gw, pools.get(cls) ?? null, plans) as ServiceLike;
    if (svc.metadata !== undefined && gw.metadata?.creationTimestamp !== undefined) svc.metadata.creationTimestamp = gw.metadata.creationTimestamp;
    services.push(svc);
  }
  if (foreign > 0) notes.push(`${foreign} Gateways of classes other controllers serve were left out`);
  return { services, notes };
}
