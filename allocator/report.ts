// The cost report of live shared LBs: per LB, what it costs, what its members
// would cost on dedicated LBs, and the saving; per pool and currency, totals.
// Pure: the controller feeds it from caches, `sharedlb report` from the API.

import { effectiveClass, type EffectiveClass } from './classes.ts';
import { cents, dedicatedByLB, priceLayout, type CostReport } from './cost.ts';
import { implicitPool } from './pools.ts';
import type { Assignment, Pool, ProviderName } from './types.ts';

export interface LiveLoadBalancer {
  name: string;
  namespace: string;
  pool: string;
  /** IP or hostname the cloud gave it, '' while it has none. */
  address: string;
  /** Its LB class ('' = the pool's default). */
  classKey: string;
  assignments: Assignment[];
  /** Its pool's provider when it was built (read from the LB): prices it should its pool be gone. */
  provider?: ProviderName;
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
  /** Its pool is deleted: the LB is still there, and still billed. */
  poolMissing: boolean;
}

export interface LiveReport {
  generatedAt: string;
  loadBalancers: ReportRow[];
  pools: CostReport['pools'];
  totals: CostReport['totals'];
  assumptions: string[];
  sources: string[];
}


/** The pools an LB list is priced with: those known, then a stand-in at its provider's list prices for each deleted one. */
export function reportPools(known: Pool[], lbs: LiveLoadBalancer[]): Pool[] {
  const missing = new Map<string, Pool>();
  for (const lb of lbs) {
    if (known.some((p) => p.name === lb.pool) || missing.has(lb.pool)) continue;
    missing.set(lb.pool, { ...implicitPool(lb.provider ?? 'generic'), name: lb.pool, default: false });
  }
  return [...known, ...missing.values()];
}

/**
 * Every LB that exists, whatever its pool's state: one whose pool is gone
 * is still billed, so it is priced at its provider's list prices (what the
 * pool overrode went with it) and marked.
 */
export function liveReport(known: Pool[], lbs: LiveLoadBalancer[], now: Date = new Date()): LiveReport {
  const pools = reportPools(known, lbs);
  const missing = new Map(pools.slice(known.length).map((p) => [p.name, p]));
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
  const cost = priceLayout(pools, lbs, [...members.values()]);
  const costByLB = new Map(cost.loadBalancers.map((c) => [c.name, c]));
  const dedicated = dedicatedByLB(pools, [...members.values()]);
  const rows: ReportRow[] = lbs.map((lb) => {
    const c = costByLB.get(lb.name);
    const alone = dedicated.get(lb.name) ?? 0;
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
      dedicatedMonthlyCost: cents(alone),
      monthlySavings: cents(alone - (c?.monthlyCost ?? 0)),
      poolMissing: missing.has(lb.pool),
    };
  });
  const gone = [...missing.values()].map((p) => `LoadBalancerPool ${p.name} is deleted; its shared LBs still exist and are billed: priced at the ${p.provider} profile's list prices${p.provider === 'generic' ? ' (no provider recorded on them: their cost is unknown and shown as 0)' : ''}, without the pool's own pricing`);
  return { generatedAt: now.toISOString(), loadBalancers: rows, pools: cost.pools, totals: cost.totals, assumptions: [...gone, ...cost.assumptions], sources: cost.sources };
}
