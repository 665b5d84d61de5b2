// Showback: who pays for what. Each shared LB's monthly bill is split among
// its members in proportion to the ports each holds on it — the unit every
// profile's capacity is counted in (listeners, forwarding or load-balancing
// rules: allocator/profiles.ts), and what a member takes from the LB's room
// — rounded to the cent by the largest remainder, so that the shares of one
// LB add up to its bill exactly. The shares are then summed per namespace, or
// per the value of a label an admin names. Members that wait or are refused
// hold nothing and cost nothing; they are counted as such. Pure.

import { billed, cents, priceUnits } from './cost.ts';
import { reportPools, type LiveLoadBalancer, type LiveReport } from './report.ts';
import type { Pool } from './types.ts';

const SHOWBACK_RULE = "each shared LB's monthly bill is split among its members in proportion to the ports each holds on it (the unit the LB's capacity and rule-based billing count), rounded to the cent so that one LB's shares add up to its bill; a member's dedicated cost is what an LB of its own would bill";

/** Where the bill of an empty LB (lingering before its deletion) goes: it is billed, and nobody's. */
const EMPTY_GROUP = '(empty LBs)';

/** A member as the showback knows it: its group (namespace or label value), and its state (Allocated, or why not). */
export interface ShowbackMember {
  key: string;
  group: string;
  state: string;
}

export interface MemberCost {
  member: string;
  group: string;
  state: string;
  loadBalancer: string | null;
  ports: number;
  currency: string;
  monthlyCost: number;
  dedicatedMonthlyCost: number;
}

export interface ShowbackRow {
  group: string;
  currency: string;
  /** Members holding ports. */
  members: number;
  /** Members waiting or refused: they cost nothing. */
  notPlaced: number;
  ports: number;
  monthlyCost: number;
  dedicatedMonthlyCost: number;
  monthlySavings: number;
}

export interface Showback {
  by: string;
  rule: string;
  rows: ShowbackRow[];
  members: MemberCost[];
}

/** Split `total` (a price, cents exact) by `weights`, to the cent, the remainder going to the largest fractions. */
export function splitCents(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const whole = Math.round(total * 100);
  if (sum === 0) return weights.map(() => 0);
  const exact = weights.map((w) => (whole * w) / sum);
  const floors = exact.map(Math.floor);
  let left = whole - floors.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i] = (floors[i] ?? 0) + 1;
    left--;
  }
  return floors.map((c) => c / 100);
}

export function showback(report: LiveReport, known: Pool[], lbs: LiveLoadBalancer[], members: ShowbackMember[], by: string): Showback {
  const pools = new Map(reportPools(known, lbs).map((p) => [p.name, p]));
  const costOf = new Map(report.loadBalancers.map((r) => [r.name, r]));
  const groupOf = new Map(members.map((m) => [m.key, m]));
  const out: MemberCost[] = [];
  for (const lb of lbs) {
    const row = costOf.get(lb.name);
    const pool = pools.get(lb.pool);
    if (row === undefined || pool === undefined) continue;
    const ports = new Map<string, number>();
    for (const a of lb.assignments) ports.set(a.member, (ports.get(a.member) ?? 0) + 1);
    const holders = [...ports.keys()].sort();
    if (holders.length === 0) {
      // An LB waiting out its grace, empty, still bills: nobody's share, but in the sum.
      out.push({ member: '', group: EMPTY_GROUP, state: 'Empty', loadBalancer: `${lb.namespace}/${lb.name}`, ports: 0, currency: row.currency, monthlyCost: row.monthlyCost, dedicatedMonthlyCost: 0 });
      continue;
    }
    const shares = splitCents(row.monthlyCost, holders.map((m) => ports.get(m) ?? 0));
    const dedicated = priceUnits(pool, holders.map((m) => billed(lb.assignments.filter((a) => a.member === m))));
    for (const [i, m] of holders.entries()) {
      const known = groupOf.get(m);
      out.push({
        member: m, group: known?.group ?? m.split('/')[0] ?? '', state: known?.state ?? 'Allocated', loadBalancer: `${lb.namespace}/${lb.name}`,
        ports: ports.get(m) ?? 0, currency: row.currency, monthlyCost: shares[i] ?? 0, dedicatedMonthlyCost: cents(dedicated.shares[i] ?? 0),
      });
    }
  }
  const placed = new Set(out.map((c) => c.member));
  for (const m of members) {
    if (placed.has(m.key)) continue;
    out.push({ member: m.key, group: m.group, state: m.state, loadBalancer: null, ports: 0, currency: '', monthlyCost: 0, dedicatedMonthlyCost: 0 });
  }
  return { by, rule: SHOWBACK_RULE, rows: summed(out), members: out.filter((c) => c.member !== '').sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0)) };
}

/** Per group and currency; a group with nobody placed still has its row (in no currency). */
function summed(costs: MemberCost[]): ShowbackRow[] {
  const rows = new Map<string, ShowbackRow>();
  for (const c of costs) {
    const currency = c.loadBalancer === null ? '' : c.currency;
    const key = `${c.group}\u0000${currency}`;
    const r = rows.get(key) ?? { group: c.group, currency, members: 0, notPlaced: 0, ports: 0, monthlyCost: 0, dedicatedMonthlyCost: 0, monthlySavings: 0 };
    if (c.loadBalancer === null) r.notPlaced++;
    else if (c.member !== '') r.members++;
    r.ports += c.ports;
    r.monthlyCost = cents(r.monthlyCost + c.monthlyCost);
    r.dedicatedMonthlyCost = cents(r.dedicatedMonthlyCost + c.dedicatedMonthlyCost);
    r.monthlySavings = cents(r.dedicatedMonthlyCost - r.monthlyCost);
    rows.set(key, r);
  }
  // A group that has a priced row needs no empty one beside it.
  const priced = new Set([...rows.values()].filter((r) => r.currency !== '').map((r) => r.group));
  for (const [k, r] of rows) {
    if (r.currency !== '' || !priced.has(r.group)) continue;
    const into = [...rows.values()].find((x) => x.group === r.group && x.currency !== '') as ShowbackRow;
    into.notPlaced += r.notPlaced;
    rows.delete(k);
  }
  return [...rows.values()].sort((a, b) => b.monthlyCost - a.monthlyCost || (a.group < b.group ? -1 : 1));
}
