// `make demo`: the main job, live. Starts the local control plane and cloud
// simulator, installs the CRD and a pool, runs the controller, applies ~50
// realistic member Services (with ready pods) plus three with mistakes, waits
// until every member has an answer, prints the cost report and the /report
// URL, and on Ctrl-C stops everything it started.

import { KubeConfig } from '@kubernetes/client-node';
import type { ServiceLike } from '../allocator/types.ts';
import { fetchLiveReport } from '../controller/cluster-read.ts';
import { reportTable } from '../controller/report-render.ts';
import { startController } from '../controller/run.ts';
import { generateServices } from '../examples/workload.ts';
import { down, freePort, KUBECONFIG, readState, up } from './cluster.ts';
import { createPool, installCRD } from './controller-harness.ts';
import { admin, deleteNamespace, eventually, runPod, sweep, TEST_LABEL } from './kube.ts';

const CONTROLLER_NS = 'sharedlb-system';
const say = (s: string): void => void process.stdout.write(`${s}\n`);

async function main(): Promise<void> {
  process.env.SHAREDLB_LOG_LEVEL ??= 'warn'; // the demo prints the outcome; the controller's decisions stay in its metrics and events
  const wasUp = readState() !== null;
  say('Starting the local control plane (kube-apiserver, kube-controller-manager, etcd, cloud simulator)…');
  await up();
  await installCRD();
  await sweep();
  await admin().post('/api/v1/namespaces', { metadata: { name: CONTROLLER_NS, labels: { [TEST_LABEL]: 'true' } } }).catch(() => undefined);
  await createPool('demo', {
    default: true,
    provider: 'aws-nlb',
    template: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing' } },
    emptyLoadBalancerGraceSeconds: 60,
  });

  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const listen = await freePort(8080);
  const ctl = await startController({
    kc, namespace: CONTROLLER_NS, className: 'sharedlb.io/shared', nodePortRange: { from: 30000, to: 32767 },
    listen: `127.0.0.1:${listen}`, concurrency: 8, qps: 200, resyncSeconds: 300, relistSeconds: 600, leaderElect: false,
  });

  const services: ServiceLike[] = generateServices({ count: 50, seed: 11, mistakes: true });
  const namespaces = [...new Set(services.map((s) => s.metadata?.namespace as string))];
  say(`Creating ${services.length} Services with ready pods in ${namespaces.length} namespaces…`);
  for (const ns of namespaces) await admin().post('/api/v1/namespaces', { metadata: { name: ns, labels: { [TEST_LABEL]: 'true' } } }).catch(() => undefined);
  for (const ns of namespaces) await eventually(`ServiceAccount ${ns}/default`, () => admin().get(`/api/v1/namespaces/${ns}/serviceaccounts/default`));
  let ip = 0;
  const t0 = Date.now();
  await Promise.all(services.map(async (s) => {
    const ns = s.metadata?.namespace as string;
    const name = s.metadata?.name as string;
    const n = ++ip;
    await runPod({ namespace: ns, name: `${name}-0`, labels: s.spec?.selector ?? {}, ip: `10.244.${Math.floor(n / 250)}.${(n % 250) + 2}` });
    const { creationTimestamp: _ignored, ...metadata } = s.metadata ?? {};
    await admin().post(`/api/v1/namespaces/${ns}/services`, { ...s, metadata });
  }));

  const answered = async () => {
    const list = await admin().get<{ items: Array<{ status?: { conditions?: Array<{ type: string; reason: string }> } }> }>('/api/v1/services');
    const reasons = list.items.flatMap((s) => s.status?.conditions?.filter((c) => c.type === 'sharedlb.io/Ready').map((c) => c.reason) ?? []);
    return reasons.filter((r) => r !== 'WaitingForAddress').length >= services.length ? reasons : undefined;
  };
  const reasons = await eventually('every member to have an answer', answered, 120_000);
  const count = (r: string) => reasons.filter((x) => x === r).length;
  say(`\nAll members answered in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${count('Allocated')} Allocated, ${count('Invalid')} Invalid (shown on purpose), ${reasons.length - count('Allocated') - count('Invalid')} other.\n`);

  say(reportTable(await fetchLiveReport(admin())));
  say(`Report page:  http://127.0.0.1:${listen}/report   (and /report.json, /metrics)`);
  say(`kubectl:      KUBECONFIG=${KUBECONFIG} kubectl get loadbalancerpools,svc -A`);
  say('\nPress Ctrl-C to stop the controller and the cluster.');

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('\nStopping…');
  await ctl.stop();
  if (wasUp) {
    for (const ns of [...namespaces, CONTROLLER_NS]) await deleteNamespace(ns);
    await admin().delete('/apis/sharedlb.io/v1alpha1/loadbalancerpools/demo').catch(() => undefined);
    say('The cluster was running before the demo: left it running, removed the demo\'s objects.');
  } else {
    await down();
  }
  process.exit(0);
}

main().catch(async (e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
