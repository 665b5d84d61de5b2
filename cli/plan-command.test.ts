import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { planCommand } from './plan-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'sharedlb-plan-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
async function run(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await planCommand(args, {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    stdin: () => stdin,
  });
  return { code, out, err };
}

const services = `
apiVersion: v1
kind: Service
metadata: {name: kafka, namespace: data, annotations: {sharedlb.io/enabled: "true"}}
spec: {ports: [{name: broker, port: 9092}]}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: edge}
spec: {type: LoadBalancer, loadBalancerClass: sharedlb.io/shared, ports: [{name: dns, port: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: edge}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: edge}
`;

describe('sharedlb plan', () => {
  it('prints the documented JSON shape; Services that did not opt in are absent', async () => {
    const r = await run(['-f', file('svc.yaml', services), '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /skipped 1 Deployment/);
    const j = JSON.parse(r.out);
    assert.deepEqual(Object.keys(j.summary).filter((k) => ['members', 'allocated', 'loadBalancers', 'lowerBound', 'monthlyCost', 'dedicatedMonthlyCost', 'monthlySavings'].includes(k)).length, 7);
    assert.deepEqual(j.members.map((m: { service: string }) => m.service), ['data/kafka', 'edge/dns']);
    assert.deepEqual(j.members[0], {
      service: 'data/kafka', pool: 'default', state: 'Allocated', reason: 'Allocated', message: 'placed on shared LB default-1',
      loadBalancer: 'default-1', ports: [{ servicePort: 'broker', protocol: 'TCP', port: 9092, externalPort: 9092 }], moved: null, movable: false,
    });
    // Each LB says what defines it (members of different classes never share one).
    assert.deepEqual(j.loadBalancers[0].class, { scope: 'external', sourceRanges: [], externalTrafficPolicy: 'Cluster', sessionAffinity: 'None', ipFamilies: ['IPv4'] });
    assert.deepEqual(j.loadBalancers[0].ports, [
      { port: 53, protocol: 'UDP', member: 'edge/dns', servicePort: 'dns' },
      { port: 9092, protocol: 'TCP', member: 'data/kafka', servicePort: 'broker' },
    ]);
    assert.equal(j.summary.loadBalancers, 1);
    assert.equal(j.summary.lowerBound, 1);
    assert.ok(j.summary.monthlySavings > 0);
    assert.ok(j.cost.assumptions.length > 0);
  });

  it('reads a v1 List from stdin, as kubectl get svc -A -o json prints it', async () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'n', annotations: { 'sharedlb.io/enabled': 'true' } }, spec: { ports: [{ port: 1 }] } }] };
    const r = await run(['-f', '-', '-o', 'json', '--provider', 'gcp'], JSON.stringify(list));
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).summary.allocated, 1);
  });

  it('prints a table with totals and assumptions', async () => {
    const r = await run(['-f', file('svc2.yaml', services)]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /LOAD BALANCER\s+POOL\s+CLASS\s+MEMBERS\s+PORTS\s+MONTHLY\s+DEDICATED\s+SAVING/);
    assert.match(r.out, /^Members: /, 'the summary first');
    assert.match(r.out, /default-1\s+default\s+-\s+2\s+2\/50\s+\$27\.38\s+\$54\.75\s+\$27\.37/);
    assert.match(r.out, /Load balancers: 1 \(lower bound 1\)/);
    assert.match(r.out, /Saving: +\$27\.38 per month \(50%\)/);
    assert.match(r.out, /Assumptions:/);
  });

  it('plans with LoadBalancerPool manifests', async () => {
    const pools = file('pools.yaml', `apiVersion: sharedlb.io/v1alpha1
kind: LoadBalancerPool
metadata: {name: edge}
spec: {default: true, provider: hetzner}
`);
    const r = await run(['-f', file('svc3.yaml', services), '--pools', pools, '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.members.find((m: { service: string }) => m.service === 'edge/dns').state, 'Rejected');
    assert.equal(j.summary.currency, 'EUR');
  });

  it('fails with file and line on input that is not YAML or not Kubernetes objects', async () => {
    const bad = await run(['-f', file('bad.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: [oops\n')]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /bad\.yaml:\d+:\d+: not valid YAML or JSON/);
    const notK8s = await run(['-f', file('plain.yaml', 'apiVersion: v1\nkind: Service\n---\nfoo: bar\n')]);
    assert.equal(notK8s.code, 1);
    assert.match(notK8s.err, /plain\.yaml:4: the document has no apiVersion and kind/);
    const item = await run(['-f', file('list.yaml', 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n- 42\n')]);
    assert.match(item.err, /list\.yaml:6: items\[1\] is not a Kubernetes object/);
    assert.equal((await run(['-f', join(dir, 'missing.yaml')])).code, 1);
  });

  it('refuses broken pools and bad flags with usage', async () => {
    const pools = file('badpool.yaml', 'apiVersion: sharedlb.io/v1alpha1\nkind: LoadBalancerPool\nmetadata: {name: x}\nspec: {provider: aws}\n');
    const r = await run(['-f', file('svc4.yaml', services), '--pools', pools]);
    assert.equal(r.code, 1);
    assert.match(r.err, /LoadBalancerPool x: spec\.provider must be one of/);
    assert.equal((await run([])).code, 2);
    assert.equal((await run(['-f', 'x', '--provider', 'aws'])).code, 2);
    assert.equal((await run(['-f', 'x', '-o', 'yaml'])).code, 2);
    assert.equal((await run(['-f', 'x', '--max-ports', '0'])).code, 2);
    assert.equal((await run(['-f', 'x', '--bogus'])).code, 2);
  });

  it('--max-ports changes the packing', async () => {
    const r = await run(['-f', file('svc5.yaml', services), '--max-ports', '1', '-o', 'json']);
    assert.equal(JSON.parse(r.out).summary.loadBalancers, 2);
  });
});

describe('sharedlb plan --repack', () => {
  // A live cluster's dump: two shared LBs (pool "default"), each holding one
  // movable member that arrived when the other's LB was full; and a fixed one.
  const lb = (name: string, record: Record<string, string>) => `
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: sharedlb-system
  labels: {app.kubernetes.io/managed-by: sharedlb.io, sharedlb.io/pool: default}
  annotations: {sharedlb.io/allocations: '${JSON.stringify(record)}'}
spec: {type: LoadBalancer, ports: [{name: x, port: 1}]}
status: {loadBalancer: {ingress: [{ip: 198.51.100.7}]}}`;
  const member = (ns: string, name: string, port: number, policy: string) => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "2025-01-01T00:00:0${port % 10}Z", annotations: {sharedlb.io/enabled: "true", sharedlb.io/port-policy: ${policy}}}
spec: {ports: [{name: p, port: ${port}}]}`;
  const dump = file('live.yaml', [
    lb('default-1', { 'tcp-5432': 'db/pg/p', 'tcp-10000': 'a/x/p' }),
    lb('default-2', { 'tcp-10000': 'b/y/p' }),
    member('db', 'pg', 5432, 'preserve'),
    member('a', 'x', 8001, 'any'),
    member('b', 'y', 8002, 'any'),
  ].join('\n---'));

  it('without --repack, a plan of a live dump keeps everyone where they are', async () => {
    const r = await run(['-f', dump, '--provider', 'generic', '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    const p = JSON.parse(r.out) as { summary: { loadBalancers: number }; members: Array<{ service: string; loadBalancer: string; moved: unknown }> };
    assert.equal(p.summary.loadBalancers, 2);
    assert.ok(p.members.every((m) => m.moved === null));
    assert.equal(p.members.find((m) => m.service === 'b/y')?.loadBalancer, 'default-2');
  });

  it('shows how many LBs a repack saves and exactly which members would move, changing nothing', async () => {
    const r = await run(['-f', dump, '--provider', 'generic', '--repack', '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(r.out) as { loadBalancersNow: number; loadBalancersAfter: number; movable: number; moves: Array<{ service: string; from: { loadBalancer: string }; to: { loadBalancer: string } }>; pools: string[] };
    assert.equal(rep.loadBalancersNow, 2);
    assert.equal(rep.loadBalancersAfter, 1);
    assert.equal(rep.movable, 2);
    assert.deepEqual(rep.moves.map((m) => [m.service, m.from.loadBalancer, m.to.loadBalancer]), [['b/y', 'default-2', 'default-1']]);
    assert.deepEqual(rep.pools, ['default']);
    const table = await run(['-f', dump, '--provider', 'generic', '--repack']);
    assert.match(table.out, /Shared LBs: +2 now, 1 after a repack/);
    assert.match(table.out, /b\/y +default-2 10000\/TCP +default-1 10001\/TCP/);
    assert.match(table.out, /kubectl annotate loadbalancerpool default sharedlb.io\/repack=/);
  });

  it('exits 1 with the reasons counted when it places nobody (no default pool, say)', async () => {
    const pools = file('nodefault.yaml', 'apiVersion: sharedlb.io/v1alpha1\nkind: LoadBalancerPool\nmetadata: {name: p}\nspec: {provider: generic, default: false}\n');
    const r = await run(['-f', file('svcs-nd.yaml', services), '--pools', pools]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^sharedlb plan: no member could be placed \(2 Invalid\); e\.g\. data\/kafka: no LoadBalancerPool is marked default/m);
  });
});

describe('plan with Gateways', () => {
  const gateways = (n: number, withClass: boolean): string => [
    ...(withClass ? ['apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: shared}\nspec: {controllerName: sharedlb.io/gateway-controller}', 'apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: envoy}\nspec: {controllerName: example.com/envoy}'] : []),
    ...Array.from({ length: n }, (_, i) => `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g${i}, namespace: apps}\nspec:\n  gatewayClassName: shared\n  listeners: [{name: a, port: ${9000 + 2 * i}, protocol: TCP}, {name: b, port: ${9001 + 2 * i}, protocol: UDP}]`),
    'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: other, namespace: apps}\nspec:\n  gatewayClassName: envoy\n  listeners: [{name: a, port: 80, protocol: HTTP}]',
    'apiVersion: gateway.networking.k8s.io/v1\nkind: TCPRoute\nmetadata: {name: r, namespace: apps}\nspec: {parentRefs: [{name: g0}], rules: [{backendRefs: [{name: s, port: 1}]}]}',
  ].join('\n---\n');

  it('each Gateway of a sharedlb class is a member with its listeners\' ports; Gateways that do not clash share LBs; other classes are left out', async () => {
    const r = await run(['-f', file('gw.yaml', gateways(6, true)), '--provider', 'generic', '--max-ports', '4', '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    const p = JSON.parse(r.out) as { summary: { members: number; allocated: number; loadBalancers: number } };
    assert.equal(p.summary.members, 6);
    assert.equal(p.summary.allocated, 6);
    assert.equal(p.summary.loadBalancers, 3);
    assert.match(r.err, /1 Gateways of classes other controllers serve were left out/);
  });

  it('without GatewayClasses every Gateway is taken as sharedlb\'s, and the note says so', async () => {
    const r = await run(['-f', file('gw2.yaml', gateways(2, false)), '--provider', 'generic', '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    assert.equal((JSON.parse(r.out) as { summary: { members: number } }).summary.members, 3);
    assert.match(r.err, /no GatewayClass in the input/);
  });
});
