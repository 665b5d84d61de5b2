// The steps of one placement, in the order they run:
//   prepare  — per (pool, class) group: fixed-port demand, lower bound, contended ports
//   retain   — everyone keeps what is still valid, earlier members first
//   complete — a member that grew gets its new ports at home (keeps its address)
//   place    — the rest: a batch (many unplaced) most constrained first, or
//              arrivals one by one in creation order
//   explain  — a member that fits nowhere is told why, so a person can act
// Each step reads and changes only the Layout and the Placement it is given.

import { memberOrder } from '../members.ts';
import type { Assignment, MemberRequest, Pool, Protocol, Reason } from '../types.ts';
import { fixedDemand, lowerBoundOf } from './bounds.ts';
import { conflictKey, groupKey, groupProtocol, requestGroup, type ConflictKey, type Group, type Layout, type WorkLB } from './layout.ts';
import { carriesOnly, fit, ownAllowed, portFreeOn, type Mode } from './rules.ts';
import { search, type Found } from './search.ts';
import { entry } from '../collections.ts';

export interface PortOutcome {
  servicePort: string;
  protocol: MemberRequest['ports'][number]['protocol'];
  /** The member's Service port. */
  port: number;
  externalPort: number;
}

export interface MemberOutcome {
  key: string;
  pool: string;
  state: 'Allocated' | 'Pending';
  reason: Reason;
  message: string;
  loadBalancer: string | null;
  /** Ports served (for a Pending member that kept part of an earlier placement, that part). */
  ports: PortOutcome[];
  /** Set when the member held ports before and its LB or an external port changed. */
  moved: null | { from: string; to: string };
}

/**
 * How the unplaced are placed. 'batch': many unplaced members of a group go
 * most constrained first; 'arrivals': one by one in creation order, leaving
 * room for contended fixed ports; 'sequential': plain creation order, knowing
 * nothing of the others (the priority rule's reference).
 */
export type Strategy = 'batch' | 'arrivals' | 'sequential';

/** One placement in progress: the layout plus what each member has and gets. */
export interface Placement {
  layout: Layout;
  strategy: Strategy;
  /** Where each member was, from the LBs' own records. */
  previous: Map<string, Array<{ lb: WorkLB; a: Assignment }>>;
  /** Members whose LB is going away: member → that LB's name. */
  departed: Map<string, string>;
  /** Per request: its home LB and what it kept there. */
  kept: Map<string, { lb: WorkLB; byName: Map<string, Assignment> }>;
  outcomes: Map<string, MemberOutcome>;
  /** One message per LB, not per member: a plan of 100k members would make 100k copies. */
  messages: Map<string, string>;
  /** Some group was placed as a batch. */
  batched: boolean;
  /** Some member landed on an LB that carried no one before (a new one, or an empty one revived). */
  grew: boolean;
}

export function previousHoldings(layout: Layout, records: Array<{ name: string; assignments: Assignment[] }>): Placement['previous'] {
  const previous: Placement['previous'] = new Map();
  for (const rec of records) {
    const lb = layout.lbs.get(rec.name) as WorkLB;
    for (const a of rec.assignments) {
      const list = entry(previous, a.member, () => []);
      list.push({ lb, a });
    }
  }
  return previous;
}

/**
 * Per group: how many preserve members want each port, the lower bound, and
 * which ports are so contended (wanted by at least half the LBs the group
 * needs) that arrivals must leave room for them. Sequential
 * placement knows none of this: it sees members only one by one.
 */
export function prepare(p: Placement, demand: Demand): void {
  if (p.strategy === 'sequential') return;
  for (const d of demand.values()) {
    const contended = [...d.fixed].filter(([, n]) => n >= 2 && n * 2 >= d.bound).map(([k]) => k);
    p.layout.setDemand(p.layout.group(d.pool, d.classKey, d.protocol), d.fixed, d.bound, contended);
  }
}

/** Per (pool, class) group of requests: preserve members per port, and the lower bound. Computed once per allocation. */
export type Demand = Map<string, { pool: Pool; classKey: string; protocol: Protocol | ''; fixed: Map<ConflictKey, number>; bound: number }>;

export function demandOf(pools: Map<string, Pool>, requests: MemberRequest[]): Demand {
  const byGroup = new Map<string, { pool: Pool; classKey: string; protocol: Protocol | ''; rs: MemberRequest[] }>();
  for (const r of requests) {
    const pool = pools.get(r.pool);
    if (pool === undefined) continue;
    const protocol = groupProtocol(pool, r.ports);
    const key = groupKey(pool.name, r.classKey, protocol);
    const e = entry(byGroup, key, () => ({ pool, classKey: r.classKey, protocol, rs: [] as MemberRequest[] }));
    e.rs.push(r);
  }
  const out: Demand = new Map();
  for (const [key, e] of byGroup) out.set(key, { pool: e.pool, classKey: e.classKey, protocol: e.protocol, fixed: fixedDemand(e.pool, e.rs), bound: lowerBoundOf(e.pool, e.rs) });
  return out;
}

/** Stability: everyone keeps what is still valid, earlier members first; frozen members keep what they hold. */
export function retain(p: Placement, requests: MemberRequest[], frozen: Array<{ key: string; created: string }>): void {
  if (p.previous.size === 0) return; // nothing recorded, nothing to keep (a plan from scratch)
  const keys = new Set(requests.map((r) => r.key));
  const holders = [
    ...requests.map((r) => ({ key: r.key, created: r.created, request: r as MemberRequest | null })),
    ...frozen.filter((f) => !keys.has(f.key)).map((f) => ({ ...f, request: null })),
  ].sort(memberOrder);
  for (const { key, request: r } of holders) {
    if (r === null) {
      for (const { lb, a } of p.previous.get(key) ?? []) if (portFreeOn(lb, a.protocol, a.port)) p.layout.claim(lb, { ...a }, false);
      continue;
    }
    const pool = p.layout.pools.get(r.pool);
    const own = pool === undefined ? null : requestGroup(p.layout, pool, r);
    const prior = (p.previous.get(r.key) ?? []).filter((x) => x.lb.group === own);
    if (prior.length === 0) continue;
    const counts = new Map<WorkLB, number>();
    for (const x of prior) counts.set(x.lb, (counts.get(x.lb) ?? 0) + 1);
    const home = [...counts.entries()].sort((x, y) => y[1] - x[1] || (x[0].name < y[0].name ? -1 : 1))[0]?.[0] as WorkLB;
    const byName = new Map<string, Assignment>();
    const wanted = new Map(r.ports.map((w) => [w.name, w]));
    for (const { lb, a } of prior) {
      if (lb !== home) continue;
      const w = wanted.get(a.servicePort);
      if (w === undefined || w.protocol !== a.protocol || byName.has(a.servicePort)) continue;
      if (r.policy === 'preserve' && a.port !== w.port) continue;
      if (!portFreeOn(lb, a.protocol, a.port)) continue;
      if (!lb.group.pool.mixedProtocol && !carriesOnly(lb, a.protocol)) continue;
      if (lb.group.exclusive && [...lb.members.keys()].some((m) => m !== r.key)) continue;
      const assignment = { port: a.port, protocol: a.protocol, member: r.key, servicePort: a.servicePort };
      p.layout.claim(lb, assignment, r.policy === 'preserve');
      byName.set(a.servicePort, assignment);
    }
    if (byName.size > 0) p.kept.set(r.key, { lb: home, byName });
  }
}

/** Members whose kept ports are all they ask for are done; a grown member completes at home if it can. Returns the rest. */
export function complete(p: Placement, requests: MemberRequest[]): MemberRequest[] {
  const rest: MemberRequest[] = [];
  for (const r of requests) {
    const pool = p.layout.pools.get(r.pool);
    if (pool === undefined) {
      pending(p, r, 'Invalid', `no LoadBalancerPool named ${r.pool}`);
      continue;
    }
    const home = p.kept.get(r.key);
    if (home === undefined) {
      rest.push(r);
      continue;
    }
    if (home.byName.size === r.ports.length) {
      finish(p, r, home.lb, [...home.byName.values()]);
      continue;
    }
    const missing = r.ports.filter((w) => !home.byName.has(w.name));
    if (nodePortShortage(p, r, pool, missing.length)) continue;
    const over = quotaRefusal(p, r, missing.length);
    if (over !== null) {
      pending(p, r, 'QuotaExceeded', over);
      continue;
    }
    const fits = modesOf(r).map((m) => fit(home.lb, missing, m, r.key)).find((f) => f.ok);
    if (fits?.ok) {
      claimAll(p, r, home.lb, fits.ports);
      finish(p, r, home.lb, [...home.byName.values(), ...fits.ports]);
      continue;
    }
    rest.push(r);
  }
  return rest;
}

function modesOf(r: MemberRequest): Mode[] {
  return r.policy === 'preserve' ? ['own'] : r.policy === 'prefer' ? ['own', 'prefer-own'] : ['range'];
}

/**
 * Many unplaced members of one group at once: most constrained first. Fixed
 * ports by how contended they are, each onto the roomiest LB without it (so
 * one LB holds one member per contended port); then flexible members,
 * largest first, into the tightest room left. `prefer` keeps its own port
 * only on an LB that is there anyway, and only where fixed demand can spare it.
 * `members` come in creation order.
 */
export function placeBatch(p: Placement, g: Group, members: MemberRequest[]): void {
  p.batched = true;
  const contention = new Map<MemberRequest, number>();
  for (const r of members) {
    if (r.policy !== 'preserve') continue;
    let c = 0;
    for (const w of r.ports) c = Math.max(c, g.demand.get(conflictKey(g.pool, w.protocol, w.port)) ?? 0);
    contention.set(r, c);
  }
  const by = (r: MemberRequest): number => contention.get(r) ?? 0;
  // `members` come in creation order and sort is stable: ties stay in creation order without comparing it.
  const fixed = members.filter((r) => r.policy === 'preserve').sort((a, b) => by(b) - by(a) || b.ports.length - a.ports.length);
  const flexible = members.filter((r) => r.policy !== 'preserve').sort((a, b) => b.ports.length - a.ports.length);
  for (const r of fixed) placeOne(p, g, r, 'roomiest', 'batch');
  for (const r of flexible) placeOne(p, g, r, 'tightest', 'batch');
}

/** Arrivals, in creation order: best fit, leaving room for contended fixed ports where they can. */
export function placeArrivals(p: Placement, g: Group, members: MemberRequest[]): void {
  for (const r of members) placeOne(p, g, r, 'tightest', p.strategy === 'sequential' ? 'plain' : 'arrival');
}

/** LBs a prefer member looks at for one with its own port free, beyond those the own-port index lists. */
const PREFER_PATIENCE = 64;

/**
 * One member onto the best LB of its group, or a new one. 'arrival': it
 * leaves room for contended fixed ports and spends only its share of them
 * (rules.ownAllowed); 'batch': fixed demand is placed already; 'plain':
 * knows nothing of the others (creation order's reference).
 */
function placeOne(p: Placement, g: Group, r: MemberRequest, order: 'tightest' | 'roomiest', how: 'batch' | 'arrival' | 'plain'): void {
  const home = p.kept.get(r.key);
  if (nodePortShortage(p, r, g.pool, r.ports.length)) return;
  const over = quotaRefusal(p, r, r.ports.length - (home?.byName.size ?? 0));
  if (over !== null) {
    pending(p, r, 'QuotaExceeded', over);
    return;
  }
  // At its namespace's LB quota, a member goes only where the namespace already is.
  const lbFull = lbQuotaFull(p, r);
  const held = p.layout.namespaceUse(r.pool, r.namespace).lbs;
  const arrivals = how === 'arrival';
  const tries: Mode[] = r.policy === 'preserve' ? ['own'] : r.policy === 'any' ? ['range'] : r.ports.every((w) => ownAllowed(g, w.protocol, w.port, arrivals)) ? ['own', 'prefer-own'] : ['prefer-own'];
  const find = (reserve: boolean): Found | null => {
    for (const mode of tries) {
      // prefer's own port is a wish: look for it among a few LBs, then take any port on the best.
      const patience = mode === 'own' && r.policy === 'prefer' ? PREFER_PATIENCE : undefined;
      const f = search(p.layout, g, r.ports, mode, r.key, { order, exclude: home?.lb ?? null, keepReserve: reserve, arrivals, patience });
      if (f !== null && (lbFull === null || held.has(f.lb.name))) return f;
    }
    return null;
  };
  let found = find(arrivals);
  const refusal = mayOpen(p, g);
  if (found === null && refusal === null && lbFull === null) {
    // An LB that must exist anyway: a preserve member's own ports, a prefer member's where fixed demand can spare them.
    const mode: Mode = r.policy === 'preserve' ? 'own' : r.policy === 'prefer' ? 'prefer-own' : 'range';
    const f = fit(p.layout.probe(g), r.ports, mode, r.key, arrivals);
    if (f.ok) found = { lb: p.layout.open(g), ports: f.ports.map((a) => ({ ...a })) };
  }
  if (found === null && arrivals) found = find(false);
  if (found === null) {
    if (lbFull !== null) pending(p, r, 'QuotaExceeded', lbFull);
    else pending(p, r, ...explain(g, r, refusal));
    return;
  }
  if (home !== undefined) for (const a of home.byName.values()) p.layout.release(home.lb, a, r.policy === 'preserve');
  claimAll(p, r, found.lb, found.ports);
  finish(p, r, found.lb, found.ports);
}

/**
 * Whether placing the member would take its namespace past its quota in the
 * pool (members, or ports when it gains `addPorts`): the reason, naming the
 * quota and its use, or null. Quotas gate what is added; nobody holding
 * ports loses them to a quota, and nobody's room is taken by another's.
 */
function quotaRefusal(p: Placement, r: MemberRequest, addPorts: number): string | null {
  const q = r.quota;
  if (q === undefined) return null;
  const use = p.layout.namespaceUse(r.pool, r.namespace);
  const isNew = !use.members.has(r.key);
  if (q.limits.members !== undefined && isNew && use.members.size + 1 > q.limits.members) {
    return quotaText(r, 'members', `${use.members.size} of its ${q.limits.members} members`, 'one more member');
  }
  if (q.limits.ports !== undefined && addPorts > 0 && use.ports + addPorts > q.limits.ports) {
    return quotaText(r, 'ports', `${use.ports} of its ${q.limits.ports} ports`, `${addPorts} more`);
  }
  return null;
}

/** The namespace holds ports on as many LBs as its quota allows: the reason, or null. */
function lbQuotaFull(p: Placement, r: MemberRequest): string | null {
  const limit = r.quota?.limits.loadBalancers;
  if (limit === undefined) return null;
  const held = p.layout.namespaceUse(r.pool, r.namespace).lbs.size;
  return held >= limit ? quotaText(r, 'loadBalancers', `ports on ${held} of its ${limit} shared LBs`, 'room on one of them') : null;
}

function quotaText(r: MemberRequest, field: string, used: string, needs: string): string {
  return `namespace ${r.namespace} holds ${used} in pool ${r.pool} (spec.quotas.${r.quota?.name}) and this member needs ${needs}: it waits until the namespace frees some, or an admin raises spec.quotas.${r.quota?.name}.${field}`;
}

/** Why the group may not open another LB, or null if it may. */
function mayOpen(p: Placement, g: Group): { limit: 'maxLoadBalancers' | 'classes'; text: string } | null {
  const pool = g.pool;
  if (pool.maxLoadBalancers !== null && p.layout.lbCount(pool.name) >= pool.maxLoadBalancers) {
    return { limit: 'maxLoadBalancers', text: `pool ${pool.name} may not open another LB (maxLoadBalancers ${pool.maxLoadBalancers})` };
  }
  const inUse = p.layout.classesInUse(pool.name);
  if (!inUse.has(g.classKey) && inUse.size >= pool.classes.max) {
    return { limit: 'classes', text: `pool ${pool.name} builds at most ${pool.classes.max} LB classes and ${inUse.size} are in use` };
  }
  return null;
}

function claimAll(p: Placement, r: MemberRequest, lb: WorkLB, ports: Assignment[]): void {
  if (lb.bySlot.size === 0) p.grew = true;
  for (const a of ports) p.layout.claimNew(lb, a, r.policy === 'preserve');
}

function nodePortShortage(p: Placement, r: MemberRequest, pool: Pool, ports: number): boolean {
  const free = p.layout.nodePortsFree;
  if (free === null || !pool.usesNodePorts || ports <= free) return false;
  pending(p, r, 'NoCapacity', `the cluster has ${free} free NodePorts and this member needs ${ports}: widen the API server's --service-node-port-range or set allocateLoadBalancerNodePorts: false in pool ${pool.name}'s template`);
  return true;
}

/** Why nothing fits, said so an admin or the member's owner can act. */
function explain(g: Group, r: MemberRequest, refusal: ReturnType<typeof mayOpen>): [Reason, string] {
  const pool = g.pool;
  if (refusal === null) {
    return ['NoCapacity', `no port of pool ${pool.name}'s range ${pool.portRange.from}-${pool.portRange.to} is free for this member: widen spec.portRange or free reserved ports`];
  }
  // Each LB with room says, by the placement rule itself, why the member's own ports do not go there.
  const answers = [...g.open].filter((lb) => lb.free >= r.ports.length).map((lb) => fit(lb, r.ports, 'own', r.key));
  if (r.policy === 'preserve' && answers.length > 0 && answers.every((f) => !f.ok && f.why === 'port-taken')) {
    const taken = [...new Set(answers.flatMap((f) => (!f.ok && f.port ? [`${f.port.port}/${f.port.protocol}`] : [])))].sort();
    return ['PortConflict', `port ${taken.join(', ')} is taken on every LB of pool ${pool.name} with room, and ${refusal.text}: use port-policy prefer, free the port, or raise maxLoadBalancers`];
  }
  if (refusal.limit === 'classes') return ['NoCapacity', `${refusal.text}: declare what the pool's existing LBs offer, or ask an admin to raise spec.classes.max`];
  return ['NoCapacity', `every LB of pool ${pool.name} is full and ${refusal.text}: raise maxLoadBalancers or maxPortsPerLB`];
}

function finish(p: Placement, r: MemberRequest, lb: WorkLB, assignments: Assignment[], state: MemberOutcome['state'] = 'Allocated', reason: Reason = 'Allocated', message?: string): void {
  const ports: PortOutcome[] = [];
  for (const w of r.ports) {
    const a = assignments.find((x) => x.servicePort === w.name);
    if (a !== undefined) ports.push({ servicePort: w.name, protocol: w.protocol, port: w.port, externalPort: a.port });
  }
  const prior = p.previous.get(r.key) ?? [];
  const priorLB = p.kept.get(r.key)?.lb.name ?? prior[0]?.lb.name ?? p.departed.get(r.key) ?? null;
  let moved: MemberOutcome['moved'] = null;
  if (priorLB !== null && state === 'Allocated') {
    const changed = lb.name !== priorLB || assignments.some((a) => prior.some((x) => x.lb === lb && x.a.servicePort === a.servicePort && x.a.port !== a.port));
    if (changed) moved = { from: priorLB, to: lb.name };
  }
  const text = message ?? entry(p.messages, lb.name, () => `placed on shared LB ${lb.name}`);
  p.outcomes.set(r.key, { key: r.key, pool: r.pool, state, reason, message: text, loadBalancer: lb.name, ports, moved });
}

export function pending(p: Placement, r: MemberRequest, reason: Reason, message: string): void {
  const home = p.kept.get(r.key);
  if (home !== undefined) {
    finish(p, r, home.lb, [...home.byName.values()], 'Pending', reason, `${message}; meanwhile it keeps its other ports on ${home.lb.name}`);
    return;
  }
  p.outcomes.set(r.key, { key: r.key, pool: r.pool, state: 'Pending', reason, message, loadBalancer: null, ports: [], moved: null });
}
