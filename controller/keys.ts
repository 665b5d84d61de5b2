// The work queue's keys: a pool to place, a member to converge, and the
// Gateway API's objects to converge. One queue carries them all (they share
// its concurrency and its API-server budget); these are the only places its
// strings are made and read.

import { ROUTE_KINDS, type RouteKind } from '../gateway/types.ts';

export type ReconcileKey =
  | { kind: 'pool'; pool: string }
  | { kind: 'member'; member: string }
  | { kind: 'gatewayclass'; name: string }
  | { kind: 'gateway'; gateway: string }
  | { kind: 'route'; routeKind: RouteKind; route: string };

export const poolKey = (pool: string): string => `pool:${pool}`;
/** `member` is namespace/name. */
export const memberKey = (member: string): string => `member:${member}`;
export const gatewayClassKey = (name: string): string => `gatewayclass:${name}`;
/** namespace/name */
export const gatewayKey = (gateway: string): string => `gateway:${gateway}`;
/** namespace/name of a route of the kind */
export const routeQueueKey = (kind: RouteKind, route: string): string => `route:${kind}/${route}`;

export function parseKey(key: string): ReconcileKey {
  if (key.startsWith('pool:')) return { kind: 'pool', pool: key.slice(5) };
  if (key.startsWith('member:')) return { kind: 'member', member: key.slice(7) };
  if (key.startsWith('gatewayclass:')) return { kind: 'gatewayclass', name: key.slice(13) };
  if (key.startsWith('gateway:')) return { kind: 'gateway', gateway: key.slice(8) };
  if (key.startsWith('route:')) {
    const rest = key.slice(6);
    const slash = rest.indexOf('/');
    const routeKind = rest.slice(0, slash) as RouteKind;
    if (slash > 0 && ROUTE_KINDS.includes(routeKind)) return { kind: 'route', routeKind, route: rest.slice(slash + 1) };
  }
  throw new Error(`not a reconcile key: ${JSON.stringify(key)}`);
}
