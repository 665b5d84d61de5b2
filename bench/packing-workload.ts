// Generated families of L4 estates for the packing benchmark: a share of
// members that must keep their port (preserve, as LoadBalancer-class members
// do by default) spread over well-known ports with a skew, the rest prefer or
// any; multi-port members (SMTP 25+587, LDAP 389+636, Kafka 9092+9094,
// syslog 514/UDP+601/TCP); TCP+UDP on one port (DNS); a few bad inputs.
// Creation order is random, as arrivals in a real cluster are.

import type { ProviderName, ServiceLike } from '../allocator/types.ts';
import { rng, weighted } from '../examples/workload.ts';

export interface Family {
  name: string;
  members: number;
  /** Share of members with port-policy preserve. */
  preserve: number;
  /** Average preserve members per fixed port number (skewed: the busiest port gets about 1.4 times this). */
  perPort: number;
  /** Ports per LB (the pool's maxPortsPerLB). */
  portsPerLB: number;
  /** Share of members with two ports. */
  multiPort: number;
  /** Share of members with the same port under TCP and UDP. */
  tcpUdp: number;
  /** The provider profile (default: the benchmark's). */
  provider?: ProviderName;
}

const WELL_KNOWN = [22, 25, 53, 389, 514, 587, 636, 1883, 2222, 3306, 3478, 4222, 5432, 5672, 6379, 7777, 8883, 9042, 9092, 9094, 9300, 25565, 27017, 51820, 11211, 1521, 5060];
const PAIRS: Array<Array<[number, 'TCP' | 'UDP']>> = [[[25, 'TCP'], [587, 'TCP']], [[389, 'TCP'], [636, 'TCP']], [[9092, 'TCP'], [9094, 'TCP']], [[514, 'UDP'], [601, 'TCP']]];

/** The shape, and one family per parameter moved from it. */
export const BASE: Omit<Family, 'name'> = { members: 3000, preserve: 0.45, perPort: 50, portsPerLB: 50, multiPort: 0.1, tcpUdp: 0.03 };

export const FAMILIES: Family[] = [
  { name: 'base (issue shape)', ...BASE },
  { name: 'preserve 0%', ...BASE, preserve: 0 },
  { name: 'preserve 20%', ...BASE, preserve: 0.2 },
  { name: 'preserve 80%', ...BASE, preserve: 0.8 },
  { name: '1 per fixed port', ...BASE, perPort: 1 },
  { name: '10 per fixed port', ...BASE, perPort: 10 },
  { name: '100 per fixed port', ...BASE, perPort: 100 },
  { name: '5 ports per LB', ...BASE, portsPerLB: 5 },
  { name: '250 ports per LB', ...BASE, portsPerLB: 250 },
  { name: 'multi-port 30%', ...BASE, multiPort: 0.3 },
  { name: 'TCP+UDP pairs 20%', ...BASE, tcpUdp: 0.2 },
  { name: '80% preserve, 100/port, 250/LB', ...BASE, preserve: 0.8, perPort: 100, portsPerLB: 250 },
  // Other profiles' rules: GCP LBs carry one protocol each; Hetzner's carry TCP only, 5 ports; MetalLB's 250 ports, all protocols.
  { name: 'gcp (one protocol per LB, 100/LB)', ...BASE, portsPerLB: 100, provider: 'gcp' },
  { name: 'hetzner (TCP only, 5/LB)', ...BASE, portsPerLB: 5, provider: 'hetzner' },
  { name: 'metallb (250/LB)', ...BASE, portsPerLB: 250, provider: 'metallb' },
];

export function generateFamily(f: Family, seed: number): ServiceLike[] {
  const rand = rng(seed);
  const preserveCount = Math.round(f.members * f.preserve);
  const fixedPorts = Math.max(1, Math.ceil(preserveCount / f.perPort));
  // A mild skew over the fixed ports: the busiest twice the quietest, about 1.4 times the average.
  const ports = Array.from({ length: fixedPorts }, (_, i) => WELL_KNOWN[i] ?? 20000 + i);
  const weights = ports.map((_, i) => 1 / (1 + i / fixedPorts));
  const pickFixed = (): number => weighted(ports, weights, rand);
  const out: ServiceLike[] = [];
  const start = Date.UTC(2025, 0, 1);
  for (let i = 0; i < f.members; i++) {
    const preserve = i < preserveCount;
    let specPorts: Array<{ name: string; port: number; protocol: 'TCP' | 'UDP' }>;
    const shape = rand();
    if (shape < f.multiPort) {
      const pair = PAIRS[Math.floor(rand() * PAIRS.length)] as Array<[number, 'TCP' | 'UDP']>;
      // A preserve pair keeps its own numbers; a flexible one is the same app on ports it would like.
      specPorts = pair.map(([port, protocol], k) => ({ name: `p${k}`, port, protocol }));
    } else if (shape < f.multiPort + f.tcpUdp) {
      const port = preserve ? pickFixed() : 53;
      specPorts = [{ name: 'tcp', port, protocol: 'TCP' }, { name: 'udp', port, protocol: 'UDP' }];
    } else {
      const port = preserve ? pickFixed() : (WELL_KNOWN[Math.floor(rand() * WELL_KNOWN.length)] as number);
      specPorts = [{ name: 'main', port, protocol: rand() < 0.15 ? 'UDP' : 'TCP' }];
    }
    const policy = preserve ? 'preserve' : rand() < 0.5 ? 'prefer' : 'any';
    out.push(member(`t${i % 40}`, `svc-${i}`, start + Math.floor(rand() * 1e9) * 1000, policy, specPorts, i));
  }
  // A few bad inputs, as any real estate has.
  for (let i = 0; i < Math.ceil(f.members * 0.02); i++) {
    const bad = member('broken', `bad-${i}`, start + i, 'preserv' as 'preserve', [{ name: 'x', port: 1, protocol: 'TCP' }], f.members + i);
    out.push(bad);
  }
  return out;
}

/** A Service as `kubectl get svc -o json` prints it: the API server's defaults and allocations included. */
function member(namespace: string, name: string, created: number, policy: 'preserve' | 'prefer' | 'any', ports: Array<{ name: string; port: number; protocol: 'TCP' | 'UDP' }>, i: number): ServiceLike {
  const ip = `10.96.${(i >> 8) & 255}.${i & 255}`;
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name, namespace, uid: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, resourceVersion: String(1000 + i),
      creationTimestamp: new Date(created).toISOString().replace('.000Z', 'Z'),
      labels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': namespace },
      annotations: { 'sharedlb.io/enabled': 'true', 'sharedlb.io/port-policy': policy },
    },
    spec: {
      type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', internalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None', selector: { 'app.kubernetes.io/name': name },
      ports: ports.map((p) => ({ ...p, targetPort: p.port })),
    },
    status: { loadBalancer: {} },
  };
  return svc;
}
