// The cloud simulator: it stands for a cloud's service controller, because
// there is no cloud here. It is not part of the product.
//
// Like a cloud, it serves `type: LoadBalancer` Services of the default class
// (no spec.loadBalancerClass): after a delay it writes an address from
// 198.51.100.0/24 (TEST-NET-2) into status.loadBalancer — and for each IPv6
// family the Service has, the matching address of 2001:db8:100::/64 (the
// IPv6 documentation range), in the Service's family order; the address stays
// when the ports change; a Service with more ports than the listener limit
// gets a Warning event and no address. It counts the LBs it would bill.
//
// Settings live in ConfigMap kube-system/cloud-simulator (delayMs,
// maxListeners) so tests can change them on a running cluster; what it would
// bill is written to ConfigMap kube-system/cloud-simulator-state.

import { parseArgs } from 'node:util';
import { KubeConfig, type V1Service } from '@kubernetes/client-node';
import { kubeWatch, ResilientInformer } from '../controller/informer.ts';
import { ApiError, microTime, restClient } from '../controller/kube-rest.ts';

const RANGE = '198.51.100.';
const RANGE6 = '2001:db8:100::';

/** The ingress a Service with address index `v4` gets: one address per IP family it has. */
function ingressFor(s: V1Service, v4: string): Array<{ ip: string; ipMode: 'VIP' }> {
  const families = s.spec?.ipFamilies ?? ['IPv4'];
  return families.map((f) => ({ ip: f === 'IPv6' ? `${RANGE6}${v4.slice(RANGE.length)}` : v4, ipMode: 'VIP' }));
}

/** The address (by its IPv4 spelling) a Service's status shows it holds. */
function heldAddress(s: V1Service): string | undefined {
  for (const i of s.status?.loadBalancer?.ingress ?? []) {
    if (i.ip?.startsWith(RANGE)) return i.ip;
    if (i.ip?.startsWith(RANGE6)) return `${RANGE}${i.ip.slice(RANGE6.length)}`;
  }
  return undefined;
}
const CONFIG = '/api/v1/namespaces/kube-system/configmaps/cloud-simulator';
const STATE = '/api/v1/namespaces/kube-system/configmaps/cloud-simulator-state';
const DEFAULTS = { delayMs: 300, maxListeners: 50 };

const out = (msg: string, fields: Record<string, unknown> = {}): void =>
  void process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);

const { values } = parseArgs({ options: { kubeconfig: { type: 'string' } } });
const kc = new KubeConfig();
if (values.kubeconfig) kc.loadFromFile(values.kubeconfig);
else kc.loadFromDefault();
const rest = restClient(kc, { userAgent: 'sharedlb-e2e-cloud-simulator' });

/** Service key → address it holds. */
const addresses = new Map<string, string>();
const refused = new Map<string, number>(); // key → port count last refused (one event per change)
const pending = new Set<string>();
// Services refused for want of an address, oldest first: a cloud retries them,
// so each address released goes to the one that has waited longest.
const waiting = new Set<string>();

const key = (s: V1Service): string => `${s.metadata?.namespace}/${s.metadata?.name}`;
const served = (s: V1Service | undefined): s is V1Service =>
  s !== undefined && s.spec?.type === 'LoadBalancer' && !s.spec.loadBalancerClass && s.metadata?.deletionTimestamp === undefined;

async function settings(): Promise<typeof DEFAULTS> {
  try {
    const cm = await rest.get<{ data?: Record<string, string> }>(CONFIG);
    return {
      delayMs: Number(cm.data?.delayMs ?? DEFAULTS.delayMs),
      maxListeners: Number(cm.data?.maxListeners ?? DEFAULTS.maxListeners),
    };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return DEFAULTS;
    throw e;
  }
}

function nextAddress(): string | null {
  // Addresses in Service status count too: after a restart they are the record.
  const used = new Set(addresses.values());
  for (const s of informer.list()) {
    const ip = heldAddress(s);
    if (served(s) && ip !== undefined) used.add(ip);
  }
  for (let i = 10; i < 255; i++) if (!used.has(`${RANGE}${i}`)) return `${RANGE}${i}`;
  return null;
}

async function event(s: V1Service, reason: string, note: string): Promise<void> {
  await rest.post(`/apis/events.k8s.io/v1/namespaces/${s.metadata?.namespace}/events`, {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: `${s.metadata?.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: s.metadata?.namespace },
    eventTime: microTime(),
    reportingController: 'sharedlb.io/e2e-cloud-simulator',
    reportingInstance: 'cloud-simulator',
    action: 'EnsureLoadBalancer',
    reason,
    note,
    type: 'Warning',
    regarding: { apiVersion: 'v1', kind: 'Service', namespace: s.metadata?.namespace, name: s.metadata?.name, uid: s.metadata?.uid },
  });
}

let stateWrite: Promise<void> = Promise.resolve();
function saveState(): void {
  const data = { loadBalancers: String(addresses.size), addresses: JSON.stringify(Object.fromEntries([...addresses].sort())) };
  stateWrite = stateWrite.then(async () => {
    try {
      await rest.patch(STATE, { data }, 'merge');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
      await rest.post('/api/v1/namespaces/kube-system/configmaps', { metadata: { name: 'cloud-simulator-state', namespace: 'kube-system' }, data });
    }
  }).catch((e: unknown) => out('state write failed', { error: String(e) }));
}

async function reconcile(k: string): Promise<void> {
  const s = informer.get(k.split('/')[1] as string, k.split('/')[0]);
  if (!served(s)) {
    waiting.delete(k);
    if (addresses.delete(k)) {
      out('released', { service: k });
      saveState();
      wakeOneWaiting();
    }
    refused.delete(k);
    return;
  }
  const cfg = await settings();
  const ports = s.spec?.ports?.length ?? 0;
  if (ports > cfg.maxListeners) {
    if (refused.get(k) !== ports) {
      refused.set(k, ports);
      await event(s, 'ListenerLimitExceeded', `the load balancer supports at most ${cfg.maxListeners} listeners; this Service asks for ${ports}`);
      out('refused', { service: k, ports, maxListeners: cfg.maxListeners });
    }
    if (!addresses.has(k)) return;
  } else {
    refused.delete(k);
  }
  const current = heldAddress(s);
  const shown = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
  if (current !== undefined && JSON.stringify(shown) === JSON.stringify(ingressFor(s, current).map((i) => i.ip))) {
    if (addresses.get(k) !== current) {
      addresses.set(k, current);
      saveState();
    }
    return;
  }
  const ip = addresses.get(k) ?? nextAddress();
  if (ip === null) {
    if (!waiting.has(k)) {
      waiting.add(k);
      await event(s, 'AddressPoolExhausted', 'no address left in 198.51.100.0/24; waiting for one to be released');
    }
    return;
  }
  waiting.delete(k);
  addresses.set(k, ip); // reserve now: no other Service can take it during the delay
  await new Promise((r) => setTimeout(r, cfg.delayMs));
  const fresh = informer.get(s.metadata?.name as string, s.metadata?.namespace);
  if (!served(fresh) || (fresh.spec?.ports?.length ?? 0) > cfg.maxListeners) {
    addresses.delete(k);
    return;
  }
  await rest.patch(`/api/v1/namespaces/${s.metadata?.namespace}/services/${s.metadata?.name}/status`, {
    status: { loadBalancer: { ingress: ingressFor(fresh, ip) } },
  }, 'merge');
  out('provisioned', { service: k, ip, ports });
  saveState();
}

function wakeOneWaiting(): void {
  const [first] = waiting;
  if (first === undefined) return;
  waiting.delete(first);
  enqueue(first);
}

/** One reconcile per key at a time; a key that changes meanwhile runs again. */
const running = new Set<string>();
function enqueue(k: string): void {
  if (running.has(k)) {
    pending.add(k);
    return;
  }
  running.add(k);
  void reconcile(k)
    .catch((e: unknown) => {
      out('reconcile failed; retrying', { service: k, error: String(e) });
      setTimeout(() => enqueue(k), 1000);
    })
    .finally(() => {
      running.delete(k);
      if (pending.delete(k)) enqueue(k);
    });
}

const informer = new ResilientInformer<V1Service>({
  name: 'services',
  watch: kubeWatch(kc),
  path: '/api/v1/services',
  rest,
  onEvent: (_e, s) => enqueue(key(s)),
  relistSeconds: 60,
  onRestart: (informer, reason, error) => out('watch restarted', { informer, reason, error: String(error) }),
});

await informer.start();
saveState();
out('ready', { loadBalancers: addresses.size });

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    setTimeout(() => process.exit(0), 1000).unref();
    void informer.stop().finally(() => {
      rest.close();
      process.exit(0);
    });
  });
}
