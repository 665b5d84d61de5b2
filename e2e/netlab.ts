// A small network inside this machine for real traffic: a node namespace
// running kube-proxy, a namespace per backend pod, and a client namespace,
// joined by veth links the lab creates and removes. No packet leaves the
// machine; every address lives in namespaces made here.
//
//   root ns ── 10.200.0.1/24 ─ veth ─ 10.200.0.2/24 ── node ns (kube-proxy)
//   node ns ── 169.254.1.1 ─ veth ─ pod IP/32 ── pod ns (echo server)
//   node ns ── 10.201.0.1/24 ─ veth ─ 10.201.0.2/24 ── client ns

import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_IP, NODE_NAME, ROOT, ROOT_IP } from './cluster.ts';

export { ROOT_IP };
const GATEWAY = '169.254.1.1';
const CLIENT_IP = '10.201.0.2';
// IPv6: the client's network, and the gateway every pod routes through (one address on each pod's node-side link).
const CLIENT_IP6 = 'fd00:201::2';
const GATEWAY6 = 'fd00:ffff::1';

/** Run a command; on failure say exactly which command and what it printed. */
export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

export class NetLab {
  readonly tag: string;
  readonly node: string;
  readonly client: string;
  private readonly netns: string[] = [];
  private readonly rootLinks: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private pods = 0;

  constructor() {
    this.tag = `sl${process.pid % 100000}`;
    this.node = `${this.tag}-node`;
    this.client = `${this.tag}-client`;
  }

  private ns(name: string): void {
    run('ip', ['netns', 'add', name]);
    this.netns.push(name);
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  /** The node namespace and its link to the root namespace, and the client namespace behind it. */
  setUp(): void {
    this.ns(this.node);
    const rootEnd = `${this.tag}r`;
    run('ip', ['link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.node]);
    this.rootLinks.push(rootEnd);
    run('ip', ['addr', 'add', `${ROOT_IP}/24`, 'dev', rootEnd]);
    run('ip', ['link', 'set', rootEnd, 'up']);
    run('ip', ['-n', this.node, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0']);
    run('ip', ['-n', this.node, 'link', 'set', 'eth0', 'up']);
    run('ip', ['netns', 'exec', this.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);

    this.ns(this.client);
    run('ip', ['-n', this.node, 'link', 'add', 'client0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.client]);
    run('ip', ['-n', this.node, 'addr', 'add', '10.201.0.1/24', 'dev', 'client0']);
    run('ip', ['-n', this.node, 'link', 'set', 'client0', 'up']);
    run('ip', ['-n', this.client, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0']);
    run('ip', ['-n', this.client, 'link', 'set', 'eth0', 'up']);
    run('ip', ['-n', this.client, 'route', 'add', 'default', 'via', '10.201.0.1']);
    // IPv6 beside it (nodad: usable at once, no duplicate-address wait).
    run('ip', ['netns', 'exec', this.node, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    run('ip', ['-n', this.node, 'addr', 'add', 'fd00:201::1/64', 'dev', 'client0', 'nodad']);
    run('ip', ['-n', this.client, 'addr', 'add', `${CLIENT_IP6}/64`, 'dev', 'eth0', 'nodad']);
    run('ip', ['-n', this.client, '-6', 'route', 'add', 'default', 'via', 'fd00:201::1']);
  }

  /** A pod's network namespace with `ip`, routed through the node. Returns the namespace name. */
  addPod(ip: string, ip6?: string): string {
    const i = ++this.pods;
    const name = `${this.tag}-pod${i}`;
    this.ns(name);
    const nodeEnd = `pod${i}`;
    run('ip', ['-n', this.node, 'link', 'add', nodeEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
    run('ip', ['-n', this.node, 'addr', 'add', `${GATEWAY}/32`, 'dev', nodeEnd]);
    run('ip', ['-n', this.node, 'link', 'set', nodeEnd, 'up']);
    run('ip', ['-n', this.node, 'route', 'add', `${ip}/32`, 'dev', nodeEnd]);
    run('ip', ['-n', name, 'addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    run('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
    run('ip', ['-n', name, 'route', 'add', GATEWAY, 'dev', 'eth0']);
    run('ip', ['-n', name, 'route', 'add', 'default', 'via', GATEWAY, 'dev', 'eth0']);
    if (ip6 !== undefined) {
      run('ip', ['-n', this.node, 'addr', 'add', `${GATEWAY6}/128`, 'dev', nodeEnd, 'nodad']);
      run('ip', ['-n', this.node, '-6', 'route', 'add', `${ip6}/128`, 'dev', nodeEnd]);
      run('ip', ['-n', name, 'addr', 'add', `${ip6}/128`, 'dev', 'eth0', 'nodad']);
      run('ip', ['-n', name, '-6', 'route', 'add', GATEWAY6, 'dev', 'eth0']);
      run('ip', ['-n', name, '-6', 'route', 'add', 'default', 'via', GATEWAY6, 'dev', 'eth0']);
    }
    return name;
  }

  /**
   * Start a process inside a namespace; it is killed at tear-down. With
   * `sharedMounts`, only the network namespace is entered (nsenter): `ip netns
   * exec` also gives the process a mount namespace of its own with a fresh
   * /sys, which hides the cgroup mounts from a kubelet and its volume mounts
   * from containerd.
   */
  exec(netns: string, command: string, args: string[], log: string, sharedMounts = false): ChildProcess {
    const out = openSync(join(ROOT, 'logs', log), 'a');
    const argv = sharedMounts ? ['nsenter', `--net=/var/run/netns/${netns}`, command, ...args] : ['ip', 'netns', 'exec', netns, command, ...args];
    const p = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', out, out] });
    this.procs.push(p);
    return p;
  }

  /**
   * Nothing leaves the lab: in the node namespace, through which every pod's
   * traffic passes, a packet for any address outside the lab's own ranges is
   * dropped before routing (and counted), whatever a workload asks for — the
   * Gateway API suite's CoreDNS forwards unknown names to public resolvers.
   */
  lockEgress(): void {
    const v4 = ['127.0.0.0/8', '10.200.0.0/24', '10.201.0.0/24', '10.244.0.0/16', '10.96.0.0/16', '169.254.0.0/16', '198.51.100.0/24', '224.0.0.0/4'];
    const v6 = ['::1/128', 'fe80::/10', 'fd00::/8', '2001:db8:100::/64', 'ff00::/8'];
    const rules = [
      'table inet lab-egress {',
      `  set lab4 { type ipv4_addr; flags interval; elements = { ${v4.join(', ')} } }`,
      `  set lab6 { type ipv6_addr; flags interval; elements = { ${v6.join(', ')} } }`,
      '  counter outside { }',
      '  chain pre { type filter hook prerouting priority raw; policy accept;',
      '    ip daddr != @lab4 counter name outside drop',
      '    ip6 daddr != @lab6 counter name outside drop',
      '  }',
      '  chain out { type filter hook output priority raw; policy accept;',
      '    ip daddr != @lab4 counter name outside drop',
      '    ip6 daddr != @lab6 counter name outside drop',
      '  }',
      '}',
    ].join('\n');
    const r = spawnSync('ip', ['netns', 'exec', this.node, 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`nft (lab egress) failed: ${r.stderr}`);
  }

  /** Packets the egress lock has dropped. */
  egressDropped(): number {
    const out = run('ip', ['netns', 'exec', this.node, 'nft', 'list', 'counter', 'inet', 'lab-egress', 'outside']);
    return Number(/packets (\d+)/.exec(out)?.[1] ?? Number.NaN);
  }

  /** What e2e/probe.ts prints, run in the client namespace ("error: …" when nothing answers within its 2 s). */
  async probe(mode: 'tcp' | 'udp' | 'peer', host: string, port: number): Promise<string> {
    const r = await promisify(execFile)('ip', ['netns', 'exec', this.client, process.execPath, join(import.meta.dirname, 'probe.ts'), mode, host, String(port)], { encoding: 'utf8' })
      .catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    return r.stdout.trim();
  }

  /** Let the node reach the API server, which listens on the root namespace's loopback only. */
  async forwardApiServer(server: string, samePort = false): Promise<string> {
    const target = new URL(server);
    // On the API server's own port, where it is advertised (the kubernetes Service's endpoint), when pods are to reach it.
    const p = spawn(process.execPath, [join(import.meta.dirname, 'tcp-forward.ts'), ROOT_IP, samePort ? target.port : '0', target.hostname, target.port], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.procs.push(p);
    const port = await new Promise<string>((resolve, reject) => {
      p.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim()));
      p.once('exit', (code) => reject(new Error(`the API server forwarder exited (${code})`)));
    });
    return `https://${ROOT_IP}:${port}`;
  }

  /** kube-proxy on the node, as the node's own identity would run it. */
  startKubeProxy(bin: string, server: string, mode: 'nftables' | 'iptables' = 'nftables', hostname = NODE_NAME): ChildProcess {
    const pki = join(ROOT, 'pki');
    const kubeconfig = join(ROOT, 'kube-proxy.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config',
      // The serving certificate names localhost; the node dials the forwarder's address.
      clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority': join(pki, 'ca.crt'), 'tls-server-name': 'localhost' } }],
      users: [{ name: 'kube-proxy', user: { 'client-certificate': join(pki, 'kube-proxy.crt'), 'client-key': join(pki, 'kube-proxy.key') } }],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'kube-proxy' } }],
      'current-context': 'e2e',
    }));
    return this.exec(this.node, bin, [
      'kube-proxy', `--kubeconfig=${kubeconfig}`, `--hostname-override=${hostname}`, `--proxy-mode=${mode}`,
      '--cluster-cidr=10.244.0.0/16,fd00:10:244::/64', `--bind-address=${NODE_IP}`, '--healthz-bind-address=127.0.0.1:10256',
      '--metrics-bind-address=127.0.0.1:10249', '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0',
      '--conntrack-tcp-timeout-close-wait=0', '--v=2',
    ], 'kube-proxy.log');
  }

  async tearDown(): Promise<void> {
    for (const p of this.procs) p.kill('SIGKILL');
    for (const n of this.netns.reverse()) spawnSync('ip', ['netns', 'del', n]);
    for (const l of this.rootLinks) spawnSync('ip', ['link', 'del', l]);
  }
}

export { CLIENT_IP, CLIENT_IP6 };
