// What a member declares about how it may be reached, against the real API
// server: honoured by an LB built that way, or refused; and the LB lifecycle
// around it (an LB deleted by hand or held by a finalizer, a template whose
// immutable class changes).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPool, deletePool, installCRD, startController, type RunningController } from './controller-harness.ts';
import { admin, deleteNamespace, eventually, namespace, sweep } from './kube.ts';

interface Svc {
  metadata: { name: string; annotations?: Record<string, string>; finalizers?: string[]; deletionTimestamp?: string };
  spec: {
    ports: Array<{ port: number }>;
    loadBalancerSourceRanges?: string[];
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    loadBalancerClass?: string;
  };
  status?: { conditions?: Array<{ type: string; reason: string; message: string }>; loadBalancer?: { ingress?: Array<{ ip?: string; ipMode?: string; ports?: unknown[] }> } };
}
interface PoolStatus { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } }

const get = (ns: string, name: string) => admin().get<Svc>(`/api/v1/namespaces/${ns}/services/${name}`);
const reason = (s: Svc) => s.status?.conditions?.find((c) => c.type === 'sharedlb.io/Ready')?.reason;
const lbOf = (s: Svc) => s.metadata.annotations?.['sharedlb.io/load-balancer'];

async function until(ns: string, name: string, want: string, check: (s: Svc) => boolean = () => true): Promise<Svc> {
  return eventually(`${ns}/${name} to be ${want}`, async () => {
    const s = await get(ns, name);
    return reason(s) === want && check(s) ? s : undefined;
  }, 20_000);
}

async function warnings(ns: string, name: string): Promise<string[]> {
  const l = await admin().get<{ items: Array<{ reason: string; note?: string; type: string; regarding: { name: string } }> }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
  return l.items.filter((e) => e.regarding.name === name && e.type === 'Warning').map((e) => `${e.reason}: ${e.note ?? ''}`);
}

describe('LB classes and the LB lifecycle', () => {
  const ctrlNs = `sharedlb-cls-${process.pid}`;
  let ns = '';
  let ctl: RunningController;
  const pools = ['cls-public', 'cls-private', 'cls-life'];

  before(async () => {
    await installCRD();
    await sweep();
    await admin().post('/api/v1/namespaces', { metadata: { name: ctrlNs, labels: { 'sharedlb.io/e2e': 'true' } } });
    await createPool('cls-public', { default: true, provider: 'generic', maxPortsPerLB: 10, portRange: { from: 23000, to: 23100 } });
    await createPool('cls-private', { provider: 'generic', scope: 'internal', maxPortsPerLB: 10, portRange: { from: 24000, to: 24100 } });
    await createPool('cls-life', { provider: 'generic', maxPortsPerLB: 10, portRange: { from: 25000, to: 25100 }, emptyLoadBalancerGraceSeconds: 1 });
    ns = await namespace('classes');
    ctl = await startController(ctrlNs, ['--no-leader-elect']);
  });

  after(async () => {
    await ctl?.stop();
    // Release anything a test left held by our finalizer.
    const lbs = await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ctrlNs}/services`);
    for (const lb of lbs.items) {
      if (lb.metadata.finalizers?.length) await admin().patch(`/api/v1/namespaces/${ctrlNs}/services/${lb.metadata.name}`, { metadata: { finalizers: null } }, 'merge').catch(() => undefined);
    }
    await deleteNamespace(ns);
    for (const p of pools) await deletePool(p);
    await deleteNamespace(ctrlNs);
  });

  const svc = (name: string, annotations: Record<string, string>, spec: Record<string, unknown> = {}) =>
    admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name, annotations: { 'sharedlb.io/enabled': 'true', ...annotations } },
      spec: { selector: { app: name }, ports: [{ name: 'p', port: 7000 }], ...spec },
    });

  it('an internal member lands only on an internal pool\'s LB, never the external default', async () => {
    await svc('private-db', { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' });
    await svc('public-db', {});
    const priv = await until(ns, 'private-db', 'Allocated');
    const pub = await until(ns, 'public-db', 'Allocated');
    assert.match(lbOf(priv) ?? '', new RegExp(`^${ctrlNs}/cls-private-\\d+$`));
    assert.match(lbOf(pub) ?? '', new RegExp(`^${ctrlNs}/cls-public-\\d+$`));
  });

  // The API server accepts source ranges only on type LoadBalancer Services: LoadBalancer-class members declare them.
  const classMember = (name: string, annotations: Record<string, string>, spec: Record<string, unknown> = {}) =>
    admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name, annotations },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'sharedlb.io/shared', selector: { app: name }, ports: [{ name: 'p', port: 7000 }], ...spec },
    });

  it('declared source ranges and affinity get an LB built that way, shared with no one who declared otherwise', async () => {
    await classMember('ranged', { 'sharedlb.io/port-policy': 'prefer' }, { loadBalancerSourceRanges: ['192.0.2.0/24'], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } });
    const s = await until(ns, 'ranged', 'Allocated');
    const plain = await get(ns, 'public-db');
    assert.notEqual(lbOf(s), lbOf(plain));
    const lb = await get(ctrlNs, (lbOf(s) ?? '').split('/')[1] as string);
    assert.deepEqual(lb.spec.loadBalancerSourceRanges, ['192.0.2.0/24']);
    assert.equal(lb.spec.sessionAffinity, 'ClientIP');
    assert.equal(lb.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds, 300);
    assert.equal(lb.metadata.annotations?.['sharedlb.io/class'], '{"sourceRanges":["192.0.2.0/24"],"sessionAffinity":{"timeoutSeconds":300}}');
  });

  it('a source range wider than the pool\'s is refused, and so is a requested address', async () => {
    await createPool('cls-fenced', { provider: 'generic', maxPortsPerLB: 10, portRange: { from: 26000, to: 26100 }, template: { loadBalancerSourceRanges: ['10.0.0.0/8'] } });
    try {
      await classMember('wide', { 'sharedlb.io/pool': 'cls-fenced', 'service.beta.kubernetes.io/load-balancer-source-ranges': '0.0.0.0/0' });
      const wide = await until(ns, 'wide', 'Invalid');
      assert.match(wide.status?.conditions?.[0]?.message ?? '', /never widen its LB/);
      await svc('pinned', { 'metallb.io/loadBalancerIPs': '203.0.113.9' });
      const pinned = await until(ns, 'pinned', 'Invalid');
      assert.match(pinned.status?.conditions?.[0]?.message ?? '', /chooses an address/);
    } finally {
      await admin().delete(`/api/v1/namespaces/${ns}/services/wide`).catch(() => undefined);
      await deletePool('cls-fenced');
    }
  });

  it('a LoadBalancer-class member on a remapped port says ipMode Proxy, so kube-proxy never programs its own port on the shared address', async () => {
    const lbSvc = (name: string, policy?: string) => admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name, annotations: { 'sharedlb.io/pool': 'cls-life', ...(policy ? { 'sharedlb.io/port-policy': policy } : {}) } },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'sharedlb.io/shared', selector: { app: name }, ports: [{ name: 'p', port: 7100 }] },
    });
    await lbSvc('holder');
    const holder = await until(ns, 'holder', 'Allocated');
    await lbSvc('remapped', 'prefer');
    const remapped = await until(ns, 'remapped', 'Allocated', (s) => (s.status?.loadBalancer?.ingress ?? []).length > 0);
    // prefer never opens an LB to keep its port: it shares the holder's LB on another port.
    assert.equal(lbOf(remapped), lbOf(holder));
    assert.doesNotMatch(remapped.metadata.annotations?.['sharedlb.io/address'] ?? '', /:7100\//);
    assert.deepEqual(remapped.status?.loadBalancer?.ingress?.map((i) => i.ipMode), ['Proxy']);
    assert.equal(remapped.status?.loadBalancer?.ingress?.[0]?.ports, undefined);
    const h = await eventually('holder ingress', async () => ((await get(ns, 'holder')).status?.loadBalancer?.ingress?.length ? get(ns, 'holder') : undefined));
    assert.notEqual(h.status?.loadBalancer?.ingress?.[0]?.ipMode, 'Proxy'); // its own port: kube-proxy may short-circuit it
  });

  it('members of an LB deleted by hand are placed anew, keeping fixed ports, with a Warning', async () => {
    const before = await get(ns, 'holder');
    const lbName = (lbOf(before) ?? '').split('/')[1] as string;
    await admin().delete(`/api/v1/namespaces/${ctrlNs}/services/${lbName}`);
    const moved = await until(ns, 'holder', 'Allocated', (s) => lbOf(s) !== undefined && lbOf(s) !== lbOf(before));
    assert.match(moved.metadata.annotations?.['sharedlb.io/address'] ?? '', /:7100\/TCP$/);
    await eventually('an AddressChanged warning', async () => (await warnings(ns, 'holder')).find((w) => /^AddressChanged: .*was deleted/.test(w)));
  });

  it('an LB held by a finalizer while being deleted is no place to be: its members move, with a Warning', async () => {
    const before = await get(ns, 'holder');
    const lbName = (lbOf(before) ?? '').split('/')[1] as string;
    await admin().patch(`/api/v1/namespaces/${ctrlNs}/services/${lbName}`, { metadata: { finalizers: ['e2e.sharedlb.io/hold'] } }, 'merge');
    await admin().delete(`/api/v1/namespaces/${ctrlNs}/services/${lbName}`);
    const moved = await until(ns, 'holder', 'Allocated', (s) => lbOf(s) !== undefined && lbOf(s) !== lbOf(before));
    assert.notEqual(lbOf(moved), lbOf(before));
    const held = await get(ctrlNs, lbName);
    assert.ok(held.metadata.deletionTimestamp, 'the old LB is still being deleted');
    await eventually('a second AddressChanged warning', async () => (await warnings(ns, 'holder')).filter((w) => w.startsWith('AddressChanged')).length >= 2);
    await admin().patch(`/api/v1/namespaces/${ctrlNs}/services/${lbName}`, { metadata: { finalizers: null } }, 'merge');
  });

  it('a template whose loadBalancerClass changes: existing LBs keep theirs, the pool says so', async () => {
    await admin().patch('/apis/sharedlb.io/v1alpha1/loadbalancerpools/cls-life', { spec: { template: { loadBalancerClass: 'example.com/other' } } }, 'merge');
    const pool = await eventually('the pool to report it', async () => {
      const p = await admin().get<PoolStatus>('/apis/sharedlb.io/v1alpha1/loadbalancerpools/cls-life');
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.reason === 'TemplateNotApplied' ? ready : undefined;
    });
    assert.equal(pool.status, 'False');
    assert.match(pool.message, /cannot change on an existing Service/);
    const lbName = (lbOf(await get(ns, 'holder')) ?? '').split('/')[1] as string;
    assert.equal((await get(ctrlNs, lbName)).spec.loadBalancerClass, undefined);
    assert.equal(reason(await get(ns, 'holder')), 'Allocated');
  });

  it('repacks a pool only when an admin asks, once per request: movable members move with a Warning, others stay', async () => {
    await createPool('cls-pack', { provider: 'generic', maxPortsPerLB: 2, portRange: { from: 27000, to: 27100 }, emptyLoadBalancerGraceSeconds: 1 });
    try {
      const m = (name: string, policy: string) => svc(name, { 'sharedlb.io/pool': 'cls-pack', 'sharedlb.io/port-policy': policy });
      await m('pk-fixed', 'preserve');
      await until(ns, 'pk-fixed', 'Allocated');
      await m('pk-filler', 'any');
      await until(ns, 'pk-filler', 'Allocated');
      await m('pk-late', 'any'); // the first LB is full: a second one opens
      const late = await until(ns, 'pk-late', 'Allocated');
      const fixedLB = lbOf(await get(ns, 'pk-fixed'));
      assert.notEqual(lbOf(late), fixedLB);
      await admin().delete(`/api/v1/namespaces/${ns}/services/pk-filler`); // room on the first LB now; nobody moves by itself
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(lbOf(await get(ns, 'pk-late')), lbOf(late));
      await admin().patch('/apis/sharedlb.io/v1alpha1/loadbalancerpools/cls-pack', { metadata: { annotations: { 'sharedlb.io/repack': 'r1' } } }, 'merge');
      const moved = await until(ns, 'pk-late', 'Allocated', (s) => lbOf(s) === fixedLB);
      assert.equal(lbOf(await get(ns, 'pk-fixed')), fixedLB);
      await eventually('an AddressChanged warning naming the repack', async () => (await warnings(ns, 'pk-late')).find((w) => /^AddressChanged: .*repacked pool cls-pack \(sharedlb.io\/repack=r1\)/.test(w)));
      await eventually('the pool to record it', async () => (await admin().get<{ status?: { lastRepack?: string } }>('/apis/sharedlb.io/v1alpha1/loadbalancerpools/cls-pack')).status?.lastRepack === 'r1');
      // Once per request: the same value again moves nobody.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(lbOf(await get(ns, 'pk-late')), lbOf(moved));
      assert.equal((await warnings(ns, 'pk-late')).filter((w) => w.startsWith('AddressChanged')).length, 1);
    } finally {
      for (const n of ['pk-fixed', 'pk-late']) await admin().delete(`/api/v1/namespaces/${ns}/services/${n}`).catch(() => undefined);
      await deletePool('cls-pack');
    }
  });
});
