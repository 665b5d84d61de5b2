// The metallb profile against MetalLB itself (e2e/metallb-lab.ts): a pool
// with provider metallb whose LBs MetalLB addresses from an IPAddressPool on
// the link between the lab's client and node namespaces, announced in layer 2
// (ARP) by its speaker on the lab's real node; members' pods are real pods,
// kube-proxy carries the rest. The cloud simulator stays out of the way: the
// pool's template names MetalLB's class.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createPool, deletePool, installCRD, startController, type RunningController } from './controller-harness.ts';
import { admin, deleteNamespace, eventually, namespace, sweep } from './kube.ts';
import { buildMetalLB, installMetalLB, METALLB_CLASS, METALLB_NS, metallbImages, uninstallMetalLB } from './metallb-lab.ts';
import { KUBELET_NODE, LabNode } from './node.ts';

const run = promisify(execFile);
const LB_NS = 'sharedlb-metallb';
const POOL = 'e2e-metallb';
/** Two addresses on the client's link: enough for two LBs, and a third to find the pool exhausted. */
const ADDRESSES = ['10.201.0.100', '10.201.0.101'];
/** The one address of MetalLB's pool `named`, which hands out nothing unless asked for it. */
const NAMED = '10.201.0.110';
const NAMED_POOL = 'e2e-metallb-named';
const figures: Record<string, unknown> = {};

interface Pod { metadata: { name: string }; spec?: { nodeName?: string }; status: { conditions?: Array<{ type: string; status: string }> } }
interface Svc { metadata: { annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; reason: string; message: string }>; loadBalancer?: { ingress?: Array<{ ip?: string }> } }; spec?: { loadBalancerClass?: string } }
/** The lab's other node is a stand-in without a kubelet: the speaker DaemonSet's pod for it never runs. */
const onNode = (p: Pod): boolean => p.spec?.nodeName === KUBELET_NODE;
const podReady = (p: Pod): boolean => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

describe('MetalLB announces the shared LBs, and traffic arrives by ARP', { timeout: 900_000 }, () => {
  const node = new LabNode();
  let ctl: RunningController | undefined;
  let ns = '';

  const pods = async (n: string, selector: string): Promise<Pod[]> => (await admin().get<{ items: Pod[] }>(`/api/v1/namespaces/${n}/pods?labelSelector=${encodeURIComponent(selector)}`)).items;
  const probe = (mode: 'tcp' | 'udp' | 'peer', host: string, port: number): Promise<string> => node.net.probe(mode, host, port);
  const service = (name: string): Promise<Svc> => admin().get<Svc>(`/api/v1/namespaces/${ns}/services/${name}`);
  const reason = async (name: string): Promise<string | undefined> => (await service(name)).status?.conditions?.find((c) => c.type === 'sharedlb.io/Ready')?.reason;
  /** host and port of a member's TCP address. */
  const addressOf = async (name: string): Promise<{ host: string; port: number }> => {
    const a = (await service(name)).metadata.annotations?.['sharedlb.io/address'] ?? '';
    const [host, rest] = a.split(',').find((x) => x.endsWith('/TCP'))?.split(':') ?? [];
    return { host: host as string, port: Number(rest?.split('/')[0]) };
  };

  /**
   * A Deployment of the lab's backend and a member Service for it. One that
   * declares how it may be reached (`spec`) is a LoadBalancer-class member:
   * externalTrafficPolicy is a field of LoadBalancer Services only.
   */
  async function member(name: string, tcp: number, udp: number | null, spec: Record<string, unknown> = {}, pool = POOL): Promise<void> {
    await admin().post(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      metadata: { name },
      spec: {
        replicas: 1, selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [{
              name: 'backend', image: 'lab.local/backend:1', imagePullPolicy: 'Never',
              args: ['--tcp', String(tcp), ...(udp === null ? [] : ['--udp', String(udp)])], env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              readinessProbe: { tcpSocket: { port: tcp }, periodSeconds: 1 },
            }],
          },
        },
      },
    });
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name, annotations: { 'sharedlb.io/enabled': 'true', 'sharedlb.io/pool': pool } },
      spec: {
        selector: { app: name }, ports: [{ name: 'tcp', port: tcp, protocol: 'TCP' }, ...(udp === null ? [] : [{ name: 'udp', port: udp, protocol: 'UDP' }])],
        ...(Object.keys(spec).length > 0 ? { type: 'LoadBalancer', loadBalancerClass: 'sharedlb.io/shared', ...spec } : {}),
      },
    });
  }

  before(async () => {
    await installCRD();
    await sweep();
    const built = buildMetalLB();
    figures.metallbBuildSeconds = built.built ? built.seconds : 'cached';
    const f = await node.start(metallbImages());
    figures.imageMB = Object.fromEntries(f.images.filter((i) => i.tag.includes('metallb')).map((i) => [i.tag, Number((i.bytes / 2 ** 20).toFixed(1))]));
    installMetalLB();
    await eventually('MetalLB\'s controller and the real node\'s speaker Ready', async () => {
      const ps = (await pods(METALLB_NS, 'app=metallb')).filter(onNode);
      return ps.length === 2 && ps.every(podReady);
    }, 180_000, 1000);
    const crd = (kind: string, name: string, spec: unknown) => admin().post(`/apis/metallb.io/v1beta1/namespaces/${METALLB_NS}/${kind}`, { apiVersion: 'metallb.io/v1beta1', kind: kind === 'ipaddresspools' ? 'IPAddressPool' : 'L2Advertisement', metadata: { name }, spec });
    await eventually('MetalLB\'s CRDs served', () => admin().get(`/apis/metallb.io/v1beta1/namespaces/${METALLB_NS}/ipaddresspools`), 60_000, 500);
    await crd('ipaddresspools', 'lab', { addresses: [`${ADDRESSES[0]}-${ADDRESSES[1]}`] });
    // Given only to Services that ask for it by name (a pool template's metallb.io/address-pool).
    await crd('ipaddresspools', 'named', { addresses: [`${NAMED}/32`], autoAssign: false });
    // On the node's link to the client, where the client resolves the addresses by ARP.
    await crd('l2advertisements', 'lab', { ipAddressPools: ['lab', 'named'], interfaces: ['client0'] });
    await createPool(POOL, {
      provider: 'metallb', maxPortsPerLB: 10, portRange: { from: 22000, to: 22100 }, emptyLoadBalancerGraceSeconds: 1,
      template: { loadBalancerClass: METALLB_CLASS },
      classes: { allow: ['externalTrafficPolicy', 'sessionAffinity'], max: 3 },
    });
    await createPool(NAMED_POOL, {
      provider: 'metallb', maxPortsPerLB: 10, portRange: { from: 22000, to: 22100 }, emptyLoadBalancerGraceSeconds: 1,
      template: { loadBalancerClass: METALLB_CLASS, annotations: { 'metallb.io/address-pool': 'named' } },
    });
    await admin().post('/api/v1/namespaces', { metadata: { name: LB_NS } }).catch(() => undefined);
    ctl = await startController(LB_NS);
    ns = await namespace('metallb');
  });

  after(async () => {
    await ctl?.stop();
    if (ns !== '') await deleteNamespace(ns);
    await deletePool(POOL);
    await deletePool(NAMED_POOL);
    await admin().delete(`/api/v1/namespaces/${LB_NS}`).catch(() => undefined);
    uninstallMetalLB();
    await node.stop();
    process.stderr.write(`# metallb figures: ${JSON.stringify(figures)}\n`);
  });

  it('places a member on an LB that MetalLB addresses; TCP and UDP on one port number from the client reach its pod through the announced address', async () => {
    const t0 = Date.now();
    await member('alpha', 8080, 8080);
    await eventually('alpha Allocated', async () => (await reason('alpha')) === 'Allocated', 120_000, 250);
    const { host, port } = await addressOf('alpha');
    assert.ok(ADDRESSES.includes(host), `${host} is from MetalLB's IPAddressPool`);
    const pod = (await pods(ns, 'app=alpha'))[0]?.metadata.name as string;
    await eventually(`tcp ${host}:${port} answers from ${pod}`, async () => (await probe('tcp', host, port)) === pod, 60_000, 250);
    figures.firstMemberToTrafficSeconds = (Date.now() - t0) / 1000;
    assert.equal(await probe('udp', host, port), pod);
    const lbs = await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${LB_NS}/services`);
    assert.deepEqual(lbs.items.map((l) => l.spec?.loadBalancerClass), [METALLB_CLASS]);
  });

  it('a port added to the live LB answers, and one removed while traffic flows takes nothing else with it', async () => {
    const alpha = await addressOf('alpha');
    await member('beta', 8081, null);
    await eventually('beta Allocated', async () => (await reason('beta')) === 'Allocated', 60_000, 250);
    const beta = await addressOf('beta');
    assert.equal(beta.host, alpha.host, 'beta shares alpha\'s LB');
    const betaPod = (await pods(ns, 'app=beta'))[0]?.metadata.name as string;
    await eventually('beta answers', async () => (await probe('tcp', beta.host, beta.port)) === betaPod, 60_000, 250);
    const alphaPod = (await pods(ns, 'app=alpha'))[0]?.metadata.name as string;
    let flowing = true;
    const misses: string[] = [];
    const traffic = (async () => {
      while (flowing) {
        const r = await probe('tcp', alpha.host, alpha.port);
        if (r !== alphaPod) misses.push(r);
      }
    })();
    await admin().delete(`/api/v1/namespaces/${ns}/services/beta`);
    await eventually('beta\'s port closed', async () => (await probe('tcp', beta.host, beta.port)) !== betaPod, 30_000, 250);
    flowing = false;
    await traffic;
    assert.deepEqual(misses, [], 'alpha answered throughout');
  });

  it('a member declaring externalTrafficPolicy: Local gets an LB built so, and its pod sees the client\'s own address', async () => {
    await member('local', 8082, null, { externalTrafficPolicy: 'Local' });
    await eventually('local Allocated', async () => (await reason('local')) === 'Allocated', 120_000, 250);
    const a = await addressOf('local');
    assert.notEqual(a.host, (await addressOf('alpha')).host, 'a Local member is on an LB of its own class');
    const peer = await eventually('local answers with the client\'s address', async () => {
      const r = await probe('peer', a.host, a.port);
      return r.startsWith('error') ? undefined : r;
    }, 60_000, 250);
    assert.match(peer, /:10\.201\.0\.2$/, `the pod saw ${peer}`);
    // What MetalLB's speaker reads to announce a Local LB from a node (layer2Controller.ShouldAnnounce,
    // nodesWithEndpoint): the LB's slices, found by kubernetes.io/service-name, with a ready endpoint on that node.
    const lb = (await service('local')).metadata.annotations?.['sharedlb.io/load-balancer']?.split('/')[1] as string;
    const slices = await admin().get<{ items: Array<{ endpoints?: Array<{ nodeName?: string; conditions?: { ready?: boolean } }> }> }>(`/apis/discovery.k8s.io/v1/namespaces/${LB_NS}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${lb}`)}`);
    assert.deepEqual(slices.items.flatMap((x) => (x.endpoints ?? []).map((e) => [e.nodeName, e.conditions?.ready])), [[KUBELET_NODE, true]]);
  });

  it('with MetalLB\'s pool exhausted, a member on a new LB waits for an address, and nothing else is harmed', async () => {
    await member('affine', 8083, null, { sessionAffinity: 'ClientIP' });
    await eventually('affine WaitingForAddress', async () => (await reason('affine')) === 'WaitingForAddress', 60_000, 250);
    // Its message points at its LB's events, where MetalLB says why (controller/service.go: AllocationFailed).
    const lb = (await service('affine')).metadata.annotations?.['sharedlb.io/load-balancer']?.split('/')[1] as string;
    assert.match((await service('affine')).status?.conditions?.find((c) => c.type === 'sharedlb.io/Ready')?.message ?? '', new RegExp(`events of Service ${LB_NS}/${lb}`));
    await eventually('MetalLB\'s AllocationFailed on the LB', async () => {
      const evs = await admin().get<{ items: Array<{ reason?: string; note?: string; regarding?: { name?: string } }> }>(`/apis/events.k8s.io/v1/namespaces/${LB_NS}/events`);
      return evs.items.some((e) => e.reason === 'AllocationFailed' && e.regarding?.name === lb);
    }, 30_000, 250);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await reason('affine'), 'WaitingForAddress');
    for (const m of ['alpha', 'local']) assert.equal(await reason(m), 'Allocated');
    const alpha = await addressOf('alpha');
    assert.equal(await probe('tcp', alpha.host, alpha.port), (await pods(ns, 'app=alpha'))[0]?.metadata.name);
  });

  it('a pool template\'s metallb.io/address-pool is honoured: its LBs take their address from the MetalLB pool it names', async () => {
    await member('named', 8084, null, {}, NAMED_POOL);
    await eventually('named Allocated', async () => (await reason('named')) === 'Allocated', 60_000, 250);
    const a = await addressOf('named');
    assert.equal(a.host, NAMED);
    const pod = (await pods(ns, 'app=named'))[0]?.metadata.name as string;
    await eventually('named answers', async () => (await probe('tcp', a.host, a.port)) === pod, 60_000, 250);
  });

  it('the address is reached by MetalLB\'s announcement: with no speaker running, a client that asks finds nobody', async () => {
    const alpha = await addressOf('alpha');
    const alphaPod = (await pods(ns, 'app=alpha'))[0]?.metadata.name as string;
    const ds = `/apis/apps/v1/namespaces/${METALLB_NS}/daemonsets/speaker`;
    await admin().patch(ds, { spec: { template: { spec: { nodeSelector: { 'kubernetes.io/os': 'linux', 'sharedlb.io/e2e-no-speaker': 'true' } } } } }, 'merge');
    try {
      await eventually('no speaker left', async () => (await pods(METALLB_NS, 'component=speaker')).length === 0, 60_000, 250);
      await run('ip', ['-n', node.net.client, 'neigh', 'flush', 'all']);
      assert.match(await probe('tcp', alpha.host, alpha.port), /^error/);
    } finally {
      await admin().patch(ds, { spec: { template: { spec: { nodeSelector: { 'kubernetes.io/os': 'linux', 'sharedlb.io/e2e-no-speaker': null } } } } }, 'merge');
    }
    await eventually('a speaker back, and the address answering', async () => (await probe('tcp', alpha.host, alpha.port)) === alphaPod, 120_000, 250);
  });

  it('the speaker\'s pod deleted: the announcement resumes and traffic recovers; the gap is measured', async () => {
    const alpha = await addressOf('alpha');
    const alphaPod = (await pods(ns, 'app=alpha'))[0]?.metadata.name as string;
    const speaker = (await pods(METALLB_NS, 'component=speaker')).find(onNode)?.metadata.name as string;
    // Each probe starts from an empty neighbour cache, as a new client would: it reaches the
    // address only while a speaker answers its ARP. Probes give up after 2 s: the gap's grain.
    const t0 = Date.now();
    await admin().delete(`/api/v1/namespaces/${METALLB_NS}/pods/${speaker}`);
    let firstMiss: number | null = null;
    let lastMiss: number | null = null;
    await eventually('traffic through alpha\'s address, announced by a new speaker', async () => {
      await run('ip', ['-n', node.net.client, 'neigh', 'flush', 'all']);
      const ok = (await probe('tcp', alpha.host, alpha.port)) === alphaPod;
      if (!ok) {
        firstMiss ??= Date.now();
        lastMiss = Date.now();
      }
      const ps = (await pods(METALLB_NS, 'component=speaker')).filter(onNode);
      return ok && ps.length === 1 && ps[0]?.metadata.name !== speaker && podReady(ps[0] as Pod);
    }, 180_000, 100);
    figures.speakerReplacedSeconds = (Date.now() - t0) / 1000;
    figures.speakerFailoverGapSeconds = firstMiss === null || lastMiss === null ? 0 : (lastMiss - firstMiss) / 1000 + 2;
    const ps = (await pods(METALLB_NS, 'component=speaker')).filter(onNode);
    assert.ok(ps.length === 1 && ps[0]?.metadata.name !== speaker, 'a new speaker answers');
  });

  it('MetalLB\'s controller restarted: no address changes', async () => {
    const before = { alpha: await addressOf('alpha'), local: await addressOf('local') };
    const controller = (await pods(METALLB_NS, 'component=controller'))[0]?.metadata.name as string;
    await admin().delete(`/api/v1/namespaces/${METALLB_NS}/pods/${controller}`);
    await eventually('a new MetalLB controller Ready', async () => {
      const ps = await pods(METALLB_NS, 'component=controller');
      return ps.length === 1 && ps[0]?.metadata.name !== controller && podReady(ps[0] as Pod);
    }, 120_000, 500);
    await new Promise((r) => setTimeout(r, 5000));
    assert.deepEqual({ alpha: await addressOf('alpha'), local: await addressOf('local') }, before);
  });

  it('an LB emptied is deleted, and its address goes back to MetalLB\'s pool: the waiting member gets it', async () => {
    const freed = (await addressOf('local')).host;
    await admin().delete(`/api/v1/namespaces/${ns}/services/local`);
    await eventually('affine Allocated with the freed address', async () => (await reason('affine')) === 'Allocated', 60_000, 250);
    assert.equal((await addressOf('affine')).host, freed);
    const a = await addressOf('affine');
    const pod = (await pods(ns, 'app=affine'))[0]?.metadata.name as string;
    await eventually('affine answers', async () => (await probe('tcp', a.host, a.port)) === pod, 60_000, 250);
  });
});
