// The controller against real kube-apiserver and kube-controller-manager,
// with the cloud simulator giving shared LBs their addresses.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from '../controller/kube-rest.ts';
import { WAITING_DEBOUNCE_MS } from '../controller/reconcile-member.ts';
import { KUBECONFIG, restartApiServer } from './cluster.ts';
import { createPool, deletePool, installCRD, startController, type RunningController } from './controller-harness.ts';
import { admin, deleteNamespace, deletePod, eventually, namespace, runPod, setPodStatus, sweep } from './kube.ts';

interface Cond { type: string; status: string; reason: string; message: string }
interface Svc {
  metadata: { name: string; namespace: string; annotations?: Record<string, string>; resourceVersion: string; uid: string };
  spec: { ports: Array<{ name?: string; port: number; protocol?: string }>; type?: string };
  status?: { conditions?: Cond[]; loadBalancer?: { ingress?: Array<{ ip?: string; ports?: Array<{ port: number; protocol: string }> }> } };
}
interface Slice { metadata: { name: string; labels: Record<string, string> }; endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }>; ports?: Array<{ name: string; port: number }> }

const READY = 'sharedlb.io/Ready';
const get = (ns: string, name: string) => admin().get<Svc>(`/api/v1/namespaces/${ns}/services/${name}`);
const cond = (s: Svc) => s.status?.conditions?.find((c) => c.type === READY);

async function member(ns: string, name: string, ports: Array<[string, number, string?]>, opts: { annotations?: Record<string, string>; lbClass?: boolean; selector?: Record<string, string> } = {}): Promise<void> {
  await admin().post(`/api/v1/namespaces/${ns}/services`, {
    metadata: { name, annotations: opts.lbClass ? (opts.annotations ?? {}) : { 'sharedlb.io/enabled': 'true', ...opts.annotations } },
    spec: {
      ...(opts.lbClass ? { type: 'LoadBalancer', loadBalancerClass: 'sharedlb.io/shared' } : {}),
      selector: opts.selector ?? { app: name },
      ports: ports.map(([n, port, protocol]) => ({ name: n, port, protocol: protocol ?? 'TCP', targetPort: port + 10000 })),
    },
  });
}

async function untilReason(ns: string, name: string, reason: string, timeoutMs = 20_000): Promise<Svc> {
  return eventually(`${ns}/${name} to be ${reason}`, async () => {
    const s = await get(ns, name);
    return cond(s)?.reason === reason ? s : undefined;
  }, timeoutMs);
}

const FAST_LEASE = ['--lease-duration=4', '--renew-deadline=3', '--retry-period=1'];
async function waitLeader(c: RunningController): Promise<void> {
  await eventually('the controller to lead', async () => (await (await fetch(`http://127.0.0.1:${c.port}/leader`)).text()) === 'leader', 15_000);
}

const lbOf = (s: Svc) => s.metadata.annotations?.['sharedlb.io/load-balancer'];
const addressOf = (s: Svc) => s.metadata.annotations?.['sharedlb.io/address'];

describe('sharedlb controller', () => {
  const ctrlNs = `sharedlb-e2e-${process.pid}`;
  let ns = '';
  let ctl: RunningController;
  const pools = ['e2e-main', 'e2e-remap', 'e2e-cap', 'e2e-tenant'];

  before(async () => {
    await installCRD();
    await sweep();
    await admin().post('/api/v1/namespaces', { metadata: { name: ctrlNs, labels: { 'sharedlb.io/e2e': 'true' } } });
    await createPool('e2e-main', { default: true, provider: 'generic', maxPortsPerLB: 4, portRange: { from: 20000, to: 20100 }, emptyLoadBalancerGraceSeconds: 2 });
    await createPool('e2e-remap', { provider: 'generic', maxPortsPerLB: 5, maxLoadBalancers: 1, portRange: { from: 21000, to: 21100 } });
    await createPool('e2e-cap', { provider: 'generic', maxPortsPerLB: 2, portRange: { from: 22000, to: 22100 }, emptyLoadBalancerGraceSeconds: 2 });
    await createPool('e2e-tenant', { provider: 'generic', namespaceSelector: { matchLabels: { tenant: 'ok' } } });
    ns = await namespace('members');
    ctl = await startController(ctrlNs, FAST_LEASE);
    await waitLeader(ctl);
  });

  after(async () => {
    await ctl?.stop();
    await deleteNamespace(ns);
    for (const p of pools) await deletePool(p);
    await deleteNamespace(ctrlNs);
  });

  it('gives an annotated ClusterIP member and a LoadBalancer-class member an address', async () => {
    await runPod({ namespace: ns, name: 'kafka-0', labels: { app: 'kafka' }, ip: '10.244.1.10' });
    await member(ns, 'kafka', [['broker', 9092]]);
    await member(ns, 'dns', [['dns', 53, 'UDP']], { lbClass: true });
    const kafka = await untilReason(ns, 'kafka', 'Allocated');
    const dns = await untilReason(ns, 'dns', 'Allocated');
    assert.match(addressOf(kafka) ?? '', /^198\.51\.100\.\d+:9092\/TCP$/);
    assert.equal(lbOf(kafka), `${ctrlNs}/e2e-main-1`);
    assert.equal(lbOf(dns), lbOf(kafka));
    const ip = addressOf(kafka)?.split(':')[0];
    assert.deepEqual(dns.status?.loadBalancer?.ingress, [{ ip, ipMode: 'VIP', ports: [{ port: 53, protocol: 'UDP' }] }]);
    const lb = await get(ctrlNs, 'e2e-main-1');
    assert.equal(lb.spec.type, 'LoadBalancer');
    // Port names carry their holder (controller/mirror.ts lbPortName): a port handed over is renamed.
    assert.deepEqual(lb.spec.ports.map((p) => [(p.name ?? '').replace(/-[0-9a-f]{8}$/, ''), p.port]), [['udp-53', 53], ['tcp-9092', 9092]]);
    assert.notEqual(lb.spec.ports[0]?.name?.slice(-8), lb.spec.ports[1]?.name?.slice(-8), 'two members, two holders in the names');
    assert.deepEqual(JSON.parse(lb.metadata.annotations?.['sharedlb.io/allocations'] ?? '{}'), { 'udp-53': `${ns}/dns/dns`, 'tcp-9092': `${ns}/kafka/broker` });
  });

  it('mirrors the member\'s endpoints onto the shared LB as pods turn ready, unready and go', async () => {
    const slices = async () => (await admin().get<{ items: Slice[] }>(`/apis/discovery.k8s.io/v1/namespaces/${ctrlNs}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3De2e-main-1`)).items;
    const kafkaPort = (await get(ctrlNs, 'e2e-main-1')).spec.ports.find((p) => p.port === 9092)?.name;
    const kafkaEndpoints = async () => (await slices()).filter((s) => s.ports?.some((p) => p.name === kafkaPort)).flatMap((s) => s.endpoints ?? []);
    await eventually('the pod in the LB\'s slices', async () => (await kafkaEndpoints()).some((e) => e.addresses[0] === '10.244.1.10' && e.conditions?.ready === true));
    const s = (await slices()).find((x) => x.ports?.some((p) => p.name === kafkaPort));
    assert.deepEqual(s?.ports, [{ name: kafkaPort, port: 19092, protocol: 'TCP' }]);
    assert.equal(s?.metadata.labels['endpointslice.kubernetes.io/managed-by'], 'controller.sharedlb.io');
    await runPod({ namespace: ns, name: 'kafka-1', labels: { app: 'kafka' }, ip: '10.244.1.11' });
    await eventually('the second pod', async () => (await kafkaEndpoints()).length === 2);
    await setPodStatus(ns, 'kafka-0', '10.244.1.10', false);
    await eventually('kafka-0 unready', async () => (await kafkaEndpoints()).some((e) => e.addresses[0] === '10.244.1.10' && e.conditions?.ready === false));
    await deletePod(ns, 'kafka-0');
    await eventually('kafka-0 gone', async () => {
      const eps = await kafkaEndpoints();
      return eps.length === 1 && eps[0]?.addresses[0] === '10.244.1.11';
    });
  });

  it('writes nothing for a converged member when it is reconciled again', async () => {
    const reconciled = () => ctl.metric('controller_runtime_reconcile_total{controller="member",result="success"}');
    const memberWrites = async () => {
      let n = 0;
      for (const [k, v] of await ctl.requests()) if (/^(PUT|POST|DELETE|PATCH) (discovery\.k8s\.io\/endpointslices|services|services\/status)$/.test(k)) n += v;
      return n;
    };
    const r0 = await reconciled();
    const w0 = await memberWrites();
    await admin().patch(`/api/v1/namespaces/${ns}/services/kafka`, { metadata: { labels: { touched: 'yes' } } }, 'merge');
    await eventually('the member reconciled', async () => (await reconciled()) > r0);
    await sleep(500);
    // Its mirrored slice as the API server returns it must compare equal to the one wanted (label keys come back sorted).
    assert.equal((await memberWrites()) - w0, 0, 'no slice, Service or status write');
  });

  it('puts two preserve members that need one port on different LBs', async () => {
    await member(ns, 'pg-a', [['pg', 5432]], { lbClass: true });
    await member(ns, 'pg-b', [['pg', 5432]], { lbClass: true });
    const a = await untilReason(ns, 'pg-a', 'Allocated');
    const b = await untilReason(ns, 'pg-b', 'Allocated');
    assert.notEqual(lbOf(a), lbOf(b));
    assert.match(addressOf(b) ?? '', /:5432\/TCP$/);
  });

  it('says WaitingForAddress only when a new LB stays without an address, then Allocated when it gets one', async () => {
    const cm = '/api/v1/namespaces/kube-system/configmaps/cloud-simulator';
    await admin().delete(cm).catch(() => undefined); // a benchmark's settings
    await admin().post('/api/v1/namespaces/kube-system/configmaps', { metadata: { name: 'cloud-simulator' }, data: { delayMs: '5000' } });
    try {
      const t0 = Date.now();
      await member(ns, 'pg-c', [['pg', 5432]], { lbClass: true }); // 5432 is taken on both LBs: a new one
      const waiting = await untilReason(ns, 'pg-c', 'WaitingForAddress');
      const after = Date.now() - t0;
      assert.ok(after >= WAITING_DEBOUNCE_MS - 200, `said waiting after ${after} ms, before the ${WAITING_DEBOUNCE_MS} ms debounce`);
      assert.match(cond(waiting)?.message ?? '', /waiting for the cloud to give it an address/);
      const ready = await untilReason(ns, 'pg-c', 'Allocated');
      assert.match(addressOf(ready) ?? '', /:5432\/TCP$/);
      // Events are written after the status, off the reconcile's path.
      const reasons = async () => (await admin().get<{ items: Array<{ reason: string; regarding: { name: string } }> }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`))
        .items.filter((e) => e.regarding.name === 'pg-c').map((e) => e.reason).sort();
      await eventually('both events', async () => (await reasons()).length >= 2);
      await sleep(500); // and no third
      assert.deepEqual(await reasons(), ['Allocated', 'WaitingForAddress']);
    } finally {
      await admin().delete(cm).catch(() => undefined);
    }
  });

  it('remaps a prefer member whose port is taken, and keeps it there after the port frees up', async () => {
    const pool = { 'sharedlb.io/pool': 'e2e-remap' };
    await member(ns, 'r1', [['api', 9000]], { annotations: pool });
    await untilReason(ns, 'r1', 'Allocated');
    await member(ns, 'r2', [['api', 9000]], { annotations: pool });
    const r2 = await untilReason(ns, 'r2', 'Allocated');
    assert.match(addressOf(r2) ?? '', /:21000\/TCP$/);
    await admin().delete(`/api/v1/namespaces/${ns}/services/r1`);
    await member(ns, 'r3', [['api', 9000]], { annotations: pool });
    const r3 = await untilReason(ns, 'r3', 'Allocated');
    assert.match(addressOf(r3) ?? '', /:9000\/TCP$/, 'the freed port goes to the next member');
    assert.equal(addressOf(await get(ns, 'r2')), addressOf(r2), 'r2 did not move');
  });

  it('opens a second LB when capacity is reached, and deletes an empty LB after its grace', async () => {
    const pool = { 'sharedlb.io/pool': 'e2e-cap' };
    await member(ns, 'c1', [['a', 1001], ['b', 1002]], { annotations: pool });
    await untilReason(ns, 'c1', 'Allocated');
    await member(ns, 'c2', [['a', 1003]], { annotations: pool });
    const c2 = await untilReason(ns, 'c2', 'Allocated');
    assert.equal(lbOf(c2), `${ctrlNs}/e2e-cap-2`);
    await admin().delete(`/api/v1/namespaces/${ns}/services/c2`);
    await eventually('e2e-cap-2 to be deleted after grace', async () => {
      try {
        await get(ctrlNs, 'e2e-cap-2');
        return false;
      } catch (e) {
        return e instanceof ApiError && e.status === 404;
      }
    }, 20_000);
    assert.equal(lbOf(await get(ns, 'c1')), `${ctrlNs}/e2e-cap-1`);
  });

  it('makes a member Ready within a second when its LB already has an address', async () => {
    const t0 = Date.now();
    await member(ns, 'quick', [['q', 7000]]);
    await untilReason(ns, 'quick', 'Allocated', 1000);
    process.stderr.write(`# member Ready ${Date.now() - t0} ms after create\n`);
  });

  it('refuses each bad request with a clear condition and event, and leaves other members alone', async () => {
    const kafkaBefore = await get(ns, 'kafka');
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['bad-policy', { annotations: { 'sharedlb.io/port-policy': 'preserv' } }, /port-policy must be one of preserve, prefer, any/],
      ['bad-enabled', { annotations: { 'sharedlb.io/enabled': 'yes' } }, /must be "true" or "false"/],
      ['bad-pool', { annotations: { 'sharedlb.io/pool': 'nope' } }, /no LoadBalancerPool named "nope"/],
      ['bad-typo', { annotations: { 'sharedlb.io/port-polcy': 'any' } }, /unknown annotation sharedlb\.io\/port-polcy/],
    ];
    for (const [name, opts] of bad) await member(ns, name, [['x', 8000]], opts);
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'bad-lb', annotations: { 'sharedlb.io/enabled': 'true' } },
      spec: { type: 'LoadBalancer', ports: [{ name: 'x', port: 8001 }] },
    });
    bad.push(['bad-lb', {}, /loadBalancerClass: sharedlb\.io\/shared/]);
    for (const [name, , text] of bad) {
      const s = await untilReason(ns, name, 'Invalid');
      assert.match(cond(s)?.message ?? '', text);
      assert.equal(cond(s)?.status, 'False');
    }
    const events = await eventually('Invalid events', async () => {
      const list = await admin().get<{ items: Array<{ reason: string; regarding: { name: string }; type: string }> }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
      const names = new Set(list.items.filter((e) => e.reason === 'Invalid' && e.type === 'Warning').map((e) => e.regarding.name));
      return bad.every(([n]) => names.has(n)) ? names : undefined;
    });
    assert.ok(events.size >= bad.length);
    const kafkaAfter = await get(ns, 'kafka');
    assert.equal(addressOf(kafkaAfter), addressOf(kafkaBefore));
    assert.equal(cond(kafkaAfter)?.reason, 'Allocated');
  });

  it('refuses a namespace outside the pool\'s namespaceSelector', async () => {
    await member(ns, 'tenant', [['t', 6000]], { annotations: { 'sharedlb.io/pool': 'e2e-tenant' } });
    const s = await untilReason(ns, 'tenant', 'Forbidden');
    assert.match(cond(s)?.message ?? '', /may not use LoadBalancerPool e2e-tenant/);
  });

  it('gives a member no say over the LB it lands on, and no way to forge its address; what it declares is honoured or refused', async () => {
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: {
        name: 'sneaky',
        annotations: {
          'sharedlb.io/enabled': 'true',
          'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing',
          'service.beta.kubernetes.io/aws-load-balancer-internal': 'false',
          'sharedlb.io/address': '203.0.113.66:9092/TCP',
          'sharedlb.io/load-balancer': 'kube-system/somebody-else',
        },
      },
      spec: { type: 'NodePort', externalTrafficPolicy: 'Local', selector: { app: 'sneaky' }, ports: [{ name: 'p', port: 9092 }] },
    });
    // Local cannot be honoured on a shared LB of this pool (one health check for all members): refused, not dropped.
    const refused = await untilReason(ns, 'sneaky', 'NoMatchingPool');
    assert.match(cond(refused)?.message ?? '', /externalTrafficPolicy Local/);
    await eventually('forged annotations cleared', async () => {
      const x = await get(ns, 'sneaky');
      return addressOf(x) === undefined && lbOf(x) === undefined ? x : undefined;
    });
    await admin().patch(`/api/v1/namespaces/${ns}/services/sneaky`, { spec: { externalTrafficPolicy: 'Cluster' } }, 'merge');
    const s = await untilReason(ns, 'sneaky', 'Allocated');
    const lbName = lbOf(s)?.split('/')[1] as string;
    assert.notEqual(lbOf(s), 'kube-system/somebody-else');
    assert.doesNotMatch(addressOf(s) ?? '', /203\.0\.113\.66/);
    const lb = await admin().get<Svc & { spec: { externalTrafficPolicy?: string } }>(`/api/v1/namespaces/${ctrlNs}/services/${lbName}`);
    // The member's scope annotation matched the pool's (external); it is never copied onto the LB.
    assert.equal(lb.metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-scheme'], undefined);
    assert.equal(lb.spec.externalTrafficPolicy, 'Cluster');
    // kafka holds 9092 on its LB: the sneaky member, asking for the same port, cannot share it there.
    const kafka = await get(ns, 'kafka');
    assert.match(addressOf(kafka) ?? '', /:9092\/TCP$/);
    if (lbOf(kafka) === lbOf(s)) assert.doesNotMatch(addressOf(s) ?? '', /:9092\/TCP$/);
  });

  it('releases everything when a member opts out', async () => {
    await member(ns, 'leaver', [['l', 6100]]);
    await untilReason(ns, 'leaver', 'Allocated');
    const s = await get(ns, 'leaver');
    await admin().patch(`/api/v1/namespaces/${ns}/services/leaver`, { metadata: { annotations: { 'sharedlb.io/enabled': null } } }, 'merge');
    const cleared = await eventually('leaver cleared', async () => {
      const x = await get(ns, 'leaver');
      return cond(x) === undefined && addressOf(x) === undefined && lbOf(x) === undefined ? x : undefined;
    });
    assert.ok(cleared);
    const lbName = lbOf(s)?.split('/')[1] as string;
    await eventually('its LB port released', async () => !(await get(ctrlNs, lbName).catch(() => null))?.spec.ports.some((p) => p.port === 6100));
  });

  it('mirrors the endpoints of a Service that opts in after its pods were ready, and again after it opted out and back in', async () => {
    // Until it opts in, the controller caches the Service and its slices as stubs (cache-forms.ts): opting in must fetch them whole.
    await runPod({ namespace: ns, name: 'late-0', labels: { app: 'late' }, ip: '10.244.1.40' });
    await admin().post(`/api/v1/namespaces/${ns}/services`, { metadata: { name: 'late' }, spec: { selector: { app: 'late' }, ports: [{ name: 'l', port: 6200, targetPort: 16200 }] } });
    await eventually('its own slice to hold the pod', async () => (await admin().get<{ items: Slice[] }>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dlate`)).items.some((x) => x.endpoints?.length === 1));
    await sleep(1000); // the controller's watch has seen the slice, as a stub
    const mirrored = async (): Promise<string[]> => (await admin().get<{ items: Array<Slice & { metadata: { annotations?: Record<string, string> } }> }>(`/apis/discovery.k8s.io/v1/namespaces/${ctrlNs}/endpointslices`)).items
      .filter((x) => x.metadata.annotations?.['sharedlb.io/member'] === `${ns}/late`).flatMap((x) => (x.endpoints ?? []).flatMap((e) => e.addresses));
    for (const round of ['opted in', 'opted in again']) {
      await admin().patch(`/api/v1/namespaces/${ns}/services/late`, { metadata: { annotations: { 'sharedlb.io/enabled': 'true' } } }, 'merge');
      await untilReason(ns, 'late', 'Allocated');
      await eventually(`the pod mirrored once ${round}`, async () => (await mirrored()).join() === '10.244.1.40');
      await admin().patch(`/api/v1/namespaces/${ns}/services/late`, { metadata: { annotations: { 'sharedlb.io/enabled': null } } }, 'merge');
      await eventually('released', async () => cond(await get(ns, 'late')) === undefined && (await mirrored()).length === 0);
      await sleep(500);
    }
  });

  it('puts back a shared LB an admin edited by hand', async () => {
    const lb = await get(ctrlNs, 'e2e-main-1');
    const ports = lb.spec.ports;
    await admin().put(`/api/v1/namespaces/${ctrlNs}/services/e2e-main-1`, { ...lb, spec: { ...lb.spec, ports: ports.slice(0, 1) } });
    await eventually('the ports restored', async () => (await get(ctrlNs, 'e2e-main-1')).spec.ports.length === ports.length);
  });

  it('retries through conflicting writes to convergence', async () => {
    const conflictsBefore = (ctl.logText().match(/: 409 Conflict/g) ?? []).length;
    const conflicts = (): number => (ctl.logText().match(/: 409 Conflict/g) ?? []).length - conflictsBefore;
    let stop = false;
    let bumps = 0;
    // Four writers bump the LB's resourceVersion about once a millisecond, so the
    // controller's writes, made on what its cache last saw, meet 409s; they stop
    // after a few conflicts (or 10 s), and the controller must then converge.
    const deadline = Date.now() + 10_000;
    const chaos = Promise.all([0, 1, 2, 3].map(async (w) => {
      while (!stop && conflicts() < 5 && Date.now() < deadline) {
        await admin().patch(`/api/v1/namespaces/${ctrlNs}/services/e2e-main-2`, { metadata: { labels: { [`e2e-chaos-${w}`]: String(bumps++) } } }, 'merge').catch(() => undefined);
      }
    }));
    const names = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
    try {
      for (const n of names) {
        await member(ns, n, [['w', 6200]], { annotations: { 'sharedlb.io/port-policy': 'any' } });
        await untilReason(ns, n, 'Allocated', 30_000);
      }
    } finally {
      stop = true;
      await chaos;
    }
    process.stderr.write(`# ${bumps} concurrent writes to a shared LB; the controller met ${conflicts()} conflicts and retried\n`);
    assert.ok(conflicts() > 0, 'the concurrent writes caused conflicts');
    const placements = new Set<string>();
    for (const n of names) placements.add(addressOf(await get(ns, n)) ?? '');
    assert.equal(placements.size, names.length, 'distinct placements');
    const records = (await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ctrlNs}/services`)).items;
    const held = records.flatMap((r) => Object.values(JSON.parse(r.metadata.annotations?.['sharedlb.io/allocations'] ?? '{}') as Record<string, string>));
    for (const n of names) assert.equal(held.filter((h) => h.startsWith(`${ns}/${n}/`)).length, 1, `${n} recorded once`);
  });

  it('rides out a kube-apiserver restart: watches resume, nothing moves, new members are served', async () => {
    const restarts = async () => (await (await fetch(`http://127.0.0.1:${ctl.port}/metrics`)).text())
      .split('\n').filter((l) => l.startsWith('sharedlb_informer_restarts_total{')).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    const before = await restarts();
    const kafka = addressOf(await get(ns, 'kafka'));
    const downMs = await restartApiServer();
    process.stderr.write(`# kube-apiserver back ${downMs} ms after it was killed\n`);
    await member(ns, 'after-restart', [['r', 6300]]);
    await untilReason(ns, 'after-restart', 'Allocated', 60_000);
    assert.ok((await restarts()) > before, 'the informers restarted');
    assert.equal(addressOf(await get(ns, 'kafka')), kafka);
  });

  it('reports cost and saving per LB, from the controller and from the CLI', async () => {
    const json = await (await fetch(`http://127.0.0.1:${ctl.port}/report.json`)).json() as { loadBalancers: Array<{ name: string; members: number; address: string }>; totals: unknown[] };
    const main1 = json.loadBalancers.find((l) => l.name === 'e2e-main-1');
    assert.ok(main1 && main1.members >= 3 && /^198\.51\.100\./.test(main1.address));
    const html = await (await fetch(`http://127.0.0.1:${ctl.port}/report`)).text();
    assert.match(html, /<svg role="img"/);
    assert.match(html, /e2e-main-1/);
    const cli = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'cli', 'main.ts'), 'report', `--kubeconfig=${KUBECONFIG}`, '-o', 'json'], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const metrics = await (await fetch(`http://127.0.0.1:${ctl.port}/metrics`)).text();
    assert.match(metrics, new RegExp(`sharedlb_ports_used\\{pool="e2e-main",load_balancer="${ctrlNs}/e2e-main-1",currency="USD"\\} \\d+`));
    assert.match(metrics, /sharedlb_pool_members\{pool="e2e-main",provider="generic",currency="USD"\} \d+/);
    const fromCli = JSON.parse(cli.stdout) as typeof json;
    assert.deepEqual(fromCli.loadBalancers.find((l) => l.name === 'e2e-main-1'), main1);
  });

  it('shows back each namespace\'s and team\'s share of the bills: by ports held, adding up to every LB\'s bill to the cent', async () => {
    await createPool('e2e-bill', { provider: 'digitalocean', maxPortsPerLB: 3, portRange: { from: 23000, to: 23100 } });
    const red = await namespace('bill', { team: 'red' });
    const blue = await namespace('bill', { team: 'blue' });
    try {
      const pool = { 'sharedlb.io/pool': 'e2e-bill', 'sharedlb.io/port-policy': 'any' };
      await member(red, 'two', [['a', 1], ['b', 2]], { annotations: pool });
      await member(blue, 'one', [['a', 1]], { annotations: pool });
      await member(blue, 'alone', [['a', 1]], { annotations: pool });
      for (const [n, name] of [[red, 'two'], [blue, 'one'], [blue, 'alone']] as const) await untilReason(n, name, 'Allocated');
      // Independently, from the objects: each LB's price (the digitalocean profile's $10 a month) split by ports held.
      const lbs = (await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ctrlNs}/services?labelSelector=sharedlb.io%2Fpool%3De2e-bill`)).items;
      const expected = new Map<string, number>();
      for (const lb of lbs) {
        const holders = Object.values(JSON.parse(lb.metadata.annotations?.['sharedlb.io/allocations'] ?? '{}') as Record<string, string>).map((h) => h.split('/')[0] as string);
        for (const n of holders) expected.set(n, (expected.get(n) ?? 0) + 1000 / holders.length);
      }
      const cli = (by: string) => {
        const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'cli', 'main.ts'), 'report', `--kubeconfig=${KUBECONFIG}`, '--by', by, '-o', 'json'], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout) as { rows: Array<{ group: string; monthlyCost: number; ports: number; members: number }> };
      };
      const byNs = cli('namespace');
      for (const n of [red, blue]) assert.equal(Math.round((byNs.rows.find((r) => r.group === n)?.monthlyCost ?? -1) * 100), Math.round(expected.get(n) ?? 0), `${n}'s share`);
      const byTeam = cli('label=team');
      assert.deepEqual(byTeam.rows.filter((r) => r.group === 'red' || r.group === 'blue').map((r) => [r.group, r.ports, r.members]).sort(), [['blue', 2, 2], ['red', 2, 1]]);
      const metrics = await (await fetch(`http://127.0.0.1:${ctl.port}/metrics`)).text();
      assert.match(metrics, new RegExp(`sharedlb_namespace_hourly_cost\\{namespace="${red}",currency="USD"\\} [0-9.]+`));
      assert.match(await (await fetch(`http://127.0.0.1:${ctl.port}/report`)).text(), /Who pays: by namespace/);
    } finally {
      await deleteNamespace(red);
      await deleteNamespace(blue);
      await deletePool('e2e-bill');
      // A deleted pool's LBs that serve nobody go: before the next test looks at the LBs.
      await eventually('the deleted pool\'s LBs to go', async () => (await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ctrlNs}/services?labelSelector=sharedlb.io%2Fpool%3De2e-bill`)).items.length === 0, 30_000);
    }
  });

  it('keeps every assignment across a controller crash and restart', async () => {
    const snapshot = async () => {
      const list = await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ns}/services`);
      return Object.fromEntries(list.items.map((s) => [s.metadata.name, [lbOf(s), addressOf(s), cond(s)?.reason]]));
    };
    const lbRecords = async () => {
      const list = await admin().get<{ items: Svc[] }>(`/api/v1/namespaces/${ctrlNs}/services`);
      return Object.fromEntries(list.items.map((s) => [s.metadata.name, s.metadata.annotations?.['sharedlb.io/allocations']]));
    };
    const before = await snapshot();
    const recordsBefore = await lbRecords();
    await ctl.kill();
    ctl = await startController(ctrlNs, FAST_LEASE);
    await waitLeader(ctl); // the dead replica's lease must run out first
    await sleep(2000);
    assert.ok((await ctl.metric('controller_runtime_reconcile_total{controller="member",result="success"}')) > 0, 'the new replica reconciled');
    assert.deepEqual(await snapshot(), before);
    assert.deepEqual(await lbRecords(), recordsBefore);
    const writesBesidesLease = async (c: RunningController) => [...await c.requests()].filter(([k]) => !k.startsWith('GET ') && !k.includes('coordination.k8s.io/leases')).reduce((a, [, v]) => a + v, 0);
    assert.equal(await writesBesidesLease(ctl), 0, 'the new replica found nothing to change');

    // Without leader election nothing holds the queue back: it must wait for the caches itself. A pool
    // placed from half-listed caches sees its members but not their LBs.
    await ctl.stop();
    const single = await startController(ctrlNs, ['--no-leader-elect']);
    try {
      await eventually('the restarted controller to go quiet', async () =>
        (await single.metric('controller_runtime_reconcile_total{controller="pool"}')) > 0 && (await single.metric('controller_runtime_reconcile_total{controller="member"}')) > 0 && (await single.metric('workqueue_depth')) === 0);
      await sleep(1000);
      assert.equal(await single.writes(), 0, 'a restart over placed members writes nothing');
      assert.deepEqual(await snapshot(), before);
    } finally {
      await single.stop();
    }
    ctl = await startController(ctrlNs, FAST_LEASE);
    await waitLeader(ctl);
  });

  it('writes little per member placed', async () => {
    const w0 = await ctl.writes();
    const names = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
    await Promise.all(names.map((n, i) => member(ns, n, [['b', 30000 + i]], { annotations: { 'sharedlb.io/pool': 'e2e-remap' } }).catch(() => undefined)));
    // e2e-remap allows one LB of 5 ports and already holds 2: some wait with NoCapacity, which is also an outcome.
    for (const n of names) {
      await eventually(`${n} to settle`, async () => ['Allocated', 'NoCapacity'].includes(cond(await get(ns, n))?.reason ?? ''));
    }
    await sleep(1000);
    const w1 = await ctl.writes();
    process.stderr.write(`# ${w1 - w0} API writes for ${names.length} members (${((w1 - w0) / names.length).toFixed(1)} per member), events included\n`);
    const waiting = (await Promise.all(names.map((n) => get(ns, n)))).filter((s) => cond(s)?.reason === 'NoCapacity');
    assert.ok(waiting.length > 0);
    assert.match(cond(waiting[0] as Svc)?.message ?? '', /maxLoadBalancers 1/);
  });
});

describe('sharedlb controller: leader election', () => {
  const ctrlNs = `sharedlb-e2e-le-${process.pid}`;
  let ns = '';
  let a: RunningController;
  let b: RunningController;

  before(async () => {
    await installCRD();
    await admin().post('/api/v1/namespaces', { metadata: { name: ctrlNs, labels: { 'sharedlb.io/e2e': 'true' } } });
    await createPool('e2e-le', { default: true, provider: 'generic', maxPortsPerLB: 10 });
    ns = await namespace('le');
  });
  after(async () => {
    await a?.stop().catch(() => undefined);
    await b?.stop().catch(() => undefined);
    await deleteNamespace(ns);
    await deletePool('e2e-le');
    await deleteNamespace(ctrlNs);
  });

  it('one replica leads and writes; when it dies the other takes over within the lease duration', async () => {
    a = await startController(ctrlNs, FAST_LEASE);
    await waitLeader(a);
    b = await startController(ctrlNs, FAST_LEASE);
    assert.equal(await (await fetch(`http://127.0.0.1:${b.port}/leader`)).text(), 'follower');
    await member(ns, 'one', [['x', 7100]]);
    await untilReason(ns, 'one', 'Allocated');
    assert.equal(await b.writes(), 0, 'the follower wrote nothing');
    await a.kill();
    const t0 = Date.now();
    await eventually('b to lead', async () => (await (await fetch(`http://127.0.0.1:${b.port}/leader`)).text()) === 'leader', 10_000);
    const took = Date.now() - t0;
    process.stderr.write(`# follower took over ${took} ms after the leader was killed (lease 4 s)\n`);
    assert.ok(took <= 4000 + 1500, `took over in ${took} ms`);
    await member(ns, 'two', [['x', 7200]]);
    const two = await untilReason(ns, 'two', 'Allocated');
    assert.equal(lbOf(two), lbOf(await get(ns, 'one')));
    const record = await admin().get<{ spec: { leaseTransitions: number } }>(`/apis/coordination.k8s.io/v1/namespaces/${ctrlNs}/leases/sharedlb-controller`);
    assert.equal(record.spec.leaseTransitions, 1);
  });
});
