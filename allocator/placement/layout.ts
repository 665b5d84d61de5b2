// The allocator's working state: every shared LB, grouped by (pool, LB class),
// with the indexes placement needs for constant-time checks. It is changed
// only through claim/release/open, which keep every index in step;
// assertCoherent (used by the property tests) proves they do.

import { isLocalClass } from '../classes.ts';
import { implicitPool } from '../pools.ts';
import type { Assignment, LoadBalancerState, Pool, Protocol } from '../types.ts';
import { entry } from '../collections.ts';

const PROTO_INDEX: Record<Protocol, number> = { TCP: 0, UDP: 1, SCTP: 2 };
const protoOrder = (a: Protocol, b: Protocol): number => PROTO_INDEX[a] - PROTO_INDEX[b];
export const slot = (protocol: Protocol, port: number): number => port * 4 + PROTO_INDEX[protocol];

/**
 * Ports that cannot share an LB map to one key: (port, protocol), or the
 * bare number where protocols cannot share it. A number, for the indexes'
 * sake (a slot where protocol matters, port*4+3 where it does not); read
 * back only through conflictPort.
 */
export type ConflictKey = number & { readonly __conflictKey: true };

const ANY_PROTOCOL = 3;

export function conflictKey(pool: Pool, protocol: Protocol, port: number): ConflictKey {
  return (pool.samePortAcrossProtocols ? slot(protocol, port) : port * 4 + ANY_PROTOCOL) as ConflictKey;
}

/** What a key stands for: a port, and its protocol unless any protocol conflicts. */
export function conflictPort(key: ConflictKey): { port: number; protocol: Protocol | null } {
  const p = key & 3;
  const protocol = (Object.keys(PROTO_INDEX) as Protocol[]).find((x) => PROTO_INDEX[x] === p);
  return { port: key >> 2, protocol: p === ANY_PROTOCOL ? null : (protocol ?? null) };
}

/** pool-2 before pool-10. */
export const lbNameOrder = new Intl.Collator('en', { numeric: true });

/** Keys of this many ports at most get an index of the LBs without them; beyond, searches scan. */
const MAX_TRACKED_PORTS = 1024;

export interface WorkLB {
  name: string;
  group: Group;
  isNew: boolean;
  bySlot: Map<number, Assignment>;
  /** Port number → how many protocols use it. */
  byNumber: Map<number, number>;
  byProtocol: Map<Protocol, number>;
  /** Member → how many ports it holds here. */
  members: Map<string, number>;
  /** Room for one more port of a member not yet here (0 on an exclusive LB that has a member). */
  free: number;
  /** Contended fixed ports (Group.critical) this LB already carries. */
  heldCritical: number;
}

/**
 * The LBs of one pool and one LB class (and, where the pool's LBs carry one
 * protocol each, one protocol): they are interchangeable for placement.
 */
export interface Group {
  key: string;
  pool: Pool;
  classKey: string;
  /** '' where the pool's LBs may mix protocols. */
  protocol: Protocol | '';
  /** One member per LB (externalTrafficPolicy Local: one health check per LB). */
  exclusive: boolean;
  lbs: WorkLB[];
  /** free → the LBs with exactly that much room; best fit walks from the tightest. */
  byFree: Map<number, Set<WorkLB>>;
  /** LBs with room for one more port. */
  open: Set<WorkLB>;
  /** For each tracked conflict key: the open LBs where it is free. */
  without: Map<ConflictKey, Set<WorkLB>>;
  /** Conflict key → LBs holding it. */
  holders: Map<ConflictKey, number>;
  /** Conflict key → preserve members of this group asking for it. */
  demand: Map<ConflictKey, number>;
  /** Conflict key → preserve members holding it. */
  fixedPlaced: Map<ConflictKey, number>;
  /** Ports so contended that most LBs of the group must keep room for one (see phases: reserve). */
  critical: Set<ConflictKey>;
  /** The fewest LBs this group's requests could fit on. */
  bound: number;
  reserved: Set<number>;
}

/** What one namespace's members hold in a pool: maps drop an entry when it reaches zero. */
export interface NamespaceUse {
  ports: number;
  members: Map<string, number>;
  lbs: Map<string, number>;
}

const EMPTY_USE: NamespaceUse = { ports: 0, members: new Map(), lbs: new Map() };

export interface LoadBalancerPlan extends LoadBalancerState {
  /** Not among the input's LBs: to be created. */
  isNew: boolean;
}

export const groupKey = (pool: string, classKey: string, protocol: Protocol | ''): string => `${pool}\u0000${classKey}\u0000${protocol}`;

/** A group's protocol: '' where the pool's LBs may mix them, else the one its ports (a member's, an LB's) use. */
export function groupProtocol(pool: Pool, ports: Array<{ protocol: Protocol }>): Protocol | '' {
  return pool.mixedProtocol ? '' : (ports[0]?.protocol ?? '');
}

/** The group a request belongs to in its pool. */
export function requestGroup(layout: Layout, pool: Pool, r: { classKey: string; ports: Array<{ protocol: Protocol }> }): Group {
  return layout.group(pool, r.classKey, groupProtocol(pool, r.ports));
}

export class Layout {
  readonly pools: Map<string, Pool>;
  readonly groups = new Map<string, Group>();
  readonly lbs = new Map<string, WorkLB>();
  /** Free NodePorts in the cluster (null: not limited or not known); spent by claimNew. */
  private freeNodePorts: number | null;
  private readonly lbsPerPool = new Map<string, number>();
  /** pool + namespace → what its members hold: ports, ports per member, ports per LB (for quotas). */
  private readonly use = new Map<string, NamespaceUse>();
  private readonly names: Set<string>;
  private readonly cursor = new Map<string, number>();

  /** `taken`: names no new LB may have (LBs still being deleted). */
  constructor(pools: Pool[], existing: LoadBalancerState[], nodePortsFree: number | null, taken: Iterable<string> = []) {
    this.pools = new Map(pools.map((p) => [p.name, p]));
    this.names = new Set([...existing.map((lb) => lb.name), ...taken]);
    this.freeNodePorts = nodePortsFree;
    for (const lb of [...existing].sort((a, b) => lbNameOrder.compare(a.name, b.name))) {
      // LBs whose pool is gone keep their entries (nothing new lands on them) so frozen members still see them.
      const pool = this.pools.get(lb.pool) ?? { ...implicitPool('generic'), name: lb.pool, default: false, maxPortsPerLB: 0, maxLoadBalancers: 0 };
      this.add(lb.name, this.group(pool, lb.classKey, groupProtocol(pool, lb.assignments)), false);
    }
  }

  group(pool: Pool, classKey: string, protocol: Protocol | ''): Group {
    const key = groupKey(pool.name, classKey, protocol);
    let g = this.groups.get(key);
    if (g === undefined) {
      g = {
        key, pool, classKey, protocol, exclusive: isLocalClass(classKey),
        lbs: [], byFree: new Map(), open: new Set(), without: new Map(), holders: new Map(),
        demand: new Map(), fixedPlaced: new Map(), critical: new Set(), bound: 0, reserved: new Set(pool.reservedPorts),
      };
      this.groups.set(key, g);
    }
    return g;
  }

  get nodePortsFree(): number | null {
    return this.freeNodePorts;
  }

  lbCount(pool: string): number {
    return this.lbsPerPool.get(pool) ?? 0;
  }

  /**
   * Classes of a pool that have an LB, empty ones included: an empty LB may
   * take members again before its grace ends, so its class still counts.
   */
  classesInUse(pool: string): Set<string> {
    const out = new Set<string>();
    for (const g of this.groups.values()) if (g.pool.name === pool && g.lbs.length > 0) out.add(g.classKey);
    return out;
  }

  /** A new LB named `<pool>-<n>` with the smallest n not in use. */
  open(g: Group): WorkLB {
    for (let n = this.cursor.get(g.pool.name) ?? 1; ; n++) {
      const name = `${g.pool.name}-${n}`;
      if (this.names.has(name)) continue;
      this.names.add(name);
      this.cursor.set(g.pool.name, n + 1);
      return this.add(name, g, true);
    }
  }

  /** A new LB of `g` as it would be, not part of the layout: to test a fit before opening one. */
  probe(g: Group): WorkLB {
    return { name: '', group: g, isNew: true, bySlot: new Map(), byNumber: new Map(), byProtocol: new Map(), members: new Map(), free: g.exclusive ? 1 : g.pool.maxPortsPerLB, heldCritical: 0 };
  }

  private add(name: string, g: Group, isNew: boolean): WorkLB {
    const lb: WorkLB = { name, group: g, isNew, bySlot: new Map(), byNumber: new Map(), byProtocol: new Map(), members: new Map(), free: -1, heldCritical: 0 };
    g.lbs.push(lb);
    this.lbs.set(name, lb);
    this.lbsPerPool.set(g.pool.name, this.lbCount(g.pool.name) + 1);
    this.refresh(lb);
    return lb;
  }

  /** A port the LB does not have yet: claimed, and a NodePort spent where the pool's LBs take them. */
  claimNew(lb: WorkLB, a: Assignment, fixed: boolean): void {
    this.claim(lb, a, fixed);
    if (this.freeNodePorts !== null && lb.group.pool.usesNodePorts) this.freeNodePorts--;
  }

  /** What a namespace's members hold in a pool. */
  namespaceUse(pool: string, namespace: string): NamespaceUse {
    return this.use.get(`${pool}\u0000${namespace}`) ?? EMPTY_USE;
  }

  private account(lb: WorkLB, a: Assignment, by: 1 | -1): void {
    const ns = a.member.slice(0, a.member.indexOf('/'));
    const u = entry(this.use, `${lb.group.pool.name}\u0000${ns}`, () => ({ ports: 0, members: new Map(), lbs: new Map() }));
    u.ports += by;
    bump(u.members, a.member, by);
    bump(u.lbs, lb.name, by);
  }

  claim(lb: WorkLB, a: Assignment, fixed: boolean): void {
    this.account(lb, a, 1);
    const g = lb.group;
    lb.bySlot.set(slot(a.protocol, a.port), a);
    lb.byNumber.set(a.port, (lb.byNumber.get(a.port) ?? 0) + 1);
    lb.byProtocol.set(a.protocol, (lb.byProtocol.get(a.protocol) ?? 0) + 1);
    lb.members.set(a.member, (lb.members.get(a.member) ?? 0) + 1);
    const key = conflictKey(g.pool, a.protocol, a.port);
    const wasHeld = g.pool.samePortAcrossProtocols ? false : (lb.byNumber.get(a.port) ?? 0) > 1;
    if (!wasHeld) {
      bump(g.holders, key, 1);
      if (g.critical.has(key)) lb.heldCritical++;
      g.without.get(key)?.delete(lb);
    }
    if (fixed) bump(g.fixedPlaced, key, 1);
    this.refresh(lb);
  }

  release(lb: WorkLB, a: Assignment, fixed: boolean): void {
    this.account(lb, a, -1);
    const g = lb.group;
    lb.bySlot.delete(slot(a.protocol, a.port));
    const n = (lb.byNumber.get(a.port) ?? 1) - 1;
    if (n === 0) lb.byNumber.delete(a.port);
    else lb.byNumber.set(a.port, n);
    bump(lb.byProtocol, a.protocol, -1);
    bump(lb.members, a.member, -1);
    const key = conflictKey(g.pool, a.protocol, a.port);
    const stillHeld = !g.pool.samePortAcrossProtocols && n > 0;
    if (!stillHeld) {
      bump(g.holders, key, -1);
      if (g.critical.has(key)) lb.heldCritical--;
    }
    if (fixed) bump(g.fixedPlaced, key, -1);
    this.refresh(lb);
    if (!stillHeld && lb.free > 0) g.without.get(key)?.add(lb);
  }

  /** Recompute an LB's room and move it between buckets and the open set. */
  private refresh(lb: WorkLB): void {
    const g = lb.group;
    const next = g.exclusive && lb.members.size > 0 ? 0 : Math.max(0, g.pool.maxPortsPerLB - lb.bySlot.size);
    const wasOpen = lb.free > 0;
    if (next !== lb.free) {
      g.byFree.get(lb.free)?.delete(lb);
      lb.free = next;
      const b = entry(g.byFree, next, () => new Set());
      b.add(lb);
    }
    const isOpen = next > 0;
    if (wasOpen === isOpen) return;
    if (isOpen) {
      g.open.add(lb);
      for (const [k, set] of g.without) if (!holdsKey(lb, k)) set.add(lb);
    } else {
      g.open.delete(lb);
      for (const set of g.without.values()) set.delete(lb);
    }
  }

  /**
   * The open LBs of a group where conflict key `key` is free, or null when the
   * group tracks too many keys already (callers then scan the buckets).
   */
  without(g: Group, key: ConflictKey): Set<WorkLB> | null {
    let set = g.without.get(key);
    if (set === undefined) {
      if (g.without.size >= MAX_TRACKED_PORTS) return null;
      set = new Set([...g.open].filter((lb) => !holdsKey(lb, key)));
      g.without.set(key, set);
    }
    return set;
  }

  /** Mark the contended ports whose room flexible members must leave alone; call before anything is claimed. */
  /**
   * What a group's requests ask of it: preserve members per conflict key,
   * the fewest LBs they fit on, and the keys so contended that arrivals must
   * leave room for them.
   */
  setDemand(g: Group, fixed: Map<ConflictKey, number>, bound: number, critical: Iterable<ConflictKey>): void {
    g.demand = fixed;
    g.bound = bound;
    for (const k of critical) g.critical.add(k);
  }

  /** Every LB of the input and every new one, sorted by name; assignments by port. */
  plans(): LoadBalancerPlan[] {
    return [...this.lbs.values()]
      .sort((a, b) => lbNameOrder.compare(a.name, b.name))
      .map((lb) => ({
        name: lb.name,
        pool: lb.group.pool.name,
        classKey: lb.group.classKey,
        isNew: lb.isNew,
        assignments: [...lb.bySlot.values()].sort((x, y) => x.port - y.port || protoOrder(x.protocol, y.protocol)),
      }));
  }

  /** Every index agrees with the assignments (for tests: a failure names what drifted). */
  assertCoherent(): void {
    const fail = (what: string): never => {
      throw new Error(`layout incoherent: ${what}`);
    };
    for (const g of this.groups.values()) {
      const holders = new Map<ConflictKey, number>();
      for (const lb of g.lbs) {
        const numbers = new Map<number, number>();
        const members = new Map<string, number>();
        const keys = new Set<ConflictKey>();
        for (const [s, a] of lb.bySlot) {
          if (s !== slot(a.protocol, a.port)) fail(`${lb.name} files ${a.port}/${a.protocol} under the wrong slot`);
          bump(numbers, a.port, 1);
          bump(members, a.member, 1);
          keys.add(conflictKey(g.pool, a.protocol, a.port));
        }
        for (const k of keys) bump(holders, k, 1);
        if (!sameMap(numbers, lb.byNumber)) fail(`${lb.name} port-number index`);
        if (!sameMap(members, lb.members)) fail(`${lb.name} member index`);
        const critical = [...keys].filter((k) => g.critical.has(k)).length;
        if (critical !== lb.heldCritical) fail(`${lb.name} holds ${critical} critical ports, index says ${lb.heldCritical}`);
        const free = g.exclusive && members.size > 0 ? 0 : Math.max(0, g.pool.maxPortsPerLB - lb.bySlot.size);
        if (free !== lb.free || !g.byFree.get(free)?.has(lb)) fail(`${lb.name} room ${free}, index says ${lb.free}`);
        if ((free > 0) !== g.open.has(lb)) fail(`${lb.name} open set`);
        for (const [k, set] of g.without) if (set.has(lb) !== (free > 0 && !keys.has(k))) fail(`${lb.name} without-index for key ${k}`);
      }
      if (!sameMap(holders, g.holders)) fail(`${g.key} holders index`);
    }
  }
}

function holdsKey(lb: WorkLB, key: ConflictKey): boolean {
  const { port, protocol } = conflictPort(key);
  return protocol === null ? lb.byNumber.has(port) : lb.bySlot.has(key);
}

function bump<K>(m: Map<K, number>, k: K, by: number): void {
  const n = (m.get(k) ?? 0) + by;
  if (n === 0) m.delete(k);
  else m.set(k, n);
}

function sameMap<K>(a: Map<K, number>, b: Map<K, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
