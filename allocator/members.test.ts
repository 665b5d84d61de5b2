import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { plan } from './plan.ts';
import { parseMember, type MemberParse } from './members.ts';
import { parsePool, poolSet, POOL_API_VERSION, POOL_KIND, type PoolSet } from './pools.ts';
import { pool, svc } from './testing.ts';

const set = (...specs: Array<[string, Record<string, unknown>]>): PoolSet =>
  poolSet(specs.map(([name, spec]) => parsePool({ apiVersion: POOL_API_VERSION, kind: POOL_KIND, metadata: { name }, spec })));
const one = poolSet([{ ok: true, pool: pool({ provider: 'aws-nlb' }, 'main') }]);
const on = { 'sharedlb.io/enabled': 'true' };

function rejected(r: MemberParse, reason: 'Invalid' | 'Forbidden', text: RegExp): void {
  assert.equal(r.kind, 'rejected', JSON.stringify(r));
  if (r.kind !== 'rejected') return;
  assert.equal(r.reason, reason);
  assert.match(r.message, text);
}

describe('parseMember: opting in', () => {
  it('ignores Services that did not opt in', () => {
    assert.deepEqual(parseMember(svc({}), one), { kind: 'ignored' });
    assert.deepEqual(parseMember(svc({ type: 'LoadBalancer' }), one), { kind: 'ignored' });
    assert.deepEqual(parseMember(svc({ annotations: { 'sharedlb.io/enabled': 'false' } }), one), { kind: 'ignored' });
  });

  it('takes an annotated ClusterIP or NodePort Service with policy prefer', () => {
    for (const type of ['ClusterIP', 'NodePort']) {
      const r = parseMember(svc({ type, annotations: on }), one);
      assert.equal(r.kind, 'member');
      if (r.kind === 'member') {
        assert.equal(r.request.policy, 'prefer');
        assert.equal(r.request.pool, 'main');
        assert.deepEqual(r.request.ports, [{ name: 'tcp', protocol: 'TCP', port: 9092 }]);
        assert.equal(r.request.key, 'ns/s');
        assert.equal(r.request.created, '2025-01-01T00:00:00.000Z');
      }
    }
  });

  it('takes a LoadBalancer Service of the class with policy preserve', () => {
    const r = parseMember(svc({ type: 'LoadBalancer', class: 'sharedlb.io/shared' }), one);
    assert.equal(r.kind, 'member');
    if (r.kind === 'member') assert.equal(r.request.policy, 'preserve');
  });

  it('honours a configured class name', () => {
    const s = svc({ type: 'LoadBalancer', class: 'example.com/l4' });
    assert.equal(parseMember(s, one, { className: 'example.com/l4' }).kind, 'member');
    assert.equal(parseMember(s, one).kind, 'ignored');
  });

  it('refuses the annotation on a LoadBalancer Service without the class, naming the fix', () => {
    rejected(parseMember(svc({ type: 'LoadBalancer', annotations: on }), one), 'Invalid', /loadBalancerClass: sharedlb\.io\/shared.*recreate/);
    rejected(parseMember(svc({ type: 'LoadBalancer', class: 'service.k8s.aws/nlb', annotations: on }), one), 'Invalid', /belongs to another controller/);
  });

  it('refuses enabled values other than "true" and "false"', () => {
    for (const v of ['yes', 'True', '1', '']) {
      rejected(parseMember(svc({ annotations: { 'sharedlb.io/enabled': v } }), one), 'Invalid', /must be "true" or "false"/);
    }
  });

  it('refuses enabled "false" on a class member, which only sharedlb serves', () => {
    rejected(parseMember(svc({ type: 'LoadBalancer', class: 'sharedlb.io/shared', annotations: { 'sharedlb.io/enabled': 'false' } }), one), 'Invalid', /only sharedlb serves/);
  });

  it('does not ignore sharing annotations on a Service that never opted in', () => {
    rejected(parseMember(svc({ annotations: { 'sharedlb.io/pool': 'main' } }), one), 'Invalid', /has not opted in/);
    rejected(parseMember(svc({ annotations: { 'sharedlb.io/enable': 'true' } }), one), 'Invalid', /sharedlb\.io\/enable is set but the Service has not opted in/);
    assert.deepEqual(parseMember(svc({ annotations: { 'sharedlb.io/address': 'stale' } }), one), { kind: 'ignored' });
  });

  it('refuses ExternalName Services', () => {
    rejected(parseMember(svc({ type: 'ExternalName', annotations: on }), one), 'Invalid', /type ExternalName cannot be shared/);
  });
});

describe('parseMember: malformed requests', () => {
  it('refuses a misspelt policy and unknown sharedlb.io annotations', () => {
    rejected(parseMember(svc({ annotations: { ...on, 'sharedlb.io/port-policy': 'preserv' } }), one), 'Invalid', /one of preserve, prefer, any, not "preserv"/);
    rejected(parseMember(svc({ annotations: { ...on, 'sharedlb.io/port-polcy': 'any' } }), one), 'Invalid', /unknown annotation sharedlb\.io\/port-polcy/);
  });

  it('accepts the annotations the controller itself writes', () => {
    const r = parseMember(svc({ annotations: { ...on, 'sharedlb.io/address': '198.51.100.1:9092/TCP', 'sharedlb.io/load-balancer': 'x/y' } }), one);
    assert.equal(r.kind, 'member');
  });

  it('refuses an unknown pool, listing the real ones, and a broken one with its problems', () => {
    rejected(parseMember(svc({ annotations: { ...on, 'sharedlb.io/pool': 'nope' } }), one), 'Invalid', /no LoadBalancerPool named "nope" \(pools: main\)/);
    const s = set(['good', { default: true }], ['bad', { provider: 'aws', maxPortsPerLB: 0 }]);
    rejected(parseMember(svc({ annotations: { ...on, 'sharedlb.io/pool': 'bad' } }), s), 'Invalid', /bad is not usable: .*spec\.provider/);
  });

  it('explains a missing or ambiguous default pool', () => {
    rejected(parseMember(svc({ annotations: on }), poolSet([])), 'Invalid', /no LoadBalancerPool exists/);
    rejected(parseMember(svc({ annotations: on }), set(['a', {}])), 'Invalid', /no LoadBalancerPool is marked default/);
    rejected(parseMember(svc({ annotations: on }), set(['a', { default: true }], ['b', { default: true }])), 'Invalid', /more than one .* \(a, b\)/);
  });

  it('refuses a Service with no ports', () => {
    rejected(parseMember(svc({ annotations: on, ports: [] }), one), 'Invalid', /no ports/);
  });

  it('refuses a protocol the pool does not carry, and bad port numbers', () => {
    const hetzner = poolSet([{ ok: true, pool: pool({ provider: 'hetzner' }, 'h') }]);
    rejected(parseMember(svc({ annotations: on, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }), hetzner), 'Invalid', /carries TCP, not UDP/);
    rejected(parseMember(svc({ annotations: on, ports: [{ name: 'x', port: 53, protocol: 'ICMP' }] }), one), 'Invalid', /unknown protocol/);
    rejected(parseMember(svc({ annotations: on, ports: [{ name: 'x', port: 70000 }] }), one), 'Invalid', /from 1 to 65535/);
  });

  it('refuses duplicate port names', () => {
    rejected(parseMember(svc({ annotations: on, ports: [{ name: 'a', port: 1 }, { name: 'a', port: 2 }] }), one), 'Invalid', /share the name "a"/);
  });

  it('refuses mixed protocols where the pool cannot mix them', () => {
    const gcp = poolSet([{ ok: true, pool: pool({ provider: 'gcp' }, 'g') }]);
    const ports = [{ name: 'a', port: 53, protocol: 'TCP' }, { name: 'b', port: 53, protocol: 'UDP' }];
    rejected(parseMember(svc({ annotations: on, ports }), gcp), 'Invalid', /mixes TCP and UDP.*split/);
  });

  it('refuses the same port under two protocols with preserve where the provider cannot', () => {
    const ports = [{ name: 'a', port: 53, protocol: 'TCP' }, { name: 'b', port: 53, protocol: 'UDP' }];
    rejected(parseMember(svc({ type: 'LoadBalancer', class: 'sharedlb.io/shared', ports }), one), 'Invalid', /both TCP and UDP/);
    assert.equal(parseMember(svc({ annotations: on, ports }), one).kind, 'member'); // prefer may move one of them
  });

  it('refuses more ports than an LB carries, and a reserved port under preserve', () => {
    const small = poolSet([{ ok: true, pool: pool({ maxPortsPerLB: 2, reservedPorts: [22] }, 's') }]);
    rejected(parseMember(svc({ annotations: on, ports: [{ name: 'a', port: 1 }, { name: 'b', port: 2 }, { name: 'c', port: 3 }] }), small), 'Invalid', /3 ports .* at most 2/);
    rejected(parseMember(svc({ type: 'LoadBalancer', class: 'sharedlb.io/shared', ports: [{ name: 'ssh', port: 22 }] }), small), 'Invalid', /reserved/);
  });
});

describe('parseMember: tenancy', () => {
  const tenants = poolSet([{ ok: true, pool: pool({ namespaceSelector: { matchLabels: { tier: 'prod' } } }, 'prod') }]);
  it('forbids namespaces outside the pool selector', () => {
    rejected(parseMember(svc({ annotations: on }), tenants, { namespaceLabels: { tier: 'dev' } }), 'Forbidden', /namespace ns may not use LoadBalancerPool prod/);
  });
  it('admits namespaces inside it', () => {
    assert.equal(parseMember(svc({ annotations: on }), tenants, { namespaceLabels: { tier: 'prod' } }).kind, 'member');
  });
});

describe('parseMember: fuzzed Services', () => {
  const keys = ['sharedlb.io/enabled', 'sharedlb.io/pool', 'sharedlb.io/port-policy', 'sharedlb.io/address', 'sharedlb.io/x', 'other.io/y'];
  const text = fc.oneof(fc.constantFrom('true', 'false', 'preserve', 'prefer', 'any', 'main', ''), fc.string({ unit: 'binary', maxLength: 300 }));
  const arbService = fc.record({
    apiVersion: fc.constant('v1'),
    kind: fc.constant('Service'),
    metadata: fc.record({
      name: fc.string({ maxLength: 40 }),
      namespace: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      creationTimestamp: fc.option(fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())), { nil: undefined }),
      annotations: fc.option(fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string()), text), { nil: undefined }),
    }, { requiredKeys: ['name'] }),
    spec: fc.option(fc.record({
      type: fc.option(fc.oneof(fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'), fc.string()), { nil: undefined }),
      loadBalancerClass: fc.option(fc.oneof(fc.constant('sharedlb.io/shared'), fc.string()), { nil: undefined }),
      ports: fc.option(fc.array(fc.record({
        name: fc.option(fc.oneof(fc.constantFrom('a', 'b', ''), fc.string()), { nil: undefined }),
        port: fc.option(fc.oneof(fc.integer({ min: -10, max: 70000 }), fc.double(), fc.constant(Number.NaN)) as fc.Arbitrary<number>, { nil: undefined }),
        protocol: fc.option(fc.oneof(fc.constantFrom('TCP', 'UDP', 'SCTP'), fc.string()), { nil: undefined }),
      }), { maxLength: 6 }), { nil: undefined }),
    }), { nil: undefined }),
  });

  it('never throws; refuses with a reason; accepts only what the pool can carry', () => {
    fc.assert(fc.property(arbService, (s) => {
      const r = parseMember(s as never, one);
      assert.ok(['ignored', 'member', 'rejected'].includes(r.kind));
      if (r.kind === 'rejected') {
        assert.ok(r.message.length > 10);
        assert.ok(r.reason === 'Invalid' || r.reason === 'Forbidden');
      }
      if (r.kind === 'member') {
        assert.ok(r.request.ports.length > 0);
        for (const p of r.request.ports) {
          assert.ok(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535);
          assert.ok(['TCP', 'UDP'].includes(p.protocol));
        }
        assert.ok(['preserve', 'prefer', 'any'].includes(r.request.policy));
      }
    }), { numRuns: 2000 });
  });

  it('bad Services never change what good ones get', () => {
    const good = Array.from({ length: 30 }, (_, i) => svc({ name: `g${i}`, annotations: on, ports: [{ name: 'p', port: 9000 + (i % 7) }] }));
    const alone = plan({ services: good, pools: one });
    fc.assert(fc.property(fc.array(arbService, { maxLength: 20 }), (bad) => {
      const rejected = bad.filter((b) => parseMember(b as never, one).kind === 'rejected');
      const mixed = plan({ services: [...good, ...(rejected as never[])], pools: one });
      for (const m of alone.members) assert.deepEqual(mixed.members.find((x) => x.service === m.service), m);
    }), { numRuns: 300 });
  });
});
