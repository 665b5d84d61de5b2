import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { desiredSlices, MEMBER_LABEL, memberHash, sliceDiffers } from './mirror.ts';

const lb: V1Service = { metadata: { name: 'lb-1', namespace: 'sharedlb-system', uid: 'u-1' } };
const source = (over: Partial<V1EndpointSlice> = {}): V1EndpointSlice => ({
  metadata: { name: 'kafka-abc', namespace: 'team-a', labels: { 'kubernetes.io/service-name': 'kafka' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: true }, nodeName: 'n1', zone: 'z1', targetRef: { kind: 'Pod', namespace: 'team-a', name: 'kafka-0', uid: 'p-1' } }],
  ports: [{ name: 'broker', port: 9092, protocol: 'TCP' }],
  ...over,
});
const assignments = [{ port: 10001, protocol: 'TCP' as const, member: 'team-a/kafka', servicePort: 'broker' }];

describe('mirrored EndpointSlices', () => {
  it("carry the member's endpoints under the LB's port name, owned by the LB", () => {
    const [m, ...rest] = desiredSlices(lb, 'team-a/kafka', assignments, [source()]);
    assert.equal(rest.length, 0);
    assert.deepEqual(m?.ports, [{ name: `tcp-10001-${memberHash('team-a/kafka').slice(0, 8)}`, port: 9092, protocol: 'TCP' }]);
    assert.deepEqual(m?.endpoints, [{ addresses: ['10.1.0.5'], conditions: { ready: true }, nodeName: 'n1', zone: 'z1' }], 'no pod reference crosses into the LB namespace');
    assert.equal(m?.metadata?.labels?.[MEMBER_LABEL], memberHash('team-a/kafka'));
    assert.equal(m?.metadata?.ownerReferences?.[0]?.uid, 'u-1');
  });

  it('keep a port\'s appProtocol and an endpoint\'s hints (trafficDistribution)', () => {
    const hints = { forZones: [{ name: 'z1' }] };
    const [m] = desiredSlices(lb, 'team-a/kafka', assignments, [source({
      ports: [{ name: 'broker', port: 9092, protocol: 'TCP', appProtocol: 'kafka' }],
      endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: true }, zone: 'z1', hints }],
    })]);
    assert.equal(m?.ports?.[0]?.appProtocol, 'kafka');
    assert.deepEqual(m?.endpoints?.[0]?.hints, hints);
  });

  it('skip FQDN slices and ports the member was not given', () => {
    assert.deepEqual(desiredSlices(lb, 'team-a/kafka', assignments, [source({ addressType: 'FQDN', endpoints: [{ addresses: ['metadata.google.internal'] }] })]), []);
    assert.deepEqual(desiredSlices(lb, 'team-a/kafka', assignments, [source({ ports: [{ name: 'admin', port: 9999, protocol: 'TCP' }] })]), []);
  });

  it('differ when readiness changes, not when only a pod reference does', () => {
    const [m] = desiredSlices(lb, 'team-a/kafka', assignments, [source()]);
    const [again] = desiredSlices(lb, 'team-a/kafka', assignments, [source({ endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: true }, nodeName: 'n1', zone: 'z1' }] })]);
    const [unready] = desiredSlices(lb, 'team-a/kafka', assignments, [source({ endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: false }, nodeName: 'n1', zone: 'z1' }] })]);
    assert.equal(sliceDiffers(m as V1EndpointSlice, again as V1EndpointSlice), false);
    assert.equal(sliceDiffers(m as V1EndpointSlice, unready as V1EndpointSlice), true);
  });

  it('do not differ from what the API server returns for them (its maps come back with sorted keys)', () => {
    const [m] = desiredSlices(lb, 'team-a/kafka', assignments, [source()]);
    assert.ok(m !== undefined);
    // As JSON from the API server: label keys sorted, server fields added.
    const labels = Object.fromEntries(Object.entries(m.metadata?.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
    assert.notDeepEqual(Object.keys(labels), Object.keys(m.metadata?.labels ?? {}), 'the test must reorder something');
    const served: V1EndpointSlice = JSON.parse(JSON.stringify({ ...m, metadata: { ...m.metadata, labels, uid: 's-1', resourceVersion: '7', generation: 1 } }));
    assert.equal(sliceDiffers(served, m), false);
  });

  it('differ when an endpoint\'s hints change', () => {
    const withHints = (zone: string) => desiredSlices(lb, 'team-a/kafka', assignments, [source({ endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: true }, zone: 'z1', hints: { forZones: [{ name: zone }] } }] })])[0] as V1EndpointSlice;
    assert.equal(sliceDiffers(withHints('z1'), withHints('z2')), true);
  });
});
