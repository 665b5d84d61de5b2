// Placement rules: can these ports go on this LB, and at which external
// port numbers? Each rule answers with the ports or with why not, so that
// the explanation a Pending member gets is the rule's own answer, never a
// second scan that could drift from it.

import type { Assignment, Protocol } from '../types.ts';
import { conflictKey, slot, type Group, type WorkLB } from './layout.ts';

/** How a member's external ports are chosen. */
export type Mode =
  /** Each port's own number (preserve). */
  | 'own'
  /** Own number where free and allowed (see ownAllowed), otherwise from the pool's range (prefer). */
  | 'prefer-own'
  /** From the pool's range (any). */
  | 'range';

export interface Wanted {
  protocol: Protocol;
  port: number; // the member's Service port
  name: string;
}

/** Why a member's ports do not fit on an LB. */
export type Refusal = 'room' | 'protocol' | 'port-taken' | 'range-full' | 'exclusive';

export type Fit = { ok: true; ports: Assignment[] } | { ok: false; why: Refusal; port?: Wanted };

export function portFreeOn(lb: WorkLB, protocol: Protocol, port: number): boolean {
  return lb.group.pool.samePortAcrossProtocols ? !lb.bySlot.has(slot(protocol, port)) : !lb.byNumber.has(port);
}

/** Room on `lb` for `member`: an exclusive LB has room only for the member already there. */
function roomFor(lb: WorkLB, member: string): number {
  const g = lb.group;
  if (g.exclusive && lb.members.size > 0 && !(lb.members.size === 1 && lb.members.has(member))) return 0;
  return g.pool.maxPortsPerLB - lb.bySlot.size;
}

export function carriesOnly(lb: WorkLB, protocol: Protocol): boolean {
  for (const [p, n] of lb.byProtocol) if (n > 0 && p !== protocol) return false;
  return true;
}

/** Of the LBs a group's bound leaves without a port's fixed demand, the share arrivals may give to `prefer` members. */
const PREFER_SHARE = 0.5;

/**
 * May a `prefer` member take its own port? Never where fixed demand will
 * want it. In a batch every preserve member is placed first, so a port still
 * free is free. Arrivals do not know who comes next: they may spend only a
 * share of the LBs that the group's bound leaves without the port's preserve
 * members — bound and demand grow together as members arrive, so that share
 * keeps pace with both.
 */
export function ownAllowed(g: Group, protocol: Protocol, port: number, arrivals: boolean): boolean {
  const key = conflictKey(g.pool, protocol, port);
  const demand = g.demand.get(key) ?? 0;
  const placed = g.fixedPlaced.get(key) ?? 0;
  if (!arrivals) return placed === demand;
  const flexibleHolders = (g.holders.get(key) ?? 0) - placed;
  return flexibleHolders < PREFER_SHARE * (g.bound - demand);
}

/**
 * External ports for `want` on `lb` under `mode`. keepPortRange pools (GCP)
 * look inside the LB's current range first.
 */
export function fit(lb: WorkLB, want: Wanted[], mode: Mode, member: string, arrivals = false): Fit {
  const g = lb.group;
  const pool = g.pool;
  const room = roomFor(lb, member);
  if (room < want.length) return { ok: false, why: room === 0 && g.exclusive && lb.members.size > 0 ? 'exclusive' : 'room' };
  if (!pool.mixedProtocol) for (const w of want) if (!carriesOnly(lb, w.protocol)) return { ok: false, why: 'protocol', port: w };
  const out: Assignment[] = [];
  // Free on the LB and not already picked for another of this member's ports (a member has few).
  const free = (protocol: Protocol, port: number): boolean => {
    if (!portFreeOn(lb, protocol, port)) return false;
    for (const o of out) if (o.port === port && (!pool.samePortAcrossProtocols || o.protocol === protocol)) return false;
    return true;
  };
  for (const w of want) {
    let port: number | null = null;
    const ownFree = !g.reserved.has(w.port) && free(w.protocol, w.port);
    if (mode === 'own') {
      if (!ownFree) return { ok: false, why: 'port-taken', port: w };
      port = w.port;
    } else if (mode === 'prefer-own' && ownFree && ownAllowed(g, w.protocol, w.port, arrivals)) {
      port = w.port;
    } else {
      port = lowestFree(lb, w.protocol, free);
      if (port === null) return { ok: false, why: 'range-full', port: w };
    }
    out.push({ port, protocol: w.protocol, member, servicePort: w.name });
  }
  return { ok: true, ports: out };
}

function lowestFree(lb: WorkLB, protocol: Protocol, free: (p: Protocol, n: number) => boolean): number | null {
  const g = lb.group;
  const { from, to } = g.pool.portRange;
  if (g.pool.keepPortRange) {
    const span = currentRange(lb, protocol);
    if (span !== null) {
      for (let p = Math.max(from, span.min); p <= Math.min(to, span.max); p++) if (!g.reserved.has(p) && free(protocol, p)) return p;
    }
  }
  for (let p = from; p <= to; p++) if (!g.reserved.has(p) && free(protocol, p)) return p;
  return null;
}

function currentRange(lb: WorkLB, protocol: Protocol): { min: number; max: number; count: number } | null {
  let min = Infinity;
  let max = -Infinity;
  let count = 0;
  for (const a of lb.bySlot.values()) {
    if (a.protocol !== protocol) continue;
    count++;
    if (a.port < min) min = a.port;
    if (a.port > max) max = a.port;
  }
  return count === 0 ? null : { min, max, count };
}

/**
 * GCP: a forwarding rule lists up to 5 ports, or spans lowest..highest port
 * beyond that; any change to what it lists or spans recreates it. Adding ports
 * is harmless only for a rule that already spans a range and keeps it.
 */
export function disruptive(lb: WorkLB, ports: Assignment[]): boolean {
  for (const protocol of new Set(ports.map((p) => p.protocol))) {
    const span = currentRange(lb, protocol);
    if (span === null) continue; // a new rule for a new protocol leaves the others alone
    if (span.count <= 5) return true;
    if (ports.some((p) => p.protocol === protocol && (p.port < span.min || p.port > span.max))) return true;
  }
  return false;
}
