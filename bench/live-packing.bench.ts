// Packing in the live controller: members of a realistic L4 estate created
// against the lab cluster at a steady rate (about 100 a second, and about
// 1000 a second), in their creation order, the controller running as the
// image runs it with the shipped flags; when every member has its condition,
// the shared LBs it ended with against the lower bound for the same members
// (allocator/placement/bounds.ts).
//
//   node bench/live-packing.bench.ts [--members 2000] [--rates 100,1000] [--seeds 1] [--families base,multi-port]

import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { V1Service } from '@kubernetes/client-node';
import { parseMember } from '../allocator/members.ts';
import { allocate } from '../allocator/placement/allocate.ts';
import { implicitPool, poolSet } from '../allocator/pools.ts';
import type { ServiceLike } from '../allocator/types.ts';
import { createPool, deletePool, startController } from '../e2e/controller-harness.ts';
import { admin, deleteNamespace, eventually, namespace, sweep } from '../e2e/kube.ts';
import { deleteServices, quietCluster, record } from './lib.ts';
import { FAMILIES, generateFamily, type Family } from './packing-workload.ts';


/** The Service as a user would create it: what the API server adds (uid, clusterIP, status…) left to it. */
function asCreated(s: ServiceLike, ns: string): object {
  const m = s.metadata ?? {};
  const { clusterIP: _c, clusterIPs: _cs, ...spec } = (s.spec ?? {}) as Record<string, unknown>;
  return { metadata: { name: m.name, namespace: ns, labels: m.labels, annotations: m.annotations }, spec };
}

/** Creates at `rate` a second, in order, never more than 64 in flight. */
async function createAt(items: Array<{ ns: string; body: object }>, rate: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < items.length) {
      const i = next++;
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const it = items[i] as { ns: string; body: object };
      await admin().post(`/api/v1/namespaces/${it.ns}/services`, it.body);
    }
  }));
  return performance.now() - t0;
}

interface Row { family: string; members: number; rate: number; seed: number; createdSeconds: number; settledSeconds: number; loadBalancers: number; lowerBound: number; ratio: number; allocated: number; waiting: number }

async function run(family: Family, members: number, rate: number, seed: number): Promise<Row> {
  const provider = family.provider ?? 'aws-nlb';
  await sweep();
  const ctrlNs = await namespace('pack-ctrl');
  // Pod-IP targeting, as clouds do at this scale: LB ports take no NodePorts.
  const annotations = provider === 'aws-nlb' ? { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing' } : {};
  await createPool('live-pack', { default: true, provider, maxPortsPerLB: family.portsPerLB, template: { allocateLoadBalancerNodePorts: false, annotations } });
  const ctl = await startController(ctrlNs, ['--no-leader-elect'], { deployment: true });
  // The family at this size: fixed-port demand scaled with the estate, as the packing benchmark's 3000.
  const services = generateFamily({ ...family, members, perPort: (family.perPort * members) / family.members }, seed)
    .sort((a, b) => String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)));
  const namespaces = new Map<string, string>();
  for (const s of services) {
    const ns = s.metadata?.namespace ?? 'default';
    if (!namespaces.has(ns)) namespaces.set(ns, await namespace('pack'));
  }
  const items = services.map((s) => ({ ns: namespaces.get(s.metadata?.namespace ?? 'default') as string, body: asCreated(s, namespaces.get(s.metadata?.namespace ?? 'default') as string) }));
  const t0 = performance.now();
  const createdMs = await createAt(items, rate);
  // Settled: every member has its condition, and the LBs have not changed for 5 s.
  let last = '';
  let stableSince = performance.now();
  const lbs = await eventually('the controller to settle', async () => {
    const told = (await Promise.all([...namespaces.values()].map((ns) => admin().get<{ items: V1Service[] }>(`/api/v1/namespaces/${ns}/services`))))
      .flatMap((l) => l.items).filter((s) => (s.status?.conditions ?? []).some((c) => c.type === 'sharedlb.io/Ready'));
    const lbList = (await admin().get<{ items: V1Service[] }>(`/api/v1/namespaces/${ctrlNs}/services`)).items;
    const state = JSON.stringify(lbList.map((l) => [l.metadata?.name, l.metadata?.annotations?.['sharedlb.io/allocations']]));
    if (state !== last) {
      last = state;
      stableSince = performance.now();
    }
    return told.length >= services.length && performance.now() - stableSince > 5000 ? { lbList, told } : undefined;
  }, 1_200_000, 1000);
  const settledMs = performance.now() - t0 - 5000;
  const used = lbs.lbList.filter((l) => (l.metadata?.annotations?.['sharedlb.io/allocations'] ?? '{}') !== '{}').length;
  const pool = implicitPool(provider, family.portsPerLB);
  const requests = services.flatMap((s) => {
    const m = parseMember(s, poolSet([{ ok: true, pool }]));
    return m.kind === 'member' ? [m.request] : [];
  });
  const bound = allocate({ pools: [pool], loadBalancers: [], requests }).lowerBound.get(pool.name) ?? 0;
  const reasons = lbs.told.map((s) => s.status?.conditions?.find((c) => c.type === 'sharedlb.io/Ready')?.reason);
  await ctl.stop();
  for (const ns of namespaces.values()) await deleteServices(ns);
  for (const ns of namespaces.values()) await deleteNamespace(ns);
  await deletePool('live-pack');
  await deleteServices(ctrlNs);
  await deleteNamespace(ctrlNs);
  return {
    family: family.name, members: services.length, rate, seed, createdSeconds: Number((createdMs / 1000).toFixed(1)), settledSeconds: Number((settledMs / 1000).toFixed(1)),
    loadBalancers: used, lowerBound: bound, ratio: Number((used / Math.max(1, bound)).toFixed(3)),
    allocated: reasons.filter((r) => r === 'Allocated').length, waiting: reasons.filter((r) => r !== 'Allocated' && r !== 'Invalid').length,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { members: { type: 'string', default: '2000' }, rates: { type: 'string', default: '100,1000' }, seeds: { type: 'string', default: '1' }, families: { type: 'string', default: 'base' } } });
  // Families whose LBs the cloud simulator takes (at most 100 listeners each, 254 addresses).
  const families = values.families.split(',').map((f) => {
    const family = FAMILIES.find((x) => x.name.startsWith(f));
    if (family === undefined) throw new Error(`no family ${JSON.stringify(f)}: one of ${FAMILIES.map((x) => x.name).join('; ')}`);
    return family;
  });
  await quietCluster();
  const rows: Row[] = [];
  for (const family of families) {
    for (let seed = 1; seed <= Number(values.seeds); seed++) {
      for (const rate of values.rates.split(',').map(Number)) {
        const row = await run(family, Number(values.members), rate, seed);
        rows.push(row);
        process.stderr.write(`${JSON.stringify(row)}\n`);
      }
    }
  }
  const result = { benchmark: 'live-packing', date: new Date().toISOString(), node: process.version, cpus: cpus().length, goal: 'loadBalancers <= 1.1 x lowerBound at every rate, every run', rows };
  record('live-packing', result, {
    title: 'Packing in the live controller',
    about: [
      `${result.date}, Node ${result.node}, ${result.cpus} CPUs; the lab cluster (etcd, kube-apiserver, kube-controller-manager, cloud simulator) and the controller as the image runs it (dist/sharedlb.mjs, shipped flags, one replica), all on this machine.`,
      'The API server on this machine takes creates from one client at about 100-120 a second: a rate asked above that is as fast as it goes (creates/s achieved).',
      `Members of the packing benchmark's families (bench/packing-workload.ts: preserve members over fixed ports, multi-port and TCP+UDP members, 2% malformed; fixed-port demand scaled to the size), created in creation order at the stated rate; a pool of the family's provider and ports per LB. Settled: every member has its sharedlb.io/Ready condition and the LBs' records have not changed for 5 s. Bound: the lower bound of the same members (total ports / capacity, the busiest fixed port).`,
    ],
    columns: ['family', 'members', 'creates/s asked', 'creates/s achieved', 'seed', 'created in s', 'settled in s', 'LBs', 'lower bound', 'LBs / bound', 'Allocated', 'waiting'],
    rows: rows.map((r) => [r.family, r.members, r.rate, Math.round(r.members / r.createdSeconds), r.seed, r.createdSeconds, r.settledSeconds, r.loadBalancers, r.lowerBound, r.ratio, r.allocated, r.waiting]),
    after: [`Goal: ${result.goal}.`],
  });
}

await main();
process.exit(0);
