// Where in a group a member's ports fit: the one ranking every placement
// path uses. Best fit (tightest LB first) packs arrivals; worst fit (roomiest
// first) spreads a batch's fixed-port members so each LB keeps room for the
// flexible ones; GCP pools prefer an LB whose forwarding rule a placement
// leaves alone.

import type { Assignment } from '../types.ts';
import { conflictKey, lbNameOrder, type Group, type Layout, type WorkLB } from './layout.ts';
import { disruptive, fit, portFreeOn, type Mode, type Wanted } from './rules.ts';

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
  /** Give up after looking at this many LBs (a wish, not a need: prefer's own port). */
  patience?: number;
}

/** Room on an LB that arrivals leave for the group's contended fixed ports it lacks. */
function reserveOf(lb: WorkLB): number {
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
      // Rank by room first and fit only the best: a candidate lacks the first
      // port already, so most fit; a refusal (another port, protocols) drops it.
      const ranked: Array<{ lb: WorkLB; rank: number }> = [];
      for (const lb of candidates) if (lb.free >= n && acceptable(lb)) ranked.push({ lb, rank: o.order === 'tightest' ? lb.free : -lb.free });
      ranked.sort((a, b) => a.rank - b.rank || lbNameOrder.compare(a.lb.name, b.lb.name));
      let fallback: Found | null = null;
      for (const { lb } of ranked) {
        const f = fit(lb, want, mode, member, o.arrivals);
        if (!f.ok) continue;
        if (!gcp || !disruptive(lb, f.ports)) return { lb, ports: f.ports };
        fallback ??= { lb, ports: f.ports };
      }
      return fallback;
    }
  }
  let fallback: Found | null = null;
  const cap = g.pool.maxPortsPerLB;
  const first = mode === 'own' ? (want[0] ?? null) : null;
  let patience = o.patience ?? Infinity;
  for (let i = n; i <= cap; i++) {
    const bucket = g.byFree.get(o.order === 'tightest' ? i : cap - i + n);
    if (bucket === undefined || bucket.size === 0) continue;
    for (const lb of bucket) {
      if (--patience < 0) return fallback;
      if (!acceptable(lb)) continue;
      if (first !== null && !portFreeOn(lb, first.protocol, first.port)) continue;
      const f = fit(lb, want, mode, member, o.arrivals);
      if (!f.ok) continue;
      if (!gcp || !disruptive(lb, f.ports)) return { lb, ports: f.ports };
      fallback ??= { lb, ports: f.ports };
    }
  }
  return fallback;
}

/** Up to this many LBs without a port, ranking them all beats scanning the room buckets for one. */
const FEW_CANDIDATES = 64;

/**
 * The open LBs where all of `want`'s own ports are free, via the rarest of
 * them, when they are few; null when scanning buckets finds one sooner (many
 * LBs lack the port, so a scan meets one within a few steps).
 */
function ownCandidates(layout: Layout, g: Group, want: Wanted[]): Set<WorkLB> | null {
  let rarest: Set<WorkLB> | null = null;
  for (const w of want) {
    const set = layout.without(g, conflictKey(g.pool, w.protocol, w.port));
    if (set === null) return null;
    if (rarest === null || set.size < rarest.size) rarest = set;
  }
  if (rarest === null || rarest.size > FEW_CANDIDATES) return null;
  return rarest;
}
