// Controller memory at scale: 5000 member Services with 10 endpoints each
// (50 000 endpoints) already in the cluster when the controller starts — the
// restart of a controller in a big cluster, its worst moment: every list at
// once, then every member reconciled and every EndpointSlice mirrored.
//
// Endpoints come from EndpointSlices written here as kube-controller-manager
// writes them for pods (targetRef, nodeName, zone, conditions); 50 000 pods
// would not fit beside the control plane on this machine.
//
//   node bench/memory.bench.ts [--members 5000] [--endpoints 10]

import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createPool, deploymentMemoryLimit, deploymentNodeOptions, startController } from '../e2e/controller-harness.ts';
import { admin, eventually, namespace, sweep } from '../e2e/kube.ts';
import { inBatches, procMB, quietCluster, record } from './lib.ts';

function slice(ns: string, svc: string, i: number, endpoints: number): unknown {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-abcde`, labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'bench.sharedlb.io' } },
    addressType: 'IPv4',
    endpoints: Array.from({ length: endpoints }, (_, e) => ({
      addresses: [`10.${64 + (i >> 12)}.${(i >> 4) & 255}.${((i & 15) << 4) + e}`],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${(i + e) % 50}`,
      zone: `zone-${e % 3}`,
      targetRef: { kind: 'Pod', namespace: ns, name: `${svc}-7d9f8c6b5-${e.toString(36).padStart(5, 'x')}`, uid: `00000000-0000-4000-8000-${(i * 16 + e).toString(16).padStart(12, '0')}` },
    })),
    ports: [{ name: 'p', port: 8080, protocol: 'TCP' }],
  };
}

/** From --trace-gc lines ("Mark-Compact 110.2 (135.4) -> 70.1 (130.2) MB"): the heap after the last full GC, and after the largest. */
function liveHeap(log: string): { liveHeapLastMB: number; liveHeapMaxMB: number } {
  const after = [...log.matchAll(/Mark-Compact[^\n]*?-> ([\d.]+) \(/g)].map((m) => Number(m[1]));
  return { liveHeapLastMB: Math.round(after.at(-1) ?? NaN), liveHeapMaxMB: Math.round(Math.max(...after)) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { members: { type: 'string', default: '5000' }, endpoints: { type: 'string', default: '10' } } });
  const n = Number(values.members);
  const perMember = Number(values.endpoints);
  await quietCluster();
  const ctrlNs = await namespace('bench-mem-ctrl');
  await createPool('bench-mem', { default: true, provider: 'generic', maxPortsPerLB: 50, portRange: { from: 10000, to: 60000 }, template: { allocateLoadBalancerNodePorts: false } });
  const ns = await namespace('bench-mem');
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  await inBatches(names, 16, async (name, i) => {
    await admin().post(`/api/v1/namespaces/${ns}/services`, { metadata: { name, annotations: { 'sharedlb.io/enabled': 'true' } }, spec: { ports: [{ name: 'p', port: 9000 + (i % 40), targetPort: 8080 }] } });
    await admin().post(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, slice(ns, name, i, perMember));
  });
  process.stderr.write(`# ${n} members and ${n * perMember} endpoints written\n`);

  const t0 = performance.now();
  // --trace-gc only adds a log line per GC: the heap left after each full GC is the live heap.
  const ctl = await startController(ctrlNs, ['--no-leader-elect', '--qps=1000', '--concurrency=16'], { deployment: true, nodeArgs: ['--trace-gc'] });
  const afterSync = procMB(ctl.process.pid as number, 'VmRSS');
  await eventually('every member Ready and mirrored', async () => {
    const svcs = await admin().get<{ items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> }>(`/api/v1/namespaces/${ns}/services`);
    const ready = svcs.items.filter((s) => s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.status === 'True')).length;
    if (ready < n) return false;
    const mirrored = await admin().get<{ items: Array<{ endpoints?: unknown[] }> }>(`/apis/discovery.k8s.io/v1/namespaces/${ctrlNs}/endpointslices`);
    return mirrored.items.reduce((a, s) => a + (s.endpoints?.length ?? 0), 0) === n * perMember;
  }, 900_000, 2000);
  const convergedMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 10_000)); // steady state: the reconcile storm is over
  const pid = ctl.process.pid as number;
  const row = {
    members: n,
    endpoints: n * perMember,
    convergedMs: Math.round(convergedMs),
    rssAfterSyncMB: Math.round(afterSync),
    peakRssMB: Math.round(procMB(pid, 'VmHWM')),
    steadyRssMB: Math.round(procMB(pid, 'VmRSS')),
    heapUsedMB: Math.round((await ctl.metric('nodejs_heap_size_used_bytes')) / 2 ** 20),
    ...liveHeap(ctl.logText()),
  };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  await ctl.stop();
  await sweep();

  const nodeOptions = deploymentNodeOptions();
  const result = { benchmark: 'controller-memory', date: new Date().toISOString(), node: process.version, nodeOptions, cpus: cpus().length, goal: 'peak RSS <= 250 MB at 5000 members / 50000 endpoints', row };
  record('memory', result, {
    title: 'Controller memory',
    about: [
      `${result.date}, Node ${result.node}, controller run as the image runs it: dist/sharedlb.mjs with NODE_OPTIONS="${nodeOptions}" from manifests/deployment.yaml, in a memory cgroup with its memory limit (${deploymentMemoryLimit() / 2 ** 20} MiB, so V8 sizes its heap as in the pod), ${result.cpus} CPUs.`,
      `${n} member Services with ${perMember} endpoints each (${n * perMember} endpoints, EndpointSlices shaped as kube-controller-manager writes them) in the cluster before the controller starts; it lists everything, places every member, mirrors every slice. RSS from /proc: right after the caches synced, peak (VmHWM) and 10 s after convergence. Live heap: what V8 kept after its full GCs (the last one, and the largest), from --trace-gc, which the benchmark adds.`,
    ],
    columns: ['members', 'endpoints', 'converged ms', 'RSS after sync MB', 'peak RSS MB', 'steady RSS MB', 'heap used MB', 'live heap last/max MB'],
    rows: [[row.members, row.endpoints, row.convergedMs, row.rssAfterSyncMB, row.peakRssMB, row.steadyRssMB, row.heapUsedMB, `${row.liveHeapLastMB}/${row.liveHeapMaxMB}`]],
    after: [`Goal: ${result.goal}.`],
  });
  process.exit(0);
}

await main();
