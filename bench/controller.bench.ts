// Controller throughput against the real control plane.
//
// For N member Services created at once, the time from the first create to
// the last member Ready (controller running, LBs given addresses by the cloud
// simulator) — against the floor measured in the same run: the same number
// of plain API writes of the same kinds (Service creates, annotation patches,
// status patches) from a plain client at the same concurrency.
//
//   node bench/controller.bench.ts [--sizes 1000,5000,20000] [--repeat 1] [--concurrency 16]

import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createPool, deploymentMemoryLimit, deploymentNodeOptions, startController } from '../e2e/controller-harness.ts';
import { admin, deleteNamespace, eventually, namespace, sweep } from '../e2e/kube.ts';
import { BENCH_PORTS_PER_LB, controlPlaneCpuSeconds, deleteServices, inBatches, percentile, printedRows, procCpuSeconds, procMB, quietCluster, record, watchReady } from './lib.ts';

const RUN_LABEL = 'bench.sharedlb.io/run';
const svc = (name: string, port: number, run: string) => ({
  metadata: { name, labels: { [RUN_LABEL]: run }, annotations: { 'sharedlb.io/enabled': 'true' } },
  spec: { selector: { app: name }, ports: [{ name: 'p', port }] },
});

/**
 * Members spread as teams spread them: at most this many Services a
 * namespace. With 20 000 Services in one namespace kube-controller-manager
 * sat at a full core and the floor's plain creates ran at 27/s (against
 * ~200/s at 5000): the cluster's cost, charged to the floor as much as the run.
 */
const PER_NAMESPACE = 500;

/** N Services over ⌈N / PER_NAMESPACE⌉ new namespaces: each one's namespace and name. */
async function spread(prefix: string, n: number): Promise<{ namespaces: string[]; members: Array<{ ns: string; name: string }> }> {
  const namespaces: string[] = [];
  for (let i = 0; i < Math.ceil(n / PER_NAMESPACE); i++) namespaces.push(await namespace(prefix));
  return { namespaces, members: Array.from({ length: n }, (_, i) => ({ ns: namespaces[Math.floor(i / PER_NAMESPACE)] as string, name: `m${i}` })) };
}

async function cleanUp(namespaces: string[]): Promise<void> {
  for (const ns of namespaces) await deleteServices(ns);
  for (const ns of namespaces) await deleteNamespace(ns);
}

interface Phase {
  ms: number;
  /** What the phase cost the control plane, in CPU seconds. */
  controlPlaneCpuS: number;
}

async function floor(n: number, concurrency: number): Promise<Phase> {
  await sweep(); // nothing else may load the API server meanwhile, not even a namespace still being deleted
  const { namespaces, members } = await spread('bench-floor', n);
  const cpu0 = controlPlaneCpuSeconds();
  const t0 = performance.now();
  // The members' own Services (selector included, so kube-controller-manager writes their EndpointSlices in both runs), without the opt-in.
  await inBatches(members, concurrency, ({ ns, name }) => admin().post(`/api/v1/namespaces/${ns}/services`, { ...svc(name, 10000, 'floor'), metadata: { name } }));
  await inBatches(members, concurrency, ({ ns, name }) => admin().patch(`/api/v1/namespaces/${ns}/services/${name}`, { metadata: { annotations: { 'sharedlb.io/address': '198.51.100.1:1/TCP', 'sharedlb.io/load-balancer': 'x/y' } } }, 'merge'));
  await inBatches(members, concurrency, ({ ns, name }) => admin().patch(`/api/v1/namespaces/${ns}/services/${name}/status`, { status: { conditions: [{ type: 'sharedlb.io/Ready', status: 'True', reason: 'Allocated', message: 'x', lastTransitionTime: '2026-01-01T00:00:00Z' }] } }, 'strategic'));
  const ms = performance.now() - t0;
  const controlPlaneCpuS = controlPlaneCpuSeconds() - cpu0;
  await cleanUp(namespaces);
  return { ms, controlPlaneCpuS };
}


async function throughput(n: number, concurrency: number): Promise<Phase & { createdMs: number; latencyMs: { p50: number; p99: number; max: number }; writes: number; byKind: Record<string, number>; rssMB: number; cpuS: number; eventsDropped: number; poolReconciles: number; memberReconciles: number; restart: { syncedMs: number; reconciledMs: number; writes: number } }> {
  await sweep();
  const ctrlNs = await namespace('bench-ctrl');
  // Pod-IP targeting, as clouds do at this scale: LB ports take no NodePorts (5000 would not fit the 2768 of the default range).
  await createPool('bench', { default: true, provider: 'generic', maxPortsPerLB: BENCH_PORTS_PER_LB, portRange: { from: 10000, to: 60000 }, template: { allocateLoadBalancerNodePorts: false } });
  // The shipped defaults (--concurrency 8, no --qps), one replica.
  const flags = ['--no-leader-elect'];
  const ctl = await startController(ctrlNs, flags, { deployment: true, nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean) });
  const cpu0 = procCpuSeconds(ctl.process.pid as number);
  const { namespaces, members } = await spread('bench', n);
  const run = String(process.pid);
  const r0 = await ctl.requests();
  // A counter has no line before its first increment.
  const count = async (metric: string): Promise<number> => ((v) => (Number.isNaN(v) ? 0 : v))(await ctl.metric(metric));
  const pool0 = await count('controller_runtime_reconcile_total{controller="pool"}');
  const member0 = await count('controller_runtime_reconcile_total{controller="member"}');
  const readyWatch = await watchReady({ labelSelector: `${RUN_LABEL}=${run}` }, n, 1_800_000);
  const createdAt = new Map<string, number>();
  const controlPlane0 = controlPlaneCpuSeconds();
  const t0 = performance.now();
  await inBatches(members, concurrency, async ({ ns, name }) => {
    await admin().post(`/api/v1/namespaces/${ns}/services`, svc(name, 9000 + (Number(name.slice(1)) % 40), run));
    createdAt.set(`${ns}/${name}`, performance.now());
  });
  const createdMs = performance.now() - t0;
  const ms = (await readyWatch.all) - t0;
  const controlPlaneCpuS = controlPlaneCpuSeconds() - controlPlane0;
  readyWatch.stop();
  // From a member's create (its response) to its Ready seen through the watch.
  const latencies = [...readyWatch.readyAt].map(([key, at]) => at - (createdAt.get(key) ?? t0));
  const latencyMs = { p50: Math.round(percentile(latencies, 50)), p99: Math.round(percentile(latencies, 99)), max: Math.round(percentile(latencies, 100)) };
  const byKind: Record<string, number> = {};
  let writes = 0;
  for (const [k, v] of await ctl.requests()) {
    if (v === (r0.get(k) ?? 0)) continue;
    byKind[k] = Number(((v - (r0.get(k) ?? 0)) / n).toFixed(2));
    if (!k.startsWith('GET ')) writes += v - (r0.get(k) ?? 0);
  }
  const rss = procMB(ctl.process.pid as number, 'VmHWM');
  const cpuS = procCpuSeconds(ctl.process.pid as number) - cpu0;
  const heapMB = (await ctl.metric('nodejs_heap_size_used_bytes')) / 2 ** 20;
  const eventsDropped = await count('sharedlb_events_dropped_total');
  const poolReconciles = (await count('controller_runtime_reconcile_total{controller="pool"}')) - pool0;
  const memberReconciles = (await count('controller_runtime_reconcile_total{controller="member"}')) - member0;
  process.stderr.write(`# controller at the end: heap used ${heapMB.toFixed(0)} MB, peak RSS ${rss.toFixed(0)} MB\n`);
  await ctl.stop();
  // Start-up at this size: a new process lists everything and reconciles every member, writing (close to) nothing.
  const tr = performance.now();
  const again = await startController(ctrlNs, flags, { deployment: true });
  const restartSyncedMs = performance.now() - tr;
  await eventually('every member reconciled after a restart', async () =>
    (await again.metric('controller_runtime_reconcile_total{controller="member"}')) >= n && (await again.metric('workqueue_depth')) === 0, 1_800_000, 500);
  const restartMs = performance.now() - tr;
  const restartWrites = await again.writes();
  await again.stop();
  await cleanUp(namespaces);
  await sweep();
  return { ms, controlPlaneCpuS, createdMs, latencyMs, writes, byKind, rssMB: rss, cpuS, eventsDropped, poolReconciles, memberReconciles, restart: { syncedMs: restartSyncedMs, reconciledMs: restartMs, writes: restartWrites } };
}

type Row = Record<string, unknown> & { members: number; floorMs: number; floorBeforeMs?: number; floorAfterMs?: number; controllerMs: number; ratio: number; apiWritesPerMember: number; controllerCpuSeconds: number; controllerPeakRssMB: number; restartReadyMs: number; restartReconciledMs: number; restartWrites: number; eventsDropped?: number; poolReconciles?: number; memberReconcilesPerMember?: number; controlPlaneCpuSeconds?: number[]; memberLatencyMs?: { p50: number; p99: number; max: number } };

/** Recorded after every size: a size that fails (or a run stopped) keeps the rows measured before it. */
function save(rows: Row[], concurrency: number, note: string[]): void {
  const nodeOptions = deploymentNodeOptions();
  const result = { benchmark: 'controller-throughput', date: new Date().toISOString(), node: process.version, nodeOptions, cpus: cpus().length, clientConcurrency: concurrency, goal: 'ratio <= 1.5', rows };
  record('controller', result, {
    title: 'Controller throughput',
    about: [
      `${result.date}, Node ${result.node}, controller run as the image runs it: dist/sharedlb.mjs with NODE_OPTIONS="${nodeOptions}" from manifests/deployment.yaml, in a memory cgroup with its memory limit (${deploymentMemoryLimit() / 2 ** 20} MiB, so V8 sizes its heap as in the pod), ${result.cpus} CPUs, everything (etcd, kube-apiserver, kube-controller-manager, cloud simulator, controller, load) on this machine.`,
      'N member Services (one port each, no pods; 500 a namespace) created at once by a client at the stated concurrency; time to the last member Ready (seen through a watch: polling lists would load the API server). Normal events wait while the work queue is busy (up to 2 minutes; past 1000 waiting they are dropped and counted, as client-go drops them), so the `Allocated` events of a big run are written after the last member is Ready, or not at all, and are not in the writes per member. Floor: measured just before and just after the run, the mean of the two (each is shown); each is the same client making 3 × N plain writes of the kinds every member needs (Service create — the same Service, selector included, so kube-controller-manager writes its EndpointSlice in both runs — annotation patch, status patch). API writes per member count every non-GET request the controller made, events included. Restart: a second controller process started over the placed members — ready (caches synced), every member reconciled, and the writes it made. The controller runs with the shipped defaults (8 reconciles at once, no client-side limit on API requests a second), without leader election (one replica). The controller logs at warn here (the shipped default, info, adds a line per member placed). Pool and member reconciles: how many ran from the first create to the last member Ready (controller_runtime_reconcile_total). Control plane CPU: what etcd, kube-apiserver, kube-controller-manager and the cloud simulator used in each phase — the floors make the same writes, so their difference is the machine’s pace drifting, not the controller. Member latency: from a member’s create to its Ready, seen through the watch. Runs of one size (--repeat) go back to back, a floor between each two.',
      ...note,
    ],
    columns: ['members', 'floor ms (before / after)', 'controller ms', 'ratio', 'API writes per member', 'controller CPU s', 'control plane CPU s (floor before / run / floor after)', 'member latency ms (p50 / p99)', 'controller peak RSS MB', 'restart: ready ms', 'restart: all reconciled ms', 'restart: writes', 'Normal events dropped', 'pool reconciles', 'member reconciles per member'],
    rows: rows.map((r) => [r.members, r.floorBeforeMs === undefined ? r.floorMs : `${r.floorMs} (${r.floorBeforeMs} / ${r.floorAfterMs})`, r.controllerMs, r.ratio, r.apiWritesPerMember, r.controllerCpuSeconds, r.controlPlaneCpuSeconds?.join(' / ') ?? '—', r.memberLatencyMs === undefined ? '—' : `${r.memberLatencyMs.p50} / ${r.memberLatencyMs.p99}`, r.controllerPeakRssMB, r.restartReadyMs, r.restartReconciledMs, r.restartWrites, r.eventsDropped ?? '—', r.poolReconciles ?? '—', r.memberReconcilesPerMember ?? '—']),
    after: [`Goal: ${result.goal}, in every run. The machine is shared by every component: the floor itself varies by a third between runs.`],
  });
}

function rowOf(n: number, before: Phase, t: Awaited<ReturnType<typeof throughput>>, after: Phase): Row {
  const floorMs = (before.ms + after.ms) / 2;
  return {
    members: n,
    floorMs: Math.round(floorMs),
    floorBeforeMs: Math.round(before.ms),
    floorAfterMs: Math.round(after.ms),
    controllerMs: Math.round(t.ms),
    /** Of which the client's creates took this long: the rest is the controller catching up. */
    createsMs: Math.round(t.createdMs),
    ratio: Number((t.ms / floorMs).toFixed(2)),
    apiWritesPerMember: Number((t.writes / n).toFixed(2)),
    controllerPeakRssMB: Math.round(t.rssMB),
    /** The controller's CPU from its first member to the last Ready: what it took from the machine the API server shares. */
    controllerCpuSeconds: Number(t.cpuS.toFixed(1)),
    /** The control plane's CPU in the floor before, the run, the floor after: the same writes cost it more or less as the machine's pace drifts. */
    controlPlaneCpuSeconds: [before.controlPlaneCpuS, t.controlPlaneCpuS, after.controlPlaneCpuS].map((x) => Number(x.toFixed(1))),
    /** From a member's create to its Ready: how far the controller trails the load. */
    memberLatencyMs: t.latencyMs,
    /** A second process started over the placed members: caches synced (ready), every member reconciled, API writes it made. */
    restartReadyMs: Math.round(t.restart.syncedMs),
    restartReconciledMs: Math.round(t.restart.reconciledMs),
    restartWrites: t.restart.writes,
    /** Normal events not written by the last member Ready: too many were waiting (sharedlb_events_dropped_total). */
    eventsDropped: t.eventsDropped,
    /** Pool reconciles (placements of the whole pool) from the first create to the last member Ready. */
    poolReconciles: t.poolReconciles,
    memberReconcilesPerMember: Number((t.memberReconciles / n).toFixed(2)),
    /** Every request the controller made, reads too, per member. */
    requestsPerMemberByKind: t.byKind,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    sizes: { type: 'string', default: '1000,5000,20000' },
    concurrency: { type: 'string', default: '16' },
    // Record the rows a run printed (its stderr) before it died, without measuring again.
    'rows-from': { type: 'string' },
    note: { type: 'string', multiple: true, default: [] },
    // Runs of each size, back to back: the goal holds in every run, not by the median.
    repeat: { type: 'string', default: '1' },
  } });
  const concurrency = Number(values.concurrency);
  if (values['rows-from'] !== undefined) {
    save(printedRows<Row>(values['rows-from'], 'floorMs'), concurrency, values.note);
    return;
  }
  await quietCluster();
  const rows: Row[] = [];
  for (const n of values.sizes.split(',').map(Number)) {
    // The machine's pace drifts (the same floor, minutes apart, cost the control plane up to 40% more CPU):
    // a floor on each side of every run, and their mean, take the drift out of the ratio as well as can be.
    // Repeated runs share the floor between them.
    let before = await floor(n, concurrency);
    for (let k = 0; k < Number(values.repeat); k++) {
      const t = await throughput(n, concurrency);
      const after = await floor(n, concurrency);
      const row = rowOf(n, before, t, after);
      before = after;
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
      save(rows, concurrency, values.note);
    }
  }
  process.exit(0);
}

await main();
