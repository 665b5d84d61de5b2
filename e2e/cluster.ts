// The local control plane: etcd, kube-apiserver and kube-controller-manager
// from e2e/cluster's binary, plus the cloud simulator, on loopback.
//
//   node e2e/cluster.ts build | up | down | status
//
// `up` is idempotent: a healthy cluster is reused; a half-dead one is torn
// down and started again. Everything lives under e2e/.cluster (git-ignored).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { restClient, type Rest } from '../controller/kube-rest.ts';

const E2E = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(E2E, '.cluster');
const SRC = join(E2E, 'cluster');
export const BIN = join(ROOT, 'bin', 'cluster');
const BIN_STAMP = join(ROOT, 'bin', 'source.sha256');
/** kubectl, from the same binary: a directory to put first on PATH, so that `kubectl` (and its plugin lookup) works as on a workstation. */
export const KUBECTL_DIR = join(ROOT, 'bin', 'kubectl-only');
const PKI = join(ROOT, 'pki');
export const LOGS = join(ROOT, 'logs');
const STATE = join(ROOT, 'state.json');
export const KUBECONFIG = join(ROOT, 'kubeconfig');
/** kube-apiserver's audit log (JSON lines): every request sharedlb's ServiceAccount makes, at Metadata level. */
export const AUDIT_LOG = join(LOGS, 'audit.log');
const AUDIT_POLICY = join(ROOT, 'audit-policy.yaml');
/** Whose requests are audited: ServiceAccounts of the namespace the install manifests use. */
export const AUDITED_GROUP = 'system:serviceaccounts:sharedlb-system';
export const KUBE_VERSION = 'v1.36.3';
// Dual-stack, IPv4 first: a Service that asks for nothing gets IPv4; one that asks for IPv6 gets it.
export const SERVICE_CIDR = '10.96.0.0/16,fd00:10:96::/112';
export const NODE_NAME = 'e2e-node-1';
export const NODE_IP = '10.200.0.2';
/** The root namespace's end of the node's link (e2e/netlab.ts). */
export const ROOT_IP = '10.200.0.1';

type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'cloud-simulator';

export interface ClusterState {
  server: string;
  etcd: string;
  pids: Partial<Record<Component, number>>;
  startedAt: string;
  startSeconds: number;
  /** What the components were started with: a cluster started otherwise is not reused. */
  config: string;
}

const log = (msg: string): void => void process.stderr.write(`cluster: ${msg}\n`);

/** A hash of everything the binary is built from: rebuild exactly when it changes. */
function sourceHash(): string {
  const h = createHash('sha256');
  for (const f of readdirSync(SRC).sort()) {
    if (f.endsWith('.go') || f === 'go.mod' || f === 'go.sum') h.update(f).update(readFileSync(join(SRC, f)));
  }
  h.update(KUBE_VERSION);
  return h.digest('hex');
}

function writeKubectl(): void {
  mkdirSync(KUBECTL_DIR, { recursive: true });
  writeFileSync(join(KUBECTL_DIR, 'kubectl'), `#!/bin/sh\nexec "${BIN}" kubectl "$@"\n`, { mode: 0o755 });
}

export function build(): { built: boolean; seconds: number } {
  const want = sourceHash();
  if (existsSync(BIN) && existsSync(BIN_STAMP) && readFileSync(BIN_STAMP, 'utf8') === want) {
    if (!existsSync(join(KUBECTL_DIR, 'kubectl'))) writeKubectl();
    return { built: false, seconds: 0 };
  }
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error !== undefined || go.status !== 0) {
    throw new Error('the Go toolchain is needed to build the local Kubernetes components (e2e/cluster) and was not found on PATH');
  }
  log(`building Kubernetes ${KUBE_VERSION} components with ${go.stdout.trim()} (a cold build takes minutes)`);
  mkdirSync(dirname(BIN), { recursive: true });
  const pkg = 'k8s.io/component-base/version';
  const ldflags = [
    '-s', '-w',
    `-X ${pkg}.gitVersion=${KUBE_VERSION}`,
    `-X ${pkg}.gitMajor=${KUBE_VERSION.split('.')[0]?.slice(1)}`,
    `-X ${pkg}.gitMinor=${KUBE_VERSION.split('.')[1]}`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.buildDate=2026-01-01T00:00:00Z`,
  ].join(' ');
  const started = Date.now();
  const r = spawnSync('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', BIN, '.'], {
    cwd: SRC,
    stdio: 'inherit',
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  if (r.status !== 0) throw new Error(`go build of e2e/cluster failed (exit ${r.status ?? r.signal})`);
  writeFileSync(BIN_STAMP, want);
  writeKubectl();
  const seconds = (Date.now() - started) / 1000;
  log(`built ${BIN} in ${seconds.toFixed(1)}s`);
  return { built: true, seconds };
}

/** A port free on loopback now (`preferred` if it is). */
export function freePort(preferred = 0): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(preferred, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  }).catch((e: unknown) => (preferred !== 0 ? freePort(0) : Promise.reject(e)));
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readState(): ClusterState | null {
  try {
    return JSON.parse(readFileSync(STATE, 'utf8')) as ClusterState;
  } catch {
    return null;
  }
}

/** Run `fn` with an admin REST client on the cluster's kubeconfig, closing it after. */
async function asAdmin<T>(fn: (rest: Rest) => Promise<T>): Promise<T> {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const rest = restClient(kc, { userAgent: 'sharedlb-e2e-cluster' });
  try {
    return await fn(rest);
  } finally {
    rest.close();
  }
}

/** GET as admin; true on 200 (e.g. /readyz). */
const adminOk = (path: string): Promise<boolean> => asAdmin(async (rest) => (await rest.call('GET', path, undefined, undefined, 5000)).status === 200);

async function healthy(st: ClusterState | null): Promise<boolean> {
  if (st === null || st.config !== configHash()) return false;
  for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'cloud-simulator'] as const) if (!alive(st.pids[c])) return false;
  try {
    return await adminOk('/readyz');
  } catch {
    return false;
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function start(component: Component, command: string, args: string[]): number {
  mkdirSync(LOGS, { recursive: true });
  const out = openSync(join(LOGS, `${component}.log`), 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  if (child.pid === undefined) throw new Error(`${component} did not start`);
  return child.pid;
}

async function waitFor(component: Component, pid: number, check: () => Promise<boolean>, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (!alive(pid)) break;
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  const why = alive(pid) ? `not ready after ${seconds}s` : 'exited';
  throw new Error(`${component} ${why}; last lines of ${join(LOGS, `${component}.log`)}:\n${tail(join(LOGS, `${component}.log`))}`);
}

function writeKubeconfig(file: string, server: string, user: string): void {
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sharedlb-e2e', cluster: { server, 'certificate-authority': join(PKI, 'ca.crt') } }],
    users: [{ name: user, user: { 'client-certificate': join(PKI, `${user}.crt`), 'client-key': join(PKI, `${user}.key`) } }],
    contexts: [{ name: 'sharedlb-e2e', context: { cluster: 'sharedlb-e2e', user } }],
    'current-context': 'sharedlb-e2e',
  };
  writeFileSync(file, JSON.stringify(cfg, null, 2), { mode: 0o600 });
}

function apiServerArgs(etcd: string, apiPort: number): string[] {
  return [
    'kube-apiserver',
    `--etcd-servers=${etcd}`,
    '--bind-address=127.0.0.1',
    // Pods reach the API server as every pod does, through the kubernetes
    // Service; its endpoint is here, where the lab node's link ends in the root
    // namespace (e2e/node.ts forwards that address to the loopback port).
    `--advertise-address=${ROOT_IP}`,
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${join(PKI, 'apiserver.crt')}`,
    `--tls-private-key-file=${join(PKI, 'apiserver.key')}`,
    `--client-ca-file=${join(PKI, 'ca.crt')}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--kubelet-client-certificate=${join(PKI, 'apiserver-kubelet-client.crt')}`,
    `--kubelet-client-key=${join(PKI, 'apiserver-kubelet-client.key')}`,
    // The node's name resolves nowhere (and nothing here may ask a DNS server): dial its address.
    '--kubelet-preferred-address-types=InternalIP',
    '--anonymous-auth=false',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${join(PKI, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(PKI, 'sa.key')}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--service-node-port-range=30000-32767',
    '--allow-privileged=false',
    '--profiling=false',
    `--audit-policy-file=${AUDIT_POLICY}`,
    `--audit-log-path=${AUDIT_LOG}`,
    '--audit-log-format=json',
    '--audit-log-maxsize=200',
    '--audit-log-maxbackup=1',
    '--v=1',
  ];
}

const AUDIT_POLICY_YAML = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["${AUDITED_GROUP}"]
  - level: None
`;

function kcmArgs(kubeconfig: string): string[] {
  return [
    'kube-controller-manager',
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    // Not node-lifecycle: the stand-in node has no kubelet to heartbeat, and it would mark every test pod on it not ready.
    '--controllers=endpointslice-controller,endpointslice-mirroring-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,deployment-controller,replicaset-controller,daemonset-controller,disruption-controller',
    `--service-account-private-key-file=${join(PKI, 'sa.key')}`,
    `--root-ca-file=${join(PKI, 'ca.crt')}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    // Each controller acts as its own ServiceAccount with the bootstrap RBAC roles, as in a real cluster.
    '--use-service-account-credentials=true',
    '--leader-elect=false',
    '--secure-port=0',
    '--concurrent-service-endpoint-syncs=5',
    // The default 20 QPS makes deleting a namespace of thousands of Services take minutes.
    '--kube-api-qps=200',
    '--kube-api-burst=400',
    '--v=1',
  ];
}

function configHash(): string {
  return createHash('sha256').update(JSON.stringify([apiServerArgs('', 0), kcmArgs(''), AUDIT_POLICY_YAML])).digest('hex').slice(0, 16);
}

/**
 * Kill kube-apiserver and start it again on the same port and etcd: what a
 * control-plane upgrade or crash looks like to clients (watches break, lists fail).
 */
export async function restartApiServer(): Promise<number> {
  const st = readState();
  if (st === null) throw new Error('no cluster is running');
  const pid = st.pids['kube-apiserver'];
  if (pid !== undefined && alive(pid)) {
    killGroup(pid, 'SIGKILL');
    while (alive(pid)) await sleep(20);
  }
  const t0 = Date.now();
  st.pids['kube-apiserver'] = start('kube-apiserver', BIN, apiServerArgs(st.etcd, Number(new URL(st.server).port)));
  writeFileSync(STATE, JSON.stringify(st, null, 2));
  await waitFor('kube-apiserver', st.pids['kube-apiserver'], () => adminOk('/readyz'), 120);
  return Date.now() - t0;
}

export async function up(): Promise<ClusterState> {
  const existing = readState();
  // Even for a cluster that is reused: kubectl comes from this binary too (a running process keeps the file it started from).
  build();
  if (await healthy(existing)) {
    log(`reusing the healthy cluster at ${existing?.server}`);
    return existing as ClusterState;
  }
  if (existing !== null) {
    log('a previous cluster is not healthy: stopping it');
    await down();
  }
  const t0 = Date.now();
  rmSync(join(ROOT, 'etcd'), { recursive: true, force: true });
  rmSync(LOGS, { recursive: true, force: true });
  const pki = spawnSync(BIN, ['pki', '--dir', PKI], { encoding: 'utf8' });
  if (pki.status !== 0) throw new Error(`pki: ${pki.stderr}`);

  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  writeKubeconfig(KUBECONFIG, server, 'admin'); // the readiness checks below use it
  const etcd = `http://127.0.0.1:${etcdClient}`;
  const st: ClusterState = { server, etcd, pids: {}, startedAt: new Date().toISOString(), startSeconds: 0, config: configHash() };
  mkdirSync(LOGS, { recursive: true });
  writeFileSync(AUDIT_POLICY, AUDIT_POLICY_YAML);
  const save = (): void => writeFileSync(STATE, JSON.stringify(st, null, 2));
  try {
    st.pids.etcd = start('etcd', BIN, [
      'etcd', `--data-dir=${join(ROOT, 'etcd')}`, `--listen-client-url=${etcd}`, `--listen-peer-url=http://127.0.0.1:${etcdPeer}`,
    ]);
    save();
    await waitFor('etcd', st.pids.etcd, async () => (await fetch(`${etcd}/health`)).ok, 60);

    st.pids['kube-apiserver'] = start('kube-apiserver', BIN, apiServerArgs(etcd, apiPort));
    save();
    await waitFor('kube-apiserver', st.pids['kube-apiserver'], () => adminOk('/readyz'), 120);

    const kcmConfig = join(ROOT, 'controller-manager.kubeconfig');
    writeKubeconfig(kcmConfig, server, 'controller-manager');
    st.pids['kube-controller-manager'] = start('kube-controller-manager', BIN, kcmArgs(kcmConfig));
    save();
    // The serviceaccount controller makes "default" in every namespace: proof that it runs.
    await waitFor('kube-controller-manager', st.pids['kube-controller-manager'],
      () => adminOk('/api/v1/namespaces/default/serviceaccounts/default'), 120);

    await registerNode();
    const simConfig = join(ROOT, 'cloud-simulator.kubeconfig');
    writeKubeconfig(simConfig, server, 'cloud-simulator');
    st.pids['cloud-simulator'] = start('cloud-simulator', process.execPath, [join(E2E, 'cloud-simulator.ts'), `--kubeconfig=${simConfig}`]);
    save();
    await waitFor('cloud-simulator', st.pids['cloud-simulator'], async () => readFileSync(join(LOGS, 'cloud-simulator.log'), 'utf8').includes('"msg":"ready"'), 60);

    st.startSeconds = (Date.now() - t0) / 1000;
    save();
    log(`up in ${st.startSeconds.toFixed(1)}s: ${server}; kubeconfig ${KUBECONFIG}`);
    return st;
  } catch (e) {
    save();
    await down();
    throw e;
  }
}

/** The Node that test Pods are bound to: no kubelet, just the object a kubelet would keep. */
async function registerNode(): Promise<void> {
  await asAdmin(async (rest) => {
    await rest.post('/api/v1/nodes', {
      metadata: { name: NODE_NAME, labels: { 'kubernetes.io/hostname': NODE_NAME, 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': 'zone-a' } },
      // Tests bind their stand-in pods here by name; the scheduler must place real ones on the real node (e2e/node.ts).
      spec: { taints: [{ key: 'sharedlb.io/no-kubelet', effect: 'NoSchedule' }] },
    });
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await rest.patch(`/api/v1/nodes/${NODE_NAME}/status`, {
      status: {
        addresses: [{ type: 'InternalIP', address: NODE_IP }, { type: 'Hostname', address: NODE_NAME }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'E2E', message: 'stands in for a kubelet', lastHeartbeatTime: now, lastTransitionTime: now }],
      },
    }, 'merge');
  });
}

export async function down(): Promise<void> {
  const st = readState();
  if (st !== null) {
    // Reverse start order: clients first, so the API server has no watches to drain and etcd outlives it.
    for (const c of ['cloud-simulator', 'kube-controller-manager', 'kube-apiserver', 'etcd'] as const) {
      const pid = st.pids[c];
      if (!alive(pid)) continue;
      killGroup(pid as number, 'SIGTERM');
      const deadline = Date.now() + 3_000; // the state is thrown away: no need to wait out a graceful shutdown
      while (alive(pid) && Date.now() < deadline) await sleep(50);
      if (alive(pid)) killGroup(pid as number, 'SIGKILL');
    }
  }
  // State goes; the binary and the last logs stay (the logs explain a failed run).
  for (const p of [STATE, join(ROOT, 'etcd'), PKI, KUBECONFIG, join(ROOT, 'controller-manager.kubeconfig'), join(ROOT, 'cloud-simulator.kubeconfig')]) {
    rmSync(p, { recursive: true, force: true });
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Peak resident memory of each component, from /proc (Linux). */
export function peakMemory(st: ClusterState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [c, pid] of Object.entries(st.pids)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      out[c] = /VmHWM:\s+(\d+ kB)/.exec(status)?.[1] ?? '?';
    } catch {
      out[c] = 'not running';
    }
  }
  return out;
}

async function main(cmd: string | undefined): Promise<number> {
  switch (cmd) {
    case 'build': {
      const r = build();
      log(r.built ? `built in ${r.seconds.toFixed(1)}s` : 'binary is up to date');
      return 0;
    }
    case 'up':
      await up();
      return 0;
    case 'down':
      await down();
      log('down');
      return 0;
    case 'status': {
      const st = readState();
      const ok = await healthy(st);
      process.stdout.write(`${JSON.stringify({ healthy: ok, ...st, peakMemory: st ? peakMemory(st) : {}, binary: existsSync(BIN) ? statSync(BIN).size : 0 }, null, 2)}\n`);
      return ok ? 0 : 1;
    }
    default:
      process.stderr.write('usage: node e2e/cluster.ts build|up|down|status\n');
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv[2]).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`cluster: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
