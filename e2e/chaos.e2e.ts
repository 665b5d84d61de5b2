// Chaos, bounded: member churn (creates, deletes, port changes, pod readiness)
// while the controller is SIGKILLed and restarted, kube-apiserver is killed
// and restarted, and a competing writer bumps shared LBs. After convergence:
// no member moved without its own request changing, no port twice on an LB,
// nothing orphaned, every member answered.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { restartApiServer } from './cluster.ts';
import { createPool, deletePool, installCRD, startController, type RunningController } from './controller-harness.ts';
import { admin, deleteNamespace, eventually, namespace, runPod, setPodStatus, sweep } from './kube.ts';

interface Svc {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { ports: Array<{ name?: string; port: number; protocol?: string }> };
  status?: { conditions?: Array<{ type: string; status: string; reason: string }> };
}
interface Slice { metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> }; ports?: Array<{ name: string }> }

const LEASE = ['--lease-duration=3', '--renew-deadline=2', '--retry-period=1'];

describe('chaos', { timeout: 300_000 }, () => {
  const ctrlNs = `sharedlb-e2e-chaos-${process.pid}`;
  let ns = '';
  let ctl: RunningController;
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };

  before(async () => {
    await installCRD();
    await sweep();
    await admin().post('/api/v1/namespaces', { metadata: { name: ctrlNs, labels: { 'sharedlb.io/e2e': 'true' } } });
    await createPool('chaos', { default: true, provider: 'generic', maxPortsPerLB: 20, portRange: { from: 30000, to: 30400 }, emptyLoadBalancerGraceSeconds: 1 });
    ns = await namespace('chaos');
    ctl = await startController(ctrlNs, LEASE);
  });
  after(async () => {
    await ctl?.stop();
    await deleteNamespace(ns);
    await deletePool('chaos');
    await deleteNamespace(ctrlNs);
  });

  it('keeps every invariant through churn, controller kills, an API server restart and conflicting writes', async () => {
    const live = new Set<string>();
    const podIPs = new Map<string, string>();
    /** Members whose request changed (port edits): they may move. */
    const changed = new Set<string>();
    const firstPlace = new Map<string, string>();
    const violations: string[] = [];
    let n = 0;
    const create = async (): Promise<void> => {
      const name = `m${n++}`;
      const ports = [{ name: 'a', port: 7000 + rand(6) }, ...(rand(3) === 0 ? [{ name: 'b', port: 8000 + rand(3), protocol: 'UDP' }] : [])];
      const policy = ['prefer', 'any', 'preserve'][rand(3)] as string;
      if (rand(4) === 0) {
        const ip = `10.244.${60 + Math.floor(n / 250)}.${(n % 250) + 1}`;
        await runPod({ namespace: ns, name: `${name}-0`, labels: { app: name }, ip }).then(() => podIPs.set(name, ip), () => undefined);
      }
      await admin().post(`/api/v1/namespaces/${ns}/services`, {
        metadata: { name, annotations: { 'sharedlb.io/enabled': 'true', 'sharedlb.io/port-policy': policy } },
        spec: { selector: { app: name }, ports },
      });
      live.add(name);
    };
    const observe = async (): Promise<void> => {
      const list = await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ns}/services`);
      for (const s of list.items) {
        const place = `${s.metadata.annotations?.['sharedlb.io/load-balancer']} ${s.metadata.annotations?.['sharedlb.io/address']?.replace(/^[^:]+:/, '')}`;
        const ready = s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated');
        if (!ready || changed.has(s.metadata.name)) continue;
        const first = firstPlace.get(s.metadata.name);
        if (first === undefined) firstPlace.set(s.metadata.name, place);
        else if (first !== place) violations.push(`${s.metadata.name}: ${first} → ${place}`);
      }
    };

    for (let i = 0; i < 150; i++) await create();
    const t0 = Date.now();
    let stop = false;
    const events: string[] = [];
    const churn = (async () => {
      while (!stop) {
        const op = rand(10);
        const names = [...live];
        const victim = names[rand(Math.max(1, names.length))];
        try {
          if (op < 4 || names.length === 0) await create();
          else if (op < 6 && victim) {
            await admin().delete(`/api/v1/namespaces/${ns}/services/${victim}`);
            live.delete(victim);
          } else if (op < 7 && victim) {
            changed.add(victim);
            await admin().patch(`/api/v1/namespaces/${ns}/services/${victim}`, { spec: { ports: [{ name: 'a', port: 7100 + rand(5) }] } }, 'strategic');
          } else if (victim && podIPs.has(victim)) {
            await setPodStatus(ns, `${victim}-0`, podIPs.get(victim) as string, rand(2) === 0).catch(() => undefined);
          }
        } catch {
          // the API server may be down: that is part of the test
        }
        await sleep(25);
      }
    })();
    const watcher = (async () => {
      while (!stop) {
        await observe().catch(() => undefined);
        await sleep(300);
      }
    })();
    const rival = (async () => {
      await sleep(6000);
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        const lbs = await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ctrlNs}/services`).catch(() => ({ items: [] as Svc[] }));
        for (const lb of lbs.items) await admin().patch(`/api/v1/namespaces/${ctrlNs}/services/${lb.metadata.name}`, { metadata: { labels: { rival: String(Date.now()) } } }, 'merge').catch(() => undefined);
      }
    })();

    await sleep(3000);
    await ctl.kill();
    events.push(`controller killed at ${Date.now() - t0} ms`);
    ctl = await startController(ctrlNs, LEASE);
    await sleep(3000);
    events.push(`kube-apiserver down for ${await restartApiServer()} ms at ${Date.now() - t0} ms`);
    await sleep(3000);
    await ctl.kill();
    events.push(`controller killed at ${Date.now() - t0} ms`);
    ctl = await startController(ctrlNs, LEASE);
    await sleep(4000);
    stop = true;
    await Promise.all([churn, watcher, rival]);
    const churnEnd = Date.now();

    // Converge: every live member answered and consistent with the LBs' records.
    await eventually('convergence', async () => {
      const svcs = (await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ns}/services`)).items;
      const lbs = (await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ctrlNs}/services`)).items;
      const held = new Map<string, string>();
      for (const lb of lbs) for (const [, h] of Object.entries(JSON.parse(lb.metadata.annotations?.['sharedlb.io/allocations'] ?? '{}') as Record<string, string>)) held.set(h.split('/').slice(0, 2).join('/'), lb.metadata.name);
      return svcs.every((s) => {
        const c = s.status?.conditions?.find((x) => x.type === 'sharedlb.io/Ready');
        if (c === undefined || c.reason === 'WaitingForAddress') return false;
        return c.reason !== 'Allocated' || held.get(`${ns}/${s.metadata.name}`) === s.metadata.annotations?.['sharedlb.io/load-balancer']?.split('/')[1];
      }) && [...held.keys()].every((m) => svcs.some((s) => `${ns}/${s.metadata.name}` === m));
    }, 90_000);
    const converged = Date.now() - churnEnd;
    await observe();
    process.stderr.write(`# chaos: ${n} members created, ${live.size} live; ${events.join('; ')}; converged ${converged} ms after churn stopped\n`);

    assert.deepEqual(violations, [], 'no member moved without its request changing');
    const lbs = (await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ctrlNs}/services`)).items;
    const slices = (await admin().get<{ items: Slice[] }>(`/apis/discovery.k8s.io/v1/namespaces/${ctrlNs}/endpointslices`)).items;
    // What exists, not what the churn believes: a create may have landed just as the API server died.
    const liveKeys = new Set((await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ns}/services`)).items.map((x) => `${ns}/${x.metadata.name}`));
    for (const lb of lbs) {
      const record = JSON.parse(lb.metadata.annotations?.['sharedlb.io/allocations'] ?? '{}') as Record<string, string>;
      const names = lb.spec.ports.map((p) => `${(p.protocol ?? 'TCP').toLowerCase()}-${p.port}`);
      assert.equal(new Set(names).size, names.length, `${lb.metadata.name}: a port twice`);
      if (Object.keys(record).length > 0) assert.deepEqual([...names].sort(), Object.keys(record).sort(), `${lb.metadata.name}: every port recorded, none orphaned`);
      for (const h of Object.values(record)) assert.ok(liveKeys.has(h.split('/').slice(0, 2).join('/')), `${lb.metadata.name} holds a port for ${h}, which is gone`);
    }
    for (const s of slices) {
      const m = s.metadata.annotations?.['sharedlb.io/member'] ?? '';
      assert.ok(liveKeys.has(m), `slice ${s.metadata.name} mirrors ${m}, which is gone`);
    }
  });
});
