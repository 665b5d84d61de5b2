// EndpointSlice propagation: how long after kube-controller-manager updates a
// member's own EndpointSlice does the shared LB's mirrored slice follow?
// One pod's readiness is flipped N times; both slices are watched, and each
// flip's lag is (LB slice shows it) − (member slice shows it).
//
//   node bench/propagation.bench.ts [--flips 1000]

import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Watch, type V1EndpointSlice } from '@kubernetes/client-node';
import { createPool, startController } from '../e2e/controller-harness.ts';
import { admin, adminKubeConfig, eventually, namespace, runPod, setPodStatus, sweep } from '../e2e/kube.ts';
import { percentile, quietCluster, record } from './lib.ts';

const TARGET_IP = '10.244.50.10';

/** Watch slices and report each time TARGET_IP's readiness changes in them. */
async function watchReadiness(path: string, onChange: (ready: boolean, at: number) => void): Promise<AbortController> {
  let last: boolean | undefined;
  return new Watch(adminKubeConfig()).watch(path, {}, (_type: string, obj: V1EndpointSlice) => {
    const at = performance.now();
    const e = (obj.endpoints ?? []).find((x) => x.addresses.includes(TARGET_IP));
    if (e === undefined) return;
    const ready = e.conditions?.ready === true;
    if (ready !== last) {
      last = ready;
      onChange(ready, at);
    }
  }, () => undefined);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { flips: { type: 'string', default: '1000' } } });
  const flips = Number(values.flips);
  await quietCluster();
  const ctrlNs = await namespace('prop-ctrl');
  await createPool('prop', { default: true, provider: 'generic' });
  const ctl = await startController(ctrlNs, ['--no-leader-elect']);
  const ns = await namespace('prop');
  for (let i = 0; i < 10; i++) await runPod({ namespace: ns, name: `web-${i}`, labels: { app: 'web' }, ip: i === 0 ? TARGET_IP : `10.244.50.${20 + i}` });
  await admin().post(`/api/v1/namespaces/${ns}/services`, { metadata: { name: 'web', annotations: { 'sharedlb.io/enabled': 'true' } }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
  const lb = await eventually('the member placed', async () => {
    const s = await admin().get<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/services/web`);
    return s.metadata.annotations?.['sharedlb.io/load-balancer']?.split('/')[1];
  });

  const member: Array<[boolean, number]> = [];
  const mirror: Array<[boolean, number]> = [];
  const w1 = await watchReadiness(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`, (r, t) => member.push([r, t]));
  const w2 = await watchReadiness(`/apis/discovery.k8s.io/v1/namespaces/${ctrlNs}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${lb}`, (r, t) => mirror.push([r, t]));
  await eventually('both slices seen', async () => member.length > 0 && mirror.length > 0);

  const lags: number[] = [];
  let ready = true;
  for (let i = 0; i < flips; i++) {
    ready = !ready;
    const m0 = member.length;
    const r0 = mirror.length;
    await setPodStatus(ns, 'web-0', TARGET_IP, ready);
    await eventually(`flip ${i} in the member's slice`, async () => member.length > m0, 30_000);
    await eventually(`flip ${i} in the LB's slice`, async () => mirror.length > r0, 30_000);
    lags.push((mirror[r0]?.[1] ?? 0) - (member[m0]?.[1] ?? 0));
  }
  w1.abort();
  w2.abort();
  await ctl.stop();
  await sweep();

  const row = { flips, p50Ms: Number(percentile(lags, 50).toFixed(1)), p90Ms: Number(percentile(lags, 90).toFixed(1)), p99Ms: Number(percentile(lags, 99).toFixed(1)), maxMs: Number(Math.max(...lags).toFixed(1)) };
  const result = { benchmark: 'endpointslice-propagation', date: new Date().toISOString(), node: process.version, cpus: cpus().length, goal: 'p99 <= 50 ms', ...row };
  record('propagation', result, {
    title: 'EndpointSlice propagation',
    about: [
      `${result.date}, Node ${result.node}, ${result.cpus} CPUs, every component on this machine.`,
      `One of a member's ten pods flips readiness ${flips} times; each lag is from the watch event of the member's own slice (kube-controller-manager) to the watch event of the shared LB's mirrored slice (sharedlb).`,
    ],
    columns: ['flips', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
    rows: [[row.flips, row.p50Ms, row.p90Ms, row.p99Ms, row.maxMs]],
    after: [`Goal: ${result.goal}.`],
  });
  process.exit(0);
}

await main();
