import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allocate, place, type AllocationInput, type AllocationResult } from './allocate.ts';
import { memberOrder, parseMember } from '../members.ts';
import { poolSet } from '../pools.ts';
import { lowerBoundOf } from './bounds.ts';
import { pool, request } from '../testing.ts';
import type { LoadBalancerState, MemberRequest, Pool, PortPolicy, Protocol } from '../types.ts';

const lbOf = (r: AllocationResult, key: string) => r.outcomes.get(key)?.loadBalancer;
const portsOf = (r: AllocationResult, key: string) => r.outcomes.get(key)?.ports.map((p) => p.externalPort);
const used = (r: AllocationResult): LoadBalancerState[] => r.loadBalancers.filter((lb) => lb.assignments.length > 0);

describe('allocate: examples', () => {
  it('packs members onto one LB with their own ports, then opens a second', () => {
    const p = pool({ maxPortsPerLB: 3 });
    const r = allocate({ pools: [p], loadBalancers: [], requests: [request('a/kafka', [[9092], [9093]]), request('b/pg', [[5432]]), request('c/redis', [[6379]])] });
    assert.equal(lbOf(r, 'a/kafka'), 'p-1');
    assert.equal(lbOf(r, 'b/pg'), 'p-1');
    assert.equal(lbOf(r, 'c/redis'), 'p-2');
    assert.deepEqual(portsOf(r, 'a/kafka'), [9092, 9093]);
    assert.deepEqual(r.loadBalancers.map((lb) => [lb.name, lb.isNew]), [['p-1', true], ['p-2', true]]);
    assert.equal(r.lowerBound.get('p'), 2);
  });

  it('best fit: a new member goes to the fullest LB it fits on', () => {
    const p = pool({ maxPortsPerLB: 4 });
    const lbs: LoadBalancerState[] = [
      { name: 'p-1', pool: 'p', classKey: '', assignments: [{ port: 1, protocol: 'TCP', member: 'x/a', servicePort: 'p0' }] },
      { name: 'p-2', pool: 'p', classKey: '', assignments: [1, 2, 3].map((port) => ({ port, protocol: 'TCP' as const, member: 'x/b', servicePort: `p${port - 1}` })) },
    ];
    const r = allocate({
      pools: [p], loadBalancers: lbs,
      requests: [request('x/a', [[1]], 'prefer', { created: '2020-01-01T00:00:00.000Z' }), request('x/b', [[1], [2], [3]], 'prefer', { created: '2020-01-01T00:00:01.000Z' }), request('y/new', [[9]])],
    });
    assert.equal(lbOf(r, 'y/new'), 'p-2');
    assert.equal(r.outcomes.get('y/new')?.moved, null);
  });

  it('prefer remaps to the lowest free port of the range before opening an LB; any always remaps', () => {
    const p = pool({ maxPortsPerLB: 5, portRange: { from: 30000, to: 30010 }, reservedPorts: [30000] });
    const r = allocate({ pools: [p], loadBalancers: [], requests: [request('a/pg', [[5432]]), request('b/pg', [[5432]]), request('c/game', [[7777, 'UDP']], 'any')] });
    assert.equal(lbOf(r, 'b/pg'), 'p-1');
    assert.deepEqual(portsOf(r, 'b/pg'), [30001]);
    assert.deepEqual(portsOf(r, 'c/game'), [30001]); // another protocol: same number is free
    assert.equal(used(r).length, 1);
  });

  it('preserve opens a new LB rather than change the port', () => {
    const p = pool({ maxPortsPerLB: 5 });
    const r = allocate({ pools: [p], loadBalancers: [], requests: [request('a/dns', [[53, 'UDP']], 'preserve'), request('b/dns', [[53, 'UDP']], 'preserve')] });
    assert.deepEqual([lbOf(r, 'a/dns'), lbOf(r, 'b/dns')], ['p-1', 'p-2']);
    assert.deepEqual(portsOf(r, 'b/dns'), [53]);
    assert.equal(r.lowerBound.get('p'), 2);
  });

  it('a later member never takes an earlier one\'s port, whatever order they arrive in', () => {
    const p = pool({ maxPortsPerLB: 5, maxLoadBalancers: 1 });
    const early = request('z/early', [[53, 'UDP']], 'preserve', { created: '2020-01-01T00:00:00.000Z' });
    const late = request('a/late', [[53, 'UDP']], 'preserve', { created: '2021-01-01T00:00:00.000Z' });
    const r = allocate({ pools: [p], loadBalancers: [], requests: [late, early] });
    assert.equal(r.outcomes.get('z/early')?.state, 'Allocated');
    const o = r.outcomes.get('a/late');
    assert.equal(o?.state, 'Pending');
    assert.equal(o?.reason, 'PortConflict');
    assert.match(o?.message ?? '', /53\/UDP is taken on every LB .*maxLoadBalancers 1/);
  });

  it('reports NoCapacity when the pool may open no more LBs', () => {
    const p = pool({ maxPortsPerLB: 1, maxLoadBalancers: 1 });
    const r = allocate({ pools: [p], loadBalancers: [], requests: [request('a/x', [[1]]), request('b/y', [[2]])] });
    assert.equal(r.outcomes.get('b/y')?.reason, 'NoCapacity');
    assert.match(r.outcomes.get('b/y')?.message ?? '', /full .* raise maxLoadBalancers/);
  });

  it('respects the cluster NodePort budget and says how to lift it', () => {
    const p = pool({});
    const r = allocate({ pools: [p], loadBalancers: [], nodePortsFree: 2, requests: [request('a/x', [[1], [2]]), request('b/y', [[3]])] });
    assert.equal(r.outcomes.get('a/x')?.state, 'Allocated');
    assert.equal(r.outcomes.get('b/y')?.reason, 'NoCapacity');
    assert.match(r.outcomes.get('b/y')?.message ?? '', /NodePort/);
    const free = pool({ template: { allocateLoadBalancerNodePorts: false } });
    const r2 = allocate({ pools: [free], loadBalancers: [], nodePortsFree: 0, requests: [request('b/y', [[3]])] });
    assert.equal(r2.outcomes.get('b/y')?.state, 'Allocated');
  });

  it('keeps one protocol per LB where the provider cannot mix, and no same number twice where it cannot', () => {
    const gcp = pool({ provider: 'gcp' });
    const r = allocate({ pools: [gcp], loadBalancers: [], requests: [request('a/t', [[53, 'TCP']]), request('b/u', [[53, 'UDP']])] });
    assert.notEqual(lbOf(r, 'a/t'), lbOf(r, 'b/u'));
    const aws = pool({ provider: 'aws-nlb' });
    const r2 = allocate({ pools: [aws], loadBalancers: [], requests: [request('a/t', [[53, 'TCP']]), request('b/u', [[53, 'UDP']])] });
    assert.equal(lbOf(r2, 'b/u'), 'p-1');
    assert.deepEqual(portsOf(r2, 'b/u'), [10000]);
  });

  it('names new LBs with the smallest free number', () => {
    const p = pool({ maxPortsPerLB: 1 });
    const lbs: LoadBalancerState[] = [{ name: 'p-2', pool: 'p', classKey: '', assignments: [{ port: 1, protocol: 'TCP', member: 'x/a', servicePort: 'p0' }] }];
    const r = allocate({ pools: [p], loadBalancers: lbs, requests: [request('x/a', [[1]], 'prefer', { created: '2000-01-01T00:00:00.000Z' }), request('y/b', [[1]]), request('y/c', [[1]])] });
    assert.deepEqual(r.loadBalancers.map((lb) => lb.name), ['p-1', 'p-2', 'p-3']);
    assert.equal(lbOf(r, 'x/a'), 'p-2');
  });
});

describe('allocate: LB classes', () => {
  const AFFINITY = '{"sessionAffinity":{"timeoutSeconds":60}}';
  const LOCAL = '{"externalTrafficPolicy":"Local"}';

  it('members of different classes never share an LB, and each LB records its class', () => {
    const p = pool({ maxPortsPerLB: 10 });
    const r = allocate({ pools: [p], loadBalancers: [], requests: [request('a/x', [[1]]), request('a/y', [[2]], 'prefer', { classKey: AFFINITY }), request('a/z', [[3]])] });
    assert.equal(lbOf(r, 'a/x'), lbOf(r, 'a/z'));
    assert.notEqual(lbOf(r, 'a/x'), lbOf(r, 'a/y'));
    assert.deepEqual(used(r).map((lb) => lb.classKey).sort(), ['', AFFINITY]);
    assert.equal(r.lowerBound.get('p'), 2);
  });

  it('externalTrafficPolicy Local: one member per LB, its own health check', () => {
    const p = pool({ maxPortsPerLB: 10 });
    const r = allocate({ pools: [p], loadBalancers: [], requests: [request('a/x', [[1], [2]], 'prefer', { classKey: LOCAL }), request('a/y', [[3]], 'prefer', { classKey: LOCAL })] });
    assert.notEqual(lbOf(r, 'a/x'), lbOf(r, 'a/y'));
    assert.equal(r.lowerBound.get('p'), 2);
  });

  it('a pool builds at most classes.max classes; the next waits with a reason', () => {
    const p = pool({ classes: { max: 1 } });
    const r = allocate({ pools: [p], loadBalancers: [], requests: [request('a/x', [[1]]), request('a/y', [[2]], 'prefer', { classKey: AFFINITY })] });
    assert.equal(r.outcomes.get('a/y')?.state, 'Pending');
    assert.match(r.outcomes.get('a/y')?.message ?? '', /builds at most 1 LB classes and 1 are in use: .*spec.classes.max/);
  });

  it('an empty LB\'s class still counts toward classes.max, so the limit holds and placement is a fixed point', () => {
    const p = pool({ maxPortsPerLB: 1, classes: { max: 1 } });
    const empty: LoadBalancerState[] = [{ name: 'p-1', pool: 'p', classKey: '', assignments: [] }];
    const r = allocate({ pools: [p], loadBalancers: empty, requests: [request('a/x', [[1]], 'preserve', { classKey: AFFINITY }), request('a/y', [[1]], 'preserve')] });
    assert.equal(r.outcomes.get('a/x')?.state, 'Pending');
    assert.equal(r.outcomes.get('a/y')?.state, 'Allocated');
  });

  it('a member whose LB is being deleted is placed anew and said to have moved', () => {
    const p = pool({});
    const r = allocate({ pools: [p], loadBalancers: [], requests: [request('a/x', [[1]])], departed: new Map([['a/x', 'p-1']]) });
    assert.equal(lbOf(r, 'a/x'), 'p-2'); // p-1 is still being deleted: its name is not reused
    assert.deepEqual(r.outcomes.get('a/x')?.moved, { from: 'p-1', to: 'p-2' });
  });
});

describe('allocate: packing', () => {
  it('a batch spreads a contended fixed port one per LB and fills the room around it', () => {
    const p = pool({ maxPortsPerLB: 3 });
    // Three preserve members on 53 need three LBs; six flexible members fit in the room beside them.
    const fixed = [1, 2, 3].map((i) => request(`a/dns${i}`, [[53, 'UDP']], 'preserve'));
    const flex = [1, 2, 3, 4, 5, 6].map((i) => request(`a/app${i}`, [[8000 + i]], 'any'));
    const r = allocate({ pools: [p], loadBalancers: [], requests: [...flex, ...fixed] });
    assert.equal(used(r).length, 3);
    assert.equal(r.lowerBound.get('p'), 3);
  });

  it('prefer yields its own port to fixed demand rather than open an LB for it', () => {
    const p = pool({ maxPortsPerLB: 5 });
    const rs = [request('a/pg1', [[5432]], 'preserve'), request('a/pg2', [[5432]], 'preserve'), request('a/pg3', [[5432]], 'prefer'), request('a/pg4', [[5432]], 'prefer')];
    const r = allocate({ pools: [p], loadBalancers: [], requests: rs });
    assert.equal(used(r).length, 2);
    assert.ok(![...(portsOf(r, 'a/pg3') ?? []), ...(portsOf(r, 'a/pg4') ?? [])].includes(5432));
  });

  it('an arrival leaves room on an LB for the contended fixed port it lacks', () => {
    const p = pool({ maxPortsPerLB: 2 });
    // p-1 holds dns1; p-2 holds an app. 53 is wanted by two: p-2 keeps its last slot for the second.
    const first = allocate({ pools: [p], loadBalancers: [], requests: [request('a/dns1', [[53]], 'preserve'), request('a/app1', [[7000]], 'any')] });
    const lbs = first.loadBalancers;
    const next = allocate({ pools: [p], loadBalancers: lbs, requests: [request('a/dns1', [[53]], 'preserve'), request('a/app1', [[7000]], 'any'), request('a/dns2', [[53]], 'preserve'), request('a/app2', [[7001]], 'any')] });
    assert.equal(used(next).length, 2);
    assert.equal(next.outcomes.get('a/dns2')?.state, 'Allocated');
  });
});

describe('allocate: repack (an admin asks)', () => {
  const p = pool({ maxPortsPerLB: 3 });
  const fixed = request('a/pg', [[5432]], 'preserve', { created: '2020-01-01T00:00:00.000Z' });
  const x = { ...request('a/x', [[8001]], 'any', { created: '2020-01-01T00:00:01.000Z' }), movable: true };
  const y = { ...request('b/y', [[8002]], 'any', { created: '2020-01-01T00:00:02.000Z' }), movable: true };
  // y landed on a second LB when the first was full; the member that filled it has left since.
  const lbs: LoadBalancerState[] = [
    { name: 'p-1', pool: 'p', classKey: '', assignments: [{ port: 5432, protocol: 'TCP', member: 'a/pg', servicePort: 'p0' }, { port: 10000, protocol: 'TCP', member: 'a/x', servicePort: 'p0' }] },
    { name: 'p-2', pool: 'p', classKey: '', assignments: [{ port: 10000, protocol: 'TCP', member: 'b/y', servicePort: 'p0' }] },
  ];

  it('without it nothing moves', () => {
    const r = allocate({ pools: [p], loadBalancers: lbs, requests: [fixed, x, y] });
    assert.equal(used(r).length, 2);
    assert.ok([...r.outcomes.values()].every((o) => o.moved === null));
  });

  it('re-places movable members only: sparse LBs empty out, each move is flagged, fixed members stay', () => {
    const r = allocate({ pools: [p], loadBalancers: lbs, requests: [fixed, x, y], repack: true });
    assert.equal(used(r).length, 1);
    assert.equal(lbOf(r, 'a/pg'), 'p-1');
    assert.equal(r.outcomes.get('a/pg')?.moved, null);
    assert.deepEqual(r.outcomes.get('b/y')?.moved, { from: 'p-2', to: 'p-1' });
  });
});

describe('allocate: stability', () => {
  const p = pool({ maxPortsPerLB: 3 });
  const a = request('ns/a', [[9092, 'TCP', 'broker'], [9093, 'TCP', 'tls']]);
  const b = request('ns/b', [[5432, 'TCP', 'pg']]);
  const first = allocate({ pools: [p], loadBalancers: [], requests: [a, b] });

  it('completes a member that grew on its own LB, keeping its address', () => {
    const grown: MemberRequest = { ...b, ports: [...b.ports, { name: 'metrics', protocol: 'TCP', port: 9187 }] };
    const lbs = allocate({ pools: [p], loadBalancers: [], requests: [b] }).loadBalancers;
    const r = allocate({ pools: [p], loadBalancers: lbs, requests: [grown] });
    assert.equal(lbOf(r, 'ns/b'), 'p-1');
    assert.deepEqual(portsOf(r, 'ns/b'), [5432, 9187]);
    assert.equal(r.outcomes.get('ns/b')?.moved, null);
  });

  it('moves a member that no longer fits, and flags the move', () => {
    const grown: MemberRequest = { ...b, ports: [...b.ports, { name: 'metrics', protocol: 'TCP', port: 9187 }] };
    const r = allocate({ pools: [p], loadBalancers: first.loadBalancers, requests: [a, grown] });
    assert.equal(lbOf(r, 'ns/a'), 'p-1');
    assert.equal(lbOf(r, 'ns/b'), 'p-2');
    assert.deepEqual(r.outcomes.get('ns/b')?.moved, { from: 'p-1', to: 'p-2' });
    assert.deepEqual(r.loadBalancers.find((lb) => lb.name === 'p-1')?.assignments.map((x) => x.member), ['ns/a', 'ns/a']);
  });

  it('keeps a member\'s remapped port when nothing about it changed', () => {
    const c = request('ns/c', [[9092, 'TCP', 'broker']]);
    const one = allocate({ pools: [pool({ maxPortsPerLB: 5 })], loadBalancers: [], requests: [a, c] });
    assert.deepEqual(portsOf(one, 'ns/c'), [10000]);
    // ns/a leaves: 9092 is free now, but ns/c stays where its clients know it.
    const two = allocate({ pools: [pool({ maxPortsPerLB: 5 })], loadBalancers: one.loadBalancers, requests: [c] });
    assert.deepEqual(portsOf(two, 'ns/c'), [10000]);
    assert.equal(two.outcomes.get('ns/c')?.moved, null);
  });

  it('a switch to preserve moves the member to its own port', () => {
    const c = request('ns/c', [[9092, 'TCP', 'broker']]);
    const one = allocate({ pools: [p], loadBalancers: [], requests: [a, c] });
    const two = allocate({ pools: [p], loadBalancers: one.loadBalancers, requests: [a, { ...c, policy: 'preserve' }] });
    assert.deepEqual(portsOf(two, 'ns/c'), [9092]);
    assert.ok(two.outcomes.get('ns/c')?.moved);
  });

  it('frozen (now invalid) members keep their ports; released ones give them up', () => {
    const frozen = allocate({ pools: [p], loadBalancers: first.loadBalancers, requests: [request('ns/z', [[5432]])], frozen: [{ key: 'ns/b', created: b.created }] });
    assert.deepEqual(portsOf(frozen, 'ns/z'), [10000]);
    assert.ok(frozen.loadBalancers[0]?.assignments.some((x) => x.member === 'ns/b' && x.port === 5432));
    const released = allocate({ pools: [p], loadBalancers: first.loadBalancers, requests: [request('ns/z', [[5432]])] });
    assert.deepEqual(portsOf(released, 'ns/z'), [5432]);
    assert.ok(!released.loadBalancers.some((lb) => lb.assignments.some((x) => x.member !== 'ns/z')));
  });

  it('keeps an LB that now exceeds a lowered capacity rather than evict anyone', () => {
    const small = pool({ maxPortsPerLB: 1 });
    const r = allocate({ pools: [small], loadBalancers: first.loadBalancers, requests: [a, b] });
    assert.equal(lbOf(r, 'ns/a'), 'p-1');
    assert.equal(lbOf(r, 'ns/b'), 'p-1');
    assert.equal(r.outcomes.get('ns/b')?.moved, null);
  });

  it('settles on duplicate records: the earlier member keeps the port', () => {
    const lbs: LoadBalancerState[] = [{ name: 'p-1', pool: 'p', classKey: '', assignments: [
      { port: 1, protocol: 'TCP', member: 'ns/late', servicePort: 'p0' },
      { port: 1, protocol: 'TCP', member: 'ns/early', servicePort: 'p0' },
    ] }];
    const r = allocate({ pools: [p], loadBalancers: lbs, requests: [
      request('ns/late', [[1]], 'prefer', { created: '2021-01-01T00:00:00.000Z' }),
      request('ns/early', [[1]], 'prefer', { created: '2020-01-01T00:00:00.000Z' }),
    ] });
    assert.deepEqual(portsOf(r, 'ns/early'), [1]);
    assert.deepEqual(portsOf(r, 'ns/late'), [10000]);
    assert.ok(r.outcomes.get('ns/late')?.moved);
  });
});

describe('allocate: gcp keeps forwarding-rule ranges', () => {
  it('fills inside a wide LB\'s current range before disturbing any rule', () => {
    const gcp = pool({ provider: 'gcp', maxPortsPerLB: 20 });
    const wide: LoadBalancerState = { name: 'p-1', pool: 'p', classKey: '', assignments: [10000, 10001, 10002, 10003, 10004, 10010].map((port, i) => ({ port, protocol: 'TCP' as const, member: `ns/m${i}`, servicePort: 'p0' })) };
    const small: LoadBalancerState = { name: 'p-2', pool: 'p', classKey: '', assignments: [{ port: 10000, protocol: 'TCP', member: 'ns/s', servicePort: 'p0' }] };
    const existing = [...wide.assignments, ...small.assignments].map((x) => request(x.member, [[x.port]], 'any', { created: '2000-01-01T00:00:00.000Z' }));
    const r = allocate({ pools: [gcp], loadBalancers: [wide, small], requests: [...existing, request('ns/new', [[7777]], 'any')] });
    // p-2 is emptier but its 1-port rule would be recreated; p-1 takes 10005, inside 10000-10010.
    assert.equal(lbOf(r, 'ns/new'), 'p-1');
    assert.deepEqual(portsOf(r, 'ns/new'), [10005]);
  });
});

describe('lowerBoundOf', () => {
  it('counts ports over capacity, same fixed port, large members, and protocols that cannot mix', () => {
    assert.equal(lowerBoundOf(pool({ maxPortsPerLB: 10 }), [request('a/a', [[1], [2]]), request('a/b', [[3]])]), 1);
    assert.equal(lowerBoundOf(pool({ maxPortsPerLB: 10 }), [request('a/a', [[53]], 'preserve'), request('a/b', [[53]], 'preserve')]), 2);
    assert.equal(lowerBoundOf(pool({ maxPortsPerLB: 4 }), [request('a/a', [[1], [2], [3]]), request('a/b', [[4], [5], [6]])]), 2);
    assert.equal(lowerBoundOf(pool({ provider: 'gcp' }), [request('a/a', [[1, 'TCP']]), request('a/b', [[2, 'UDP']])]), 2);
    assert.equal(lowerBoundOf(pool({}), []), 0);
  });
});

// ---- properties -----------------------------------------------------------

const POLICIES: PortPolicy[] = ['preserve', 'prefer', 'any'];
const arbPool = fc.record({
  maxPortsPerLB: fc.integer({ min: 1, max: 8 }),
  maxLoadBalancers: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
  mixedProtocol: fc.boolean(),
  samePortAcrossProtocols: fc.boolean(),
  keepPortRange: fc.boolean(),
  reservedPorts: fc.uniqueArray(fc.integer({ min: 100, max: 112 }), { maxLength: 3 }),
  maxClasses: fc.integer({ min: 1, max: 3 }),
}).map(({ maxClasses, ...s }) => pool({ ...s, classes: { max: maxClasses }, portRange: { from: 100, to: 112 }, provider: 'generic' }));

/** Mostly the default class; some affinity, some Local (one member per LB). */
const CLASSES = ['', '', '', '{"sessionAffinity":{"timeoutSeconds":60}}', '{"externalTrafficPolicy":"Local"}'];

/** Small port space and few names, so that conflicts are common. */
const arbRequests = (n: number) =>
  fc.uniqueArray(
    fc.record({
      id: fc.integer({ min: 0, max: 40 }),
      created: fc.integer({ min: 0, max: 5 }),
      policy: fc.constantFrom(...POLICIES),
      classKey: fc.constantFrom(...CLASSES),
      ports: fc.uniqueArray(fc.record({ port: fc.integer({ min: 1, max: 6 }), protocol: fc.constantFrom<Protocol>('TCP', 'UDP') }), {
        minLength: 1, maxLength: 3, selector: (p) => `${p.port}/${p.protocol}`,
      }),
    }),
    { maxLength: n, selector: (r) => r.id },
  ).map((rs) =>
    rs.map((r): MemberRequest => ({
      key: `ns/m${r.id}`, namespace: 'ns', name: `m${r.id}`, created: `2025-01-01T00:00:0${r.created}.000Z`, pool: 'p', policy: r.policy, classKey: r.classKey,
      ports: r.ports.map((p, i) => ({ name: `port${i}`, ...p })),
    })),
  );

/** Requests the parser would pass for this pool (it refuses the rest). */
function valid(p: Pool, rs: MemberRequest[]): MemberRequest[] {
  return rs.filter((r) => {
    if (r.ports.length > p.maxPortsPerLB) return false;
    if (!p.mixedProtocol && new Set(r.ports.map((x) => x.protocol)).size > 1) return false;
    if (r.policy === 'preserve' && r.ports.some((x) => p.reservedPorts.includes(x.port))) return false;
    if (r.policy === 'preserve' && !p.samePortAcrossProtocols && new Set(r.ports.map((x) => x.port)).size < r.ports.length) return false;
    return true;
  });
}

function checkInvariants(p: Pool, input: AllocationInput, r: AllocationResult, capacityFromScratch: boolean): void {
  const where = new Map<string, Set<string>>();
  const classOf = new Map(input.requests.map((q) => [q.key, q.classKey]));
  for (const lb of r.loadBalancers) {
    for (const a of lb.assignments) {
      const c = classOf.get(a.member);
      if (c !== undefined && r.outcomes.get(a.member)?.state === 'Allocated') assert.equal(c, lb.classKey, `${a.member} of class ${c} on ${lb.name} of class ${lb.classKey}`);
    }
    if (lb.classKey.includes('Local')) assert.ok(new Set(lb.assignments.map((a) => a.member)).size <= 1, `${lb.name} is exclusive but shared`);
    const slots = new Set<string>();
    const numbers = new Set<number>();
    for (const a of lb.assignments) {
      const k = `${a.port}/${a.protocol}`;
      assert.ok(!slots.has(k), `${k} twice on ${lb.name}`);
      slots.add(k);
      if (!p.samePortAcrossProtocols) {
        assert.ok(!numbers.has(a.port), `port ${a.port} under two protocols on ${lb.name}`);
        numbers.add(a.port);
      }
      const s = where.get(a.member) ?? new Set();
      s.add(lb.name);
      where.set(a.member, s);
    }
    if (capacityFromScratch) assert.ok(lb.assignments.length <= p.maxPortsPerLB, `${lb.name} over capacity`);
    if (!p.mixedProtocol) assert.ok(new Set(lb.assignments.map((a) => a.protocol)).size <= 1, `${lb.name} mixes protocols`);
  }
  if (p.maxLoadBalancers !== null && capacityFromScratch) assert.ok(r.loadBalancers.length <= p.maxLoadBalancers);
  if (capacityFromScratch) assert.ok(new Set(r.loadBalancers.filter((lb) => lb.assignments.length > 0).map((lb) => lb.classKey)).size <= p.classes.max, 'too many classes');
  for (const [member, lbs] of where) assert.equal(lbs.size, 1, `${member} spread over ${[...lbs].join(', ')}`);
  for (const req of input.requests) {
    const o = r.outcomes.get(req.key);
    assert.ok(o, `${req.key} has an outcome`);
    if (o.state !== 'Allocated') {
      assert.ok(o.message.length > 0);
      continue;
    }
    assert.equal(o.ports.length, req.ports.length, `${req.key} has all its ports`);
    const lb = r.loadBalancers.find((x) => x.name === o.loadBalancer);
    for (const port of o.ports) {
      assert.ok(lb?.assignments.some((a) => a.member === req.key && a.port === port.externalPort && a.protocol === port.protocol && a.servicePort === port.servicePort));
      if (req.policy === 'preserve') assert.equal(port.externalPort, port.port, `${req.key} preserve`);
    }
  }
}

describe('allocate: properties', () => {
  it('never double-books a port, exceeds capacity, splits a member, or breaks preserve', () => {
    fc.assert(
      fc.property(arbPool, arbRequests(25), (p, rs) => {
        const input = { pools: [p], loadBalancers: [], requests: valid(p, rs) };
        checkInvariants(p, input, allocate(input), true);
      }),
      { numRuns: 400 },
    );
  });

  it('is deterministic, whatever order the input comes in', () => {
    fc.assert(
      fc.property(arbPool, arbRequests(20), fc.infiniteStream(fc.nat()), (p, rs, noise) => {
        const requests = valid(p, rs);
        const shuffled = [...requests].sort(() => ((noise.next().value as number) % 3) - 1);
        const one = allocate({ pools: [p], loadBalancers: [], requests });
        const two = allocate({ pools: [p], loadBalancers: [], requests: shuffled });
        assert.deepEqual(two.loadBalancers, one.loadBalancers);
        assert.deepEqual([...two.outcomes.entries()].sort(), [...one.outcomes.entries()].sort());
      }),
      { numRuns: 200 },
    );
  });

  it('earlier members are never displaced by later ones: whoever the crowd leaves waiting, creation order alone would too', () => {
    fc.assert(
      fc.property(arbPool, arbRequests(20), arbRequests(10), (p, early, late) => {
        const e = valid(p, early);
        const keys = new Set(e.map((r) => r.key));
        const l = valid(p, late).filter((r) => !keys.has(r.key)).map((r) => ({ ...r, created: `2026${r.created.slice(4)}` }));
        // In creation order, placement of the earlier members does not depend on later ones at all.
        const aloneSeq = allocate({ pools: [p], loadBalancers: [], requests: e }, 'sequential');
        const crowdSeq = allocate({ pools: [p], loadBalancers: [], requests: [...e, ...l] }, 'sequential');
        for (const r of e) assert.deepEqual(crowdSeq.outcomes.get(r.key), aloneSeq.outcomes.get(r.key));
        // Packing may put them elsewhere, but never leaves one waiting that creation order would serve.
        const crowd = allocate({ pools: [p], loadBalancers: [], requests: [...e, ...l] });
        for (const r of e) {
          if (crowd.outcomes.get(r.key)?.state !== 'Allocated') assert.equal(aloneSeq.outcomes.get(r.key)?.state, 'Pending', `${r.key} left waiting`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a batch never needs more LBs than placing the same members one by one', () => {
    fc.assert(
      fc.property(arbPool, arbRequests(25), (p0, rs) => {
        const p = { ...p0, maxLoadBalancers: null };
        const requests = valid(p, rs).sort(memberOrder);
        const batch = allocate({ pools: [p], loadBalancers: [], requests });
        let lbs: AllocationResult['loadBalancers'] = [];
        let one: AllocationResult | null = null;
        for (let i = 1; i <= requests.length; i++) {
          one = allocate({ pools: [p], loadBalancers: lbs, requests: requests.slice(0, i) });
          lbs = one.loadBalancers;
        }
        const servedAll = (r: AllocationResult | null) => r === null || [...r.outcomes.values()].every((o) => o.state === 'Allocated');
        if (servedAll(batch) && servedAll(one)) assert.ok(used(batch).length <= (one === null ? 0 : used(one).length), `batch ${used(batch).length} > one by one ${one === null ? 0 : used(one).length}`);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps every index of its layout coherent, whatever the input', () => {
    fc.assert(
      fc.property(arbPool, arbRequests(25), fc.constantFrom<'batch' | 'arrivals' | 'sequential'>('batch', 'arrivals', 'sequential'), (p, rs, strategy) => {
        const requests = valid(p, rs).sort(memberOrder);
        const first = place({ pools: [p], loadBalancers: [], requests }, requests, strategy);
        first.layout.assertCoherent();
        const fewer = requests.filter((_, i) => i % 3 !== 0);
        place({ pools: [p], loadBalancers: first.layout.plans(), requests: fewer }, fewer, strategy).layout.assertCoherent();
      }),
      { numRuns: 200 },
    );
  });

  it('placed members keep LB and ports when others arrive or leave', () => {
    fc.assert(
      fc.property(arbPool, arbRequests(20), arbRequests(10), fc.func(fc.boolean()), (p, first, more, leaves) => {
        const a = valid(p, first);
        const before = allocate({ pools: [p], loadBalancers: [], requests: a });
        const keys = new Set(a.map((r) => r.key));
        const stay = a.filter((r) => !leaves(r.key));
        const arrive = valid(p, more).filter((r) => !keys.has(r.key));
        const after = allocate({ pools: [p], loadBalancers: before.loadBalancers, requests: [...stay, ...arrive] });
        checkInvariants(p, { pools: [p], loadBalancers: before.loadBalancers, requests: [...stay, ...arrive] }, after, false);
        for (const r of stay) {
          const o = before.outcomes.get(r.key);
          if (o?.state !== 'Allocated') continue;
          const n = after.outcomes.get(r.key);
          assert.equal(n?.loadBalancer, o.loadBalancer, `${r.key} kept its LB`);
          assert.deepEqual(n?.ports, o.ports, `${r.key} kept its ports`);
          assert.equal(n?.moved, null);
        }
        // Nothing changed at all: the second run is a fixed point.
        const again = allocate({ pools: [p], loadBalancers: after.loadBalancers, requests: [...stay, ...arrive] });
        assert.deepEqual(again.loadBalancers.map((lb) => lb.assignments), after.loadBalancers.map((lb) => lb.assignments));
      }),
      { numRuns: 200 },
    );
  });

  it('never opens more LBs than needed when nothing limits it, and never fewer than the lower bound', () => {
    fc.assert(
      fc.property(arbPool, arbRequests(25), (p0, rs) => {
        const p = { ...p0, maxLoadBalancers: null };
        const requests = valid(p, rs);
        const r = allocate({ pools: [p], loadBalancers: [], requests });
        const allocated = [...r.outcomes.values()].filter((o) => o.state === 'Allocated').length;
        if (allocated === requests.length) assert.ok(used(r).length >= (r.lowerBound.get('p') ?? 0));
        // Every LB but the last-opened could not take the member that opened the next one: no empty LB is ever made.
        assert.ok(r.loadBalancers.every((lb) => lb.assignments.length > 0));
      }),
      { numRuns: 300 },
    );
  });
});

describe('allocate: whatever the LBs record', () => {
  // Records may be stale or hand-edited: members on two LBs, a port twice,
  // ports of members that left. The result must be sound all the same.
  const arbRecords = fc.array(
    fc.record({
      lb: fc.integer({ min: 1, max: 4 }),
      member: fc.integer({ min: 0, max: 40 }),
      port: fc.integer({ min: 1, max: 112 }),
      protocol: fc.constantFrom<Protocol>('TCP', 'UDP'),
      servicePort: fc.constantFrom('port0', 'port1', 'port2', 'gone'),
    }),
    { maxLength: 30 },
  );

  it('settles any recorded state into a sound layout', () => {
    fc.assert(
      fc.property(arbPool, arbRequests(20), arbRecords, (p, rs, records) => {
        const lbs: LoadBalancerState[] = [1, 2, 3, 4].map((n) => ({
          name: `p-${n}`, pool: 'p', classKey: '',
          assignments: records.filter((x) => x.lb === n).map((x) => ({ port: x.port, protocol: x.protocol, member: `ns/m${x.member}`, servicePort: x.servicePort })),
        }));
        const requests = valid(p, rs);
        const r = allocate({ pools: [p], loadBalancers: lbs, requests });
        checkInvariants(p, { pools: [p], loadBalancers: lbs, requests }, r, false);
        const keys = new Set(requests.map((x) => x.key));
        for (const lb of r.loadBalancers) for (const a of lb.assignments) assert.ok(keys.has(a.member), `${a.member} left but holds ${a.port}`);
      }),
      { numRuns: 400 },
    );
  });
});

describe('per-namespace quotas', () => {
  const quotaPool = (quotas: Record<string, unknown>) => pool({ provider: 'generic', maxPortsPerLB: 4, portRange: { from: 30000, to: 30100 }, quotas });
  const req = (ns: string, name: string, ports: number, created: number, p: ReturnType<typeof quotaPool>, labels: Record<string, string> = {}): MemberRequest => {
    const m = parseMember({
      metadata: { name, namespace: ns, creationTimestamp: new Date(Date.UTC(2026, 0, 1) + created * 1000).toISOString(), annotations: { 'sharedlb.io/enabled': 'true', 'sharedlb.io/port-policy': 'any' } },
      spec: { ports: Array.from({ length: ports }, (_, i) => ({ name: `p${i}`, port: 1000 + i })) },
    }, poolSet([{ ok: true, pool: p }]), { namespaceLabels: { 'kubernetes.io/metadata.name': ns, ...labels } });
    assert.equal(m.kind, 'member');
    return (m as { request: MemberRequest }).request;
  };
  const outcome = (r: ReturnType<typeof allocate>, key: string) => r.outcomes.get(key);

  it('a namespace over its ports or members quota waits with the quota and its use named; others are untouched', () => {
    const p = quotaPool({ default: { ports: 3, members: 2 } });
    const requests = [req('a', 'one', 2, 1, p), req('a', 'two', 2, 2, p), req('b', 'x', 2, 3, p), req('a', 'three', 1, 4, p), req('a', 'four', 1, 5, p)];
    const r = allocate({ pools: [p], loadBalancers: [], requests });
    assert.equal(outcome(r, 'a/one')?.state, 'Allocated');
    assert.equal(outcome(r, 'a/two')?.reason, 'QuotaExceeded');
    assert.match(outcome(r, 'a/two')?.message ?? '', /namespace a holds 2 of its 3 ports in pool p \(spec\.quotas\.default\) and this member needs 2 more/);
    assert.equal(outcome(r, 'a/three')?.state, 'Allocated', 'within both limits');
    assert.equal(outcome(r, 'a/four')?.reason, 'QuotaExceeded');
    assert.match(outcome(r, 'a/four')?.message ?? '', /2 of its 2 members/);
    assert.equal(outcome(r, 'b/x')?.state, 'Allocated');
  });

  it('the LB quota keeps a namespace on the LBs it holds; a selector entry overrides the default; nobody placed loses anything to a quota', () => {
    const p = quotaPool({ default: { loadBalancers: 1 }, namespaces: [{ selector: { matchLabels: { tier: 'gold' } }, loadBalancers: 3 }] });
    const many = (ns: string, labels: Record<string, string> = {}) => Array.from({ length: 3 }, (_, i) => req(ns, `m${i}`, 3, i + (ns === 'gold' ? 10 : 0), p, labels));
    const r = allocate({ pools: [p], loadBalancers: [], requests: [...many('plain'), ...many('gold', { tier: 'gold' })] });
    assert.deepEqual(['plain/m0', 'plain/m1', 'plain/m2'].map((k) => outcome(r, k)?.reason), ['Allocated', 'QuotaExceeded', 'QuotaExceeded']);
    assert.ok(['gold/m0', 'gold/m1', 'gold/m2'].every((k) => outcome(r, k)?.state === 'Allocated'), 'namespaces[0] allows three LBs');
    // The admin lowers gold's quota: what it holds stays.
    const lower = quotaPool({ default: { loadBalancers: 1 } });
    const again = allocate({ pools: [lower], loadBalancers: r.loadBalancers, requests: [...many('plain'), ...many('gold', { tier: 'gold' })].map((x) => ({ ...x, quota: { name: 'default', limits: { loadBalancers: 1 } } })) });
    assert.ok(['gold/m0', 'gold/m1', 'gold/m2'].every((k) => outcome(again, k)?.state === 'Allocated' && outcome(again, k)?.moved === null));
  });
});
