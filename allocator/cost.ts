// What a layout costs, and what the same members would cost on dedicated LBs.
// One function prices both sides, so a saving is never the difference of two
// differently-made numbers. Billing scopes (providers.md):
//   load-balancer  — each LB billed on its own (AWS, DigitalOcean, Linode, …)
//   project-region — forwarding rules billed together, tiered (GCP)
//   cluster        — the provider already shares one LB per cluster (AKS):
//                    rules cost the same either way, only public IPs differ.

import { isLocalClass } from './classes.ts';
import { PROFILES } from './profiles.ts';
import type { LoadBalancerState, Pool, Pricing, Protocol } from './types.ts';

/** What one billed unit carries: an LB, or a member on a dedicated LB. */
export interface Billed {
  /** Listeners / rules: one per port. */
  ports: number;
  /** Forwarding rules where the provider makes one per protocol (GCP). */
  protocols: number;
}

export interface AllocatedMember {
  key: string;
  pool: string;
  ports: Array<{ protocol: Protocol }>;
}

export interface LoadBalancerCost {
  name: string;
  pool: string;
  currency: string;
  members: number;
  portsUsed: number;
  capacity: number;
  monthlyCost: number;
}

export interface PoolCost {
  pool: string;
  provider: string;
  currency: string;
  loadBalancers: number;
  members: number;
  monthlyCost: number;
  dedicatedMonthlyCost: number;
  monthlySavings: number;
}

export interface CurrencyTotal {
  currency: string;
  monthlyCost: number;
  dedicatedMonthlyCost: number;
  monthlySavings: number;
}

export interface CostReport {
  loadBalancers: LoadBalancerCost[];
  pools: PoolCost[];
  /** One per currency: amounts in different currencies are never added up. */
  totals: CurrencyTotal[];
  assumptions: string[];
  sources: string[];
}

/** Rounded to the cent, as bills are. */
export const cents = (n: number): number => Math.round((n + Number.EPSILON) * 100) / 100;

function ipFamilies(pool: Pool): number {
  return pool.template.ipFamilies?.length ?? 1;
}

/**
 * The monthly bill of a set of billed units under one pool's pricing, and each
 * unit's share of it (for scoped billing, shared in proportion to rules).
 */
export function priceUnits(pool: Pool, units: Billed[]): { total: number; shares: number[] } {
  const pr: Pricing = pool.pricing;
  const hours = pr.hoursPerMonth;
  const ips = pr.publicIPsPerLB * pr.publicIPHourly * hours;
  if (pr.scope === 'load-balancer') {
    const shares = units.map((u) => pr.monthly + ips + (pr.baseHourly + Math.max(0, u.ports - pr.includedRules) * pr.ruleHourly) * hours);
    return { total: shares.reduce((a, b) => a + b, 0), shares };
  }
  // Rules per unit: GCP makes a forwarding rule per protocol; Azure a rule per port per IP family.
  const rulesOf = (u: Billed): number => (pr.scope === 'project-region' ? u.protocols : u.ports * ipFamilies(pool));
  const rules = units.reduce((a, u) => a + rulesOf(u), 0);
  const ruleBill = rules === 0 ? 0 : (pr.baseHourly + Math.max(0, rules - pr.includedRules) * pr.ruleHourly) * hours + pr.monthly;
  const shares = units.map((u) => (rules === 0 ? 0 : (ruleBill * rulesOf(u)) / rules) + ips);
  return { total: ruleBill + ips * units.length, shares };
}

/**
 * What each LB's members would cost on LBs of their own, summed per LB: the
 * "dedicated" a shared LB is compared with. `members` carry the LB they hold.
 */
export function dedicatedByLB(pools: Pool[], members: Array<{ pool: string; lb: string; ports: Array<{ protocol: Protocol }> }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const pool of pools) {
    const mine = members.filter((m) => m.pool === pool.name);
    const { shares } = priceUnits(pool, mine.map((m) => billed(m.ports)));
    for (const [i, m] of mine.entries()) out.set(m.lb, (out.get(m.lb) ?? 0) + (shares[i] ?? 0));
  }
  return out;
}

/** What a set of ports is billed as: how many, and in how many protocols (GCP bills a forwarding rule per protocol). */
export function billed(ports: ReadonlyArray<{ protocol: Protocol }>): Billed {
  return { ports: ports.length, protocols: new Set(ports.map((p) => p.protocol)).size };
}

/**
 * Price shared LBs against dedicated ones. `loadBalancers` are the shared LBs
 * that exist (empty ones still bill while they linger); `members` are the
 * members they serve, each of which would otherwise hold an LB of its own.
 */
/** An LB as pricing sees it: its class changes not what it costs, only what the report must say. */
export type LayoutLB = Pick<LoadBalancerState, 'name' | 'pool' | 'assignments'> & { classKey?: string };

export function priceLayout(pools: Pool[], loadBalancers: LayoutLB[], members: AllocatedMember[]): CostReport {
  const report: CostReport = { loadBalancers: [], pools: [], totals: [], assumptions: [], sources: [] };
  const totals = new Map<string, { shared: number; dedicated: number }>();
  const providers = new Set<string>();
  for (const pool of [...pools].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const lbs = loadBalancers.filter((lb) => lb.pool === pool.name);
    const mine = members.filter((m) => m.pool === pool.name);
    if (lbs.length === 0 && mine.length === 0) continue;
    providers.add(pool.provider);
    const shared = priceUnits(pool, lbs.map((lb) => billed(lb.assignments)));
    const dedicated = priceUnits(pool, mine.map((m) => billed(m.ports)));
    lbs.forEach((lb, i) => {
      report.loadBalancers.push({
        name: lb.name,
        pool: pool.name,
        currency: pool.pricing.currency,
        members: new Set(lb.assignments.map((a) => a.member)).size,
        portsUsed: lb.assignments.length,
        capacity: pool.maxPortsPerLB,
        monthlyCost: cents(shared.shares[i] ?? 0),
      });
    });
    const pc: PoolCost = {
      pool: pool.name,
      provider: pool.provider,
      currency: pool.pricing.currency,
      loadBalancers: lbs.length,
      members: mine.length,
      monthlyCost: cents(shared.total),
      dedicatedMonthlyCost: cents(dedicated.total),
      monthlySavings: cents(dedicated.total - shared.total),
    };
    report.pools.push(pc);
    const t = totals.get(pc.currency) ?? { shared: 0, dedicated: 0 };
    t.shared += shared.total;
    t.dedicated += dedicated.total;
    totals.set(pc.currency, t);
    report.assumptions.push(...poolAssumptions(pool));
    const local = lbs.filter((lb) => isLocalClass(lb.classKey ?? '') && lb.assignments.length > 0).length;
    if (local > 0) {
      report.assumptions.push(`pool ${pool.name}: ${local} member(s) with externalTrafficPolicy Local hold an LB each (a shared LB has one health check, which kube-proxy answers for all its members together): they cost what a dedicated LB costs and save nothing.`);
    }
  }
  report.totals = [...totals.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([currency, t]) => ({ currency, monthlyCost: cents(t.shared), dedicatedMonthlyCost: cents(t.dedicated), monthlySavings: cents(t.dedicated - t.shared) }));
  const hours = new Set(pools.map((p) => p.pricing.hoursPerMonth));
  report.assumptions.unshift(
    `List prices; a month is ${[...hours].join('/')} hours; data processing and transfer are excluded.`,
    'The dedicated figure prices each allocated member on an LB of its own, of the same pool and provider.',
  );
  for (const name of [...providers].sort()) {
    const profile = PROFILES[name as keyof typeof PROFILES];
    report.assumptions.push(...profile.notes.map((n) => `${name}: ${n}`));
    report.assumptions.push(...profile.unconfirmed.map((n) => `${name}: ${n}`));
    report.sources.push(...profile.sources.map((s) => `${name}: ${s}`));
  }
  return report;
}

function poolAssumptions(pool: Pool): string[] {
  const pr = pool.pricing;
  const base = PROFILES[pool.provider].pricing;
  const out: string[] = [];
  if (pool.provider === 'aws-nlb') {
    out.push(pr.publicIPsPerLB > 0
      ? `pool ${pool.name}: internet-facing NLB holding ${pr.publicIPsPerLB} public IPv4 (one per availability zone)`
      : `pool ${pool.name}: internal NLB (no public IPv4 billed); set the template's aws-load-balancer-scheme: internet-facing or pricing.publicIPsPerLB otherwise`);
  }
  if (pr.scope === 'project-region') {
    out.push(`pool ${pool.name}: its forwarding rules are billed as one project and region of their own; each LB's figure is its share of that bill by rules`);
  }
  if (pr.scope === 'cluster') {
    out.push(`pool ${pool.name}: rule charges are the same shared or not; each LB's figure is its share of them by ports plus its own public IP`);
  }
  const changed = (Object.keys(base) as Array<keyof Pricing>).filter((k) => k !== 'publicIPsPerLB' && pr[k] !== base[k]);
  if (changed.length > 0) out.push(`pool ${pool.name}: pricing overridden by the admin (${changed.join(', ')})`);
  return out;
}
