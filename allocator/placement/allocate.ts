// Placement: which member holds which port on which shared LB. Pure and
// deterministic. The rules, in the order they bind:
//   1. Stability: a placed member keeps its LB and ports while its request can
//      still be met there; nobody is repacked.
//   2. Earlier members win: who is served when not everyone can be is decided
//      in (created, namespace/name) order, so a later Service never takes a
//      port from an earlier one. That is a priority, not a packing order.
//   3. Packing: members land only on LBs of their own pool and LB class, all
//      of a member's ports on one LB; a group with no LB yet goes as a batch,
//      most constrained first; members joining LBs that exist go as arrivals,
//      best fit; a new LB only when nothing fits.

import { memberOrder } from '../members.ts';
import type { LoadBalancerState, MemberRequest, Pool } from '../types.ts';
import { Layout, requestGroup, type Group, type LoadBalancerPlan } from './layout.ts';
import { complete, demandOf, placeArrivals, placeBatch, prepare, previousHoldings, retain, type Demand, type MemberOutcome, type Placement, type Strategy } from './phases.ts';
import { entry } from '../collections.ts';

export type { LoadBalancerPlan } from './layout.ts';
export type { MemberOutcome, PortOutcome } from './phases.ts';

export interface AllocationInput {
  pools: Pool[];
  /** Shared LBs as they exist now, with what they record. */
  loadBalancers: LoadBalancerState[];
  /** Valid requests, in any order. */
  requests: MemberRequest[];
  /**
   * Members whose request is currently Invalid but who were placed before:
   * they keep what they hold until they are fixed or deleted, so a typo never
   * takes an address away.
   */
  frozen?: Array<{ key: string; created: string }>;
  /** Free NodePorts in the cluster (null: not limited or not known). */
  nodePortsFree?: number | null;
  /**
   * Members whose LB is being deleted or is gone (by hand, or a cloud
   * finalizer): member → that LB. They are placed anew, and said to have moved.
   */
  departed?: Map<string, string>;
  /** Names of LBs still being deleted (a cloud's finalizer holds them): no new LB may take one until it is gone. */
  dying?: string[];
  /**
   * An admin's repack: movable members (MemberRequest.movable) give up what
   * they hold and are placed again with everyone else kept, so that sparse
   * LBs empty out. Never without an admin asking.
   */
  repack?: boolean;
}

export interface AllocationResult {
  /** Every LB of the input plus new ones, sorted by name; assignments sorted by port. */
  loadBalancers: LoadBalancerPlan[];
  outcomes: Map<string, MemberOutcome>;
  /** The fewest LBs each pool's requests could possibly fit on (summed over its LB classes). */
  lowerBound: Map<string, number>;
}

export function allocate(input: AllocationInput, strategy: 'planned' | 'sequential' = 'planned'): AllocationResult {
  const requests = [...input.requests].sort(memberOrder);
  const demand = demandOf(new Map(input.pools.map((x) => [x.name, x])), requests);
  const lowerBound = new Map(input.pools.map((x) => [x.name, 0]));
  for (const d of demand.values()) lowerBound.set(d.pool.name, (lowerBound.get(d.pool.name) ?? 0) + d.bound);
  const bound = [...lowerBound.values()].reduce((a, b) => a + b, 0);
  let p = place(input, requests, strategy === 'planned' ? 'batch' : 'sequential', demand);
  if (p.batched && !unbeatable(p, requests.length, bound)) {
    for (const alternative of alternatives(input, requests, demand)) {
      const other = alternative();
      if (better(other, p)) p = other;
    }
  }
  if (strategy === 'planned') p = fairest(p, input, requests, demand);
  return { loadBalancers: p.layout.plans(), outcomes: p.outcomes, lowerBound };
}

/**
 * A batch packs best on the whole, but not on every input; it needs no
 * competition when it served everyone at the lower bound, or without opening
 * an LB (any placement uses the LBs that carry kept members).
 */
function unbeatable(p: Placement, requests: number, bound: number): boolean {
  return served(p) === requests && (usedLBs(p) <= bound || !p.grew);
}

/**
 * The batch's competitors: the same members arriving within this call, and —
 * for a small plan from scratch — replayed one allocation each, as a live
 * pool would see them (the yardstick a batch must not lose to).
 */
function alternatives(input: AllocationInput, requests: MemberRequest[], demand: Demand): Array<() => Placement> {
  const fromScratch = input.loadBalancers.length === 0 && (input.departed?.size ?? 0) === 0 && requests.length <= ONE_BY_ONE_MAX;
  return [() => place(input, requests, 'arrivals', demand), ...(fromScratch ? [() => oneByOne(input, requests)] : [])];
}

/** The one comparison between placements: serves more members, or as many on fewer LBs. */
function better(a: Placement, b: Placement): boolean {
  return served(a) > served(b) || (served(a) === served(b) && usedLBs(a) < usedLBs(b));
}

/**
 * Packing may serve members in another order than their priority. When it
 * leaves someone waiting, creation order decides who: packing's result
 * stands only if it serves everyone creation order would.
 */
function fairest(p: Placement, input: AllocationInput, requests: MemberRequest[], demand: Demand): Placement {
  if (served(p) === requests.length) return p;
  const fair = place(input, requests, 'sequential', demand);
  return [...fair.outcomes.values()].every((o) => o.state !== 'Allocated' || p.outcomes.get(o.key)?.state === 'Allocated') ? p : fair;
}

/** Up to this many members, a plan from scratch also replays them one allocation each (quadratic, so only then). */
const ONE_BY_ONE_MAX = 64;

/** The members placed as a live pool would see them: one allocation per arrival, in creation order. */
function oneByOne(input: AllocationInput, requests: MemberRequest[]): Placement {
  let lbs: LoadBalancerState[] = [];
  let p = place(input, [], 'arrivals');
  const usesNodePorts = new Set(input.pools.filter((x) => x.usesNodePorts).map((x) => x.name));
  for (let i = 1; i <= requests.length; i++) {
    // What earlier arrivals' LB ports took of the cluster's NodePorts is gone for the next.
    const taken = lbs.reduce((n, lb) => n + (usesNodePorts.has(lb.pool) ? lb.assignments.length : 0), 0);
    const nodePortsFree = input.nodePortsFree == null ? null : input.nodePortsFree - taken;
    p = place({ ...input, loadBalancers: lbs, nodePortsFree }, requests.slice(0, i), 'batch');
    lbs = p.layout.plans();
  }
  return p;
}

function usedLBs(p: Placement): number {
  let n = 0;
  for (const lb of p.layout.lbs.values()) if (lb.bySlot.size > 0) n++;
  return n;
}

function served(p: Placement): number {
  let n = 0;
  for (const o of p.outcomes.values()) if (o.state === 'Allocated') n++;
  return n;
}

/** One placement of the sorted requests; exported so the property tests can check its layout's indexes. */
export function place(input: AllocationInput, requests: MemberRequest[], strategy: Strategy, demand?: Demand): Placement {
  const layout = new Layout(input.pools, input.loadBalancers, input.nodePortsFree ?? null, [...(input.departed?.values() ?? []), ...(input.dying ?? [])]);
  const p: Placement = {
    layout, strategy, previous: previousHoldings(layout, input.loadBalancers), departed: input.departed ?? new Map(),
    kept: new Map(), outcomes: new Map(), messages: new Map(), batched: false, grew: false,
  };
  prepare(p, demand ?? demandOf(layout.pools, requests));
  retain(p, input.repack ? requests.filter((r) => !r.movable) : requests, [...(input.frozen ?? [])].sort(memberOrder));
  const unplaced = new Map<Group, MemberRequest[]>();
  for (const r of complete(p, requests)) {
    const g = requestGroup(layout, layout.pools.get(r.pool) as Pool, r);
    const list = entry(unplaced, g, () => []);
    list.push(r);
  }
  if (strategy === 'sequential') {
    // Creation order across groups too: pool-wide limits (maxLoadBalancers, classes, NodePorts) go to the earliest.
    const all = [...unplaced].flatMap(([g, members]) => members.map((r) => ({ g, r }))).sort((a, b) => memberOrder(a.r, b.r));
    for (const { g, r } of all) placeArrivals(p, g, [r]);
    return p;
  }
  for (const [g, members] of [...unplaced].sort((a, b) => (a[0].key < b[0].key ? -1 : 1))) {
    // A batch lays out a group from scratch. Onto LBs that exist, members go as arrivals, each knowing the
    // pool's whole fixed-port demand: a batch there spreads the group for its own sake, and group after
    // group (the controller's coalesced placements) it opens LBs that one-by-one arrivals would not.
    if (strategy === 'batch' && members.length > 1 && g.lbs.length === 0) placeBatch(p, g, members);
    else placeArrivals(p, g, members);
  }
  return p;
}
