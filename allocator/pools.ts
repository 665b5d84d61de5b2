// LoadBalancerPool manifests → Pool values: the profile's defaults, then the
// admin's overrides, each checked. A pool with problems is not used at all
// (members naming it are told why), because a half-understood pool could
// build the wrong kind of LB.

import { templateFamilies, templateScope, uncoveredFamilies } from './classes.ts';
import { PROFILES, PROVIDER_NAMES, isProviderName } from './profiles.ts';
import { matchesSelector, selectorProblems } from './selector.ts';
import { CLASS_ATTRIBUTES, PROTOCOLS, type ClassAttribute, type LabelSelector, type LoadBalancerTemplate, type Pool, type Pricing, type Protocol, type ProviderName, type Quota } from './types.ts';

export const POOL_API_VERSION = 'sharedlb.io/v1alpha1';
export const POOL_KIND = 'LoadBalancerPool';

export const DEFAULT_PORT_RANGE = { from: 10000, to: 65535 } as const;
export const DEFAULT_EMPTY_GRACE_SECONDS = 300;
/**
 * What members may declare unless the pool says otherwise: narrowing that
 * costs at most an LB per distinct class, up to DEFAULT_MAX_CLASSES classes.
 * externalTrafficPolicy Local is not among them: it takes an LB per member.
 */
export const DEFAULT_CLASS_ALLOW: readonly ClassAttribute[] = ['sourceRanges', 'sessionAffinity', 'ipFamilies'];
export const DEFAULT_MAX_CLASSES = 4;

const AWS_SCHEME = 'service.beta.kubernetes.io/aws-load-balancer-scheme';
const AWS_TARGET_TYPE = 'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type';
/** Availability zones assumed for an internet-facing NLB unless pricing.publicIPsPerLB says otherwise. */
export const AWS_DEFAULT_AZS = 3;

export type PoolParse = { ok: true; pool: Pool } | { ok: false; name: string; problems: string[] };

/** The pools a controller or planner works with, and whether the default is usable. */
export interface PoolSet {
  pools: Map<string, Pool>;
  /** Pools whose spec is broken, by name, with what is wrong. */
  broken: Map<string, string[]>;
  defaultPool: Pool | null;
  /** Why there is no default pool to fall back on, said to members without sharedlb.io/pool. */
  noDefaultReason: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

/** Parse one LoadBalancerPool object (as the API server or a YAML file holds it). */
export function parsePool(obj: unknown): PoolParse {
  const o = isObj(obj) ? obj : {};
  const metadata = isObj(o.metadata) ? o.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  const problems: string[] = [];
  if (o.apiVersion !== POOL_API_VERSION || o.kind !== POOL_KIND) {
    problems.push(`expected apiVersion ${POOL_API_VERSION} and kind ${POOL_KIND}`);
  }
  if (!/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/.test(name)) {
    problems.push('metadata.name must be a DNS label of at most 42 characters (shared LBs are named <pool>-<n>)');
  }
  const spec = o.spec === undefined ? {} : o.spec;
  if (!isObj(spec)) return { ok: false, name, problems: [...problems, 'spec must be an object'] };

  const provider = spec.provider ?? 'generic';
  if (typeof provider !== 'string' || !isProviderName(provider)) {
    problems.push(`spec.provider must be one of ${PROVIDER_NAMES.join(', ')}`);
    return { ok: false, name, problems };
  }
  const profile = PROFILES[provider];
  const known = new Set([
    'default', 'provider', 'maxPortsPerLB', 'maxLoadBalancers', 'portRange', 'reservedPorts', 'protocols',
    'mixedProtocol', 'samePortAcrossProtocols', 'keepPortRange', 'namespaceSelector', 'template',
    'emptyLoadBalancerGraceSeconds', 'pricing', 'scope', 'classes', 'quotas',
  ]);
  for (const k of Object.keys(spec)) if (!known.has(k)) problems.push(`spec.${k} is not a LoadBalancerPool field`);

  const bool = (field: string, dflt: boolean): boolean => {
    const v = spec[field];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') problems.push(`spec.${field} must be true or false`);
    return v === true;
  };
  const posInt = (field: string, dflt: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = spec[field];
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) {
      problems.push(`spec.${field} must be an integer from 1 to ${max}`);
      return dflt;
    }
    return v as number;
  };

  const portRange: Pool['portRange'] = { ...DEFAULT_PORT_RANGE };
  if (spec.portRange !== undefined) {
    const r = spec.portRange;
    if (!isObj(r) || !isPort(r.from) || !isPort(r.to) || r.from > r.to) {
      problems.push('spec.portRange must be {from, to} with 1 <= from <= to <= 65535');
    } else {
      portRange.from = r.from;
      portRange.to = r.to;
    }
  }
  let reservedPorts: number[] = [];
  if (spec.reservedPorts !== undefined) {
    if (!Array.isArray(spec.reservedPorts) || !spec.reservedPorts.every(isPort)) {
      problems.push('spec.reservedPorts must be a list of port numbers');
    } else {
      reservedPorts = [...new Set(spec.reservedPorts as number[])].sort((a, b) => a - b);
    }
  }
  let protocols: Protocol[] = [...profile.protocols];
  if (spec.protocols !== undefined) {
    const ps = spec.protocols;
    if (!Array.isArray(ps) || ps.length === 0 || !ps.every((p) => PROTOCOLS.includes(p as Protocol))) {
      problems.push(`spec.protocols must be a non-empty list of ${PROTOCOLS.join(', ')}`);
    } else {
      protocols = PROTOCOLS.filter((p) => ps.includes(p));
    }
  }
  let maxLoadBalancers: number | null = null;
  if (spec.maxLoadBalancers !== undefined && spec.maxLoadBalancers !== null) {
    maxLoadBalancers = posInt('maxLoadBalancers', 1);
  }
  let namespaceSelector = null;
  if (spec.namespaceSelector !== undefined && spec.namespaceSelector !== null) {
    const sp = selectorProblems(spec.namespaceSelector, 'spec.namespaceSelector');
    if (sp.length > 0) problems.push(...sp);
    else namespaceSelector = spec.namespaceSelector as Pool['namespaceSelector'];
  }
  const quotas = parseQuotas(spec.quotas, problems);
  const template = parseTemplate(spec.template, problems);
  // MetalLB puts LoadBalancer Services carrying one allow-shared-ip key on one address when their ports differ
  // (controller/service.go, AnnotationAllowSharedIP): every LB of the pool would then share an address, and
  // sharedlb's placement — two LBs are two addresses, so one port number serves two members — would not hold.
  const sharedIP = Object.keys(template.annotations).find((a) => a === 'metallb.io/allow-shared-ip' || a === 'metallb.universe.tf/allow-shared-ip');
  if (sharedIP !== undefined) {
    problems.push(`spec.template.annotations: ${sharedIP} would put the pool's LBs on one address, where sharedlb places members on the understanding that two LBs are two addresses; remove it (sharing is what sharedlb does)`);
  }
  if (provider === 'aws-nlb' && template.annotations[AWS_TARGET_TYPE]?.trim().toLowerCase() === 'ip') {
    // kubernetes-sigs/aws-load-balancer-controller pkg/backend/endpoint_resolver.go: endpoints whose
    // targetRef is not a Pod are skipped, and the Pod is looked up in the Service's own namespace.
    // A shared LB's endpoints are mirrored into sharedlb's namespace without one: nothing would register.
    problems.push(`spec.template.annotations: ${AWS_TARGET_TYPE} ip cannot work for a shared LB (the AWS Load Balancer Controller registers only Pod endpoints of the Service's own namespace, and a shared LB's endpoints are its members'): use instance, which reaches members through NodePorts`);
  }
  const scope = parseScope(provider, template, spec.scope, problems);
  const classes = parseClasses(spec.classes, problems);
  const pricing = parsePricing(provider, profile.pricing, template, spec.pricing, problems);
  let emptyLoadBalancerGraceSeconds = DEFAULT_EMPTY_GRACE_SECONDS;
  if (spec.emptyLoadBalancerGraceSeconds !== undefined) {
    const g = spec.emptyLoadBalancerGraceSeconds;
    if (!Number.isInteger(g) || (g as number) < 0) problems.push('spec.emptyLoadBalancerGraceSeconds must be an integer >= 0');
    else emptyLoadBalancerGraceSeconds = g as number;
  }

  const pool: Pool = {
    name,
    default: bool('default', false),
    provider,
    maxPortsPerLB: posInt('maxPortsPerLB', profile.maxPortsPerLB, 65535),
    maxLoadBalancers,
    portRange,
    reservedPorts,
    protocols,
    mixedProtocol: bool('mixedProtocol', profile.mixedProtocol),
    samePortAcrossProtocols: bool('samePortAcrossProtocols', profile.samePortAcrossProtocols),
    keepPortRange: bool('keepPortRange', profile.keepPortRange),
    usesNodePorts: template.allocateLoadBalancerNodePorts !== false,
    namespaceSelector,
    quotas,
    scope,
    classes,
    template,
    emptyLoadBalancerGraceSeconds,
    pricing,
  };
  const free = portRange.to - portRange.from + 1 - reservedPorts.filter((p) => p >= portRange.from && p <= portRange.to).length;
  if (free < 1) problems.push('spec.portRange holds no port that is not reserved');
  return problems.length > 0 ? { ok: false, name, problems } : { ok: true, pool };
}

const QUOTA_FIELDS = ['ports', 'members', 'loadBalancers'] as const;

function parseQuota(v: unknown, where: string, problems: string[]): Quota | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    problems.push(`${where} must be an object of ${QUOTA_FIELDS.join(', ')}`);
    return null;
  }
  const q: Quota = {};
  for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
    if (k === 'selector' && where.includes('namespaces[')) continue;
    if (!(QUOTA_FIELDS as readonly string[]).includes(k)) problems.push(`${where}.${k} is not a quota (${QUOTA_FIELDS.join(', ')})`);
    else if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) problems.push(`${where}.${k} must be a whole number from 0`);
    else q[k as keyof Quota] = n;
  }
  return q;
}

/** spec.quotas: a default per namespace, and entries for namespaces a selector picks (the first that matches). */
function parseQuotas(v: unknown, problems: string[]): Pool['quotas'] {
  const out: Pool['quotas'] = { default: null, namespaces: [] };
  if (v === undefined || v === null) return out;
  if (typeof v !== 'object' || Array.isArray(v)) {
    problems.push('spec.quotas must be an object with default and/or namespaces');
    return out;
  }
  const { default: d, namespaces, ...rest } = v as Record<string, unknown>;
  for (const k of Object.keys(rest)) problems.push(`spec.quotas.${k} is not a quotas field (default, namespaces)`);
  if (d !== undefined) out.default = parseQuota(d, 'spec.quotas.default', problems);
  if (namespaces !== undefined) {
    if (!Array.isArray(namespaces)) problems.push('spec.quotas.namespaces must be a list');
    else {
      for (const [i, e] of namespaces.entries()) {
        const where = `spec.quotas.namespaces[${i}]`;
        const sel = (e as { selector?: unknown } | null)?.selector;
        const sp = selectorProblems(sel, `${where}.selector`);
        const q = parseQuota(e, where, problems);
        if (sp.length > 0) problems.push(...sp);
        else if (q !== null) out.namespaces.push({ selector: sel as LabelSelector, quota: q });
      }
    }
  }
  return out;
}

/** A namespace's quota in a pool: which entry, and its limits; null when the pool sets none for it. */
export function quotaFor(pool: Pool, labels: Record<string, string>): { name: string; limits: Quota } | null {
  const i = pool.quotas.namespaces.findIndex((e) => matchesSelector(e.selector, labels));
  if (i >= 0) return { name: `namespaces[${i}]`, limits: pool.quotas.namespaces[i]?.quota as Quota };
  return pool.quotas.default === null ? null : { name: 'default', limits: pool.quotas.default };
}

function parseTemplate(t: unknown, problems: string[]): LoadBalancerTemplate {
  const out: LoadBalancerTemplate = { labels: {}, annotations: {} };
  if (t === undefined || t === null) return out;
  if (!isObj(t)) {
    problems.push('spec.template must be an object');
    return out;
  }
  const known = new Set([
    'labels', 'annotations', 'loadBalancerClass', 'externalTrafficPolicy', 'loadBalancerSourceRanges',
    'allocateLoadBalancerNodePorts', 'ipFamilies', 'ipFamilyPolicy',
  ]);
  for (const k of Object.keys(t)) if (!known.has(k)) problems.push(`spec.template.${k} is not a template field`);
  for (const field of ['labels', 'annotations'] as const) {
    const m = t[field];
    if (m === undefined) continue;
    if (!isObj(m) || !Object.values(m).every((v) => typeof v === 'string')) {
      problems.push(`spec.template.${field} must be a map of strings`);
    } else {
      out[field] = { ...(m as Record<string, string>) };
    }
  }
  if (t.loadBalancerClass !== undefined) {
    if (typeof t.loadBalancerClass !== 'string' || t.loadBalancerClass === '') problems.push('spec.template.loadBalancerClass must be a string');
    else out.loadBalancerClass = t.loadBalancerClass;
  }
  if (t.externalTrafficPolicy !== undefined) {
    if (t.externalTrafficPolicy === 'Local') {
      // kube-proxy answers a Service's health check with its local endpoints across all ports
      // (pkg/proxy/endpointschangetracker.go LocalReadyEndpoints): a node with any member's pod
      // passes the cloud's check and drops traffic for members with no pod there.
      problems.push('spec.template.externalTrafficPolicy Local cannot work on a shared LB: its one health check speaks for all members together, so nodes without a member\'s pods would receive its traffic and drop it. Use Cluster, and let members that need Local declare it (spec.classes.allow: [externalTrafficPolicy] gives each an LB of its own)');
    } else if (t.externalTrafficPolicy !== 'Cluster') {
      problems.push('spec.template.externalTrafficPolicy must be Cluster');
    } else out.externalTrafficPolicy = t.externalTrafficPolicy;
  }
  if (t.loadBalancerSourceRanges !== undefined) {
    const r = t.loadBalancerSourceRanges;
    if (!Array.isArray(r) || !r.every((c) => typeof c === 'string' && /^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c))) {
      problems.push('spec.template.loadBalancerSourceRanges must be a list of CIDRs');
    } else out.loadBalancerSourceRanges = [...r];
  }
  if (t.allocateLoadBalancerNodePorts !== undefined) {
    if (typeof t.allocateLoadBalancerNodePorts !== 'boolean') problems.push('spec.template.allocateLoadBalancerNodePorts must be true or false');
    else out.allocateLoadBalancerNodePorts = t.allocateLoadBalancerNodePorts;
  }
  if (t.ipFamilies !== undefined) {
    const f = t.ipFamilies;
    if (!Array.isArray(f) || f.length < 1 || f.length > 2 || !f.every((x) => x === 'IPv4' || x === 'IPv6')) {
      problems.push('spec.template.ipFamilies must list IPv4 and/or IPv6');
    } else out.ipFamilies = [...f];
  }
  if (t.ipFamilyPolicy !== undefined) {
    if (!['SingleStack', 'PreferDualStack', 'RequireDualStack'].includes(t.ipFamilyPolicy as string)) {
      problems.push('spec.template.ipFamilyPolicy must be SingleStack, PreferDualStack or RequireDualStack');
    } else out.ipFamilyPolicy = t.ipFamilyPolicy as LoadBalancerTemplate['ipFamilyPolicy'];
  }
  const open = uncoveredFamilies(out.loadBalancerSourceRanges ?? [], templateFamilies(out) ?? []);
  if (open.length > 0) {
    problems.push(`spec.template.loadBalancerSourceRanges cover no ${open.join(' or ')} address, but the template builds ${open.join(' and ')} LBs, which would admit every such source (source ranges apply per family): add ranges of that family or drop it from spec.template.ipFamilies/ipFamilyPolicy`);
  }
  return out;
}

function parseScope(provider: ProviderName, t: LoadBalancerTemplate, stated: unknown, problems: string[]): Pool['scope'] {
  const derived = templateScope(provider, t);
  if (stated === undefined) return derived ?? 'external';
  if (stated !== 'internal' && stated !== 'external') {
    problems.push('spec.scope must be internal or external');
    return derived ?? 'external';
  }
  if (derived !== null && derived !== stated) {
    problems.push(`spec.scope is ${stated} but the template builds ${derived} ${provider} LBs: set the provider's scope annotation in spec.template.annotations to match`);
  }
  return stated;
}

function parseClasses(c: unknown, problems: string[]): Pool['classes'] {
  const out: Pool['classes'] = { allow: [...DEFAULT_CLASS_ALLOW], max: DEFAULT_MAX_CLASSES };
  if (c === undefined || c === null) return out;
  if (!isObj(c)) {
    problems.push('spec.classes must be an object with allow and max');
    return out;
  }
  for (const k of Object.keys(c)) if (k !== 'allow' && k !== 'max') problems.push(`spec.classes.${k} is not a field (allow, max)`);
  if (c.allow !== undefined) {
    if (!Array.isArray(c.allow) || !c.allow.every((a) => CLASS_ATTRIBUTES.includes(a as ClassAttribute))) {
      problems.push(`spec.classes.allow must list some of ${CLASS_ATTRIBUTES.join(', ')}`);
    } else out.allow = CLASS_ATTRIBUTES.filter((a) => (c.allow as unknown[]).includes(a));
  }
  if (c.max !== undefined) {
    if (!Number.isInteger(c.max) || (c.max as number) < 1) problems.push('spec.classes.max must be an integer >= 1 (the default class counts as one)');
    else out.max = c.max as number;
  }
  return out;
}

function parsePricing(provider: ProviderName, base: Pricing, template: LoadBalancerTemplate, p: unknown, problems: string[]): Pricing {
  const out: Pricing = { ...base };
  if (provider === 'aws-nlb') {
    out.publicIPsPerLB = template.annotations[AWS_SCHEME] === 'internet-facing' ? AWS_DEFAULT_AZS : 0;
  }
  if (p === undefined || p === null) return out;
  if (!isObj(p)) {
    problems.push('spec.pricing must be an object');
    return out;
  }
  for (const [k, v] of Object.entries(p)) {
    if (k === 'currency') {
      if (typeof v !== 'string' || !/^[A-Z]{3}$/.test(v)) problems.push('spec.pricing.currency must be an ISO 4217 code such as USD');
      else out.currency = v;
    } else if (k === 'scope') {
      if (v !== 'load-balancer' && v !== 'project-region' && v !== 'cluster') {
        problems.push('spec.pricing.scope must be load-balancer, project-region or cluster');
      } else out.scope = v;
    } else if (['baseHourly', 'includedRules', 'ruleHourly', 'publicIPsPerLB', 'publicIPHourly', 'monthly', 'hoursPerMonth'].includes(k)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) problems.push(`spec.pricing.${k} must be a number >= 0`);
      else (out as unknown as Record<string, number>)[k] = v;
    } else {
      problems.push(`spec.pricing.${k} is not a pricing field`);
    }
  }
  return out;
}

/** The pool `sharedlb plan` uses when given no pool file: the provider's profile, as one default pool. */
export function implicitPool(provider: ProviderName, maxPorts?: number): Pool {
  const spec: Obj = { default: true, provider };
  if (maxPorts !== undefined) spec.maxPortsPerLB = maxPorts;
  // An NLB that members reach from outside is internet-facing; say so, so its public IPv4s are priced.
  if (provider === 'aws-nlb') spec.template = { annotations: { [AWS_SCHEME]: 'internet-facing' } };
  const r = parsePool({ apiVersion: POOL_API_VERSION, kind: POOL_KIND, metadata: { name: 'default' }, spec });
  if (!r.ok) throw new Error(`built-in pool for ${provider}: ${r.problems.join('; ')}`);
  return r.pool;
}

/** Gather parsed pools into a set, deciding the default pool. */
export function poolSet(parsed: PoolParse[]): PoolSet {
  const pools = new Map<string, Pool>();
  const broken = new Map<string, string[]>();
  for (const p of parsed) {
    if (p.ok) pools.set(p.pool.name, p.pool);
    else broken.set(p.name, p.problems);
  }
  const defaults = [...pools.values()].filter((p) => p.default).map((p) => p.name).sort();
  let noDefaultReason = '';
  if (defaults.length === 0) {
    noDefaultReason = pools.size === 0 && broken.size === 0
      ? 'no LoadBalancerPool exists: ask an admin to create one'
      : 'no LoadBalancerPool is marked default: set sharedlb.io/pool';
  } else if (defaults.length > 1) {
    noDefaultReason = `more than one LoadBalancerPool is marked default (${defaults.join(', ')}): set sharedlb.io/pool, or ask an admin to keep one default`;
  }
  const defaultPool = defaults.length === 1 ? (pools.get(defaults[0] as string) ?? null) : null;
  return { pools, broken, defaultPool, noDefaultReason };
}
