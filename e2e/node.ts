// A real node for the lab: containerd (Debian's, with runc and the CNI
// plugins), a kubelet built from the same Kubernetes modules as the control
// plane, kube-proxy, and a kube-scheduler to place pods on it — all in the
// node network namespace the traffic lab creates. Only tests that ask for it
// start it; the control plane alone stays the default.
//
// The one setting this machine needs (shared/reference/lab-node.md): the CRI
// plugin's restrict_oom_score_adj, because the sandbox has no CAP_SYS_RESOURCE
// and runc would otherwise fail every pod writing the kubelet's negative
// oom_score_adj.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, LOGS, NODE_IP, ROOT, ROOT_IP, readState, SERVICE_CIDR } from './cluster.ts';
import { backendImage, buildImage, buildTools, controllerImage, pauseImage, PAUSE_IMAGE, type BuiltImage, type ImageSpec } from './images.ts';
import { admin, eventually } from './kube.ts';
import { NetLab, run } from './netlab.ts';

export const KUBELET_NODE = 'e2e-kubelet';
/** The CNI bridge's pod range on this node (apart from the addresses tests give stand-in pods). */
export const POD_CIDR = '10.244.100.0/24';
const DIR = join(ROOT, 'node');
const PKI = join(ROOT, 'pki');
const SOCK = join(DIR, 'containerd.sock');

/** Debian's packages the node runs on (`make system-deps` installs them). */
export const NODE_PACKAGES = { containerd: 'containerd', runc: 'runc', '/usr/lib/cni/bridge': 'containernetworking-plugins' };

export function nodePrerequisites(): string[] {
  return Object.entries(NODE_PACKAGES).filter(([cmd]) => (cmd.startsWith('/') ? !existsSync(cmd) : spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0)).map(([, pkg]) => pkg);
}

const CONTAINERD_TOML = (cniConf: string): string => `version = 2
root = "${join(DIR, 'containerd', 'root')}"
state = "${join(DIR, 'containerd', 'state')}"
[grpc]
  address = "${SOCK}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # runc cannot lower a process's oom_score_adj without CAP_SYS_RESOURCE, which this machine withholds.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${cniConf}"
`;

const CNI_CONFLIST = JSON.stringify({
  cniVersion: '0.4.0',
  name: 'lab',
  plugins: [
    { type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(DIR, 'cni-ipam') } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
});

function kubeconfig(file: string, server: string, user: string): void {
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority': join(PKI, 'ca.crt') } }],
    users: [{ name: user, user: { 'client-certificate': join(PKI, `${user}.crt`), 'client-key': join(PKI, `${user}.key`) } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user } }],
    'current-context': 'e2e',
  }));
}

const KUBELET_CONFIG = (): string => JSON.stringify({
  apiVersion: 'kubelet.config.k8s.io/v1beta1',
  kind: 'KubeletConfiguration',
  // This machine mounts cgroup v1; kubelet ≥ 1.35 refuses it unless told.
  failCgroupV1: false,
  cgroupDriver: 'cgroupfs',
  failSwapOn: false,
  containerRuntimeEndpoint: `unix://${SOCK}`,
  enforceNodeAllocatable: [],
  address: NODE_IP,
  readOnlyPort: 0,
  healthzBindAddress: '127.0.0.1',
  healthzPort: 10248,
  authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: join(PKI, 'ca.crt') } },
  authorization: { mode: 'Webhook' },
  clusterDomain: 'cluster.local',
  // The lab's disk is shared with everything else: no eviction for it, no image GC.
  evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
  imageGCHighThresholdPercent: 100,
  imageGCLowThresholdPercent: 99,
  serializeImagePulls: false,
  registerNode: true,
  podCIDR: POD_CIDR,
  syncFrequency: '5s',
  fileCheckFrequency: '5s',
  nodeStatusUpdateFrequency: '5s',
  shutdownGracePeriod: '0s',
});

export interface NodeFigures {
  toolsBuildSeconds: number;
  imagesBuildSeconds: number;
  images: BuiltImage[];
  /** From containerd's start to the Node Ready. */
  nodeStartSeconds: number;
}

export class LabNode {
  readonly net = new NetLab();
  private readonly procs: ChildProcess[] = [];
  figures: NodeFigures | null = null;

  /** Build the images, then containerd, kube-scheduler, kubelet and kube-proxy; resolves once the Node is Ready. */
  async start(extraImages: ImageSpec[] = []): Promise<NodeFigures> {
    const missing = nodePrerequisites();
    if (missing.length > 0) throw new Error(`the lab node needs Debian's ${missing.join(', ')}: run \`make system-deps\``);
    const st = readState();
    if (st === null) throw new Error('the lab cluster is not up');
    const tools = buildTools();
    const t1 = Date.now();
    const images = [pauseImage(), backendImage(), controllerImage(), ...extraImages].map(buildImage);
    const imagesBuildSeconds = (Date.now() - t1) / 1000;

    this.clean();
    mkdirSync(join(DIR, 'cni'), { recursive: true });
    writeFileSync(join(DIR, 'cni', '10-lab.conflist'), CNI_CONFLIST);
    writeFileSync(join(DIR, 'containerd.toml'), CONTAINERD_TOML(join(DIR, 'cni')));
    this.net.setUp();
    // The API server is advertised at ROOT_IP on its own port: pods reach it through the kubernetes Service.
    const server = await this.net.forwardApiServer(st.server, true);
    // Replies to pods on the bridge go back through the node.
    run('ip', ['route', 'replace', POD_CIDR, 'via', NODE_IP]);
    // The node's own processes (hostNetwork pods: MetalLB's speaker) reach ClusterIPs, the kubernetes
    // Service's included, as on a node with a default route: kube-proxy translates them on the way out.
    run('ip', ['-n', this.net.node, 'route', 'add', SERVICE_CIDR.split(',')[0] as string, 'via', ROOT_IP]);

    const t0 = Date.now();
    this.procs.push(this.net.exec(this.net.node, 'containerd', ['--config', join(DIR, 'containerd.toml')], 'containerd.log', true));
    await eventually('containerd', async () => spawnSync('ctr', ['-a', SOCK, 'version']).status === 0, 30_000, 200);
    for (const img of images) {
      const r = spawnSync('ctr', ['-a', SOCK, '-n', 'k8s.io', 'images', 'import', '--no-unpack', img.archive], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ctr images import ${img.tag}: ${r.stderr}`);
    }

    const schedConfig = join(DIR, 'scheduler.kubeconfig');
    kubeconfig(schedConfig, st.server, 'kube-scheduler');
    this.procs.push(this.spawnLogged('kube-scheduler', [BIN, 'kube-scheduler', `--kubeconfig=${schedConfig}`, `--authentication-kubeconfig=${schedConfig}`, `--authorization-kubeconfig=${schedConfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', '--secure-port=0', '--v=1']));

    const kubeletConfig = join(DIR, 'kubelet-config.json');
    writeFileSync(kubeletConfig, KUBELET_CONFIG());
    const kubeletKubeconfig = join(DIR, 'kubelet.kubeconfig');
    kubeconfig(kubeletKubeconfig, server, 'kubelet');
    this.procs.push(this.net.exec(this.net.node, BIN, [
      'kubelet', `--config=${kubeletConfig}`, `--kubeconfig=${kubeletKubeconfig}`, `--hostname-override=${KUBELET_NODE}`,
      `--node-ip=${NODE_IP}`, `--root-dir=${join(DIR, 'kubelet')}`, `--cert-dir=${join(DIR, 'kubelet', 'pki')}`, '--v=1',
    ], 'kubelet.log', true));
    this.procs.push(this.net.startKubeProxy(BIN, server, 'nftables', KUBELET_NODE));

    await eventually('the kubelet\'s Node Ready', async () => {
      const n = await admin().get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(`/api/v1/nodes/${KUBELET_NODE}`).catch(() => undefined);
      return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    }, 120_000, 500);
    // The kubelet registers with the not-ready taint; kube-controller-manager's node-lifecycle
    // controller would lift it, but the lab does not run that controller (see kcmArgs).
    await admin().patch(`/api/v1/nodes/${KUBELET_NODE}`, { spec: { taints: [] } }, 'merge');
    this.figures = { toolsBuildSeconds: tools.seconds, imagesBuildSeconds, images, nodeStartSeconds: (Date.now() - t0) / 1000 };
    return this.figures;
  }

  private spawnLogged(name: string, argv: string[]): ChildProcess {
    const out = openSync(join(LOGS, `${name}.log`), 'a');
    const [cmd, ...args] = argv as [string, ...string[]];
    return spawn(cmd, args, { stdio: ['ignore', out, out] });
  }

  /** Pods first (the kubelet tears their sandboxes down), then the processes, mounts and state. */
  async stop(): Promise<void> {
    try {
      await admin().delete(`/api/v1/nodes/${KUBELET_NODE}`);
    } catch {
      // never registered
    }
    for (const p of this.procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const p of this.procs) p.kill('SIGKILL');
    this.clean();
    spawnSync('ip', ['route', 'del', POD_CIDR]);
    await this.net.tearDown();
  }

  /** What a node left behind: container shims, their mounts and network namespaces, state directories. */
  private clean(): void {
    spawnSync('pkill', ['-KILL', '-f', `containerd-shim.*${SOCK}`]);
    const mounts = spawnSync('sh', ['-c', `grep -o " ${DIR}[^ ]*" /proc/mounts | sort -r`], { encoding: 'utf8' }).stdout.split('\n').map((m) => m.trim()).filter(Boolean);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    // Pod network namespaces of this node's sandboxes (containerd names them cni-…) die with their shims; their files stay.
    if (existsSync('/var/run/netns')) for (const n of readdirSync('/var/run/netns')) if (n.startsWith('cni-')) spawnSync('ip', ['netns', 'del', n]);
    rmSync(DIR, { recursive: true, force: true });
  }
}
