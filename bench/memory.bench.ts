// Controller memory at scale, in the pod's memory limit: member Services
// with 10 endpoints each — and, in the big-cluster case, many more Services
// that are not members — already in the cluster when the controller starts.
// That is the restart of a controller in a big cluster, its worst moment:
// every list at once, then every member reconciled and every EndpointSlice
// mirrored. A relist every 60 s (the shipped default is 600) shows what one
// costs at each size.
//
// Endpoints come from EndpointSlices written here as kube-controller-manager
// writes them for pods (targetRef, nodeName, zone, conditions); that many
// pods would not fit beside the control plane on this machine.
//
//   node bench/memory.bench.ts [--cases 500,500+29500,1000,5000,20000] [--endpoints 10] [--rows-from STDERR-OF-A-STOPPED-RUN]
//   (a case is members[+other Services])

import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPool, deploymentMemoryLimit, deploymentNodeOptions, startController, type RunningController } from '../e2e/controller-harness.ts';
import { admin, eventually, namespace, sweep } from '../e2e/kube.ts';
import { BENCH_PORTS_PER_LB, deleteServices, inBatches, printedRows, procMB, quietCluster, record, watchReady } from './lib.ts';

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

interface Row {
  /** When this case ran: a run of some cases keeps the other cases' rows from earlier runs. */
  date: string;
  members: number;
  others: number;
  endpoints: number;
  convergedMs: number;
  rssAfterSyncMB: number;
  peakRssMB: number;
  relists: number;
  peakAfterRelistMB: number;
  steadyRssMB: number;
  liveHeapLastMB: number;
  liveHeapMaxMB: number;
  /**
   * API writes from convergence to the end (a relist of everything, a quiet
   * moment): events (the Normal ones that waited out the placement) and
   * anything else, of which a converged controller makes none.
   */
  eventWritesAfterConvergence?: number;
  otherWritesAfterConvergence?: number;
  /** V8's heap limit and whether the controller reported memory pressure, from its metrics. */
  heapLimitMB: number;
  pressure: boolean;
}

/** The controller's API writes so far: events, and everything else. */
async function writesByKind(ctl: RunningController): Promise<{ events: number; other: number }> {
  const w = { events: 0, other: 0 };
  for (const [k, v] of await ctl.requests()) if (!k.startsWith('GET ')) w[k.includes('events') ? 'events' : 'other'] += v;
  return w;
}

async function writeServices(ns: string, count: number, perService: number, member: boolean, offset: number): Promise<void> {
  const names = Array.from({ length: count }, (_, i) => `${member ? 'm' : 'o'}${i}`);
  await inBatches(names, 16, async (name, i) => {
    await admin().post(`/api/v1/namespaces/${ns}/services`, { metadata: { name, ...(member ? { annotations: { 'sharedlb.io/enabled': 'true' } } : {}) }, spec: { ports: [{ name: 'p', port: 9000 + (i % 40), targetPort: 8080 }] } });
    await admin().post(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, slice(ns, name, offset + i, perService));
  });
}

/** Measures one case; the cleaning up (minutes, for 30 000 Services) is left to the caller, after the row is recorded. */
async function measure(members: number, others: number, perMember: number): Promise<{ row: Row; cleanUp: () => Promise<void> }> {
  const ctrlNs = await namespace('bench-mem-ctrl');
  await createPool('bench-mem', { default: true, provider: 'generic', maxPortsPerLB: BENCH_PORTS_PER_LB, portRange: { from: 10000, to: 60000 }, template: { allocateLoadBalancerNodePorts: false } });
  const ns = await namespace('bench-mem');
  await writeServices(ns, members, perMember, true, 0);
  const otherNs = others > 0 ? await namespace('bench-mem-other') : null;
  if (otherNs !== null) await writeServices(otherNs, others, perMember, false, members);
  process.stderr.write(`# ${members} members and ${others} other Services, ${(members + others) * perMember} endpoints written\n`);

  const t0 = performance.now();
  // --trace-gc only adds a log line per GC: the heap left after each full GC is the live heap.
  const ctl = await startController(ctrlNs, ['--no-leader-elect', '--qps=1000', '--concurrency=16', '--relist=60'], { deployment: true, nodeArgs: ['--trace-gc'] });
  const pid = ctl.process.pid as number;
  const afterSync = procMB(pid, 'VmRSS');
  const alive = (): void => {
    if (ctl.process.exitCode !== null || ctl.process.signalCode !== null) throw new Error(`the controller died (${ctl.process.exitCode ?? ctl.process.signalCode}):\n${ctl.logText().slice(-3000)}`);
  };
  // Ready seen through a watch (a list of 20 000 Services every few seconds would be the benchmark's own load), then the mirrors.
  const watch = await watchReady({ namespace: ns }, members, 1_800_000);
  const died = new Promise<never>((_, reject) => ctl.process.once('exit', () => reject(new Error(`the controller died:\n${ctl.logText().slice(-3000)}`))));
  try {
    await Promise.race([watch.all, died]);
  } finally {
    watch.stop();
  }
  died.catch(() => undefined);
  await eventually('every member mirrored', async () => {
    alive();
    const mirrored = await admin().get<{ items: Array<{ endpoints?: unknown[] }> }>(`/apis/discovery.k8s.io/v1/namespaces/${ctrlNs}/endpointslices`);
    return mirrored.items.reduce((a, s) => a + (s.endpoints?.length ?? 0), 0) === members * perMember;
  }, 600_000, 5000);
  const convergedMs = performance.now() - t0;
  const peakRssMB = procMB(pid, 'VmHWM');
  const writesAtConvergence = await writesByKind(ctl);
  // One more relist of every informer after convergence, then a quiet moment.
  const relisted = async (): Promise<number> => {
    const n = await ctl.metric('sharedlb_informer_relists_total');
    return Number.isNaN(n) ? 0 : n; // no line before the first relist
  };
  const before = await relisted();
  await eventually('a relist of every informer after convergence', async () => {
    alive();
    return (await relisted()) >= before + 4;
  }, 180_000, 2000);
  await new Promise((r) => setTimeout(r, 10_000));
  alive();
  const row: Row = {
    date: new Date().toISOString(),
    members,
    others,
    endpoints: (members + others) * perMember,
    convergedMs: Math.round(convergedMs),
    rssAfterSyncMB: Math.round(afterSync),
    peakRssMB: Math.round(peakRssMB),
    relists: await relisted(),
    ...(await writesByKind(ctl).then((w) => ({ eventWritesAfterConvergence: w.events - writesAtConvergence.events, otherWritesAfterConvergence: w.other - writesAtConvergence.other }))),
    peakAfterRelistMB: Math.round(procMB(pid, 'VmHWM')),
    steadyRssMB: Math.round(procMB(pid, 'VmRSS')),
    ...liveHeap(ctl.logText()),
    heapLimitMB: Math.round((await ctl.metric('sharedlb_heap_limit_bytes')) / 2 ** 20),
    pressure: ctl.logText().includes('"memory pressure"'),
  };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  await ctl.stop();
  return {
    row,
    cleanUp: async () => {
      for (const n of [ns, ...(otherNs === null ? [] : [otherNs])]) await deleteServices(n);
      await sweep();
    },
  };
}

const RESULT = join(import.meta.dirname, 'results', 'memory.json');

/** Rows of an earlier run for the cases this run does not measure again. */
function earlierRows(cases: Array<[number, number?]>): Row[] {
  if (!existsSync(RESULT)) return [];
  const earlier = JSON.parse(readFileSync(RESULT, 'utf8')) as { rows?: unknown };
  if (!Array.isArray(earlier.rows)) return [];
  return (earlier.rows as Row[]).filter((r) => typeof r.date === 'string' && !cases.some(([m, o = 0]) => m === r.members && o === r.others));
}

function save(rows: Row[], perMember: number): void {
  rows.sort((a, b) => a.members - b.members || a.others - b.others);
  const nodeOptions = deploymentNodeOptions();
  const limitMiB = deploymentMemoryLimit() / 2 ** 20;
  const base = rows.find((r) => r.others === 0 && rows.some((o) => o.others > 0 && o.members === r.members));
  const big = rows.find((r) => base !== undefined && r.others > 0 && r.members === base.members);
  const perTenThousand = base === undefined || big === undefined ? null : Math.round(((big.peakAfterRelistMB - base.peakAfterRelistMB) / big.others) * 10_000 * 10) / 10;
  const result = {
    benchmark: 'controller-memory', date: new Date().toISOString(), node: process.version, nodeOptions, memoryLimitMiB: limitMiB, cpus: cpus().length,
    goals: ['no OOM and no restart at any size (a death fails the run)', 'peak RSS <= 250 MB at 5000 members / 50000 endpoints', '<= 20 MB of peak RSS per 10 000 non-member Services'],
    peakMBPer10kOtherServices: perTenThousand,
    rows,
  };
  record('memory', result, {
    title: 'Controller memory',
    about: [
      `Node ${result.node}, controller run as the image runs it: dist/sharedlb.mjs with NODE_OPTIONS="${nodeOptions}" from manifests/deployment.yaml, in a memory cgroup with its memory limit (${limitMiB} MiB, so V8 sizes its heap as in the pod), ${result.cpus} CPUs. Each row says when it ran; a run of some cases keeps the rows of the others.`,
      `Member Services with ${perMember} endpoints each, and in some cases other Services (not members) with as many, in EndpointSlices shaped as kube-controller-manager writes them, all in the cluster before the controller starts; it lists everything, places every member, mirrors every slice. Relists every 60 s. RSS from /proc: right after the caches synced, peak (VmHWM) at convergence, peak after one more relist of every informer, and 10 s after that; the API writes the controller made over that time: events (Normal ones that waited while the work queue was busy, at most 1000) and others (a converged controller makes none). Live heap: what V8 kept after its full GCs (the last one, and the largest), from --trace-gc, which the benchmark adds. A controller that dies (out of memory or otherwise) fails the benchmark. The controller logs at warn here (the shipped default, info, adds a line per member placed).`,
    ],
    columns: ['members', 'other Services', 'endpoints', 'converged ms', 'RSS after sync MB', 'peak RSS MB', 'peak after relist MB', 'steady RSS MB', 'live heap last/max MB', 'heap limit MB', 'memory pressure reported', 'relists', 'writes after convergence: events / other', 'run at'],
    rows: rows.map((r) => [r.members, r.others, r.endpoints, r.convergedMs, r.rssAfterSyncMB, r.peakRssMB, r.peakAfterRelistMB, r.steadyRssMB, `${r.liveHeapLastMB}/${r.liveHeapMaxMB}`, r.heapLimitMB, r.pressure ? 'yes' : 'no', r.relists, r.otherWritesAfterConvergence === undefined ? '—' : `${r.eventWritesAfterConvergence} / ${r.otherWritesAfterConvergence}`, r.date.slice(0, 16)]),
    after: [`Goals: ${result.goals.join('; ')}.`, ...(perTenThousand === null ? [] : [`Peak RSS (after a relist) per 10 000 other Services, with as many slices of 10 endpoints: ${perTenThousand} MB.`])],
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    cases: { type: 'string', default: '500,500+29500,1000,5000,20000' },
    endpoints: { type: 'string', default: '10' },
    // Record the rows a run printed (its stderr) before it was stopped, without measuring again.
    'rows-from': { type: 'string' },
  } });
  const perMember = Number(values.endpoints);
  if (values['rows-from'] !== undefined) {
    const printed = printedRows<Row>(values['rows-from'], 'peakRssMB');
    save([...earlierRows(printed.map((r) => [r.members, r.others])), ...printed], perMember);
    process.exit(0);
  }
  const cases = values.cases.split(',').map((c) => c.split('+').map(Number) as [number, number?]);
  await quietCluster();
  const rows = earlierRows(cases);
  // Recorded after every case, before its clean-up: a long run stopped part-way keeps what it measured.
  for (const [members, others = 0] of cases) {
    const { row, cleanUp } = await measure(members, others, perMember);
    rows.push(row);
    save(rows, perMember);
    await cleanUp();
  }
  process.exit(0);
}

await main();
