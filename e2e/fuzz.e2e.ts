// Bad input through the live controller: fast-check makes Services with
// random annotations, policies, pools, ports and protocols; whatever the API
// server admits goes to a running controller. It must not crash, every
// opted-in Service must get a reason, and members placed before must not move.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ApiError } from '../controller/kube-rest.ts';
import { createPool, deletePool, installCRD, startController, type RunningController } from './controller-harness.ts';
import { admin, deleteNamespace, eventually, namespace, sweep } from './kube.ts';

interface Svc { metadata: { name: string; annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; reason: string; message: string }> } }

const value = fc.oneof(
  fc.constantFrom('true', 'false', 'yes', 'preserve', 'prefer', 'any', 'PREFER', 'fuzz-pool', 'nope', ''),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);
const arbService = fc.record({
  annotations: fc.dictionary(fc.constantFrom('sharedlb.io/enabled', 'sharedlb.io/pool', 'sharedlb.io/port-policy', 'sharedlb.io/adress', 'sharedlb.io/enabled '), value, { maxKeys: 3 }),
  type: fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer'),
  lbClass: fc.constantFrom(undefined, 'sharedlb.io/shared', 'example.com/other'),
  ports: fc.array(fc.record({ port: fc.integer({ min: 1, max: 65535 }), protocol: fc.constantFrom('TCP', 'UDP', 'SCTP') }), { minLength: 1, maxLength: 4 }),
});

describe('fuzzed Services through the live controller', { timeout: 180_000 }, () => {
  const ctrlNs = `sharedlb-e2e-fz-${process.pid}`;
  let ns = '';
  let ctl: RunningController | undefined;

  before(async () => {
    await installCRD();
    await sweep();
    await admin().post('/api/v1/namespaces', { metadata: { name: ctrlNs, labels: { 'sharedlb.io/e2e': 'true' } } });
    await createPool('fuzz-pool', { default: true, provider: 'aws-nlb', maxPortsPerLB: 10 });
    ns = await namespace('fuzz');
    ctl = await startController(ctrlNs, ['--no-leader-elect']);
  });
  after(async () => {
    await ctl?.stop();
    if (ns) await deleteNamespace(ns);
    await deletePool('fuzz-pool');
    await deleteNamespace(ctrlNs);
  });

  it('never crashes, answers every opted-in Service, and moves no good member', async () => {
    const good = ['g0', 'g1', 'g2'];
    for (const [i, name] of good.entries()) {
      await admin().post(`/api/v1/namespaces/${ns}/services`, { metadata: { name, annotations: { 'sharedlb.io/enabled': 'true' } }, spec: { selector: { app: name }, ports: [{ name: 'p', port: 5000 + i }] } });
    }
    const placed = async () => {
      const out: Record<string, string | undefined> = {};
      for (const n of good) out[n] = (await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/${n}`)).metadata.annotations?.['sharedlb.io/address'];
      return out;
    };
    await eventually('good members placed', async () => Object.values(await placed()).every((a) => a !== undefined));
    const before = await placed();

    const samples = fc.sample(arbService, { numRuns: 60, seed: 7 });
    let admitted = 0;
    let refusedByApiServer = 0;
    for (const [i, s] of samples.entries()) {
      try {
        await admin().post(`/api/v1/namespaces/${ns}/services`, {
          metadata: { name: `f${i}`, annotations: s.annotations },
          spec: {
            type: s.type,
            ...(s.type === 'LoadBalancer' && s.lbClass ? { loadBalancerClass: s.lbClass } : {}),
            selector: { app: `f${i}` },
            ports: s.ports.map((p, j) => ({ name: `p${j}`, port: p.port, protocol: p.protocol })),
          },
        });
        admitted++;
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 422)) throw e;
        refusedByApiServer++; // e.g. duplicate port+protocol: the API server's own validation
      }
    }
    process.stderr.write(`# fuzz: ${admitted} Services admitted by the API server, ${refusedByApiServer} refused by it\n`);

    await eventually('every opted-in fuzzed Service to have an answer', async () => {
      const list = (await admin().get<{ items: Array<Svc & { spec: { type: string; loadBalancerClass?: string } }> }>(`/api/v1/namespaces/${ns}/services`)).items;
      return list.every((s) => {
        const a = s.metadata.annotations ?? {};
        const optedIn = (s.spec.type === 'LoadBalancer' && s.spec.loadBalancerClass === 'sharedlb.io/shared')
          || Object.keys(a).some((k) => k.startsWith('sharedlb.io/') && k !== 'sharedlb.io/address' && k !== 'sharedlb.io/load-balancer');
        if (!optedIn || a['sharedlb.io/enabled'] === 'false') return true;
        const c = s.status?.conditions?.find((x) => x.type === 'sharedlb.io/Ready');
        return c !== undefined && c.message.length > 0 && (c.reason !== 'WaitingForAddress');
      });
    }, 60_000);
    assert.equal(ctl?.process.exitCode, null, 'the controller is still running');
    assert.doesNotMatch(ctl?.logText() ?? '', /unhandled|TypeError|RangeError/i);
    assert.deepEqual(await placed(), before, 'good members did not move');
  });
});
