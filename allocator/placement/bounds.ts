// The fewest LBs a set of requests could possibly fit on. Placement aims for
// it plus one; plans and benchmarks report it beside what was achieved.

import { isLocalClass } from '../classes.ts';
import type { MemberRequest, Pool } from '../types.ts';
import { conflictKey, groupKey, groupProtocol, type ConflictKey } from './layout.ts';
import { entry } from '../collections.ts';

/**
 * Per LB class (LBs of different classes never share), and per protocol
 * where one LB carries one protocol: total ports over capacity; members that
 * all need one fixed port need an LB each; members larger than half an LB
 * cannot pair up; a class of one member per LB (externalTrafficPolicy Local)
 * needs an LB per member.
 */
export function lowerBoundOf(pool: Pool, requests: MemberRequest[]): number {
  const groups = new Map<string, MemberRequest[]>();
  for (const r of requests) {
    const g = groupKey(pool.name, r.classKey, groupProtocol(pool, r.ports));
    const list = entry(groups, g, () => []);
    list.push(r);
  }
  let sum = 0;
  for (const group of groups.values()) sum += groupBound(pool, group, isLocalClass(group[0]?.classKey ?? ''));
  return sum;
}

function groupBound(pool: Pool, group: MemberRequest[], exclusive: boolean): number {
  if (exclusive) return group.length;
  const cap = pool.maxPortsPerLB;
  let total = 0;
  let large = 0;
  let fixed = 0;
  for (const [, n] of fixedDemand(pool, group)) fixed = Math.max(fixed, n);
  for (const r of group) {
    total += r.ports.length;
    if (r.ports.length * 2 > cap) large++;
  }
  return Math.max(Math.ceil(total / cap), large, fixed);
}

/** Conflict key → how many preserve members ask for it. */
export function fixedDemand(pool: Pool, requests: Iterable<MemberRequest>): Map<ConflictKey, number> {
  const demand = new Map<ConflictKey, number>();
  for (const r of requests) {
    if (r.policy !== 'preserve') continue;
    for (const p of r.ports) {
      const k = conflictKey(pool, p.protocol, p.port);
      demand.set(k, (demand.get(k) ?? 0) + 1);
    }
  }
  return demand;
}
