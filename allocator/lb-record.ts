// A shared LB's record of "member X holds port P": written on the LB Service
// itself (the only store), read by the controller and by the planner.

import { ALLOCATIONS, LB_CLASS, LB_POOL_LABEL, MANAGED_BY, MANAGED_BY_LABEL, MEMBER_UIDS } from './annotations.ts';
import { PROTOCOLS, type Assignment, type LoadBalancerState, type Protocol, type ServiceLike } from './types.ts';

/** tcp-9092: the record's key for a port, unique per (port, protocol) on one LB. */
export function slotName(a: { port: number; protocol: Protocol }): string {
  return `${a.protocol.toLowerCase()}-${a.port}`;
}

/** Labelled as a shared LB (the controller also checks it is in its own namespace). */
export function isSharedLBObject(svc: ServiceLike): boolean {
  return svc.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY && svc.metadata.labels[LB_POOL_LABEL] !== undefined;
}

/** {"tcp-9092": "ns/name/broker"}, sorted: a stable text so that unchanged means byte-equal. */
export function encodeAllocations(assignments: Assignment[]): string {
  const entries = [...assignments].sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1)).map((a) => [slotName(a), `${a.member}/${a.servicePort}`]);
  return JSON.stringify(Object.fromEntries(entries));
}

/** The LB's record, and its members' UIDs when it records them; entries that cannot be read are reported, not guessed at. */
export function readLoadBalancer(svc: ServiceLike): { state: LoadBalancerState; problems: string[]; uids: Map<string, string> } {
  const problems: string[] = [];
  const assignments: Assignment[] = [];
  const text = svc.metadata?.annotations?.[ALLOCATIONS];
  let record: unknown = {};
  if (text !== undefined) {
    try {
      record = JSON.parse(text);
    } catch {
      problems.push(`${ALLOCATIONS} is not JSON`);
    }
  }
  if (record !== null && typeof record === 'object' && !Array.isArray(record)) {
    for (const [portName, holder] of Object.entries(record)) {
      const m = /^(tcp|udp|sctp)-(\d{1,5})$/.exec(portName);
      const h = typeof holder === 'string' ? /^([^/]+)\/([^/]+)\/(.*)$/.exec(holder) : null;
      const port = Number(m?.[2]);
      if (m === null || h === null || port < 1 || port > 65535) {
        problems.push(`unreadable entry ${JSON.stringify(portName)}: ${JSON.stringify(holder)}`);
        continue;
      }
      const protocol = m[1]?.toUpperCase() as Protocol;
      if (!PROTOCOLS.includes(protocol)) continue;
      assignments.push({ port, protocol, member: `${h[1]}/${h[2]}`, servicePort: h[3] ?? '' });
    }
  } else {
    problems.push(`${ALLOCATIONS} is not a JSON object`);
  }
  const classKey = svc.metadata?.annotations?.[LB_CLASS] ?? '';
  return { state: { name: svc.metadata?.name ?? '', pool: svc.metadata?.labels?.[LB_POOL_LABEL] ?? '', classKey, assignments }, problems, uids: recordedUids(svc) };
}

/** {"ns/name": uid}: unreadable, it tells no predecessor apart (and so takes nothing from anyone). */
function recordedUids(svc: ServiceLike): Map<string, string> {
  const out = new Map<string, string>();
  try {
    const v = JSON.parse(svc.metadata?.annotations?.[MEMBER_UIDS] ?? '{}') as unknown;
    if (v !== null && typeof v === 'object') for (const [m, uid] of Object.entries(v)) if (typeof uid === 'string') out.set(m, uid);
  } catch {
    // as if none were recorded
  }
  return out;
}
