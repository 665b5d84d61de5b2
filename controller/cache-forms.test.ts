import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { concernsSharing, isStub, serviceForm, sliceForm } from './cache-forms.ts';
import { desiredSlices, sliceDiffers } from './mirror.ts';

const NS = 'sharedlb-system';
const CLASS = 'sharedlb.io/shared';
const svc = (over: Partial<V1Service> & { annotations?: Record<string, string> } = {}): V1Service => ({
  metadata: { name: 'web', namespace: 'team-a', resourceVersion: '7', uid: 'u-7', annotations: over.annotations, managedFields: [{ manager: 'kubectl' }] },
  spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'admin', port: 81 }], ...over.spec },
  status: over.status ?? {},
});
const slice = (service: string, namespace = 'team-a'): V1EndpointSlice => ({
  metadata: { name: `${service}-x1`, namespace, resourceVersion: '9', labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'web-0' } }],
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

describe('what the caches keep', () => {
  it('keeps whole every Service that has or may have to do with sharing', () => {
    assert.equal(concernsSharing(svc({ annotations: { 'sharedlb.io/enabled': 'true' } }), NS, CLASS), true);
    assert.equal(concernsSharing(svc({ annotations: { 'sharedlb.io/pol': 'x' } }), NS, CLASS), true, 'a misspelt annotation is reported, so it is kept');
    assert.equal(concernsSharing(svc({ spec: { type: 'LoadBalancer', loadBalancerClass: CLASS } }), NS, CLASS), true);
    assert.equal(concernsSharing(svc({ status: { conditions: [{ type: 'sharedlb.io/Ready', status: 'False', reason: 'x', message: '', lastTransitionTime: new Date() }] } }), NS, CLASS), true, 'still to be released');
    assert.equal(concernsSharing({ metadata: { name: 'kubernetes', namespace: 'default' } }, NS, CLASS), true);
    assert.equal(concernsSharing({ metadata: { name: 'lb-1', namespace: NS } }, NS, CLASS), true);
    assert.equal(concernsSharing(svc({ spec: { type: 'LoadBalancer', loadBalancerClass: 'other' } }), NS, CLASS), false);
    assert.equal(concernsSharing(svc({ annotations: { 'example.com/x': 'y' } }), NS, CLASS), false);
  });

  it("keeps of any other Service a stub with its identity and the NodePorts it holds", () => {
    const form = serviceForm(svc(), NS, CLASS);
    assert.equal(isStub(form), true);
    assert.deepEqual(form, { metadata: { name: 'web', namespace: 'team-a', resourceVersion: '7' }, spec: { ports: [{ port: 80, nodePort: 30080 }] } });
    assert.deepEqual(serviceForm(svc({ spec: { type: 'ClusterIP', ports: [{ port: 80 }] } }), NS, CLASS), { metadata: { name: 'web', namespace: 'team-a', resourceVersion: '7' } });
    const member = serviceForm(svc({ annotations: { 'sharedlb.io/enabled': 'true' } }), NS, CLASS);
    assert.equal(isStub(member), false);
    assert.equal(member.metadata?.managedFields, undefined, 'managedFields are never kept');
    assert.deepEqual(member.spec?.selector, { app: 'web' });
  });

  it("keeps a slice whole, without pod references, only if its Service is kept whole", () => {
    const kept = sliceForm(slice('web'), NS, (s) => s === 'team-a/web');
    assert.equal(isStub(kept), false);
    assert.equal(kept.endpoints?.[0]?.targetRef, undefined);
    assert.deepEqual(kept.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    const other = sliceForm(slice('db'), NS, (s) => s === 'team-a/web');
    assert.equal(isStub(other), true);
    assert.equal(other.ports, undefined, 'a stub mirrors nothing: it has no ports');
    assert.equal(other.addressType, undefined, 'nor an address type');
    assert.deepEqual(other.metadata?.labels, { 'kubernetes.io/service-name': 'db' });
    assert.equal(other.metadata?.resourceVersion, '9');
  });

  it('keeps a mirrored slice as a digest that compares as the slice does', () => {
    const lb: V1Service = { metadata: { name: 'lb-1', namespace: NS, uid: 'u-1' } };
    const assignments = [{ port: 10001, protocol: 'TCP' as const, member: 'team-a/web', servicePort: 'http' }];
    const [mirror] = desiredSlices(lb, 'team-a/web', assignments, [slice('web')]) as [V1EndpointSlice];
    const cached = sliceForm(structuredClone({ ...mirror, metadata: { ...mirror.metadata, resourceVersion: '3' } }), NS, () => false);
    assert.equal(isStub(cached), true);
    assert.deepEqual(cached.endpoints, []);
    assert.equal(sliceDiffers(cached, mirror), false);
    const unready = { ...mirror, endpoints: (mirror.endpoints ?? []).map((e) => ({ ...e, conditions: { ready: false } })) };
    assert.equal(sliceDiffers(cached, unready), true);
  });
});
