// A deterministic generator of realistic L4 Services: the brokers, databases,
// DNS servers and game servers that make teams pay for one cloud LB each.
// It writes examples/services.yaml (the demo's input) and feeds bench/.
//
//   node examples/workload.ts --count 200 --seed 7 > examples/services.yaml

import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { ServiceLike } from '../allocator/types.ts';

interface Kind {
  app: string;
  ports: Array<[name: string, port: number, protocol: 'TCP' | 'UDP']>;
  /** How the owner usually opts in. */
  optIn: 'class' | 'annotation';
  policy?: 'preserve' | 'prefer' | 'any';
  weight: number;
}

const KINDS: Kind[] = [
  { app: 'kafka', ports: [['broker', 9092, 'TCP'], ['broker-tls', 9093, 'TCP']], optIn: 'annotation', weight: 10 },
  { app: 'mqtt', ports: [['mqtt', 1883, 'TCP'], ['mqtts', 8883, 'TCP']], optIn: 'annotation', weight: 8 },
  { app: 'postgres', ports: [['postgres', 5432, 'TCP']], optIn: 'annotation', weight: 14 },
  { app: 'mysql', ports: [['mysql', 3306, 'TCP']], optIn: 'annotation', weight: 6 },
  { app: 'redis', ports: [['redis', 6379, 'TCP']], optIn: 'annotation', weight: 8 },
  { app: 'mongodb', ports: [['mongodb', 27017, 'TCP']], optIn: 'annotation', weight: 4 },
  { app: 'rabbitmq', ports: [['amqp', 5672, 'TCP'], ['amqps', 5671, 'TCP']], optIn: 'annotation', weight: 5 },
  { app: 'nats', ports: [['client', 4222, 'TCP']], optIn: 'annotation', weight: 3 },
  { app: 'coredns', ports: [['dns', 53, 'UDP']], optIn: 'class', weight: 3 },
  { app: 'syslog', ports: [['syslog', 514, 'UDP']], optIn: 'annotation', policy: 'any', weight: 3 },
  { app: 'gameserver', ports: [['game', 7777, 'UDP'], ['query', 27015, 'UDP']], optIn: 'annotation', policy: 'any', weight: 12 },
  { app: 'minecraft', ports: [['minecraft', 25565, 'TCP']], optIn: 'annotation', policy: 'any', weight: 5 },
  { app: 'turn', ports: [['turn', 3478, 'UDP']], optIn: 'annotation', weight: 2 },
  { app: 'git-ssh', ports: [['ssh', 22, 'TCP']], optIn: 'class', weight: 2 },
  { app: 'smtp', ports: [['smtp', 25, 'TCP'], ['submission', 587, 'TCP']], optIn: 'class', weight: 2 },
  { app: 'ldap', ports: [['ldap', 389, 'TCP'], ['ldaps', 636, 'TCP']], optIn: 'annotation', weight: 2 },
  { app: 'cassandra', ports: [['cql', 9042, 'TCP']], optIn: 'annotation', weight: 2 },
];

const TEAMS = ['payments', 'search', 'iot', 'data', 'games', 'platform', 'identity', 'analytics', 'mail', 'edge'];

/** mulberry32: small, fast, and the same sequence on every machine. */
/** One of `items`, drawn with the given weights. */
export function weighted<T>(items: readonly T[], weights: readonly number[], rand: () => number): T {
  let x = rand() * weights.reduce((a, b) => a + b, 0);
  for (const [i, item] of items.entries()) {
    x -= weights[i] ?? 0;
    if (x < 0) return item;
  }
  return items[0] as T;
}

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  count: number;
  seed: number;
  /** Share of Services that are plain HTTP and do not opt in, as in a real cluster. */
  notOptedIn?: number;
  /** Add a few Services with mistakes, to show what a rejection looks like. */
  mistakes?: boolean;
}

export function generateServices(opts: WorkloadOptions): ServiceLike[] {
  const rand = rng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const kind = (): Kind => weighted(KINDS, KINDS.map((k) => k.weight), rand);
  const start = Date.UTC(2025, 0, 1);
  const out: ServiceLike[] = [];
  const counter = new Map<string, number>();
  for (let i = 0; i < opts.count; i++) {
    const team = pick(TEAMS);
    const created = new Date(start + i * 3_600_000 + Math.floor(rand() * 3_000) * 1000).toISOString().replace('.000Z', 'Z');
    if (rand() < (opts.notOptedIn ?? 0)) {
      const n = (counter.get(`${team}/web`) ?? 0) + 1;
      counter.set(`${team}/web`, n);
      out.push(service(team, `web-${n}`, created, 'ClusterIP', undefined, {}, [['http', 80, 'TCP']]));
      continue;
    }
    const k = kind();
    const n = (counter.get(`${team}/${k.app}`) ?? 0) + 1;
    counter.set(`${team}/${k.app}`, n);
    const annotations: Record<string, string> = {};
    if (k.optIn === 'annotation') annotations['sharedlb.io/enabled'] = 'true';
    if (k.policy !== undefined) annotations['sharedlb.io/port-policy'] = k.policy;
    const type = k.optIn === 'class' ? 'LoadBalancer' : 'ClusterIP';
    out.push(service(team, `${k.app}-${n}`, created, type, k.optIn === 'class' ? 'sharedlb.io/shared' : undefined, annotations, k.ports));
  }
  if (opts.mistakes) {
    const t = new Date(start + opts.count * 3_600_000).toISOString().replace('.000Z', 'Z');
    out.push(service('legacy', 'mqtt-old', t, 'LoadBalancer', undefined, { 'sharedlb.io/enabled': 'true' }, [['mqtt', 1883, 'TCP']]));
    out.push(service('data', 'clickhouse', t, 'ClusterIP', undefined, { 'sharedlb.io/enabled': 'true', 'sharedlb.io/port-policy': 'preserv' }, [['native', 9000, 'TCP']]));
    out.push(service('iot', 'coap', t, 'ClusterIP', undefined, { 'sharedlb.io/enabled': 'yes' }, [['coap', 5683, 'UDP']]));
  }
  return out;
}

function service(
  namespace: string,
  name: string,
  created: string,
  type: string,
  loadBalancerClass: string | undefined,
  annotations: Record<string, string>,
  ports: Kind['ports'],
): ServiceLike {
  const app = name.replace(/-\d+$/, '');
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace,
      creationTimestamp: created,
      labels: { 'app.kubernetes.io/name': app },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: {
      type,
      ...(loadBalancerClass !== undefined ? { loadBalancerClass } : {}),
      selector: { 'app.kubernetes.io/name': app, 'app.kubernetes.io/instance': name },
      ports: ports.map(([n, port, protocol]) => ({ name: n, port, protocol, targetPort: port })),
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { count: { type: 'string', default: '200' }, seed: { type: 'string', default: '7' }, mistakes: { type: 'boolean', default: true } },
  });
  const items = generateServices({ count: Number(values.count), seed: Number(values.seed), notOptedIn: 0.15, mistakes: values.mistakes });
  process.stdout.write(stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items }));
}
