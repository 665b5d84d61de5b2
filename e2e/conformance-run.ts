// `make conformance`: the upstream Gateway API conformance suite (v1.6.3,
// unmodified) against sharedlb in the lab — the local control plane, the
// real node (kubelet, containerd, kube-proxy) running the suite's backends,
// the cloud simulator giving shared LBs their addresses, and the controller
// as a process. The suite dials each Gateway's address from this process,
// so the root namespace routes the simulator's range to the node.
//
// Profiles GATEWAY-TCP and GATEWAY-UDP. Skipped, with the reason written
// into the report's notes: TCPRouteWeightedRouting and
// UDPRouteWeightedRouting (kube-proxy picks uniformly among a port's
// endpoints and merges duplicates, so 70/30 between one-pod backends cannot
// be built without a proxy). Nothing else is skipped.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { down, KUBECONFIG, LOGS, NODE_IP, readState, ROOT, up } from './cluster.ts';
import { buildConformance, conformanceImages, crdDir, GATEWAY_API_VERSION, SUITE } from './conformance-build.ts';
import { createPool, deletePool, installCRD, startController } from './controller-harness.ts';
import { admin, eventually, kubectl } from './kube.ts';
import { LabNode } from './node.ts';

const REPO = join(import.meta.dirname, '..');
const REPORTS = join(REPO, 'conformance', 'reports');
const LB_RANGE = '198.51.100.0/24';
const CLASS = 'sharedlb';
const POOL = 'gateway-conformance';
const SYSTEM_NS = 'sharedlb-gateways';
const SKIPPED: Record<string, string> = {
  TCPRouteWeightedRouting: 'kube-proxy picks uniformly among a port\'s endpoints and merges duplicate endpoints, so unequal weights between one-pod backends cannot be built without a proxy in the data path',
  UDPRouteWeightedRouting: 'as TCPRouteWeightedRouting: kube-proxy cannot weight endpoints',
};
const log = (m: string): void => void process.stderr.write(`conformance: ${m}\n`);

/** A pod on the node, and from inside its network namespace, a connection to a public resolver: it must fail, and the egress lock must have counted it. */
async function proveNoEgress(node: LabNode): Promise<number> {
  const before = node.net.egressDropped();
  const cni = (): string[] => (existsSync('/var/run/netns') ? readdirSync('/var/run/netns').filter((n) => n.startsWith('cni-')) : []);
  const known = new Set(cni());
  await admin().post('/api/v1/namespaces/default/pods', {
    metadata: { name: 'egress-probe' },
    spec: { containers: [{ name: 'c', image: conformanceImages()[0]?.tag, imagePullPolicy: 'Never' }], terminationGracePeriodSeconds: 0 },
  });
  try {
    const netns = await eventually('the probe pod\'s network namespace', async () => cni().find((n) => !known.has(n)), 60_000, 250);
    const probe = spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e',
      "const s=require('net').connect({host:'8.8.8.8',port:53,timeout:3000});s.on('connect',()=>process.exit(0));s.on('timeout',()=>process.exit(2));s.on('error',()=>process.exit(3));"], { encoding: 'utf8', timeout: 10_000 });
    if (probe.status === 0) throw new Error('a pod reached 8.8.8.8:53: the lab lets traffic out');
    const dropped = node.net.egressDropped() - before;
    if (!(dropped > 0)) throw new Error(`the probe to 8.8.8.8 failed (exit ${probe.status}) but the egress lock counted nothing: something else stopped it, and the lock is unproven`);
    return dropped;
  } finally {
    await admin().delete('/api/v1/namespaces/default/pods/egress-probe').catch(() => undefined);
  }
}

const SUITE_NAMESPACES = ['gateway-conformance-infra', 'gateway-conformance-app-backend', 'gateway-conformance-web-backend'];

/**
 * The suite's namespaces gone, before it runs and before the node stops: a
 * namespace whose pods lost their node (an aborted run) never finishes
 * terminating, as the lab runs no pod garbage collector — those pods are
 * deleted at once.
 */
async function clearSuiteNamespaces(): Promise<void> {
  for (const ns of SUITE_NAMESPACES) {
    const pods = await admin().get<{ items: Array<{ metadata: { name: string } }> }>(`/api/v1/namespaces/${ns}/pods`).catch(() => ({ items: [] }));
    for (const p of pods.items) await admin().delete(`/api/v1/namespaces/${ns}/pods/${p.metadata.name}`, { gracePeriodSeconds: 0 }).catch(() => undefined);
    await admin().delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
  }
  await eventually('the suite\'s namespaces gone', async () => {
    for (const ns of SUITE_NAMESPACES) if ((await admin().get(`/api/v1/namespaces/${ns}`).catch(() => null)) !== null) return false;
    return true;
  }, 180_000, 500);
}

function installGatewayCRDs(): void {
  // Server-side: the CRDs are too big for the last-applied annotation.
  kubectl(['apply', '--server-side', '-f', crdDir()]);
  for (const f of readdirSync(crdDir()).filter((x) => x.includes('_') && x.endsWith('.yaml') && !x.includes('vap'))) {
    const name = (parse(readFileSync(join(crdDir(), f), 'utf8')) as { metadata: { name: string } }).metadata.name;
    kubectl(['wait', '--for=condition=Established', `crd/${name}`, '--timeout=60s']);
  }
}

function runSuite(report: string): number {
  const args = [
    '-test.run=TestConformance', '-test.v', '-test.timeout=60m',
    `-gateway-class=${CLASS}`,
    '-conformance-profiles=GATEWAY-TCP,GATEWAY-UDP',
    `-skip-tests=${Object.keys(SKIPPED).join(',')}`,
    `-report-output=${report}`,
    '-organization=sharedlb', '-project=sharedlb', '-url=https://github.com/sharedlb/sharedlb', '-version=dev', '-contact=https://github.com/sharedlb/sharedlb/issues',
    '-mode=default',
    // For a developer chasing one test, e.g. CONFORMANCE_ARGS=-run-test=TCPRouteParentRefAttachAll.
    ...(process.env.CONFORMANCE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  const out = openSync(join(LOGS, 'conformance-suite.log'), 'w');
  log(`running the suite (log: ${join(LOGS, 'conformance-suite.log')})`);
  const r = spawnSync(SUITE, args, { stdio: ['ignore', out, out], env: { ...process.env, KUBECONFIG }, cwd: ROOT });
  return r.status ?? 1;
}

/** The suite's report, with the reason for each skipped test added to the profile's notes. */
function keepReport(report: string): string {
  mkdirSync(REPORTS, { recursive: true });
  const dest = join(REPORTS, `${GATEWAY_API_VERSION}-sharedlb-default-report.yaml`);
  copyFileSync(report, dest);
  const notes = Object.entries(SKIPPED).map(([t, why]) => `# skipped ${t}: ${why}`).join('\n');
  writeFileSync(dest, `${notes}\n${readFileSync(dest, 'utf8')}`);
  return dest;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const build = buildConformance();
  log(`suite, echo-basic and CoreDNS ${build.built ? 'built' : 'up to date'} in ${build.seconds.toFixed(1)} s`);
  const before = readState();
  const st = await up();
  // A cluster started here is stopped at the end; one already running is left as found (as e2e/setup.ts does).
  const startedHere = before === null || before.startedAt !== st.startedAt;
  try {
    return await inLab(t0);
  } finally {
    if (startedHere && process.env.SHAREDLB_KEEP_CLUSTER !== '1') await down();
  }
}

async function inLab(t0: number): Promise<number> {
  await installCRD();
  installGatewayCRDs();
  const node = new LabNode();
  let ctl: Awaited<ReturnType<typeof startController>> | null = null;
  try {
    await node.start(conformanceImages());
    node.net.lockEgress();
    await clearSuiteNamespaces();
    log(`egress lock proven: a pod's packets to 8.8.8.8 dropped (${await proveNoEgress(node)} counted)`);
    spawnSync('ip', ['route', 'replace', LB_RANGE, 'via', NODE_IP]);
    await admin().post('/api/v1/namespaces', { metadata: { name: SYSTEM_NS } }).catch(() => undefined);
    await deletePool(POOL);
    await createPool(POOL, { provider: 'generic', maxPortsPerLB: 50, portRange: { from: 30000, to: 30100 } });
    const classes = '/apis/gateway.networking.k8s.io/v1/gatewayclasses';
    await admin().delete(`${classes}/${CLASS}`).catch(() => undefined);
    await eventually('the old GatewayClass gone', async () => (await admin().get(`${classes}/${CLASS}`).catch(() => null)) === null);
    await admin().post(classes, {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: CLASS },
      spec: { controllerName: 'sharedlb.io/gateway-controller', parametersRef: { group: 'sharedlb.io', kind: 'LoadBalancerPool', name: POOL } },
    });
    ctl = await startController(SYSTEM_NS, ['--gateway-api=on', '--no-leader-elect']);
    await eventually('the GatewayClass Accepted', async () => {
      const c = await admin().get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(`${classes}/${CLASS}`);
      return c.status?.conditions?.some((x) => x.type === 'Accepted' && x.status === 'True');
    }, 60_000, 250);
    const reportFile = join(ROOT, 'conformance-report.yaml');
    const code = runSuite(reportFile);
    // What the suite left of sharedlb's objects, for a failure to be read after the lab is gone.
    if (code !== 0) writeFileSync(join(LOGS, 'conformance-objects.yaml'), kubectl(['get', 'services,endpointslices,gateways,tcproutes,udproutes', '-A', '-o', 'yaml']));
    if (existsSync(reportFile)) log(`report: ${keepReport(reportFile)}`);
    log(`suite exited ${code} after ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
    return code;
  } finally {
    await clearSuiteNamespaces().catch((e: unknown) => log(`the suite's namespaces remain: ${String(e)}`));
    await ctl?.stop();
    // Nothing of the run stays in a cluster that is reused: the class, the pool, and the LBs (with their namespace).
    await admin().delete(`/apis/gateway.networking.k8s.io/v1/gatewayclasses/${CLASS}`).catch(() => undefined);
    await deletePool(POOL);
    await admin().delete(`/api/v1/namespaces/${SYSTEM_NS}`).catch(() => undefined);
    spawnSync('ip', ['route', 'del', LB_RANGE]);
    await node.stop();
  }
}

process.exitCode = await main();
