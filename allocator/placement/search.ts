// Where in a group a member's ports fit: the one ranking every placement
// path uses. Best fit (tightest LB first) packs arrivals; worst fit (roomiest
// first) spreads a batch's fixed-port members so each LB keeps room for the
// flexible ones; GCP pools prefer an LB whose forwarding rule a placement
// leaves alone.

import type { Assignment } from '../types.ts';
import { conflictKey, type Group, type Layout, type WorkLB } from './layout.ts';
import { disruptive, fit, type Mode, type Wanted } from './rules.ts';

export type Order = 'tightest' | 'roomiest';

export interface Found {
  lb: WorkLB;
  ports: Assignment[];
}

export interface SearchOptions {
  order: Order;
  /** Never this LB (the member's home, already tried). */
  exclude?: WorkLB | null;
  /** Leave room on each LB for the contended fixed ports it lacks (arrivals); see reserveOf. */
  keepReserve?: boolean;
  /** Members arrive one by one (see rules.ownAllowed). */
  arrivals?: boolean;
}

/** Room on an LB that flexible members leave for the group's contended fixed ports it lacks. */
export function reserveOf(lb: WorkLB): number {
  return lb.group.critical.size - lb.heldCritical;
}

/** The best LB of `g` for `want` under `mode`, or null if none fits. */
export function search(layout: Layout, g: Group, want: Wanted[], mode: Mode, member: string, o: SearchOptions): Found | null {
  const n = want.length;
  // A member taking a contended port of its own fills that port's reserved slot itself.
  const brings = mode === 'own' ? want.filter((w) => g.critical.has(conflictKey(g.pool, w.protocol, w.port))).length : 0;
  const acceptable = (lb: WorkLB): boolean => lb !== o.exclude && (!o.keepReserve || lb.free - n >= reserveOf(lb) - brings);
  const gcp = g.pool.keepPortRange;
  if (mode === 'own') {
    const candidates = ownCandidates(layout, g, want);
    if (candidates !== null) {
      let best: { found: Found; rank: number } | null = null;
      for (const lb of candidates) {
        if (lb.free < n || !acceptable(lb)) continue;
        const f = fit(lb, want, mode, member, o.arrivals);
        if (!f.ok) continue;
        const room = o.order === 'tightest' ? lb.free : -lb.free;
        const rank = (gcp && disruptive(lb, f.ports) ? 1e6 : 0) + room;
        if (best === null || rank < best.rank || (rank === best.rank && lb.name < best.found.lb.name)) best = { found: { lb, ports: f.ports }, rank };
      }
      return best?.found ?? null;
    }
  }
  let fallback: Found | null = null;
  const cap = g.pool.maxPortsPerLB;
  for (let i = n; i <= cap; i++) {
    const bucket = g.byFree.get(o.order === 'tightest' ? i : cap - i + n);
    if (bucket === undefined || bucket.size === 0) continue;
    for (const lb of bucket) {
      if (!acceptable(lb)) continue;
      const f = fit(lb, want, mode, member, o.arrivals);
      if (!f.ok) continue;
      if (!gcp || !disruptive(lb, f.ports)) return { lb, ports: f.ports };
      fallback ??= { lb, ports: f.ports };
    }
  }
  return fallback;
}

/**
 * The open LBs where all of `want`'s own ports are free, via the rarest of
 * them; null when scanning buckets is as cheap (most open LBs qualify).
 */
function ownCandidates(layout: Layout, g: Group, want: Wanted[]): Set<WorkLB> | null {
  let rarest: Set<WorkLB> | null = null;
  for (const w of want) {
    const set = layout.without(g, conflictKey(g.pool, w.protocol, w.port));
    if (set === null) return null;
    if (rarest === null || set.size < rarest.size) rarest = set;
  }
  if (rarest === null || rarest.size * 2 > g.open.size) return null;
  return rarest;
}
