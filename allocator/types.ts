// The allocator's vocabulary. Everything here is plain data: the controller
// builds it from informer caches, `sharedlb plan` from files, and the
// allocator never sees a Kubernetes client.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export type PortPolicy = 'preserve' | 'prefer' | 'any';

/** A label selector as Kubernetes spells it (metav1.LabelSelector). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }>;
}

/** The Service fields sharedlb reads; a client-node V1Service fits this shape. */
export interface ServiceLike {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    creationTimestamp?: string | Date;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    resourceVersion?: string;
  };
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    selector?: Record<string, string>;
    clusterIP?: string;
    loadBalancerIP?: string;
    loadBalancerSourceRanges?: string[];
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
    externalIPs?: string[];
    ports?: Array<{
      name?: string;
      port?: number;
      protocol?: string;
      targetPort?: number | string;
      nodePort?: number;
      appProtocol?: string;
    }>;
  };
  status?: unknown;
}

/** Why a member is not (fully) served; these are also the Ready condition's reasons. */
export type Reason =
  | 'Allocated'
  | 'WaitingForAddress'
  | 'NoCapacity'
  | 'PortConflict'
  | 'Invalid'
  | 'Forbidden'
  | 'NoMatchingPool'
  | 'QuotaExceeded';

export interface MemberPort {
  /** The Service port's name ("" for a lone unnamed port): the identity of a port. */
  name: string;
  protocol: Protocol;
  port: number;
}

/** A valid request to be placed. */
export interface MemberRequest {
  key: string; // namespace/name
  namespace: string;
  name: string;
  /** RFC 3339; earlier members win. */
  created: string;
  pool: string;
  policy: PortPolicy;
  ports: MemberPort[];
  /** The LB class it declared ('' = the pool's default): it lands only on LBs of exactly this class. */
  classKey: string;
  /** It accepts a new address when an admin repacks its pool (port-policy any, or sharedlb.io/movable). */
  movable?: boolean;
  /** Its namespace's quota in its pool, when the pool sets one: which entry, and its limits. */
  quota?: { name: string; limits: Quota };
}

/** What one namespace may take of a pool; a limit left out is no limit. */
export interface Quota {
  /** LB ports its members hold, together. */
  ports?: number;
  /** Members placed. */
  members?: number;
  /** Shared LBs it holds ports on. */
  loadBalancers?: number;
}

export type IPFamily = 'IPv4' | 'IPv6';

/**
 * What a member declares about how it may be reached, beyond its pool's
 * defaults. Each field is applied by a cloud or kube-proxy per Service, not
 * per port, so members that differ in any of them cannot share an LB. Only
 * declared deviations are recorded: the pool's template decides the rest, and
 * a template edit reaches every LB of the default class.
 */
export interface LBClass {
  /** Normalised CIDRs, sorted; each within the template's ranges, if it sets any. */
  sourceRanges?: string[];
  /** Only 'Local': the default is the template's (Cluster). */
  externalTrafficPolicy?: 'Local';
  /** ClientIP affinity with its timeout. */
  sessionAffinity?: { timeoutSeconds: number };
  /** The member's families, in its order, when they differ from the pool's. */
  ipFamilies?: IPFamily[];
}

export const CLASS_ATTRIBUTES = ['sourceRanges', 'externalTrafficPolicy', 'sessionAffinity', 'ipFamilies'] as const;
export type ClassAttribute = (typeof CLASS_ATTRIBUTES)[number];

/** One port of a shared LB: who holds it. This is what the LB Service records. */
export interface Assignment {
  port: number;
  protocol: Protocol;
  member: string; // namespace/name
  servicePort: string; // the member's port name
}

/** A shared LB as it exists (or as the allocator wants it). */
export interface LoadBalancerState {
  name: string;
  pool: string;
  /** Its LB class ('' = the pool's default). */
  classKey: string;
  assignments: Assignment[];
}

export interface PortRange {
  from: number;
  to: number;
}

export type ProviderName =
  | 'aws-nlb'
  | 'gcp'
  | 'azure'
  | 'digitalocean'
  | 'linode'
  | 'hetzner'
  | 'oci'
  | 'metallb'
  | 'generic';

/** How a provider bills, in list prices; see cost.ts for how each scope adds up. */
export interface Pricing {
  currency: string;
  /**
   * 'load-balancer': every LB is billed on its own.
   * 'project-region': forwarding rules are billed together per project and region (GCP).
   * 'cluster': the provider already puts every LoadBalancer Service of a cluster on one LB (AKS).
   */
  scope: 'load-balancer' | 'project-region' | 'cluster';
  /** Per LB (or per scope for 'project-region' and 'cluster'), per hour. */
  baseHourly: number;
  /** Rules included in the base price. */
  includedRules: number;
  /** Each rule beyond includedRules, per hour. */
  ruleHourly: number;
  /** Public IPv4 addresses one LB holds, and their price per hour each. */
  publicIPsPerLB: number;
  publicIPHourly: number;
  /** Flat monthly price per LB, for providers that bill by the month. */
  monthly: number;
  hoursPerMonth: number;
}

export interface Pool {
  name: string;
  default: boolean;
  provider: ProviderName;
  maxPortsPerLB: number;
  /** null: no limit. */
  maxLoadBalancers: number | null;
  portRange: PortRange;
  reservedPorts: number[];
  protocols: Protocol[];
  /** May one LB carry more than one protocol? */
  mixedProtocol: boolean;
  /** May one LB carry the same port number under two protocols (53/TCP and 53/UDP)? */
  samePortAcrossProtocols: boolean;
  /** GCP: place inside an LB's current port range first, so its forwarding rule is not rebuilt. */
  keepPortRange: boolean;
  /** Does every LB port take a NodePort (allocateLoadBalancerNodePorts not false)? */
  usesNodePorts: boolean;
  namespaceSelector: LabelSelector | null;
  /** Internal LBs are reachable only from the provider's private network; derived from the template per provider, or stated. */
  scope: 'internal' | 'external';
  /** Which member-declared LB classes this pool may build, and how many distinct ones (the default class included). */
  classes: { allow: ClassAttribute[]; max: number };
  /** Per-namespace limits: the first namespaces entry whose selector matches, else the default. */
  quotas: { default: Quota | null; namespaces: Array<{ selector: LabelSelector; quota: Quota }> };
  template: LoadBalancerTemplate;
  emptyLoadBalancerGraceSeconds: number;
  pricing: Pricing;
}

/** What the admin copies onto every shared LB; members never set any of this. */
export interface LoadBalancerTemplate {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  loadBalancerClass?: string;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  loadBalancerSourceRanges?: string[];
  allocateLoadBalancerNodePorts?: boolean;
  ipFamilies?: Array<'IPv4' | 'IPv6'>;
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
}
