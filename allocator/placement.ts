// Placement: which member holds which port on which shared LB.
//
// Pure and deterministic. The rules, in the order they bind:
//   1. Stability: a placed member keeps its LB and ports while its request can
//      still be met there (retained first, for every member, before anything
//      new is placed).
//   2. Earlier members win: (created, namespace/name) order decides every
//      contest, so a later Service never takes a port from an earlier one.
//   3. All of a member's ports share one LB; best fit among existing LBs; a new
//      LB only when none fits.

import { memberOrder } from './members.ts';
import { implicitPool } from './pools.ts';
import type { Assignment, LoadBalancerState, MemberRequest, Pool, Protocol, Reason } from './types.ts';

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
}

export interface PortOutcome {
  servicePort: string;
  protocol: Protocol;
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

export interface LoadBalancerPlan extends LoadBalancerState {
  /** Not among the input's LBs: to be created. */
  isNew: boolean;
}

export interface AllocationResult {
  /** Every LB of the input plus new ones, sorted by name; assignments sorted by port. */
  loadBalancers: LoadBalancerPlan[];
  outcomes: Map<string, MemberOutcome>;
  /** The fewest LBs each pool's requests could possibly fit on. */
  lowerBound: Map<string, number>;
}

/** pool-2 before pool-10. */
export const lbNameOrder = new Intl.Collator('en', { numeric: true });

const PROTO_INDEX: Record<Protocol, number> = { TCP: 0, UDP: 1, SCTP: 2 };
const slot = (protocol: Protocol, port: number): number => port * 4 + PROTO_INDEX[protocol];

/** An LB while placement runs: occupancy indexed for constant-time checks. */
interface WorkLB {
  name: string;
  pool: Pool;
  isNew: boolean;
  bySlot: Map<number, Assignment>;
  /** Port number → how many protocols use it. */
  byNumber: Map<number, number>;
  byProtocol: Map<Protocol, number>;
  free: number;
}

interface Wanted {
  protocol: Protocol;
  port: number; // the member's Service port
  name: string;
}

type Mode = 'own' | 'prefer-own' | 'range';

interface PoolState {
  pool: Pool;
  lbs: WorkLB[];
  /** free capacity → LBs with exactly that much room; best fit scans from the tightest. */
  buckets: Map<number, Set<WorkLB>>;
  reserved: Set<number>;
  /** LBs with room for one more port. */
  open: Set<WorkLB>;
  /**
   * For each port some member asked for as its own (by conflict key): the
   * open LBs where it is free. Without it, a popular port held by most LBs
   * makes every search walk all of them.
   */
  without: Map<number, Set<WorkLB>>;
}

/** Ports that cannot share an LB map to one key: (port, protocol), or the bare number where protocols cannot share it. */
function conflictKey(pool: Pool, protocol: Protocol, port: number): number {
  return pool.samePortAcrossProtocols ? slot(protocol, port) : port * 4 + 3;
}

function holds(lb: WorkLB, key: number): boolean {
  return (key & 3) === 3 ? lb.byNumber.has(key >> 2) : lb.bySlot.has(key);
}

/** Track at most this many ports in `without`; beyond it, searches fall back to scanning buckets. */
const MAX_TRACKED_PORTS = 1024;

function setFree(st: PoolState, lb: WorkLB, next: number): void {
  const wasOpen = lb.free > 0;
  st.buckets.get(lb.free)?.delete(lb);
  lb.free = next;
  let b = st.buckets.get(next);
  if (b === undefined) st.buckets.set(next, (b = new Set()));
  b.add(lb);
  const isOpen = next > 0;
  if (wasOpen === isOpen) return;
  if (isOpen) {
    st.open.add(lb);
    for (const [k, set] of st.without) if (!holds(lb, k)) set.add(lb);
  } else {
    st.open.delete(lb);
    for (const set of st.without.values()) set.delete(lb);
  }
}

function claimOn(st: PoolState, lb: WorkLB, a: Assignment): void {
  lb.bySlot.set(slot(a.protocol, a.port), a);
  lb.byNumber.set(a.port, (lb.byNumber.get(a.port) ?? 0) + 1);
  lb.byProtocol.set(a.protocol, (lb.byProtocol.get(a.protocol) ?? 0) + 1);
  st.without.get(conflictKey(lb.pool, a.protocol, a.port))?.delete(lb);
  setFree(st, lb, Math.max(0, lb.pool.maxPortsPerLB - lb.bySlot.size));
}

function releaseFrom(st: PoolState, lb: WorkLB, a: Assignment): void {
  lb.bySlot.delete(slot(a.protocol, a.port));
  const n = (lb.byNumber.get(a.port) ?? 1) - 1;
  if (n === 0) lb.byNumber.delete(a.port);
  else lb.byNumber.set(a.port, n);
  const c = (lb.byProtocol.get(a.protocol) ?? 1) - 1;
  if (c === 0) lb.byProtocol.delete(a.protocol);
  else lb.byProtocol.set(a.protocol, c);
  setFree(st, lb, Math.max(0, lb.pool.maxPortsPerLB - lb.bySlot.size));
  const key = conflictKey(lb.pool, a.protocol, a.port);
  if (lb.free > 0 && !holds(lb, key)) st.without.get(key)?.add(lb);
}

export function allocate(input: AllocationInput): AllocationResult {
  const pools = new Map(input.pools.map((p) => [p.name, p]));
  const poolStates = new Map<string, PoolState>();
  const allLBs = new Map<string, WorkLB>();
  const usedNames = new Set(input.loadBalancers.map((lb) => lb.name));
  const nameCursor = new Map<string, number>();
  // One message per LB, not per member: a plan of 100k members would make 100k copies.
  const messages = new Map<string, string>();
  const allocatedMessage = (lb: string): string => {
    let m = messages.get(lb);
    if (m === undefined) messages.set(lb, (m = `placed on shared LB ${lb}`));
    return m;
  };
  let nodePortsFree = input.nodePortsFree ?? null;

  const stateOf = (pool: Pool): PoolState => {
    let st = poolStates.get(pool.name);
    if (st === undefined) {
      st = { pool, lbs: [], buckets: new Map(), reserved: new Set(pool.reservedPorts), open: new Set(), without: new Map() };
      poolStates.set(pool.name, st);
    }
    return st;
  };
  const newWork = (name: string, pool: Pool, isNew: boolean): WorkLB => {
    const lb: WorkLB = { name, pool, isNew, bySlot: new Map(), byNumber: new Map(), byProtocol: new Map(), free: -1 };
    const st = stateOf(pool);
    st.lbs.push(lb);
    setFree(st, lb, pool.maxPortsPerLB);
    allLBs.set(name, lb);
    return lb;
  };

  // LBs whose pool is gone keep their entries (nothing new lands on them) so
  // that frozen members and the controller still see them.
  const orphanPool = (name: string): Pool => ({ ...implicitPool('generic'), name, default: false, maxPortsPerLB: 0, maxLoadBalancers: 0 });
  for (const lb of [...input.loadBalancers].sort((a, b) => lbNameOrder.compare(a.name, b.name))) {
    newWork(lb.name, pools.get(lb.pool) ?? orphanPool(lb.pool), false);
  }

  const claim = (lb: WorkLB, a: Assignment): void => claimOn(stateOf(lb.pool), lb, a);
  const release = (lb: WorkLB, a: Assignment): void => releaseFrom(stateOf(lb.pool), lb, a);

  // Where each member was, from the LBs' own records.
  const previous = new Map<string, Array<{ lb: WorkLB; a: Assignment }>>();
  for (const lb of input.loadBalancers) {
    const work = allLBs.get(lb.name) as WorkLB;
    for (const a of lb.assignments) {
      let list = previous.get(a.member);
      if (list === undefined) previous.set(a.member, (list = []));
      list.push({ lb: work, a });
    }
  }

  const requests = [...input.requests].sort(memberOrder);
  const frozen = [...(input.frozen ?? [])].sort(memberOrder);
  const requestKeys = new Set(requests.map((r) => r.key));
  const outcomes = new Map<string, MemberOutcome>();
  /** Per request: its home LB and what it kept there. */
  const kept = new Map<string, { lb: WorkLB; byName: Map<string, Assignment> }>();

  // 1. Stability: everyone keeps what is still valid, earlier members first.
  const holders = [
    ...requests.map((r) => ({ key: r.key, created: r.created, request: r as MemberRequest | null })),
    ...frozen.filter((f) => !requestKeys.has(f.key)).map((f) => ({ ...f, request: null })),
  ].sort(memberOrder);
  for (const { key, request: r } of holders) {
    if (r === null) {
      for (const { lb, a } of previous.get(key) ?? []) {
        if (portFreeOn(lb, a.protocol, a.port)) claim(lb, { ...a });
      }
      continue;
    }
    const prior = (previous.get(r.key) ?? []).filter((p) => p.lb.pool.name === r.pool);
    if (prior.length === 0) continue;
    const counts = new Map<WorkLB, number>();
    for (const p of prior) counts.set(p.lb, (counts.get(p.lb) ?? 0) + 1);
    const home = [...counts.entries()].sort((x, y) => y[1] - x[1] || lbNameOrder.compare(x[0].name, y[0].name))[0]?.[0] as WorkLB;
    const byName = new Map<string, Assignment>();
    const wanted = new Map(r.ports.map((p) => [p.name, p]));
    for (const { lb, a } of prior) {
      if (lb !== home) continue;
      const w = wanted.get(a.servicePort);
      if (w === undefined || w.protocol !== a.protocol || byName.has(a.servicePort)) continue;
      if (r.policy === 'preserve' && a.port !== w.port) continue;
      if (!portFreeOn(lb, a.protocol, a.port)) continue;
      if (!lb.pool.mixedProtocol && !onlyProtocol(lb, a.protocol)) continue;
      const assignment = { port: a.port, protocol: a.protocol, member: r.key, servicePort: a.servicePort };
      claim(lb, assignment);
      byName.set(a.servicePort, assignment);
    }
    if (byName.size > 0) kept.set(r.key, { lb: home, byName });
  }

  // 2. Everyone else, in order: complete at home, or find a place.
  for (const r of requests) {
    const pool = pools.get(r.pool);
    const home = kept.get(r.key);
    const priorLB = home?.lb.name ?? previous.get(r.key)?.[0]?.lb.name ?? null;
    const finish = (lb: WorkLB, assignments: Assignment[], state: MemberOutcome['state'], reason: Reason, message: string): void => {
      const ports: PortOutcome[] = [];
      for (const p of r.ports) {
        const a = assignments.find((x) => x.servicePort === p.name);
        if (a !== undefined) ports.push({ servicePort: p.name, protocol: p.protocol, port: p.port, externalPort: a.port });
      }
      let moved: MemberOutcome['moved'] = null;
      if (priorLB !== null && state === 'Allocated') {
        const prior = previous.get(r.key) ?? [];
        const changed = lb.name !== priorLB || assignments.some((a) =>
          prior.some((p) => p.lb === lb && p.a.servicePort === a.servicePort && p.a.port !== a.port));
        if (changed) moved = { from: priorLB, to: lb.name };
      }
      outcomes.set(r.key, { key: r.key, pool: r.pool, state, reason, message, loadBalancer: lb.name, ports, moved });
    };
    const pending = (reason: Reason, message: string): void => {
      if (home !== undefined) {
        finish(home.lb, [...home.byName.values()], 'Pending', reason, `${message}; meanwhile it keeps its other ports on ${home.lb.name}`);
      } else {
        outcomes.set(r.key, { key: r.key, pool: r.pool, state: 'Pending', reason, message, loadBalancer: null, ports: [], moved: null });
      }
    };
    if (pool === undefined) {
      pending('Invalid', `no LoadBalancerPool named ${r.pool}`);
      continue;
    }
    const st = stateOf(pool);
    if (home !== undefined && home.byName.size === r.ports.length) {
      finish(home.lb, [...home.byName.values()], 'Allocated', 'Allocated', allocatedMessage(home.lb.name));
      continue;
    }

    const missing = r.ports.filter((p) => !home?.byName.has(p.name));
    const modes: Mode[] = r.policy === 'preserve' ? ['own'] : r.policy === 'prefer' ? ['own', 'prefer-own'] : ['range'];
    const nodePortShortage = (needed: number): boolean => {
      if (nodePortsFree === null || needed <= nodePortsFree) return false;
      pending('NoCapacity', `the cluster has ${nodePortsFree} free NodePorts and this member needs ${needed}: widen the API server's --service-node-port-range or set allocateLoadBalancerNodePorts: false in pool ${pool.name}'s template`);
      return true;
    };
    const nodePortsNeeded = pool.usesNodePorts ? missing.length : 0;
    if (nodePortShortage(nodePortsNeeded)) continue;

    // Complete at home first: the member keeps its address.
    if (home !== undefined && home.lb.pool === pool && room(home.lb) >= missing.length) {
      const fit = modes.map((m) => fitPorts(st, home.lb, missing, m, r.key)).find((f) => f !== null);
      if (fit) {
        for (const a of fit) claim(home.lb, a);
        if (nodePortsFree !== null) nodePortsFree -= nodePortsNeeded;
        finish(home.lb, [...home.byName.values(), ...fit], 'Allocated', 'Allocated', allocatedMessage(home.lb.name));
        continue;
      }
    }

    // Otherwise the whole member goes where it fits best.
    const all: Wanted[] = r.ports;
    const allNodePorts = pool.usesNodePorts ? all.length : 0;
    if (nodePortShortage(allNodePorts)) continue;
    let chosen: { lb: WorkLB | null; ports: Assignment[] } | null = null;
    for (const mode of modes) {
      const found = bestFit(st, all, mode, home?.lb ?? null, r.key);
      if (found !== null) {
        chosen = found;
        break;
      }
    }
    const lbCount = st.lbs.length;
    const mayOpen = pool.maxLoadBalancers === null || lbCount < pool.maxLoadBalancers;
    if (chosen === null && mayOpen) {
      const probe: WorkLB = { name: '', pool, isNew: true, bySlot: new Map(), byNumber: new Map(), byProtocol: new Map(), free: pool.maxPortsPerLB };
      const fresh = fitPorts(st, probe, all, r.policy === 'any' ? 'range' : r.policy === 'preserve' ? 'own' : 'prefer-own', r.key);
      if (fresh !== null) chosen = { lb: null, ports: fresh };
    }
    if (chosen === null) {
      pending(...why(st, r.policy, all, mayOpen));
      continue;
    }
    if (home !== undefined) for (const a of home.byName.values()) release(home.lb, a);
    const lb = chosen.lb ?? newWork(nextName(pool.name, usedNames, nameCursor), pool, true);
    const assignments = chosen.ports;
    for (const a of assignments) claim(lb, a);
    if (nodePortsFree !== null) nodePortsFree -= allNodePorts;
    finish(lb, assignments, 'Allocated', 'Allocated', allocatedMessage(lb.name));
  }

  const loadBalancers: LoadBalancerPlan[] = [...allLBs.values()]
    .sort((a, b) => lbNameOrder.compare(a.name, b.name))
    .map((lb) => ({
      name: lb.name,
      pool: lb.pool.name,
      isNew: lb.isNew,
      assignments: [...lb.bySlot.values()].sort((x, y) => x.port - y.port || PROTO_INDEX[x.protocol] - PROTO_INDEX[y.protocol]),
    }));
  const lowerBound = new Map<string, number>();
  const byPool = new Map<string, MemberRequest[]>();
  for (const r of requests) {
    let list = byPool.get(r.pool);
    if (list === undefined) byPool.set(r.pool, (list = []));
    list.push(r);
  }
  for (const p of input.pools) lowerBound.set(p.name, lowerBoundOf(p, byPool.get(p.name) ?? []));
  return { loadBalancers, outcomes, lowerBound };
}


function room(lb: WorkLB): number {
  return lb.pool.maxPortsPerLB - lb.bySlot.size;
}

function onlyProtocol(lb: WorkLB, protocol: Protocol): boolean {
  for (const [p, n] of lb.byProtocol) if (n > 0 && p !== protocol) return false;
  return true;
}

/**
 * External ports for `want` on `lb` under `mode`, or null if they do not fit.
 * 'own': each port's own number; 'prefer-own': own where free, else from the
 * pool's range; 'range': from the pool's range. keepPortRange pools look inside
 * the LB's current range first.
 */
function fitPorts(st: PoolState, lb: WorkLB, want: Wanted[], mode: Mode, member = ''): Assignment[] | null {
  const pool = st.pool;
  if (room(lb) < want.length) return null;
  if (!pool.mixedProtocol) for (const w of want) if (!onlyProtocol(lb, w.protocol)) return null;
  const out: Assignment[] = [];
  // Free on the LB and not already picked for another of this member's ports (a member has few).
  const free = (protocol: Protocol, port: number): boolean => {
    if (!portFreeOn(lb, protocol, port)) return false;
    for (const o of out) if (o.port === port && (!pool.samePortAcrossProtocols || o.protocol === protocol)) return false;
    return true;
  };
  for (const w of want) {
    let port: number | null = null;
    if (mode !== 'range' && !st.reserved.has(w.port) && free(w.protocol, w.port)) port = w.port;
    else if (mode === 'own') return null;
    else port = lowestFree(st, lb, w.protocol, free);
    if (port === null) return null;
    out.push({ port, protocol: w.protocol, member, servicePort: w.name });
  }
  return out;
}

function portFreeOn(lb: WorkLB, protocol: Protocol, port: number): boolean {
  return lb.pool.samePortAcrossProtocols ? !lb.bySlot.has(slot(protocol, port)) : !lb.byNumber.has(port);
}

function lowestFree(st: PoolState, lb: WorkLB, protocol: Protocol, free: (p: Protocol, n: number) => boolean): number | null {
  const { from, to } = st.pool.portRange;
  if (st.pool.keepPortRange) {
    const span = currentRange(lb, protocol);
    if (span !== null) {
      for (let p = Math.max(from, span.min); p <= Math.min(to, span.max); p++) {
        if (!st.reserved.has(p) && free(protocol, p)) return p;
      }
    }
  }
  for (let p = from; p <= to; p++) if (!st.reserved.has(p) && free(protocol, p)) return p;
  return null;
}

function currentRange(lb: WorkLB, protocol: Protocol): { min: number; max: number; count: number } | null {
  let min = Infinity;
  let max = -Infinity;
  let count = 0;
  for (const a of lb.bySlot.values()) {
    if (a.protocol !== protocol) continue;
    count++;
    if (a.port < min) min = a.port;
    if (a.port > max) max = a.port;
  }
  return count === 0 ? null : { min, max, count };
}

/**
 * GCP: a forwarding rule lists up to 5 ports, or spans lowest..highest port
 * beyond that; any change to what it lists or spans recreates it. Adding ports
 * is harmless only for a rule that already spans a range and keeps it.
 */
function disruptive(lb: WorkLB, ports: Assignment[]): boolean {
  for (const protocol of new Set(ports.map((p) => p.protocol))) {
    const span = currentRange(lb, protocol);
    if (span === null) continue; // a new rule for a new protocol leaves the others alone
    if (span.count <= 5) return true;
    if (ports.some((p) => p.protocol === protocol && (p.port < span.min || p.port > span.max))) return true;
  }
  return false;
}

/** The existing LB of the pool where `want` fits most tightly (never `exclude`). */
function bestFit(st: PoolState, want: Wanted[], mode: Mode, exclude: WorkLB | null, member: string): { lb: WorkLB; ports: Assignment[] } | null {
  const n = want.length;
  if (mode === 'own') {
    if (want.some((w) => st.reserved.has(w.port))) return null;
    const candidates = ownCandidates(st, want);
    if (candidates !== null) {
      let best: { lb: WorkLB; ports: Assignment[]; rank: number } | null = null;
      for (const lb of candidates) {
        if (lb === exclude || lb.free < n) continue;
        const ports = fitPorts(st, lb, want, mode, member);
        if (ports === null) continue;
        // Tightest first; for keepPortRange pools, harmless before disruptive.
        const rank = (st.pool.keepPortRange && disruptive(lb, ports) ? 1e6 : 0) + lb.free;
        if (best === null || rank < best.rank) best = { lb, ports, rank };
      }
      return best;
    }
  }
  let fallback: { lb: WorkLB; ports: Assignment[] } | null = null;
  for (let free = n; free <= st.pool.maxPortsPerLB; free++) {
    const bucket = st.buckets.get(free);
    if (bucket === undefined) continue;
    for (const lb of bucket) {
      if (lb === exclude) continue;
      const ports = fitPorts(st, lb, want, mode, member);
      if (ports === null) continue;
      if (!st.pool.keepPortRange || !disruptive(lb, ports)) return { lb, ports };
      fallback ??= { lb, ports };
    }
  }
  return fallback;
}

/**
 * The open LBs where all of `want`'s own ports are free, via the rarest of
 * them; null when scanning buckets is as cheap (most open LBs qualify) or the
 * port is not tracked.
 */
function ownCandidates(st: PoolState, want: Wanted[]): Set<WorkLB> | null {
  let rarest: Set<WorkLB> | null = null;
  for (const w of want) {
    const key = conflictKey(st.pool, w.protocol, w.port);
    let set = st.without.get(key);
    if (set === undefined) {
      if (st.without.size >= MAX_TRACKED_PORTS) return null;
      set = new Set([...st.open].filter((lb) => !holds(lb, key)));
      st.without.set(key, set);
    }
    if (rarest === null || set.size < rarest.size) rarest = set;
  }
  if (rarest === null || rarest.size * 2 > st.open.size) return null;
  return rarest;
}

/** Why nothing fits, said so an admin or the member's owner can act. */
function why(st: PoolState, policy: MemberRequest['policy'], want: Wanted[], mayOpen: boolean): [Reason, string] {
  const pool = st.pool;
  const withRoom = st.lbs.filter((lb) => room(lb) >= want.length);
  const limit = `pool ${pool.name} may not open another LB (maxLoadBalancers ${String(pool.maxLoadBalancers)})`;
  if (!mayOpen && withRoom.length > 0 && policy === 'preserve') {
    const clash = want.filter((w) => withRoom.every((lb) => !portFreeOn(lb, w.protocol, w.port)));
    const shown = (clash.length > 0 ? clash : want).map((w) => `${w.port}/${w.protocol}`).join(', ');
    return ['PortConflict', `port ${shown} is taken on every LB of pool ${pool.name} with room, and ${limit}: use port-policy prefer, free the port, or raise maxLoadBalancers`];
  }
  if (!mayOpen) return ['NoCapacity', `every LB of pool ${pool.name} is full and ${limit}: raise maxLoadBalancers or maxPortsPerLB`];
  return ['NoCapacity', `no port of pool ${pool.name}'s range ${pool.portRange.from}-${pool.portRange.to} is free for this member: widen spec.portRange or free reserved ports`];
}

/** `<pool>-<n>` with the smallest n not in use; `from` remembers where the last search ended. */
function nextName(pool: string, used: Set<string>, from: Map<string, number>): string {
  for (let n = from.get(pool) ?? 1; ; n++) {
    const name = `${pool}-${n}`;
    if (!used.has(name)) {
      used.add(name);
      from.set(pool, n + 1);
      return name;
    }
  }
}

/**
 * No packing can use fewer LBs than this: total ports over capacity; members
 * that all need one fixed port need an LB each; members larger than half an
 * LB cannot pair up. Where one LB carries one protocol, each protocol is its
 * own packing and the bounds add up.
 */
export function lowerBoundOf(pool: Pool, requests: MemberRequest[]): number {
  if (requests.length === 0) return 0;
  const groups = new Map<string, MemberRequest[]>();
  for (const r of requests) {
    const g = pool.mixedProtocol ? '' : (r.ports[0]?.protocol ?? '');
    let list = groups.get(g);
    if (list === undefined) groups.set(g, (list = []));
    list.push(r);
  }
  let sum = 0;
  for (const group of groups.values()) {
    const cap = pool.maxPortsPerLB;
    let total = 0;
    let large = 0;
    const fixed = new Map<string, number>();
    for (const r of group) {
      total += r.ports.length;
      if (r.ports.length * 2 > cap) large++;
      if (r.policy !== 'preserve') continue;
      for (const p of r.ports) {
        const k = pool.samePortAcrossProtocols ? `${p.port}/${p.protocol}` : `${p.port}`;
        fixed.set(k, (fixed.get(k) ?? 0) + 1);
      }
    }
    sum += Math.max(Math.ceil(total / cap), large, ...fixed.values());
  }
  return sum;
}
