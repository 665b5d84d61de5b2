// Exposure and isolation, in-process: the never-rules of SECURITY.md held
// by the pool and member reconciles against the fake API server.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { memberService, memberSlice, NS, poolObject, startHarness } from './testing/harness.ts';

const INTERNAL = 'service.beta.kubernetes.io/azure-load-balancer-internal';
const azureInternal = (extra: Record<string, unknown> = {}) => poolObject('internal', { default: true, provider: 'azure', template: { annotations: { [INTERNAL]: 'true' } }, ...extra });

test('a pool that breaks leaves its LBs exactly as they were, and says why', async () => {
  const h = await startHarness([azureInternal(), memberService('a', 'db', [{ name: 'pg', port: 5432 }]), memberSlice('a', 'db', ['10.1.0.1'], [{ name: 'pg', port: 5432 }])]);
  await h.converge();
  const lb = h.service(NS, 'internal-1');
  assert.equal(lb?.metadata?.annotations?.[INTERNAL], 'true');
  // An edit the CRD accepts and parsePool refuses.
  h.api.seed(azureInternal({ template: { annotations: { [INTERNAL]: 'true' }, loadBalancerSourceRanges: ['10.0.0.0'] } }));
  const before = h.api.writes().length;
  await h.converge();
  const after = h.service(NS, 'internal-1');
  assert.equal(after?.metadata?.annotations?.[INTERNAL], 'true', 'the internal annotation stays');
  assert.deepEqual(after?.spec, lb?.spec);
  assert.equal(h.api.writes().slice(before).filter((c) => c.path.includes('/services/internal-1') && c.method !== 'GET').length, 0, 'the LB is not written');
  assert.ok(h.events.some((e) => e.type === 'Warning' && e.regarding.name === 'internal-1'), 'a Warning on the LB says why');
  await h.stop();
});

test('a deleted pool (or CRD) leaves its LBs as they were; re-applied, it takes them back unchanged', async () => {
  const h = await startHarness([azureInternal(), memberService('a', 'db', [{ name: 'pg', port: 5432 }]), memberSlice('a', 'db', ['10.1.0.1'], [{ name: 'pg', port: 5432 }])]);
  await h.converge();
  const lb = h.service(NS, 'internal-1');
  h.api.remove('LoadBalancerPool', undefined, 'internal');
  await h.converge();
  assert.equal(h.service(NS, 'internal-1')?.metadata?.annotations?.[INTERNAL], 'true');
  assert.equal(h.service(NS, 'internal-1')?.metadata?.resourceVersion, lb?.metadata?.resourceVersion, 'not written while its pool is gone');
  const db = h.service('a', 'db');
  assert.equal(db?.metadata?.annotations?.['sharedlb.io/load-balancer'], `${NS}/internal-1`, 'its member keeps its address');
  h.api.seed(azureInternal());
  await h.converge();
  assert.equal(h.service(NS, 'internal-1')?.metadata?.annotations?.[INTERNAL], 'true');
  assert.equal(h.service('a', 'db')?.status?.conditions?.find((c) => c.type === 'sharedlb.io/Ready')?.reason, 'Allocated');
  await h.stop();
});

const lbClassMember = (ns: string, name: string, ports: Array<{ name: string; port: number }>, annotations: Record<string, string> = {}) =>
  memberService(ns, name, ports, { spec: { type: 'LoadBalancer' }, annotations });
const ipModes = (svc: V1Service | undefined): string[] => (svc?.status?.loadBalancer?.ingress ?? []).map((i) => i.ipMode ?? '');

for (const how of ['waits for it (PortConflict)', 'is frozen Invalid']) {
  test(`a class member that asks for a port another member holds, and ${how}, is never VIP for it`, async () => {
    const one = poolObject('one', { default: true, provider: 'generic', maxLoadBalancers: 1 });
    const h = await startHarness([one, lbClassMember('b', 'other', [{ name: 'x', port: 7000 }], {}), lbClassMember('a', 'mine', [{ name: 'm', port: 5000 }])]);
    await h.converge();
    assert.deepEqual(ipModes(h.service('a', 'mine')), ['VIP'], 'VIP while it holds every port of its own');
    const mine = h.service('a', 'mine') as V1Service;
    const typo: Record<string, string> = how === 'is frozen Invalid' ? { 'sharedlb.io/port-polcy': 'preserve' } : {};
    h.api.seed({ ...lbClassMember('a', 'mine', [{ name: 'm', port: 5000 }, { name: 'n', port: 7000 }], typo), status: mine.status } as never);
    await h.converge();
    const after = h.service('a', 'mine');
    assert.equal(after?.metadata?.annotations?.['sharedlb.io/load-balancer'], `${NS}/one-1`, 'it keeps what it holds');
    assert.deepEqual(ipModes(after), ['Proxy'], 'kube-proxy must not program LB:7000 for it');
    assert.deepEqual(ipModes(h.service('b', 'other')), ['VIP']);
    await h.stop();
  });
}

/** Every endpoint the LBs serve belongs to the member its record gives the port to. */
function crossedMirrors(h: Awaited<ReturnType<typeof startHarness>>): string[] {
  const out: string[] = [];
  for (const lb of h.api.list('Service', NS) as V1Service[]) {
    const holders = new Map(Object.entries(JSON.parse(lb.metadata?.annotations?.['sharedlb.io/allocations'] ?? '{}') as Record<string, string>));
    for (const port of lb.spec?.ports ?? []) {
      const holder = holders.get(`${(port.protocol ?? 'TCP').toLowerCase()}-${port.port}`)?.split('/').slice(0, 2).join('/');
      for (const s of h.api.list('EndpointSlice', NS) as unknown as V1EndpointSlice[]) {
        if (s.metadata?.labels?.['kubernetes.io/service-name'] !== lb.metadata?.name || !(s.ports ?? []).some((p) => p.name === port.name)) continue;
        const owner = s.metadata?.annotations?.['sharedlb.io/member'];
        if (owner !== holder) out.push(`${lb.metadata?.name}:${port.port} is ${holder}'s, but ${owner}'s slice ${s.metadata?.name} serves it`);
      }
    }
  }
  return out;
}

/** A pool of one LB: a/old holds 7000 (preserve), b/new waits for it; both with a pod. */
async function portWaiter(): Promise<Awaited<ReturnType<typeof startHarness>>> {
  const preserve = { 'sharedlb.io/port-policy': 'preserve' };
  const h = await startHarness([
    poolObject('one', { default: true, provider: 'generic', maxLoadBalancers: 1 }),
    memberService('a', 'old', [{ name: 'p', port: 7000 }], { annotations: preserve, created: '2026-01-01T00:00:00Z' }),
    memberSlice('a', 'old', ['10.1.0.1'], [{ name: 'p', port: 7000 }]),
    memberService('b', 'new', [{ name: 'p', port: 7000 }], { annotations: preserve, created: '2026-01-01T00:01:00Z' }),
    memberSlice('b', 'new', ['10.2.0.1'], [{ name: 'p', port: 7000 }]),
  ]);
  await h.converge();
  return h;
}

for (const how of ['deleted', 'opted out']) {
  test(`a port handed over in one LB write never carries the new holder's traffic to the old holder's pods (old holder ${how})`, async () => {
    const h = await portWaiter();
    assert.equal(h.service('b', 'new')?.status?.conditions?.[0]?.reason, 'PortConflict');
    if (how === 'deleted') h.api.remove('Service', 'a', 'old');
    else h.api.seed(memberService('a', 'old', [{ name: 'p', port: 7000 }], { annotations: { 'sharedlb.io/enabled': 'false' }, created: '2026-01-01T00:00:00Z' }));
    // The pool hands the port over; the members' reconciles have not run yet (or run in either order).
    const { reconcilePool } = await import('./reconcile-pool.ts');
    const { reconcileMember } = await import('./reconcile-member.ts');
    await reconcilePool(h.pool, 'one');
    assert.match(h.service(NS, 'one-1')?.metadata?.annotations?.['sharedlb.io/allocations'] ?? '', /b\/new/);
    assert.deepEqual(crossedMirrors(h), []);
    h.member.waitingSince.set('b/new', 0);
    await reconcileMember(h.member, 'b/new');
    assert.deepEqual(crossedMirrors(h), []);
    await reconcileMember(h.member, 'a/old');
    assert.deepEqual(crossedMirrors(h), []);
    await h.converge();
    assert.equal(h.service('b', 'new')?.status?.conditions?.[0]?.reason, 'Allocated');
    assert.deepEqual(crossedMirrors(h), []);
    await h.stop();
  });
}

test('a frozen (Invalid) member is released when the admin narrows the pool past it: namespaces, then classes', async () => {
  const scoped = (selector: Record<string, string>, extra: Record<string, unknown> = {}) => poolObject('p', { default: true, provider: 'generic', namespaceSelector: { matchLabels: selector }, ...extra });
  const ns = (name: string, team: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, team } } });
  const typo = { 'sharedlb.io/port-polcy': 'any' };
  const h = await startHarness([
    scoped({ team: 'x' }), ns('a', 'x'), ns('c', 'x'),
    memberService('a', 'frozen', [{ name: 'p', port: 7000 }]), memberSlice('a', 'frozen', ['10.1.0.1'], [{ name: 'p', port: 7000 }]),
    memberService('c', 'ranged', [{ name: 'p', port: 7100 }], { annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.9.0.0/16' } }),
    memberSlice('c', 'ranged', ['10.3.0.1'], [{ name: 'p', port: 7100 }]),
  ]);
  await h.converge();
  const lbOf = (n: string, name: string) => h.service(n, name)?.metadata?.annotations?.['sharedlb.io/load-balancer'];
  assert.ok(lbOf('a', 'frozen') && lbOf('c', 'ranged'));
  h.api.seed(memberService('a', 'frozen', [{ name: 'p', port: 7000 }], { annotations: typo }));
  h.api.seed(memberService('c', 'ranged', [{ name: 'p', port: 7100 }], { annotations: { ...typo, 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.9.0.0/16' } }));
  await h.converge();
  assert.ok(lbOf('a', 'frozen'), 'a typo alone takes nothing away');
  h.api.seed(scoped({ team: 'y' }));
  await h.converge();
  assert.equal(lbOf('a', 'frozen'), undefined, 'namespace a is shut out: its frozen member goes');
  assert.equal(h.api.list('EndpointSlice', NS).filter((s) => s.metadata?.annotations?.['sharedlb.io/member'] === 'a/frozen').length, 0);
  assert.ok(h.events.some((e) => e.type === 'Warning' && e.reason === 'Released' && e.regarding.name === 'frozen'));
  // Narrowing the template's ranges past the frozen member's class takes its LB from it too.
  h.api.seed(scoped({ team: 'x' }, { template: { loadBalancerSourceRanges: ['10.8.0.0/16'] } }));
  await h.converge();
  assert.equal(lbOf('c', 'ranged'), undefined, 'its class is outside the new ranges');
  await h.stop();
});

test('an EndpointSlice that names a shared LB and was not written by sharedlb is deleted, with a Warning', async () => {
  const h = await startHarness([poolObject('p', { default: true, provider: 'generic' }), memberService('a', 'db', [{ name: 'pg', port: 5432 }]), memberSlice('a', 'db', ['10.1.0.1'], [{ name: 'pg', port: 5432 }])]);
  await h.converge();
  const port = h.service(NS, 'p-1')?.spec?.ports?.[0]?.name as string;
  const foreign = { ...memberSlice(NS, 'p-1', ['10.66.0.1'], [{ name: port, port: 22 }]), metadata: { name: 'p-1-evil', namespace: NS, labels: { 'kubernetes.io/service-name': 'p-1', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' } } };
  h.api.seed(foreign);
  await h.converge();
  assert.equal(h.api.object('EndpointSlice', NS, 'p-1-evil'), undefined);
  assert.ok(h.events.some((e) => e.reason === 'ForeignEndpoints' && /delete Endpoints/.test(e.note)));
  assert.equal(h.api.list('EndpointSlice', NS).length, 1, 'the member\'s mirror stays');
  await h.stop();
});

test('a repack interrupted between its LB writes is done once: nobody moves twice, each mover is told once, the admin is told it stopped', async () => {
  const { reconcilePool } = await import('./reconcile-pool.ts');
  const pool = (annotations: Record<string, string> = {}) => ({ ...poolObject('pk', { default: true, provider: 'generic', maxPortsPerLB: 2, portRange: { from: 27000, to: 27100 } }), metadata: { name: 'pk', annotations } });
  const any = (name: string, created: string) => memberService('a', name, [{ name: 'p', port: 1 }], { annotations: { 'sharedlb.io/port-policy': 'any' }, created });
  const h = await startHarness([
    pool(),
    memberService('a', 'fixed', [{ name: 'p', port: 27050 }], { annotations: { 'sharedlb.io/port-policy': 'preserve' }, created: '2026-01-01T00:00:00Z' }),
    any('filler', '2026-01-01T00:01:00Z'), any('late', '2026-01-01T00:02:00Z'),
  ]);
  await h.converge();
  const lbOf = (name: string) => h.service('a', name)?.metadata?.annotations?.['sharedlb.io/load-balancer'];
  h.api.remove('Service', 'a', 'filler');
  await h.converge();
  const before = { fixed: lbOf('fixed'), late: lbOf('late') };
  assert.notEqual(before.late, before.fixed, 'nobody moves by itself');
  h.api.seed(pool({ 'sharedlb.io/repack': 'r1' }));
  // The write that empties the old LB fails: the move is half done (the member recorded on both).
  h.api.failNext({ method: 'PUT', path: `/services/${before.late?.split('/')[1]}`, status: 500 });
  await assert.rejects(reconcilePool(h.pool, 'pk'));
  assert.equal((h.api.object('LoadBalancerPool', undefined, 'pk')?.status as { lastRepack?: string } | undefined)?.lastRepack, 'r1', 'recorded before it was carried out');
  assert.ok(h.events.some((e) => e.reason === 'RepackInterrupted'));
  await h.converge();
  const records = h.api.list('Service', NS).map((lb) => lb.metadata?.annotations?.['sharedlb.io/allocations'] ?? '');
  assert.equal(records.filter((r) => r.includes('a/late/')).length, 1, 'held on one LB');
  assert.equal(lbOf('late'), before.fixed, 'the move completes');
  assert.equal(lbOf('fixed'), before.fixed);
  const told = h.events.filter((e) => e.reason === 'AddressChanged');
  assert.deepEqual(told.map((e) => e.regarding.name), ['late'], 'the mover is told once, nobody else');
  assert.match(told[0]?.note ?? '', /repacked pool pk \(sharedlb.io\/repack=r1\)/);
  await h.stop();
});

test('a Service deleted and made again under the same name is a new member: it does not inherit its predecessor\'s port', async () => {
  const one = poolObject('one', { default: true, provider: 'generic', maxLoadBalancers: 1 });
  const preserve = { 'sharedlb.io/port-policy': 'preserve' };
  const h = await startHarness([
    one,
    memberService('a', 'svc', [{ name: 'p', port: 7000 }], { annotations: preserve, created: '2026-01-01T00:00:00Z' }),
    memberService('b', 'waiting', [{ name: 'p', port: 7000 }], { annotations: preserve, created: '2026-01-01T00:01:00Z' }),
  ]);
  await h.converge();
  assert.equal(h.service('b', 'waiting')?.status?.conditions?.[0]?.reason, 'PortConflict');
  // Deleted and made again before the controller looks: one event's worth.
  h.api.remove('Service', 'a', 'svc');
  h.api.now = () => new Date('2026-01-01T00:02:00Z');
  h.api.seed(memberService('a', 'svc', [{ name: 'p', port: 7000 }], { annotations: preserve }));
  await h.converge();
  assert.equal(h.service('b', 'waiting')?.status?.conditions?.[0]?.reason, 'Allocated', 'the earlier request gets the port');
  assert.equal(h.service('a', 'svc')?.status?.conditions?.[0]?.reason, 'PortConflict');
  await h.stop();
});

test('a shared LB held by a cloud\'s finalizer after its deletion is not reused: a member arriving meanwhile gets a new LB', async () => {
  const h = await startHarness([poolObject('p', { default: true, provider: 'generic', emptyLoadBalancerGraceSeconds: 0 }), memberService('a', 'first', [{ name: 'p', port: 7000 }])]);
  await h.converge();
  const lb = h.service(NS, 'p-1') as V1Service;
  // The cloud's controller puts its cleanup finalizer on every LB it builds.
  h.api.seed({ ...lb, metadata: { ...lb.metadata, finalizers: ['service.kubernetes.io/load-balancer-cleanup'] } } as never);
  h.api.remove('Service', 'a', 'first');
  await h.converge();
  assert.ok(h.service(NS, 'p-1')?.metadata?.deletionTimestamp, 'deleted, and held by the finalizer');
  h.api.seed(memberService('a', 'second', [{ name: 'p', port: 7000 }]));
  await h.converge();
  assert.equal(h.service('a', 'second')?.metadata?.annotations?.['sharedlb.io/load-balancer'], `${NS}/p-2`);
  assert.doesNotMatch(h.service(NS, 'p-1')?.metadata?.annotations?.['sharedlb.io/allocations'] ?? '', /second/, 'nothing written onto the dying LB');
  await h.stop();
});

test('a deleted pool\'s LBs that serve no existing Service are deleted; those serving members stay frozen', async () => {
  const h = await startHarness([poolObject('p', { default: true, provider: 'generic', maxPortsPerLB: 1 }), memberService('a', 'kept', [{ name: 'p', port: 7000 }]), memberService('a', 'gone', [{ name: 'p', port: 7001 }])]);
  await h.converge();
  assert.equal(h.api.list('Service', NS).length, 2);
  h.api.remove('Service', 'a', 'gone');
  h.api.remove('LoadBalancerPool', undefined, 'p');
  await h.converge();
  const left = h.api.list('Service', NS);
  assert.equal(left.length, 1);
  assert.match(left[0]?.metadata?.annotations?.['sharedlb.io/allocations'] ?? '', /a\/kept/);
  await h.stop();
});

test('a namespace at its pool quota waits with QuotaExceeded (condition and Warning); another namespace still gets the room', async () => {
  const h = await startHarness([
    poolObject('q', { default: true, provider: 'generic', quotas: { default: { members: 1 } } }),
    memberService('a', 'first', [{ name: 'p', port: 7000 }], { created: '2026-01-01T00:00:00Z' }),
    memberService('a', 'second', [{ name: 'p', port: 7001 }], { created: '2026-01-01T00:01:00Z' }),
    memberService('b', 'other', [{ name: 'p', port: 7002 }], { created: '2026-01-01T00:02:00Z' }),
  ]);
  await h.converge();
  const reason = (ns: string, n: string) => h.service(ns, n)?.status?.conditions?.[0];
  assert.equal(reason('a', 'first')?.reason, 'Allocated');
  assert.equal(reason('a', 'second')?.reason, 'QuotaExceeded');
  assert.match(reason('a', 'second')?.message ?? '', /namespace a holds 1 of its 1 members in pool q \(spec\.quotas\.default\)/);
  assert.ok(h.events.some((e) => e.type === 'Warning' && e.reason === 'QuotaExceeded' && e.regarding.name === 'second'));
  assert.equal(reason('b', 'other')?.reason, 'Allocated');
  // The first goes: the second gets its turn.
  h.api.remove('Service', 'a', 'first');
  await h.converge();
  assert.equal(reason('a', 'second')?.reason, 'Allocated');
  await h.stop();
});

test('reconciles converge through conflicts and failures, and a converged cluster is reconciled again with no write at all', async () => {
  const { reconcilePool } = await import('./reconcile-pool.ts');
  const { reconcileMember } = await import('./reconcile-member.ts');
  const h = await startHarness([poolObject('p', { default: true, provider: 'generic' }), memberService('a', 'm', [{ name: 'p', port: 7000 }]), memberSlice('a', 'm', ['10.1.0.1'], [{ name: 'p', port: 7000 }])]);
  h.api.failNext({ method: 'POST', path: `/namespaces/${NS}/services`, status: 409 });
  await assert.rejects(reconcilePool(h.pool, 'p'), /409/);
  h.api.failNext({ method: 'PATCH', path: '/services/m', status: 429 });
  h.api.failNext({ method: 'POST', path: '/endpointslices', status: 0 });
  await h.converge();
  assert.equal(h.service('a', 'm')?.status?.conditions?.[0]?.reason, 'Allocated');
  assert.equal(h.api.list('EndpointSlice', NS).length, 1);
  const before = h.api.writes().length;
  await reconcilePool(h.pool, 'p');
  await reconcileMember(h.member, 'a/m');
  assert.equal(h.api.writes().length, before, 'nothing written when nothing changed');
  await h.stop();
});

test('an LB from before holder-named ports keeps its names while holders stay, and renames a port the moment it changes hands', async () => {
  const { reconcilePool } = await import('./reconcile-pool.ts');
  const h = await portWaiter();
  // As an older sharedlb wrote them: the port, and the holder's mirror, named tcp-7000.
  const lb = h.service(NS, 'one-1') as V1Service;
  h.api.seed({ ...lb, spec: { ...lb.spec, ports: (lb.spec?.ports ?? []).map((p) => ({ ...p, name: `tcp-${p.port}` })) } } as never);
  for (const s of h.api.list('EndpointSlice', NS)) h.api.seed({ ...s, ports: (s.ports as Array<{ port: number }>).map((p) => ({ ...p, name: 'tcp-7000' })) });
  const writes = h.api.writes().length;
  await h.converge();
  assert.equal(h.service(NS, 'one-1')?.spec?.ports?.[0]?.name, 'tcp-7000', 'no serving port renamed by the upgrade');
  assert.equal(h.api.writes().slice(writes).filter((c) => c.path.includes('/services/one-1')).length, 0, 'the LB is not rewritten');
  h.api.remove('Service', 'a', 'old');
  await reconcilePool(h.pool, 'one');
  assert.notEqual(h.service(NS, 'one-1')?.spec?.ports?.[0]?.name, 'tcp-7000', 'renamed as it changes hands');
  assert.deepEqual(crossedMirrors(h), []);
  await h.converge();
  assert.deepEqual(crossedMirrors(h), []);
  assert.equal(h.service('b', 'new')?.status?.conditions?.[0]?.reason, 'Allocated');
  await h.stop();
});

test('a frozen member is judged only by the pool whose LBs it is on: another pool that shuts its namespace out neither releases nor warns it', async () => {
  const ns = (name: string, team: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, team } } });
  const h = await startHarness([
    poolObject('mine', { default: true, provider: 'generic' }), poolObject('strict', { provider: 'generic', namespaceSelector: { matchLabels: { team: 'other' } } }),
    ns('a', 'x'), memberService('a', 'frozen', [{ name: 'p', port: 7000 }]),
  ]);
  await h.converge();
  h.api.seed(memberService('a', 'frozen', [{ name: 'p', port: 7000 }], { annotations: { 'sharedlb.io/port-polcy': 'any' } }));
  await h.converge();
  assert.equal(h.service('a', 'frozen')?.metadata?.annotations?.['sharedlb.io/load-balancer'], `${NS}/mine-1`);
  assert.ok(!h.events.some((e) => e.reason === 'Released'), 'no Released warning from the other pool');
  await h.stop();
});
