// What a LoadBalancerPool's status should say: its LBs, members, ports,
// cost, and a Ready condition that also covers a pool that is broken or
// whose template its existing LBs cannot take. Pure: the pool reconcile
// computes it, compares, and patches only what differs.

import { isDeepStrictEqual } from 'node:util';
import type { V1Service } from '@kubernetes/client-node';
import { priceLayout } from '../allocator/cost.ts';
import type { MemberOutcome } from '../allocator/placement/allocate.ts';
import type { LoadBalancerState, Pool } from '../allocator/types.ts';
import type { Condition } from './member-status.ts';
import { money } from './text-table.ts';

export interface PoolStatusInput {
  pool: Pool | null;
  /** Why the pool's spec cannot be used, when it cannot. */
  problems: string[];
  generation: number | undefined;
  /** LBs carrying members (of a broken pool: its LBs, frozen). */
  loadBalancers: LoadBalancerState[];
  outcomes: MemberOutcome[];
  /** The pool's LB Services as they are (for addresses and immutable fields). */
  lbObject: (name: string) => V1Service | undefined;
  before: Record<string, unknown>;
  now: Date;
  /** The value of the pool's sharedlb.io/repack annotation last acted on. */
  lastRepack?: string | undefined;
}

export function poolStatus(i: PoolStatusInput): Record<string, unknown> {
  const ready = readyCondition(i);
  if (i.pool === null) return { observedGeneration: i.generation, conditions: [ready] };
  const pool = i.pool;
  const allocated = i.outcomes.filter((o) => o.state === 'Allocated');
  const cost = priceLayout([pool], i.loadBalancers, allocated.map((o) => ({ key: o.key, pool: o.pool, ports: o.ports })));
  const pc = cost.pools[0];
  const used = i.loadBalancers.reduce((a, l) => a + l.assignments.length, 0);
  // As the CLI and the report print it: `kubectl get loadbalancerpools` shows the same figure the same way.
  const price = (n: number | undefined): string => money(n ?? 0, pool.pricing.currency);
  const classOf = new Map(i.loadBalancers.map((lb) => [lb.name, lb.classKey]));
  return {
    observedGeneration: i.generation,
    loadBalancers: i.loadBalancers.length,
    members: allocated.length,
    pending: i.outcomes.length - allocated.length,
    ports: `${used}/${i.loadBalancers.length * pool.maxPortsPerLB}`,
    monthlyCost: price(pc?.monthlyCost),
    monthlySavings: price(pc?.monthlySavings),
    conditions: [ready],
    ...(i.lastRepack !== undefined ? { lastRepack: i.lastRepack } : {}),
    loadBalancerStatus: cost.loadBalancers.map((c) => {
      const ingress = i.lbObject(c.name)?.status?.loadBalancer?.ingress?.[0];
      return {
        name: c.name, address: ingress?.ip ?? ingress?.hostname ?? '', members: c.members, portsUsed: c.portsUsed, capacity: c.capacity,
        monthlyCost: price(c.monthlyCost), class: classOf.get(c.name) ?? '',
      };
    }),
  };
}

function readyCondition(i: PoolStatusInput): Condition {
  let status: Condition['status'] = 'True';
  let reason = 'Ready';
  let message = 'the pool builds and fills shared LBs';
  if (i.pool === null) {
    status = 'False';
    reason = 'Invalid';
    const frozen = i.loadBalancers.map((lb) => lb.name).sort();
    message = `the pool is not used until its spec is fixed: ${i.problems.join('; ')}${frozen.length > 0 ? `; its shared LBs ${frozen.join(', ')} are frozen as they are (template, ports, members) until then` : ''}`;
  } else {
    const stuck = i.loadBalancers
      .map((lb) => ({ name: lb.name, has: i.lbObject(lb.name)?.spec?.loadBalancerClass }))
      .filter((lb) => (lb.has ?? undefined) !== i.pool?.template.loadBalancerClass);
    const pending = i.outcomes.filter((o) => o.state !== 'Allocated').length;
    if (stuck.length > 0) {
      status = 'False';
      reason = 'TemplateNotApplied';
      message = `spec.loadBalancerClass cannot change on an existing Service: ${stuck.map((s) => `${s.name} keeps ${s.has ?? '(none)'}`).join(', ')}; new LBs get ${i.pool.template.loadBalancerClass ?? '(none)'}. Deleting such an LB re-places its members (with an AddressChanged event each)`;
    } else if (pending > 0) {
      reason = 'MembersPending';
      message = `${pending} member(s) wait for room: see their sharedlb.io/Ready condition`;
    }
  }
  const prev = ((i.before.conditions as Condition[] | undefined) ?? []).find((c) => c.type === 'Ready');
  return {
    type: 'Ready', status, reason, message,
    lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : i.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(i.generation !== undefined ? { observedGeneration: i.generation } : {}),
  };
}

/**
 * Does the status differ from what the object shows, in any field it sets?
 * By value, not by text: the API server hands a custom resource back with
 * its keys sorted, ours are in the order we build them.
 */
export function poolStatusDiffers(before: Record<string, unknown>, status: Record<string, unknown>): boolean {
  return Object.keys(status).some((k) => !isDeepStrictEqual(before[k], status[k]));
}
