// What the Gateway API side watches, and what each event enqueues:
//
//   GatewayClass              → itself; its Gateways
//   Gateway                   → itself; the routes naming it
//   TCPRoute/UDPRoute/HTTPRoute → itself; every Gateway it names, before and after
//   ReferenceGrant            → every Gateway and route (what it permits may concern any)
//   Service or slice of a backend → the Gateways forwarding to it, and their routes
//   a Gateway's member Service → its Gateway (its place, its address)
//   LoadBalancerPool, Namespace → every class, Gateway and route

import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { serviceKey } from '../allocator/members.ts';
import { objectKey, type RouteKind } from '../gateway/types.ts';
import { GATEWAY_ANNOTATION } from '../gateway/member-service.ts';
import { type GatewayEvents, GatewayState } from './gateway-state.ts';
import type { WatchFn } from './informer.ts';
import { gatewayClassKey, gatewayKey, routeQueueKey } from './keys.ts';
import type { Rest } from './kube-rest.ts';
import { SERVICE_NAME_LABEL } from './mirror.ts';

export interface GatewayEnqueue {
  add(key: string, background?: boolean): void;
}

export interface GatewayWatch {
  state: GatewayState;
  /** Every class, Gateway and route (start-up, resync, a pool or namespace change). */
  all(background?: boolean): void;
  /** A Service event: its Gateway, if it is one's member Service; the Gateways forwarding to it. */
  service(svc: V1Service): void;
  slice(s: V1EndpointSlice): void;
}

export function gatewayWatch(watch: WatchFn, rest: Rest, queue: GatewayEnqueue, relistSeconds: number, observe: Pick<GatewayEvents, 'restart' | 'relist'>): GatewayWatch {
  let state: GatewayState;
  const gateway = (key: string): void => {
    queue.add(gatewayKey(key));
    for (const r of state.routesOf(key)) queue.add(routeQueueKey(r.kind, objectKey(r)));
  };
  const all = (background = false): void => {
    for (const c of state.classes.list()) queue.add(gatewayClassKey(c.metadata?.name as string), background);
    for (const g of state.gateways.list()) queue.add(gatewayKey(objectKey(g)), background);
    for (const r of state.allRoutes()) queue.add(routeQueueKey(r.kind, objectKey(r)), background);
  };
  const backend = (key: string): void => {
    for (const g of state.gatewaysUsing(key)) gateway(g);
  };
  state = new GatewayState(watch, rest, {
    gatewayClass: (name) => {
      queue.add(gatewayClassKey(name));
      for (const g of state.gatewaysOfClass(name)) gateway(g);
    },
    gateway,
    route: (kind: RouteKind, key) => queue.add(routeQueueKey(kind, key)),
    grants: () => all(),
    ...observe,
  }, relistSeconds);
  return {
    state,
    all,
    service: (svc) => {
      const owner = svc.metadata?.annotations?.[GATEWAY_ANNOTATION];
      if (owner !== undefined) queue.add(gatewayKey(`${svc.metadata?.namespace}/${owner}`));
      backend(serviceKey(svc));
    },
    slice: (s) => {
      const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (svc !== undefined) backend(`${s.metadata?.namespace}/${svc}`);
    },
  };
}
