import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { memberKey, parseKey, poolKey } from './keys.ts';
import { memberService, memberSlice, NS, poolObject, startHarness } from './testing/harness.ts';
import { sliceTarget, touchesSharing, watchHandlers } from './watches.ts';

describe('reconcile keys', () => {
  it('are made and read in one place', () => {
    assert.deepEqual(parseKey(poolKey('p')), { kind: 'pool', pool: 'p' });
    assert.deepEqual(parseKey(memberKey('ns/a')), { kind: 'member', member: 'ns/a' });
    assert.throws(() => parseKey('ns/a'), /not a reconcile key/);
  });
});

describe('what each event enqueues', () => {
  it('touchesSharing: opted in, misspelt, our class, told something, or holding ports', () => {
    const svc = (over: Partial<V1Service>): V1Service => ({ metadata: { name: 'a', namespace: 'n', ...over.metadata }, spec: { type: 'ClusterIP', ...over.spec }, ...(over.status ? { status: over.status } : {}) });
    assert.equal(touchesSharing(svc({}), 'c', false), false);
    assert.equal(touchesSharing(svc({ metadata: { annotations: { 'sharedlb.io/enabld': 'true' } } }), 'c', false), true);
    assert.equal(touchesSharing(svc({ spec: { type: 'LoadBalancer', loadBalancerClass: 'c' } }), 'c', false), true);
    assert.equal(touchesSharing(svc({ status: { conditions: [{ type: 'sharedlb.io/Ready', status: 'False', reason: 'x', message: '', lastTransitionTime: new Date() }] } }), 'c', false), true);
    assert.equal(touchesSharing(svc({}), 'c', true), true);
  });

  it('sliceTarget: our mirror, a member\'s own slice, or nothing', () => {
    const mirror = { metadata: { labels: { 'endpointslice.kubernetes.io/managed-by': 'controller.sharedlb.io' }, annotations: { 'sharedlb.io/member': 'n/a' } } , addressType: 'IPv4' } as V1EndpointSlice;
    const own = { metadata: { namespace: 'n', labels: { 'kubernetes.io/service-name': 'a' } } , addressType: 'IPv4' } as V1EndpointSlice;
    assert.deepEqual(sliceTarget(mirror), { mirrorOf: 'n/a' });
    assert.deepEqual(sliceTarget(own), { sourceOf: 'n/a', serviceName: 'a' });
    assert.equal(sliceTarget({ metadata: {} , addressType: 'IPv4' } as V1EndpointSlice), null);
  });

  it('the table: LB → its pool and the members whose view changed; a member → itself and, when placement reads changed, the pools; a foreign slice of an LB → its pool', async () => {
    const h = await startHarness([poolObject('p', { default: true, provider: 'generic' }), memberService('a', 'm', [{ name: 'x', port: 7000 }]), memberSlice('a', 'm', ['10.0.0.1'], [{ name: 'x', port: 7000 }])]);
    await h.converge();
    const got: string[] = [];
    const handlers = watchHandlers({
      state: () => h.state, namespace: NS, className: 'sharedlb.io/shared', awaitsPlacement: () => false, onRelist: () => undefined, onRestart: () => undefined,
      enqueue: { pool: (n) => void got.push(`pool ${n}`), allPools: () => void got.push('all pools'), member: (k) => void got.push(`member ${k}`), members: () => void got.push('all members') },
    });
    const lb = h.service(NS, 'p-1') as V1Service;
    handlers.service('update', lb, new Set(['a/m']));
    assert.deepEqual(got.splice(0), ['pool p', 'member a/m']);
    const m = h.service('a', 'm') as V1Service;
    handlers.service('update', m, new Set());
    assert.deepEqual(got.splice(0), ['all pools'], 'the echo of its own write-back wakes no member reconcile; placement inputs seen for the first time wake the pools');
    handlers.service('update', { ...m, metadata: { ...m.metadata, resourceVersion: '999999' } }, new Set());
    assert.deepEqual(got.splice(0), ['member a/m'], 'another change wakes it; placement reads nothing new: no pool');
    handlers.slice('add', { metadata: { name: 'evil', namespace: NS, labels: { 'kubernetes.io/service-name': 'p-1' } } , addressType: 'IPv4' } as V1EndpointSlice);
    assert.deepEqual(got.splice(0), ['pool p']);
    handlers.slice('update', h.api.list('EndpointSlice', 'a')[0] as unknown as V1EndpointSlice);
    assert.deepEqual(got.splice(0), ['member a/m']);
    await h.stop();
  });
});
