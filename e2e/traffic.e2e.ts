// Packets, not API objects: TCP and UDP from a client namespace, through a
// shared LB's address (from the cloud simulator), kube-proxy (nftables) on a
// node namespace, to the right member's pods in their own namespaces.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readState, ROOT } from './cluster.ts';
import { createPool, deletePool, installCRD, startController, type RunningController } from './controller-harness.ts';
import { admin, deleteNamespace, eventually, namespace, runPod, setPodStatus, sweep } from './kube.ts';
import { CLIENT_IP, CLIENT_IP6, NetLab, run } from './netlab.ts';

const E2E = import.meta.dirname;
const BIN = join(ROOT, 'bin', 'cluster');

interface Svc { metadata: { annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; reason: string }> } }

describe('traffic through a shared LB', { timeout: 240_000 }, () => {
  const lab = new NetLab();
  const ctrlNs = `sharedlb-e2e-tr-${process.pid}`;
  let ns = '';
  let ctl: RunningController | undefined;
  let kubeProxy: ReturnType<NetLab['startKubeProxy']> | undefined;
  let apiForward = '';
  const ips = new Map<string, string>(); // pod name → IP

  /** One probe from the client namespace. */
  const probe = (mode: 'tcp' | 'udp' | 'peer', host: string, port: number): string => {
    const r = spawnSync('ip', ['netns', 'exec', lab.client, process.execPath, join(E2E, 'probe.ts'), mode, host, String(port)], { encoding: 'utf8' });
    return r.stdout.trim();
  };
  const pod = async (name: string, labels: Record<string, string>, ip: string, ready = true, ip6?: string): Promise<void> => {
    const netns = lab.addPod(ip, ip6);
    lab.exec(netns, process.execPath, [join(E2E, 'echo-server.ts'), `--id=${name}`, '--tcp=8080,8081', '--udp=5353'], `pod-${name}.log`);
    await runPod({ namespace: ns, name, labels, ip, ip6, ready, ports: [{ name: 'web', containerPort: 8081 }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }] });
    ips.set(name, ip);
  };
  const service = async (name: string, ports: Array<{ name: string; port: number; targetPort: number | string; protocol?: string }>, annotations: Record<string, string> = {}) => {
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name, annotations: { 'sharedlb.io/enabled': 'true', ...annotations } },
      spec: { selector: { app: name }, ports },
    });
    return eventually(`${name} Allocated`, async () => {
      const s = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/${name}`);
      return s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated') ? s : undefined;
    }, 30_000);
  };
  /** A LoadBalancer-class member: what it declares (source ranges, affinity) is honoured by its LB's class. */
  const classService = async (name: string, port: number, spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}) => {
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name, annotations },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'sharedlb.io/shared', selector: { app: name }, ports: [{ name: 'api', port, targetPort: 8080 }], ...spec },
    });
    return eventually(`${name} Allocated with an address`, async () => {
      const s = await admin().get<Svc & { status?: { loadBalancer?: { ingress?: unknown[] } } }>(`/api/v1/namespaces/${ns}/services/${name}`);
      return s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated') && (s.status.loadBalancer?.ingress ?? []).length > 0 ? s : undefined;
    }, 30_000);
  };
  const endpointOf = (s: Svc, index = 0): { host: string; port: number } => {
    const [hostPort] = (s.metadata.annotations?.['sharedlb.io/address'] ?? '').split(',').slice(index);
    const [host, rest] = (hostPort ?? '').split(':');
    return { host: host ?? '', port: Number(rest?.split('/')[0]) };
  };
  const answers = (mode: 'tcp' | 'udp', e: { host: string; port: number }, expect: string, timeoutMs = 15_000) =>
    eventually(`${mode} ${e.host}:${e.port} to answer ${expect}`, async () => probe(mode, e.host, e.port) === expect, timeoutMs);

  before(async () => {
    const st = readState();
    assert.ok(st, 'the local cluster is running');
    run('nft', ['--version']); // installed by `make test` (Debian's nftables); say so if absent
    lab.setUp();
    apiForward = await lab.forwardApiServer(st.server);
    kubeProxy = lab.startKubeProxy(BIN, apiForward);
    await installCRD();
    await sweep();
    await admin().post('/api/v1/namespaces', { metadata: { name: ctrlNs, labels: { 'sharedlb.io/e2e': 'true' } } });
    // Local is honoured with an LB of the member's own where a pool allows it: this one does.
    await createPool('e2e-traffic', {
      default: true, provider: 'generic', maxPortsPerLB: 20, portRange: { from: 20000, to: 20100 },
      classes: { allow: ['sourceRanges', 'sessionAffinity', 'ipFamilies', 'externalTrafficPolicy'], max: 8 },
    });
    ns = await namespace('traffic');
    ctl = await startController(ctrlNs, ['--lease-duration=4', '--renew-deadline=3', '--retry-period=1']);
  });

  after(async () => {
    await ctl?.stop();
    await lab.tearDown();
    const left = run('ip', ['netns', 'list']).split('\n').filter((l) => l.startsWith(lab.tag));
    assert.deepEqual(left, [], 'every network namespace the lab made is gone');
    if (ns) await deleteNamespace(ns);
    await deletePool('e2e-traffic');
    await deleteNamespace(ctrlNs);
  });

  it('two members on one LB each reach only their own pods, over TCP and UDP', async () => {
    await pod('alpha-0', { app: 'alpha' }, '10.244.10.11');
    await pod('beta-0', { app: 'beta' }, '10.244.10.21');
    const alpha = await service('alpha', [{ name: 'api', port: 9000, targetPort: 8080 }, { name: 'stats', port: 9001, targetPort: 5353, protocol: 'UDP' }]);
    const beta = await service('beta', [{ name: 'api', port: 9100, targetPort: 8080 }, { name: 'stats', port: 9101, targetPort: 5353, protocol: 'UDP' }]);
    assert.equal(alpha.metadata.annotations?.['sharedlb.io/load-balancer'], beta.metadata.annotations?.['sharedlb.io/load-balancer']);
    const a = endpointOf(alpha);
    assert.match(a.host, /^198\.51\.100\./);
    await answers('tcp', a, 'alpha-0');
    await answers('tcp', endpointOf(beta), 'beta-0');
    await answers('udp', endpointOf(alpha, 1), 'alpha-0');
    await answers('udp', endpointOf(beta, 1), 'beta-0');
  });

  it('a remapped external port reaches the member\'s target port, numeric or named', async () => {
    await pod('gamma-0', { app: 'gamma' }, '10.244.10.31');
    const gamma = await service('gamma', [{ name: 'api', port: 9000, targetPort: 'web' }]);
    const g = endpointOf(gamma);
    assert.ok(g.port >= 20000, `remapped to ${g.port}`);
    await answers('tcp', g, 'gamma-0');
  });

  it('scaling a member\'s pods changes who answers; Ready-to-first-answer is recorded', async () => {
    const alpha = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/alpha`);
    const e = endpointOf(alpha);
    await pod('alpha-1', { app: 'alpha' }, '10.244.10.12', false);
    const t0 = Date.now();
    await setPodStatus(ns, 'alpha-1', '10.244.10.12', true);
    await eventually('alpha-1 to answer', async () => probe('tcp', e.host, e.port) === 'alpha-1', 15_000);
    const readyToAnswer = Date.now() - t0;
    process.stderr.write(`# pod Ready to first answer through the shared LB: ${readyToAnswer} ms (probe spawns a process per try, ~100 ms)\n`);
    await setPodStatus(ns, 'alpha-0', '10.244.10.11', false);
    await eventually('only alpha-1', async () => {
      const seen = new Set(Array.from({ length: 4 }, () => probe('tcp', e.host, e.port)));
      return seen.size === 1 && seen.has('alpha-1');
    });
    await setPodStatus(ns, 'alpha-1', '10.244.10.12', false);
    await eventually('no answer with no ready pod', async () => probe('tcp', e.host, e.port).startsWith('error:'));
    await setPodStatus(ns, 'alpha-0', '10.244.10.11', true);
    await answers('tcp', e, 'alpha-0');
  });

  it('removing a member stops its port; another member\'s open connection keeps working', async () => {
    const beta = endpointOf(await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/beta`));
    const gamma = endpointOf(await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/gamma`));
    const session = spawn('ip', ['netns', 'exec', lab.client, process.execPath, join(E2E, 'probe.ts'), 'session', beta.host, String(beta.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    session.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await eventually('the session to open', async () => out.startsWith('beta-0'));
      await admin().delete(`/api/v1/namespaces/${ns}/services/gamma`);
      await eventually('gamma\'s port to stop answering', async () => probe('tcp', gamma.host, gamma.port).startsWith('error:'), 15_000);
      session.stdin.write('still-there\n');
      await eventually('the open beta connection to answer', async () => out.includes('beta-0:still-there'), 5000);
    } finally {
      session.kill();
    }
  });

  it('a DNS-like member answers on the same port over UDP and TCP', async () => {
    await pod('dns-0', { app: 'dns' }, '10.244.10.41');
    const dns = await service('dns', [{ name: 'dns-udp', port: 53, targetPort: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 8080 }], { 'sharedlb.io/port-policy': 'preserve' });
    const addr = dns.metadata.annotations?.['sharedlb.io/address'] ?? '';
    assert.match(addr, /:53\/UDP/);
    assert.match(addr, /:53\/TCP/);
    const host = endpointOf(dns).host;
    await answers('udp', { host, port: 53 }, 'dns-0');
    await answers('tcp', { host, port: 53 }, 'dns-0');
  });


  it('a source-ranged member refuses a client outside its ranges and serves one inside', async () => {
    await pod('fenced-0', { app: 'fenced' }, '10.244.10.51');
    const fenced = endpointOf(await classService('fenced', 9300, { loadBalancerSourceRanges: ['192.0.2.0/24'] }));
    await pod('open-0', { app: 'open' }, '10.244.10.52');
    const open = endpointOf(await classService('open', 9301, { loadBalancerSourceRanges: [`${CLIENT_IP}/32`] }));
    await answers('tcp', open, 'open-0');
    // kube-proxy has programmed the ranged LBs (the open one answers); the client is outside fenced's range.
    for (let i = 0; i < 3; i++) assert.match(probe('tcp', fenced.host, fenced.port), /^error:/);
    // The same member, its range widened by its owner to take the client in: now it answers, so it was the range.
    await admin().patch(`/api/v1/namespaces/${ns}/services/fenced`, { spec: { loadBalancerSourceRanges: ['192.0.2.0/24', `${CLIENT_IP}/32`] } }, 'merge');
    await eventually('fenced to answer once its range holds the client', async () => {
      const s = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/fenced`);
      const e = endpointOf(s);
      return e.port > 0 && probe('tcp', e.host, e.port) === 'fenced-0';
    }, 30_000);
  });

  it('ClientIP affinity keeps one client on one pod across connections; without it both pods answer', async () => {
    await pod('sticky-0', { app: 'sticky' }, '10.244.10.61');
    await pod('sticky-1', { app: 'sticky' }, '10.244.10.62');
    const sticky = endpointOf(await classService('sticky', 9400, { sessionAffinity: 'ClientIP' }));
    await pod('loose-0', { app: 'loose' }, '10.244.10.63');
    await pod('loose-1', { app: 'loose' }, '10.244.10.64');
    const loose = endpointOf(await classService('loose', 9401));
    await eventually('both loose pods to answer', async () => new Set(Array.from({ length: 6 }, () => probe('tcp', loose.host, loose.port))).size === 2, 30_000);
    const first = await eventually('sticky to answer', async () => {
      const a = probe('tcp', sticky.host, sticky.port);
      return a.startsWith('sticky-') ? a : undefined;
    });
    const seen = new Set(Array.from({ length: 12 }, () => probe('tcp', sticky.host, sticky.port)));
    assert.deepEqual([...seen], [first]);
  });

  it('a remapped class member never answers on a port another member holds, across kube-proxy restarts', async () => {
    // Three Services claim LB:7000 in kube-proxy's service-ips map (the LB, the holder, and — without
    // ipMode Proxy — the remapped member, whose own port is 7000); each full sync keeps whichever it
    // visits last, in Go map order (pkg/proxy/nftables/proxier.go ensureElem). Without the fix a round
    // goes wrong one time in three: 12 rounds miss it with probability (2/3)^12 < 1%. Checked: with
    // ipMode Proxy removed, this test fails (round 0 sent LB:7000 to remap-0).
    const ROUNDS = 12;
    await pod('holder-0', { app: 'holder' }, '10.244.10.71');
    const holder = await classService('holder', 7000);
    await pod('remap-0', { app: 'remap' }, '10.244.10.72');
    const remapped = await classService('remap', 7000, {}, { 'sharedlb.io/port-policy': 'prefer' });
    const h = endpointOf(holder);
    const r = endpointOf(remapped);
    assert.equal(h.port, 7000);
    assert.notEqual(r.port, 7000);
    assert.equal(h.host, r.host, 'both on one shared LB');
    await answers('tcp', r, 'remap-0');
    for (let round = 0; round < ROUNDS; round++) {
      // kube-proxy restarts and syncs every Service from scratch: the rounds in which, before ipMode Proxy,
      // it sent LB:7000 to the remapped member (which declares 7000 as its own port).
      kubeProxy?.kill('SIGKILL');
      kubeProxy = lab.startKubeProxy(BIN, apiForward);
      await answers('tcp', r, 'remap-0'); // synced again
      const answered = Array.from({ length: 6 }, () => probe('tcp', h.host, h.port));
      assert.deepEqual([...new Set(answered)], ['holder-0'], `round ${round}: LB:7000 reached ${answered.join(', ')}`);
    }
  });


  it('a Local member\'s pod sees the client\'s own address, a Cluster member\'s sees the node\'s; Local gets an LB of its own', async () => {
    await pod('local-0', { app: 'local' }, '10.244.10.81');
    const local = await classService('local', 9500, { type: 'LoadBalancer', externalTrafficPolicy: 'Local' });
    await pod('cluster-0', { app: 'cluster' }, '10.244.10.82');
    const cluster = await classService('cluster', 9501, { externalTrafficPolicy: 'Cluster' });
    const l = endpointOf(local);
    const c = endpointOf(cluster);
    assert.notEqual(l.host, c.host, 'a Local member is not shared: one health check per LB');
    const lb = await admin().get<{ spec: { externalTrafficPolicy?: string; healthCheckNodePort?: number } }>(
      `/api/v1/namespaces/${ctrlNs}/services/${(local.metadata.annotations?.['sharedlb.io/load-balancer'] ?? '').split('/')[1]}`);
    assert.equal(lb.spec.externalTrafficPolicy, 'Local');
    assert.ok((lb.spec.healthCheckNodePort ?? 0) > 0, 'the LB has a health check node port of its own');
    await eventually('local to answer with the client address', async () => probe('peer', l.host, l.port) === `local-0:${CLIENT_IP}`, 30_000);
    const seen = await eventually('cluster to answer', async () => {
      const a = probe('peer', c.host, c.port);
      return a.startsWith('cluster-0:') ? a : undefined;
    }, 30_000);
    assert.notEqual(seen, `cluster-0:${CLIENT_IP}`, 'Cluster policy masquerades the client');
  });

  it('an IPv6 member answers over IPv6, on an LB of its own family; an IPv4 member stays on IPv4', async () => {
    await pod('six-0', { app: 'six' }, '10.244.10.91', true, 'fd00:10:244::91');
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'six', annotations: { 'sharedlb.io/enabled': 'true' } },
      spec: { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack', selector: { app: 'six' }, ports: [{ name: 'api', port: 9600, targetPort: 8080 }] },
    });
    const six = await eventually('six Allocated with an IPv6 address', async () => {
      const s = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/six`);
      const ok = s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated');
      return ok && /^\[2001:db8:100::/.test(s.metadata.annotations?.['sharedlb.io/address'] ?? '') ? s : undefined;
    }, 30_000);
    const m = /^\[([0-9a-f:]+)\]:(\d+)\/TCP$/.exec(six.metadata.annotations?.['sharedlb.io/address'] ?? '');
    assert.ok(m, `an IPv6 address: ${six.metadata.annotations?.['sharedlb.io/address']}`);
    const lbName = (six.metadata.annotations?.['sharedlb.io/load-balancer'] ?? '').split('/')[1];
    const lb = await admin().get<{ spec: { ipFamilies?: string[] } }>(`/api/v1/namespaces/${ctrlNs}/services/${lbName}`);
    assert.deepEqual(lb.spec.ipFamilies, ['IPv6']);
    await answers('tcp', { host: m[1] as string, port: Number(m[2]) }, 'six-0', 30_000);
    const peer = await eventually('six to say whom it saw', async () => {
      const a = probe('peer', m[1] as string, Number(m[2]));
      return a.startsWith('six-0:') ? a : undefined;
    });
    assert.match(peer, /^six-0:[0-9a-f:]+$/, 'the connection arrived over IPv6');
    assert.notEqual(peer, `six-0:${CLIENT_IP6}`, 'Cluster policy: masqueraded, as over IPv4');
    // The IPv4 members of this pool were never put on the IPv6 LB.
    const alpha = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/alpha`);
    assert.notEqual(alpha.metadata.annotations?.['sharedlb.io/load-balancer'], six.metadata.annotations?.['sharedlb.io/load-balancer']);
  });

  it('a dual-stack member gets a dual-stack LB and answers over IPv4 and IPv6', async () => {
    await pod('dual-0', { app: 'dual' }, '10.244.10.95', true, 'fd00:10:244::95');
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'dual', annotations: { 'sharedlb.io/enabled': 'true' } },
      spec: { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack', selector: { app: 'dual' }, ports: [{ name: 'api', port: 9700, targetPort: 8080 }] },
    });
    const dual = await eventually('dual Allocated with both addresses', async () => {
      const s = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/dual`);
      const ok = s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated');
      return ok && (s.metadata.annotations?.['sharedlb.io/address'] ?? '').split(',').length === 2 ? s : undefined;
    }, 30_000);
    const lbName = (dual.metadata.annotations?.['sharedlb.io/load-balancer'] ?? '').split('/')[1];
    const lb = await admin().get<{ spec: { ipFamilies?: string[]; ipFamilyPolicy?: string } }>(`/api/v1/namespaces/${ctrlNs}/services/${lbName}`);
    assert.deepEqual(lb.spec.ipFamilies, ['IPv4', 'IPv6']);
    assert.equal(lb.spec.ipFamilyPolicy, 'RequireDualStack');
    for (const a of (dual.metadata.annotations?.['sharedlb.io/address'] ?? '').split(',')) {
      const m = /^\[?([0-9a-f.:]+?)\]?:(\d+)\/TCP$/.exec(a);
      assert.ok(m, a);
      await answers('tcp', { host: m[1] as string, port: Number(m[2]) }, 'dual-0', 30_000);
    }
  });
  /** A member of the one-LB pool whose condition is `reason` (it may wait: PortConflict). */
  const oneLBMember = async (name: string, spec: Record<string, unknown>, reason: string, annotations: Record<string, string> = {}) => {
    const lbClass = spec.type === 'LoadBalancer';
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name, annotations: { 'sharedlb.io/pool': 'e2e-one', 'sharedlb.io/port-policy': 'preserve', ...(lbClass ? {} : { 'sharedlb.io/enabled': 'true' }), ...annotations } },
      spec: { selector: { app: name }, ...(lbClass ? { loadBalancerClass: 'sharedlb.io/shared' } : {}), ...spec },
    });
    return eventually(`${name} ${reason}`, async () => {
      const svc = await admin().get<Svc & { status?: { loadBalancer?: { ingress?: Array<{ ipMode?: string }> } } }>(`/api/v1/namespaces/${ns}/services/${name}`);
      return svc.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === reason) ? svc : undefined;
    }, 30_000);
  };

  it('a port handed from a deleted member to a waiting one never reaches the old member\'s pods', async () => {
    await createPool('e2e-one', { provider: 'generic', maxLoadBalancers: 1, maxPortsPerLB: 10, portRange: { from: 21000, to: 21100 } });
    try {
      await pod('first-0', { app: 'first' }, '10.244.10.111');
      await pod('second-0', { app: 'second' }, '10.244.10.112');
      const first = endpointOf(await oneLBMember('first', { ports: [{ name: 'api', port: 7200, targetPort: 8080 }] }, 'Allocated'));
      await answers('tcp', first, 'first-0');
      await oneLBMember('second', { ports: [{ name: 'api', port: 7200, targetPort: 8080 }] }, 'PortConflict');
      // The old holder's pods keep running: only its Service goes, and its port passes to the waiting member.
      await admin().delete(`/api/v1/namespaces/${ns}/services/first`);
      // Until kube-proxy has the LB's new port, the old holder may still answer on it (its own traffic, on its
      // own pods); from the first answer of the new holder on, never again: the old holder's mirrors, named
      // for its port, match nothing, whenever its own reconcile gets round to deleting them.
      await eventually('the new holder to answer on the port', async () => probe('tcp', first.host, 7200) === 'second-0', 30_000);
      const after = Array.from({ length: 20 }, () => probe('tcp', first.host, 7200));
      assert.deepEqual([...new Set(after)], ['second-0'], `LB:7200 answered ${after.join(', ')}`);
    } finally {
      for (const n of ['first', 'second']) await admin().delete(`/api/v1/namespaces/${ns}/services/${n}`).catch(() => undefined);
      await deletePool('e2e-one');
    }
  });

  it('a class member that waits for a port another member holds is never VIP for it: that port reaches only its holder, across kube-proxy restarts', async () => {
    await createPool('e2e-one', { provider: 'generic', maxLoadBalancers: 1, maxPortsPerLB: 10, portRange: { from: 21000, to: 21100 } });
    try {
      await pod('keeper-0', { app: 'keeper' }, '10.244.10.121');
      await pod('grower-0', { app: 'grower' }, '10.244.10.122');
      const keeper = endpointOf(await oneLBMember('keeper', { type: 'LoadBalancer', ports: [{ name: 'api', port: 7301, targetPort: 8080 }] }, 'Allocated'));
      const grower = await oneLBMember('grower', { type: 'LoadBalancer', ports: [{ name: 'api', port: 7300, targetPort: 8080 }] }, 'Allocated');
      assert.equal(endpointOf(grower).host, keeper.host, 'both on the one LB');
      // It asks for the keeper's port too: it waits (PortConflict), keeping 7300, and must not claim LB:7301.
      await admin().patch(`/api/v1/namespaces/${ns}/services/grower`, { spec: { ports: [{ name: 'api', port: 7300, targetPort: 8080 }, { name: 'more', port: 7301, targetPort: 8080 }] } }, 'strategic');
      const waiting = await eventually('grower PortConflict', async () => {
        const svc = await admin().get<Svc & { status?: { loadBalancer?: { ingress?: Array<{ ipMode?: string }> } } }>(`/api/v1/namespaces/${ns}/services/grower`);
        return svc.status?.conditions?.some((c) => c.reason === 'PortConflict') ? svc : undefined;
      });
      assert.deepEqual(waiting.status?.loadBalancer?.ingress?.map((i) => i.ipMode), ['Proxy']);
      for (let round = 0; round < 8; round++) {
        kubeProxy?.kill('SIGKILL');
        kubeProxy = lab.startKubeProxy(BIN, apiForward);
        await answers('tcp', { host: keeper.host, port: 7300 }, 'grower-0'); // synced again
        const answered = Array.from({ length: 6 }, () => probe('tcp', keeper.host, 7301));
        assert.deepEqual([...new Set(answered)], ['keeper-0'], `round ${round}: LB:7301 reached ${answered.join(', ')}`);
      }
    } finally {
      for (const n of ['keeper', 'grower']) await admin().delete(`/api/v1/namespaces/${ns}/services/${n}`).catch(() => undefined);
      await deletePool('e2e-one');
    }
  });

  it('a dual-stack member\'s source ranges hold over both families; ranges of one family only are refused, never half-applied', async () => {
    // A pool of its own: the default one's classes are taken by the tests above.
    await createPool('e2e-dual', { provider: 'generic', maxPortsPerLB: 20, portRange: { from: 22000, to: 22100 }, classes: { allow: ['sourceRanges', 'ipFamilies'], max: 4 } });
    await pod('dfence-0', { app: 'dfence' }, '10.244.10.131', true, 'fd00:10:244::131');
    const dualStack = { type: 'LoadBalancer', loadBalancerClass: 'sharedlb.io/shared', ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' };
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'dfence', annotations: { 'sharedlb.io/pool': 'e2e-dual' } },
      spec: { ...dualStack, loadBalancerSourceRanges: ['192.0.2.0/24', '2001:db8::/64'], selector: { app: 'dfence' }, ports: [{ name: 'api', port: 9800, targetPort: 8080 }] },
    });
    const fenced = await eventually('dfence Allocated with both addresses', async () => {
      const s = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/dfence`);
      const ok = s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated');
      return ok && (s.metadata.annotations?.['sharedlb.io/address'] ?? '').split(',').length === 2 ? s : undefined;
    }, 30_000);
    // The dual-stack member of the test before answers over both families through this kube-proxy, so a refusal here is the range.
    for (const a of (fenced.metadata.annotations?.['sharedlb.io/address'] ?? '').split(',')) {
      const m = /^\[?([0-9a-f.:]+?)\]?:(\d+)\/TCP$/.exec(a);
      assert.ok(m, a);
      for (let i = 0; i < 3; i++) assert.match(probe('tcp', m[1] as string, Number(m[2])), /^error:/, `${a} admitted a client outside its ranges`);
    }
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'dhalf', annotations: { 'sharedlb.io/pool': 'e2e-dual' } },
      spec: { ...dualStack, loadBalancerSourceRanges: ['192.0.2.0/24'], selector: { app: 'dhalf' }, ports: [{ name: 'api', port: 9801, targetPort: 8080 }] },
    });
    const half = await eventually('dhalf refused', async () => {
      const s = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/dhalf`);
      return s.status?.conditions?.find((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Invalid') as { message?: string } | undefined;
    }, 30_000);
    assert.match(half.message ?? '', /cover no IPv6 address/);
    assert.equal((await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/dhalf`)).metadata.annotations?.['sharedlb.io/address'], undefined, 'no address, on neither family');
    for (const n of ['dfence', 'dhalf']) await admin().delete(`/api/v1/namespaces/${ns}/services/${n}`).catch(() => undefined);
    await deletePool('e2e-dual');
  });
});
