// The cost report of live shared LBs: per LB, what it costs, what its members
// would cost on dedicated LBs, and the saving; per pool and currency, totals.
// Pure: the controller feeds it from caches, `sharedlb report` from the API.

import { effectiveClass, type EffectiveClass } from './classes.ts';
import { cents, priceLayout, priceUnits, type CostReport } from './cost.ts';
import type { Assignment, Pool } from './types.ts';

export interface LiveLoadBalancer {
  name: string;
  namespace: string;
  pool: string;
  /** IP or hostname the cloud gave it, '' while it has none. */
  address: string;
  /** Its LB class ('' = the pool's default). */
  classKey: string;
  assignments: Assignment[];
}

export interface ReportRow {
  name: string;
  namespace: string;
  pool: string;
  address: string;
  /** What defines it (why two members are not on one LB); null when its pool is gone. */
  class: EffectiveClass | null;
  members: number;
  portsUsed: number;
  capacity: number;
  currency: string;
  monthlyCost: number;
  dedicatedMonthlyCost: number;
  monthlySavings: number;
}

export interface LiveReport {
  generatedAt: string;
  loadBalancers: ReportRow[];
  pools: CostReport['pools'];
  totals: CostReport['totals'];
  assumptions: string[];
  sources: string[];
}


export function liveReport(pools: Pool[], lbs: LiveLoadBalancer[], now: Date = new Date()): LiveReport {
  const byPool = new Map(pools.map((p) => [p.name, p]));
  // Each member, with the protocols it uses, as it would stand on an LB of its own.
  const members = new Map<string, { key: string; pool: string; ports: Array<{ protocol: Assignment['protocol'] }>; lb: string }>();
  for (const lb of lbs) {
    for (const a of lb.assignments) {
      const m = members.get(a.member) ?? { key: a.member, pool: lb.pool, ports: [], lb: lb.name };
      m.ports.push({ protocol: a.protocol });
      members.set(a.member, m);
    }
  }
  const known = lbs.filter((lb) => byPool.has(lb.pool));
  const cost = priceLayout(pools, known, [...members.values()].filter((m) => byPool.has(m.pool)));
  const costByLB = new Map(cost.loadBalancers.map((c) => [c.name, c]));
  // Dedicated cost per LB: its members' shares of what the pool's members would cost alone.
  const dedicatedByLB = new Map<string, number>();
  for (const pool of pools) {
    const mine = [...members.values()].filter((m) => m.pool === pool.name);
    const { shares } = priceUnits(pool, mine.map((m) => ({ ports: m.ports.length, protocols: new Set(m.ports.map((p) => p.protocol)).size })));
    for (const [i, m] of mine.entries()) dedicatedByLB.set(m.lb, (dedicatedByLB.get(m.lb) ?? 0) + (shares[i] ?? 0));
  }
  const rows: ReportRow[] = known.map((lb) => {
    const c = costByLB.get(lb.name);
    const dedicated = dedicatedByLB.get(lb.name) ?? 0;
    return {
      name: lb.name,
      namespace: lb.namespace,
      pool: lb.pool,
      address: lb.address,
      class: effectiveClass(byPool.get(lb.pool) as Pool, lb.classKey),
      members: c?.members ?? 0,
      portsUsed: c?.portsUsed ?? 0,
      capacity: c?.capacity ?? 0,
      currency: c?.currency ?? '',
      monthlyCost: c?.monthlyCost ?? 0,
      dedicatedMonthlyCost: cents(dedicated),
      monthlySavings: cents(dedicated - (c?.monthlyCost ?? 0)),
    };
  });
  return { generatedAt: now.toISOString(), loadBalancers: rows, pools: cost.pools, totals: cost.totals, assumptions: cost.assumptions, sources: cost.sources };
}
