import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classKey, effectiveClass, normalise, within } from './classes.ts';
import { parseMember, type MemberParse } from './members.ts';
import { poolSet } from './pools.ts';
import { pool } from './testing.ts';
import type { Pool, ServiceLike } from './types.ts';

const member = (spec: NonNullable<ServiceLike['spec']>, annotations: Record<string, string> = {}, ns = 'team'): ServiceLike => ({
  metadata: { name: 'svc', namespace: ns, creationTimestamp: '2025-01-01T00:00:00Z', annotations: { 'sharedlb.io/enabled': 'true', ...annotations } },
  spec: { type: 'ClusterIP', ports: [{ name: 'tcp', port: 5432 }], ...spec },
});

function parse(svc: ServiceLike, ...pools: Pool[]): MemberParse {
  return parseMember(svc, poolSet(pools.map((p) => ({ ok: true, pool: p }))), { defaultIPFamilies: ['IPv4'] });
}
const classOf = (r: MemberParse): string => (r.kind === 'member' ? r.request.classKey : `${r.kind}:${r.kind === 'rejected' ? `${r.reason}: ${r.message}` : ''}`);

describe('member classes: each declaration honoured or refused with a reason', () => {
  const p = pool({ provider: 'generic' });

  // Step table: what a member sets → the class it lands in, or the refusal it gets.
  const steps: Array<{ desc: string; svc: ServiceLike; pools?: Pool[]; want: string | RegExp }> = [
    { desc: 'nothing declared: the default class', svc: member({}), want: '' },
    { desc: 'source ranges (field) narrow the LB', svc: member({ type: 'NodePort', loadBalancerSourceRanges: ['10.1.2.3/16', '192.0.2.0/24'] }), want: '{"sourceRanges":["10.1.0.0/16","192.0.2.0/24"]}' },
    { desc: 'source ranges (annotation)', svc: member({}, { 'service.beta.kubernetes.io/load-balancer-source-ranges': '192.0.2.0/24, 198.51.100.0/24' }), want: '{"sourceRanges":["192.0.2.0/24","198.51.100.0/24"]}' },
    { desc: 'an open range is no narrowing', svc: member({}, { 'service.beta.kubernetes.io/load-balancer-source-ranges': '0.0.0.0/0' }), want: '' },
    { desc: 'a malformed range is Invalid', svc: member({}, { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.0.0.0/33' }), want: /Invalid: .*not a CIDR/ },
    { desc: 'a range outside the template\'s widens the LB: refused', svc: member({}, { 'service.beta.kubernetes.io/load-balancer-source-ranges': '192.0.2.0/24' }), pools: [pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } })], want: /Invalid: source range 192.0.2.0\/24 is outside pool p's 10.0.0.0\/8/ },
    { desc: 'a range inside the template\'s narrows it', svc: member({}, { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.3.0.0/16' }), pools: [pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } })], want: '{"sourceRanges":["10.3.0.0/16"]}' },
    { desc: 'an open range under a narrowed template widens it: refused', svc: member({}, { 'service.beta.kubernetes.io/load-balancer-source-ranges': '0.0.0.0/0' }), pools: [pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } })], want: /Invalid: the Service allows every source/ },
    { desc: 'externalTrafficPolicy Local: refused unless the pool allows an LB of its own', svc: member({ type: 'NodePort', externalTrafficPolicy: 'Local' }), want: /NoMatchingPool: pool p does not build LBs with externalTrafficPolicy Local \(an LB of its own: a shared LB has one health check/ },
    { desc: 'externalTrafficPolicy Local where the pool allows it', svc: member({ type: 'NodePort', externalTrafficPolicy: 'Local' }), pools: [pool({ classes: { allow: ['externalTrafficPolicy'] } })], want: '{"externalTrafficPolicy":"Local"}' },
    { desc: 'ClientIP affinity with its timeout', svc: member({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }), want: '{"sessionAffinity":{"timeoutSeconds":60}}' },
    { desc: 'ClientIP affinity, default timeout', svc: member({ sessionAffinity: 'ClientIP' }), want: '{"sessionAffinity":{"timeoutSeconds":10800}}' },
    { desc: 'the cluster\'s own family is no declaration', svc: member({ ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' }), want: '' },
    { desc: 'IPv6 only', svc: member({ ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' }), want: '{"ipFamilies":["IPv6"]}' },
    { desc: 'dual stack', svc: member({ ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' }), want: '{"ipFamilies":["IPv4","IPv6"]}' },
    { desc: 'IPv6 where the pool does not build other families', svc: member({ ipFamilies: ['IPv6'] }), pools: [pool({ classes: { allow: [] } })], want: /NoMatchingPool: pool p does not build LBs with IP families IPv6 \(the pool's LBs are IPv4\)/ },
    { desc: 'IPv6 under IPv4-only template ranges would be open to every IPv6 source: refused', svc: member({ ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' }), pools: [pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } })], want: /NoMatchingPool: pool p's source ranges \(10.0.0.0\/8\) cover no IPv6 address/ },
    { desc: 'dual stack under IPv4-only template ranges: refused', svc: member({ ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' }), pools: [pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } })], want: /NoMatchingPool: .*cover no IPv6 address/ },
    { desc: 'dual stack where the template has ranges of both families', svc: member({ ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' }), pools: [pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8', 'fd00::/8'] } })], want: '{"ipFamilies":["IPv4","IPv6"]}' },
    { desc: 'a member\'s own IPv4-only ranges on a dual-stack member leave IPv6 open: Invalid', svc: member({ ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack', loadBalancerSourceRanges: ['10.1.0.0/16'] }), want: /Invalid: the Service's source ranges \(10.1.0.0\/16\) cover no IPv6 address/ },
    { desc: 'IPv4 template ranges on an IPv4 cluster: the default class', svc: member({}), pools: [pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } })], want: '' },
    { desc: 'a requested IP is refused', svc: member({ type: 'LoadBalancer', loadBalancerClass: 'sharedlb.io/shared', loadBalancerIP: '203.0.113.9' }), want: /Invalid: spec.loadBalancerIP 203.0.113.9 asks for an address/ },
    { desc: 'a MetalLB address request is refused', svc: member({}, { 'metallb.io/loadBalancerIPs': '203.0.113.9' }), want: /Invalid: metallb.io\/loadBalancerIPs chooses an address/ },
    { desc: 'a per-LB provider annotation is refused', svc: member({}, { 'service.beta.kubernetes.io/aws-load-balancer-healthcheck-port': '8080' }), want: /Invalid: service.beta.kubernetes.io\/aws-load-balancer-healthcheck-port configures a cloud LB per Service/ },
    { desc: 'annotations of other tools are not ours to judge', svc: member({}, { 'external-dns.alpha.kubernetes.io/hostname': 'db.example.com' }), want: '' },
  ];
  for (const s of steps) {
    it(s.desc, () => {
      const got = classOf(parse(s.svc, ...(s.pools ?? [p])));
      if (typeof s.want === 'string') assert.equal(got, s.want);
      else assert.match(got, s.want);
    });
  }

  it('on an IPv6-primary cluster, IPv4-only template ranges leave a member that declares nothing open over IPv6: refused', () => {
    const r = parseMember(member({}), poolSet([{ ok: true, pool: pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } }) }]), { defaultIPFamilies: ['IPv6'] });
    assert.match(classOf(r), /NoMatchingPool: pool p's source ranges \(10.0.0.0\/8\) cover no IPv6 address/);
  });

  it('several attributes make one class, in one canonical spelling', () => {
    const a = classOf(parse(member({ sessionAffinity: 'ClientIP', type: 'NodePort', loadBalancerSourceRanges: ['192.0.2.0/24'] }), p));
    assert.equal(a, classKey({ sessionAffinity: { timeoutSeconds: 10800 }, sourceRanges: ['192.0.2.0/24'] }));
    assert.equal(a, '{"sourceRanges":["192.0.2.0/24"],"sessionAffinity":{"timeoutSeconds":10800}}');
  });
});

describe('member classes: scope picks the pool', () => {
  const external = pool({ provider: 'azure' }, 'public');
  const internal = pool({ provider: 'azure', default: false, template: { annotations: { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' } } }, 'private');
  const internalToo = pool({ provider: 'azure', default: false, template: { annotations: { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' } } }, 'private2');
  const wantsInternal = { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' };

  it('an internal member goes to the one internal pool, never the external default', () => {
    const r = parse(member({}, wantsInternal), external, internal);
    assert.equal(r.kind === 'member' && r.request.pool, 'private');
  });
  it('naming an external pool while asking for internal is refused with the pools that would do', () => {
    const r = parse(member({}, { ...wantsInternal, 'sharedlb.io/pool': 'public' }), external, internal);
    assert.match(classOf(r), /NoMatchingPool: the Service asks for an internal LB but pool public builds external ones: set sharedlb.io\/pool to one of private/);
  });
  it('two internal pools: the member must name one', () => {
    assert.match(classOf(parse(member({}, wantsInternal), external, internal, internalToo)), /NoMatchingPool: .*set sharedlb.io\/pool to one of private, private2/);
  });
  it('no internal pool at all: refused, never placed on an external LB', () => {
    assert.match(classOf(parse(member({}, wantsInternal), external)), /NoMatchingPool: .*no pool that namespace team may use builds internal LBs/);
  });
  it('an internal pool the namespace may not use does not count', () => {
    const fenced = pool({ provider: 'azure', default: false, namespaceSelector: { matchLabels: { tier: 'db' } }, template: { annotations: { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' } } }, 'fenced');
    assert.match(classOf(parse(member({}, wantsInternal), external, fenced)), /NoMatchingPool/);
  });
  it('AWS: the in-tree internal annotation and the LBC scheme both count', () => {
    const nlbInternal = pool({ provider: 'aws-nlb', default: false }, 'nlb-internal');
    const nlbPublic = pool({ provider: 'aws-nlb', template: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing' } } }, 'nlb-public');
    for (const a of [{ 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' }, { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal' }] as Array<Record<string, string>>) {
      const r = parse(member({}, a), nlbPublic, nlbInternal);
      assert.equal(r.kind === 'member' && r.request.pool, 'nlb-internal');
    }
  });
});

describe('CIDRs', () => {
  it('normalises and checks containment across families', () => {
    assert.equal(normalise('10.1.2.3/8'), '10.0.0.0/8');
    assert.equal(normalise('2001:db8:0:0::1/64'), '2001:db8::/64');
    assert.ok(within('10.3.0.0/16', '10.0.0.0/8'));
    assert.ok(!within('10.0.0.0/8', '10.3.0.0/16'));
    assert.ok(!within('2001:db8::/64', '10.0.0.0/8'));
  });
});

describe('effectiveClass', () => {
  it('overlays what a class declares on the pool\'s template', () => {
    const p = pool({ template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } });
    assert.deepEqual(effectiveClass(p, ''), { scope: 'external', sourceRanges: ['10.0.0.0/8'], externalTrafficPolicy: 'Cluster', sessionAffinity: 'None', ipFamilies: ['IPv4'] });
    assert.deepEqual(effectiveClass(p, '{"sourceRanges":["10.3.0.0/16"],"sessionAffinity":{"timeoutSeconds":60}}', ['IPv6']), {
      scope: 'external', sourceRanges: ['10.3.0.0/16'], externalTrafficPolicy: 'Cluster', sessionAffinity: 'ClientIP', sessionAffinityTimeoutSeconds: 60, ipFamilies: ['IPv6'],
    });
  });
});
