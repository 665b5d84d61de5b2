import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { pool } from '../allocator/testing.ts';
import { readLoadBalancer } from '../allocator/lb-record.ts';
import { memberHash } from './mirror.ts';
import { desiredLoadBalancer, lbDiffers } from './shared-lb.ts';

const now = new Date('2026-01-01T00:00:00Z');
const state = (classKey = '') => ({ name: 'p-1', pool: 'p', classKey, assignments: [{ port: 7000, protocol: 'TCP' as const, member: 'ns/a', servicePort: 'api' }] });

describe('the shared LB Service', () => {
  it('is built from the template with the class laid over it, and records the class', () => {
    const t = pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'], annotations: { team: 'net' } } }).template;
    const lb = desiredLoadBalancer({ name: 'p', template: t }, state('{"sourceRanges":["10.3.0.0/16"],"sessionAffinity":{"timeoutSeconds":60},"ipFamilies":["IPv4","IPv6"]}'), 'sys', undefined, now);
    assert.deepEqual(lb.spec?.loadBalancerSourceRanges, ['10.3.0.0/16']);
    assert.equal(lb.spec?.sessionAffinity, 'ClientIP');
    assert.equal(lb.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds, 60);
    assert.deepEqual(lb.spec?.ipFamilies, ['IPv4', 'IPv6']);
    assert.equal(lb.spec?.ipFamilyPolicy, 'RequireDualStack');
    assert.equal(readLoadBalancer(lb).state.classKey, '{"sourceRanges":["10.3.0.0/16"],"sessionAffinity":{"timeoutSeconds":60},"ipFamilies":["IPv4","IPv6"]}');
    const plain = desiredLoadBalancer({ name: 'p', template: t }, state(), 'sys', undefined, now);
    assert.deepEqual(plain.spec?.loadBalancerSourceRanges, ['10.0.0.0/8']);
    assert.equal(plain.metadata?.annotations?.['sharedlb.io/class'], undefined);
  });

  it('carries a member port\'s appProtocol to its LB port', () => {
    const lb = desiredLoadBalancer({ name: 'p', template: pool({}).template }, state(), 'sys', undefined, now, { appProtocols: new Map([['ns/a/api', 'kubernetes.io/h2c']]) });
    assert.equal(lb.spec?.ports?.[0]?.appProtocol, 'kubernetes.io/h2c');
  });

  it('removes an annotation its template no longer sets, and leaves others\' annotations alone', () => {
    const before = desiredLoadBalancer({ name: 'p', template: pool({ template: { annotations: { a: '1', b: '2' } } }).template }, state(), 'sys', undefined, now);
    before.metadata = { ...before.metadata, annotations: { ...before.metadata?.annotations, 'cloud.example/id': 'lb-123' } };
    const after = desiredLoadBalancer({ name: 'p', template: pool({ template: { annotations: { a: '1' } } }).template }, state(), 'sys', before, now);
    assert.equal(after.metadata?.annotations?.b, undefined);
    assert.equal(after.metadata?.annotations?.a, '1');
    assert.equal(after.metadata?.annotations?.['cloud.example/id'], 'lb-123');
    assert.ok(lbDiffers(before, after));
  });

  it('never changes an existing LB\'s loadBalancerClass (immutable); a new LB gets the template\'s', () => {
    const existing: V1Service = desiredLoadBalancer({ name: 'p', template: pool({}).template }, state(), 'sys', undefined, now);
    const t = pool({ template: { loadBalancerClass: 'example.com/other' } }).template;
    assert.equal(desiredLoadBalancer({ name: 'p', template: t }, state(), 'sys', existing, now).spec?.loadBalancerClass, undefined);
    assert.equal(desiredLoadBalancer({ name: 'p', template: t }, state(), 'sys', undefined, now).spec?.loadBalancerClass, 'example.com/other');
  });

  it('names a port for its slot and holder; a port its holder keeps keeps its name and NodePort (legacy names too), one that changes hands gets new ones', () => {
    const t = pool({}).template;
    const legacy: V1Service = {
      metadata: { name: 'p-1', namespace: 'sys', annotations: { 'sharedlb.io/allocations': '{"tcp-7000":"ns/a/api"}' } },
      spec: { type: 'LoadBalancer', ports: [{ name: 'tcp-7000', port: 7000, protocol: 'TCP', nodePort: 31000 }] },
    };
    const kept = desiredLoadBalancer({ name: 'p', template: t }, state(), 'sys', legacy, now).spec?.ports?.[0];
    assert.equal(kept?.name, 'tcp-7000', 'an upgrade renames no serving port');
    assert.equal(desiredLoadBalancer({ name: 'p', template: t }, state(), 'sys', undefined, now).spec?.ports?.[0]?.name, `tcp-7000-${memberHash('ns/a').slice(0, 8)}`);
    assert.equal(kept?.nodePort, 31000);
    const handed = { ...state(), assignments: [{ port: 7000, protocol: 'TCP' as const, member: 'other/b', servicePort: 'api' }] };
    const given = desiredLoadBalancer({ name: 'p', template: t }, handed, 'sys', legacy, now).spec?.ports?.[0];
    assert.equal(given?.name, `tcp-7000-${memberHash('other/b').slice(0, 8)}`);
    assert.equal(given?.nodePort, undefined, 'a new holder, a new NodePort');
  });
});
