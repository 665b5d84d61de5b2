// Provider profiles: what each cloud's LB can carry and what it bills, from
// shared/reference/providers.md. Every field is a default a pool may override.
// Figures no source could confirm are listed in `unconfirmed` and end up in
// every report's assumptions.

import type { Pricing, Protocol, ProviderName } from './types.ts';

export interface Profile {
  name: ProviderName;
  title: string;
  maxPortsPerLB: number;
  protocols: Protocol[];
  mixedProtocol: boolean;
  samePortAcrossProtocols: boolean;
  keepPortRange: boolean;
  pricing: Pricing;
  /** Facts about billing or limits that every report on this profile states. */
  notes: string[];
  unconfirmed: string[];
  sources: string[];
}

/** Hours in a billing month, as the clouds' price pages count them. */
export const HOURS = 730;

function pricing(p: Partial<Pricing>): Pricing {
  return {
    currency: 'USD',
    scope: 'load-balancer',
    baseHourly: 0,
    includedRules: 0,
    ruleHourly: 0,
    publicIPsPerLB: 0,
    publicIPHourly: 0,
    monthly: 0,
    hoursPerMonth: HOURS,
    ...p,
  };
}

export const PROFILES: Readonly<Record<ProviderName, Profile>> = {
  'aws-nlb': {
    name: 'aws-nlb',
    title: 'AWS Network Load Balancer (AWS Load Balancer Controller)',
    maxPortsPerLB: 50,
    protocols: ['TCP', 'UDP'],
    mixedProtocol: true,
    // The same port under TCP and UDP needs a TCP_UDP listener, which the
    // controller only builds when asked by annotation: keep them apart.
    samePortAcrossProtocols: false,
    keepPortRange: false,
    pricing: pricing({ baseHourly: 0.0225, publicIPsPerLB: 0, publicIPHourly: 0.005 }),
    notes: [
      'AWS bills each NLB $0.0225/h; an internet-facing NLB also holds one public IPv4 per availability zone at $0.005/h each.',
      'The LB scheme comes from the pool template annotation service.beta.kubernetes.io/aws-load-balancer-scheme; without it the AWS Load Balancer Controller builds an internal NLB, which holds no public IPv4.',
      'An NLB has at most 50 listeners; in instance target mode every port registers every node, so the practical limit is min(50, floor(500 / nodes per AZ)) ports: lower maxPortsPerLB for large node groups.',
      'Shared NLBs use instance targets (through NodePorts): the AWS Load Balancer Controller registers IP targets only for Pod endpoints in the Service\'s own namespace, which a shared LB\'s mirrored endpoints are not.',
    ],
    unconfirmed: [],
    sources: [
      'aws.amazon.com/elasticloadbalancing/pricing',
      'docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html',
      'AWS blog: public IPv4 address charge (from 2024-02-01)',
      'kubernetes-sigs/aws-load-balancer-controller@225f445 pkg/service/model_build_listener.go',
      'kubernetes-sigs/aws-load-balancer-controller pkg/backend/endpoint_resolver.go (ResolvePodEndpoints: non-Pod targetRefs skipped, Pods looked up in the Service namespace)',
    ],
  },
  gcp: {
    name: 'gcp',
    title: 'Google Cloud external passthrough Network Load Balancer',
    maxPortsPerLB: 100,
    protocols: ['TCP', 'UDP'],
    // Target-pool LBs cannot mix; backend-service LBs (GKE >= 1.34.1) can.
    // The pool enables it where its clusters qualify.
    mixedProtocol: false,
    samePortAcrossProtocols: true,
    keepPortRange: true,
    pricing: pricing({ scope: 'project-region', baseHourly: 0.025, includedRules: 5, ruleHourly: 0.01 }),
    notes: [
      'Google Cloud bills forwarding rules per project and region, not per LB: the first 5 rules cost $0.025/h together, each further rule $0.01/h. Savings appear only above 5 rules.',
      'This report assumes the project and region hold no forwarding rules other than these; rules of other LBs there lower the marginal price of each rule to $0.01/h.',
      'An LB with more than 5 ports forwards one range from its lowest to its highest port; when that range changes the forwarding rule is deleted and recreated, a brief outage for every member of that LB. Placement stays inside an LB\'s current range first.',
    ],
    unconfirmed: ['maxPortsPerLB 100 is a sharedlb default, not a documented Google Cloud limit.'],
    sources: [
      'cloud.google.com/load-balancing/pricing',
      'GKE mixed-protocol-lb docs',
      'kubernetes/cloud-provider-gcp@4e24531 providers/gce/gce_loadbalancer_external.go (loadBalancerPortRange)',
      'kubernetes/ingress-gce@acbcf5d pkg/l4/resources/forwarding_rules.go',
    ],
  },
  azure: {
    name: 'azure',
    title: 'Azure Standard Load Balancer (AKS)',
    maxPortsPerLB: 1500,
    protocols: ['TCP', 'UDP'],
    mixedProtocol: true,
    samePortAcrossProtocols: true,
    keepPortRange: false,
    pricing: pricing({ scope: 'cluster', baseHourly: 0.025, includedRules: 5, ruleHourly: 0.01, publicIPsPerLB: 1, publicIPHourly: 0.005 }),
    notes: [
      'AKS already puts every LoadBalancer Service of a cluster on one Azure LB: sharing removes no LB and no rule (one rule per Service port either way). It saves only the public IP each LoadBalancer Service would hold ($0.005/h each).',
      'Rules are counted once per port for single-stack Services; dual-stack Services hold one rule per port per IP family.',
    ],
    unconfirmed: ['Azure LB prices as quoted by third parties; public IP price approximate.'],
    sources: [
      'AKS docs: use-multiple-standard-load-balancer',
      'Azure Load Balancer pricing as quoted by third parties',
      'kubernetes-sigs/cloud-provider-azure@7b31c76 pkg/provider/azure_loadbalancer.go',
    ],
  },
  digitalocean: {
    name: 'digitalocean',
    title: 'DigitalOcean Load Balancer',
    maxPortsPerLB: 50,
    protocols: ['TCP', 'UDP'],
    mixedProtocol: true,
    samePortAcrossProtocols: true,
    keepPortRange: false,
    pricing: pricing({ monthly: 10 }),
    notes: ['DigitalOcean bills each LB node by the month; data transfer is not billed per LB.'],
    unconfirmed: [
      'Price $10 per LB node per month is UNCONFIRMED (possibly $12): set the pool\'s pricing.monthly.',
      'maxPortsPerLB 50 is a sharedlb default; DigitalOcean\'s limit on forwarding rules is UNCONFIRMED.',
    ],
    sources: ['docs.digitalocean.com/products/networking/load-balancers/', 'digitalocean/digitalocean-cloud-controller-manager@70d527e'],
  },
  linode: {
    name: 'linode',
    title: 'Akamai (Linode) NodeBalancer',
    maxPortsPerLB: 50,
    protocols: ['TCP', 'UDP'],
    mixedProtocol: true,
    samePortAcrossProtocols: false,
    keepPortRange: false,
    pricing: pricing({ monthly: 10 }),
    notes: ['A NodeBalancer mixes TCP and UDP only on different port numbers.'],
    unconfirmed: [
      'Price ~$10 per NodeBalancer per month is UNCONFIRMED: set the pool\'s pricing.monthly.',
      'maxPortsPerLB 50 is a sharedlb default; the NodeBalancer port limit is UNCONFIRMED.',
    ],
    sources: ['techdocs.akamai.com NodeBalancer page', 'linode/linode-cloud-controller-manager@b9aa901'],
  },
  hetzner: {
    name: 'hetzner',
    title: 'Hetzner Cloud Load Balancer LB11',
    maxPortsPerLB: 5,
    // The Hetzner controller skips non-TCP ports.
    protocols: ['TCP'],
    mixedProtocol: false,
    samePortAcrossProtocols: false,
    keepPortRange: false,
    pricing: pricing({ currency: 'EUR', monthly: 7.49 }),
    notes: [
      'Profile is the LB11 type (5 services); for LB21 set maxPortsPerLB 15 and its price, and the template annotation load-balancer.hetzner.cloud/type.',
      '20 TB of traffic is included per LB.',
    ],
    unconfirmed: ['LB11 price ≈ €7.49 per month is UNCONFIRMED: set the pool\'s pricing.monthly.'],
    sources: ['hetznercloud/hcloud-cloud-controller-manager@6485324 internal/hcops/load_balancer.go'],
  },
  oci: {
    name: 'oci',
    title: 'Oracle Cloud (OKE) Network Load Balancer',
    maxPortsPerLB: 50,
    protocols: ['TCP', 'UDP'],
    mixedProtocol: true,
    samePortAcrossProtocols: true,
    keepPortRange: false,
    pricing: pricing({}),
    notes: ['Oracle states no base charge for a network load balancer: sharing saves no money, only addresses.'],
    unconfirmed: [
      'No base charge per Oracle is UNCONFIRMED: set the pool\'s pricing if you are billed.',
      'maxPortsPerLB 50 is a sharedlb default; the OCI NLB listener limit is UNCONFIRMED.',
    ],
    sources: ['oracle/oci-cloud-controller-manager v1.35.0'],
  },
  metallb: {
    name: 'metallb',
    title: 'MetalLB (on premises)',
    maxPortsPerLB: 250,
    protocols: ['TCP', 'UDP', 'SCTP'],
    mixedProtocol: true,
    samePortAcrossProtocols: true,
    keepPortRange: false,
    pricing: pricing({}),
    notes: [
      'MetalLB bills nothing: sharing saves addresses from the IP pool, not money.',
      'MetalLB gives each LoadBalancer Service of its class an address and forwards nothing itself: ports, protocols and TCP+UDP on one port are kube-proxy\'s (controller/service.go).',
      'It announces an address only while the Service has an active endpoint, read from the EndpointSlices labelled kubernetes.io/service-name with its name — the label sharedlb\'s mirrors carry (internal/k8s/epslices/endpoint_slices.go, speaker/layer2_controller.go ShouldAnnounce); with externalTrafficPolicy Local, only from nodes holding one.',
      'A Service it cannot address gets no status and a Warning event AllocationFailed (controller/service.go): its members wait (WaitingForAddress) and point at that event.',
      'A pool template may name its address pool (metallb.io/address-pool); allow-shared-ip is refused: it would put every LB of the pool on one address (controller/service.go).',
    ],
    unconfirmed: ['maxPortsPerLB 250 is a sharedlb default; MetalLB itself sets no per-LB limit.'],
    sources: ['metallb/metallb@7938d3f', 'go.universe.tf/metallb v0.15.2 (run in the lab: e2e/metallb.e2e.ts)'],
  },
  generic: {
    name: 'generic',
    title: 'Generic LoadBalancer provider',
    maxPortsPerLB: 100,
    protocols: ['TCP', 'UDP'],
    mixedProtocol: true,
    samePortAcrossProtocols: true,
    keepPortRange: false,
    pricing: pricing({}),
    notes: ['The generic profile knows no prices: set the pool\'s pricing to see costs and savings.'],
    unconfirmed: ['maxPortsPerLB 100 is a sharedlb default.'],
    sources: [],
  },
};

export const PROVIDER_NAMES = Object.keys(PROFILES) as ProviderName[];

export function isProviderName(s: string): s is ProviderName {
  return Object.hasOwn(PROFILES, s);
}
