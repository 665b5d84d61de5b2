// LB classes: what a member declares about how it may be reached, and
// whether a pool may build an LB that honours it. A member may narrow how it
// is reached, never widen an LB or choose what kind of LB is built; whatever
// it declares is either honoured (it lands only on LBs of exactly its class)
// or refused with a reason. Nothing is dropped silently.
//
// Each attribute here is applied per Service, not per port, by the component
// that reads it, so members differing in one cannot share an LB:
// - source ranges: kube-proxy filters per Service (pkg/proxy/serviceport.go,
//   loadBalancerSourceRanges), clouds per LB (security groups, firewall rules);
// - externalTrafficPolicy Local: kube-proxy's health check answers per Service
//   with its local endpoints across all ports (pkg/proxy/endpointschangetracker.go,
//   LocalReadyEndpoints), so a shared LB's one health check cannot speak for
//   each member: a Local member needs an LB of its own;
// - sessionAffinity: kube-proxy keeps affinity per Service port with one timeout;
// - ipFamilies: kube-proxy programs a Service only for the families it has
//   ClusterIPs of, so an IPv6 member on an IPv4 LB gets no traffic.

import ipaddr from 'ipaddr.js';
import type { ClassAttribute, IPFamily, LBClass, LoadBalancerTemplate, Pool, ProviderName, ServiceLike } from './types.ts';

const SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';
const DEFAULT_AFFINITY_TIMEOUT = 10800;

/**
 * Annotations by which a Service asks its provider for an internal LB, with
 * the value that means internal (case-insensitive) and, where the provider
 * has one, the value that means external.
 */
const SCOPE_ANNOTATIONS: ReadonlyArray<{ annotation: string; internal: (v: string) => boolean; external?: (v: string) => boolean; providers: ProviderName[] }> = [
  // AWS Load Balancer Controller: scheme internal unless internet-facing (its default is internal).
  { annotation: 'service.beta.kubernetes.io/aws-load-balancer-scheme', internal: (v) => v === 'internal', external: (v) => v === 'internet-facing', providers: ['aws-nlb'] },
  // In-tree AWS provider: any value but "false" means internal.
  { annotation: 'service.beta.kubernetes.io/aws-load-balancer-internal', internal: (v) => v !== 'false', providers: ['aws-nlb'] },
  { annotation: 'networking.gke.io/load-balancer-type', internal: (v) => v === 'internal', external: (v) => v === 'external', providers: ['gcp'] },
  { annotation: 'cloud.google.com/load-balancer-type', internal: (v) => v === 'internal', external: (v) => v === 'external', providers: ['gcp'] },
  { annotation: 'service.beta.kubernetes.io/azure-load-balancer-internal', internal: (v) => v === 'true', external: (v) => v === 'false', providers: ['azure'] },
  { annotation: 'service.beta.kubernetes.io/oci-load-balancer-internal', internal: (v) => v === 'true', external: (v) => v === 'false', providers: ['oci'] },
  { annotation: 'oci-network-load-balancer.oraclecloud.com/internal', internal: (v) => v === 'true', external: (v) => v === 'false', providers: ['oci'] },
  { annotation: 'load-balancer.hetzner.cloud/disable-public-network', internal: (v) => v === 'true', external: (v) => v === 'false', providers: ['hetzner'] },
];

/** Annotations that ask for a particular address: a shared LB's address is its pool's, so these are refused. */
const ADDRESS_ANNOTATIONS: readonly string[] = [
  'metallb.universe.tf/loadBalancerIPs', 'metallb.io/loadBalancerIPs', 'metallb.universe.tf/address-pool', 'metallb.io/address-pool',
  'metallb.universe.tf/allow-shared-ip', 'metallb.io/allow-shared-ip',
  'service.beta.kubernetes.io/aws-load-balancer-eip-allocations', 'service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses',
  'service.beta.kubernetes.io/azure-load-balancer-ipv4', 'service.beta.kubernetes.io/azure-load-balancer-ipv6', 'service.beta.kubernetes.io/azure-pip-name',
  'networking.gke.io/load-balancer-ip-addresses', 'load-balancer.hetzner.cloud/ipv4', 'load-balancer.hetzner.cloud/ipv6',
];

/**
 * Prefixes of annotations that configure a cloud LB per Service. On a member
 * they would configure nothing (its LB is shared and built from the pool's
 * template), so any we do not honour is refused rather than ignored.
 */
const PROVIDER_PREFIXES: readonly string[] = [
  'service.beta.kubernetes.io/', 'networking.gke.io/', 'cloud.google.com/', 'load-balancer.hetzner.cloud/',
  'oci.oraclecloud.com/', 'oci-network-load-balancer.oraclecloud.com/', 'metallb.universe.tf/', 'metallb.io/',
  'kubernetes.digitalocean.com/', 'service.kubernetes.io/linode-', 'loadbalancer.openstack.org/',
];

/** Provider annotations that are about the member itself or honoured through its class, not about its LB. */
const HONOURED = new Set([SOURCE_RANGES_ANNOTATION, ...SCOPE_ANNOTATIONS.map((s) => s.annotation)]);

/** The class key: '' for the default class, else canonical JSON of what differs. */
export function classKey(c: LBClass): string {
  const out: LBClass = {};
  if (c.sourceRanges !== undefined) out.sourceRanges = c.sourceRanges;
  if (c.externalTrafficPolicy !== undefined) out.externalTrafficPolicy = c.externalTrafficPolicy;
  if (c.sessionAffinity !== undefined) out.sessionAffinity = { timeoutSeconds: c.sessionAffinity.timeoutSeconds };
  if (c.ipFamilies !== undefined) out.ipFamilies = c.ipFamilies;
  return Object.keys(out).length === 0 ? '' : JSON.stringify(out);
}

/** An LB of externalTrafficPolicy Local: one member each (its health check speaks for that member alone). */
export function isLocalClass(key: string): boolean {
  return parseClassKey(key).externalTrafficPolicy === 'Local';
}

export function parseClassKey(key: string): LBClass {
  if (key === '') return {};
  try {
    const v = JSON.parse(key) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as LBClass) : {};
  } catch {
    return {};
  }
}

/** Every attribute of a class in force on an LB of a pool: the template's, overlaid with what the class declares. */
export interface EffectiveClass {
  scope: 'internal' | 'external';
  sourceRanges: string[];
  externalTrafficPolicy: 'Cluster' | 'Local';
  sessionAffinity: 'None' | 'ClientIP';
  sessionAffinityTimeoutSeconds?: number;
  ipFamilies: IPFamily[];
}

export function effectiveClass(pool: Pool, key: string, defaultFamilies: IPFamily[] = ['IPv4']): EffectiveClass {
  const c = parseClassKey(key);
  return {
    scope: pool.scope,
    sourceRanges: c.sourceRanges ?? pool.template.loadBalancerSourceRanges ?? [],
    externalTrafficPolicy: c.externalTrafficPolicy ?? pool.template.externalTrafficPolicy ?? 'Cluster',
    sessionAffinity: c.sessionAffinity ? 'ClientIP' : 'None',
    ...(c.sessionAffinity ? { sessionAffinityTimeoutSeconds: c.sessionAffinity.timeoutSeconds } : {}),
    ipFamilies: c.ipFamilies ?? pool.template.ipFamilies ?? defaultFamilies,
  };
}

/**
 * Why a pool would no longer build an LB of this class (null: it would):
 * what the pool no longer allows, or ranges its template now narrows past.
 * For members frozen on such an LB, whose own declarations are unreadable.
 */
export function classRefusal(pool: Pool, key: string, defaultFamilies: IPFamily[]): string | null {
  const c = parseClassKey(key);
  const used: ClassAttribute[] = [];
  if (c.sourceRanges !== undefined) used.push('sourceRanges');
  if (c.externalTrafficPolicy !== undefined) used.push('externalTrafficPolicy');
  if (c.sessionAffinity !== undefined) used.push('sessionAffinity');
  if (c.ipFamilies !== undefined) used.push('ipFamilies');
  const refused = used.filter((a) => !pool.classes.allow.includes(a));
  if (refused.length > 0) return `pool ${pool.name} no longer builds LBs with ${refused.join(', ')}`;
  const base = (pool.template.loadBalancerSourceRanges ?? []).map(normalise);
  const outside = base.length === 0 ? [] : (c.sourceRanges ?? []).filter((r) => !base.some((b) => within(r, b)));
  if (outside.length > 0) return `source range ${outside.join(', ')} is outside pool ${pool.name}'s ${base.join(', ')}`;
  const open = uncoveredFamilies(c.sourceRanges ?? base, c.ipFamilies ?? templateFamilies(pool.template) ?? defaultFamilies);
  if (open.length > 0) return `pool ${pool.name}'s source ranges cover no ${open.join(' or ')} address`;
  return null;
}

/** A class in a few words, for a table: what differs from an external, open, Cluster, IPv4 LB ('-' when nothing). */
export function classText(c: EffectiveClass): string {
  const parts = [
    ...(c.scope === 'internal' ? ['internal'] : []),
    ...(c.sourceRanges.length > 0 ? [c.sourceRanges.join('+')] : []),
    ...(c.externalTrafficPolicy === 'Local' ? ['Local'] : []),
    ...(c.sessionAffinity === 'ClientIP' ? [`ClientIP ${c.sessionAffinityTimeoutSeconds ?? ''}s`] : []),
    ...(c.ipFamilies.join(',') !== 'IPv4' ? [c.ipFamilies.join(',')] : []),
  ];
  return parts.length === 0 ? '-' : parts.join(', ');
}

/** The scope a member asks for: 'internal', 'external', or null when it says nothing. */
export function declaredScope(annotations: Record<string, string>): 'internal' | 'external' | null {
  let scope: 'internal' | 'external' | null = null;
  for (const s of SCOPE_ANNOTATIONS) {
    const v = annotations[s.annotation];
    if (v === undefined) continue;
    const value = v.trim().toLowerCase();
    if (s.internal(value)) return 'internal';
    if (s.external?.(value)) scope = 'external';
  }
  return scope;
}

/** The scope a pool's LBs have: stated, or read from its template the way its provider's controller reads it. */
export function templateScope(provider: ProviderName, t: LoadBalancerTemplate): 'internal' | 'external' | null {
  const relevant = SCOPE_ANNOTATIONS.filter((s) => s.providers.includes(provider));
  if (relevant.length === 0) return null;
  const scope = declaredScope(Object.fromEntries(Object.entries(t.annotations).filter(([k]) => relevant.some((s) => s.annotation === k))));
  // The AWS Load Balancer Controller builds internal NLBs unless told internet-facing.
  if (provider === 'aws-nlb') return scope === 'external' ? 'external' : 'internal';
  return scope ?? 'external';
}

export type ClassParse = { ok: true; lbClass: LBClass } | { ok: false; reason: 'Invalid' | 'NoMatchingPool'; message: string };

/** Annotations or fields a member may not set at all on a shared LB, with why. */
export function refusedDeclarations(svc: ServiceLike): string | null {
  const annotations = svc.metadata?.annotations ?? {};
  const ip = svc.spec?.loadBalancerIP;
  if (ip !== undefined && ip !== '') return `spec.loadBalancerIP ${ip} asks for an address, but a shared LB's address belongs to its pool: remove it (sharedlb writes the address the member gets into sharedlb.io/address)`;
  const asks = Object.keys(annotations).filter((a) => ADDRESS_ANNOTATIONS.includes(a)).sort();
  if (asks.length > 0) return `${asks.join(', ')} chooses an address or address pool, which on a shared LB only its LoadBalancerPool's template may do: remove it`;
  const foreign = Object.keys(annotations).filter((a) => !HONOURED.has(a) && PROVIDER_PREFIXES.some((p) => a.startsWith(p))).sort();
  if (foreign.length > 0) return `${foreign.join(', ')} configures a cloud LB per Service, but a shared LB is built from its pool's template: remove it, or ask an admin for a LoadBalancerPool whose template sets it`;
  return null;
}

/**
 * The class a member declares on a given pool: its deviations from the pool's
 * defaults. Refused where it would widen the pool's LB (a source range
 * outside the template's) or where the pool does not build such LBs.
 */
export function memberClass(svc: ServiceLike, pool: Pool, defaultFamilies: IPFamily[]): ClassParse {
  const spec = svc.spec ?? {};
  const t = pool.template;
  const declared: LBClass = {};
  const used: ClassAttribute[] = [];

  const ranges = declaredRanges(svc);
  if (ranges !== null) {
    if (!ranges.ok) return { ok: false, reason: 'Invalid', message: ranges.message };
    const base = t.loadBalancerSourceRanges ?? [];
    const open = ranges.cidrs.length === 0 || ranges.cidrs.some(isZeroCIDR);
    if (open && base.length > 0) {
      return { ok: false, reason: 'Invalid', message: `the Service allows every source, but pool ${pool.name}'s LBs admit only ${base.join(', ')}; a member may narrow who reaches it, never widen its LB: remove the open range` };
    }
    if (!open && !sameSet(ranges.cidrs, base.map(normalise))) {
      const outside = base.length === 0 ? [] : ranges.cidrs.filter((c) => !base.some((b) => within(c, b)));
      if (outside.length > 0) {
        return { ok: false, reason: 'Invalid', message: `source range ${outside.join(', ')} is outside pool ${pool.name}'s ${base.join(', ')}; a member may narrow who reaches it, never widen its LB` };
      }
      declared.sourceRanges = ranges.cidrs;
      used.push('sourceRanges');
    }
  }

  if (spec.externalTrafficPolicy === 'Local' && t.externalTrafficPolicy !== 'Local') {
    declared.externalTrafficPolicy = 'Local';
    used.push('externalTrafficPolicy');
  }

  if (spec.sessionAffinity === 'ClientIP') {
    const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
    declared.sessionAffinity = { timeoutSeconds: timeout };
    used.push('sessionAffinity');
  }

  const families = (spec.ipFamilies ?? []).filter((f): f is IPFamily => f === 'IPv4' || f === 'IPv6');
  const poolFamilies = t.ipFamilies ?? defaultFamilies;
  if (families.length > 0 && families.join(',') !== poolFamilies.join(',')) {
    declared.ipFamilies = families;
    used.push('ipFamilies');
  }

  // kube-proxy and the clouds filter sources per family: a family without a range of its own is open to all.
  const effectiveRanges = declared.sourceRanges ?? (t.loadBalancerSourceRanges ?? []).map(normalise);
  const effectiveFamilies = declared.ipFamilies ?? templateFamilies(t) ?? defaultFamilies;
  const open = uncoveredFamilies(effectiveRanges, effectiveFamilies);
  if (open.length > 0) {
    const whose = declared.sourceRanges !== undefined ? 'the Service\'s source ranges' : `pool ${pool.name}'s source ranges`;
    return {
      ok: false,
      reason: declared.sourceRanges !== undefined ? 'Invalid' : 'NoMatchingPool',
      message: `${whose} (${effectiveRanges.join(', ')}) cover no ${open.join(' or ')} address, so an LB of family ${effectiveFamilies.join(',')} would admit every ${open.join(' and ')} source: ${declared.sourceRanges !== undefined ? `add a range of that family or ask for ${effectiveFamilies.filter((f) => !open.includes(f)).join(',') || 'another family'} only` : 'choose a pool whose template has ranges for that family, or ask an admin to add them'}`,
    };
  }

  const refused = used.filter((a) => !pool.classes.allow.includes(a));
  if (refused.length > 0) {
    const why: Record<ClassAttribute, string> = {
      sourceRanges: `source ranges ${declared.sourceRanges?.join(', ')}`,
      externalTrafficPolicy: 'externalTrafficPolicy Local (an LB of its own: a shared LB has one health check, which kube-proxy answers for all of the LB\'s members together)',
      sessionAffinity: `sessionAffinity ClientIP (${declared.sessionAffinity?.timeoutSeconds} s)`,
      ipFamilies: `IP families ${declared.ipFamilies?.join(',')} (the pool's LBs are ${poolFamilies.join(',')})`,
    };
    return {
      ok: false,
      reason: 'NoMatchingPool',
      message: `pool ${pool.name} does not build LBs with ${refused.map((a) => why[a]).join(' or ')}: choose a pool whose spec.classes.allow lists ${refused.join(', ')}, ask an admin to allow it, or remove it from the Service`,
    };
  }
  return { ok: true, lbClass: declared };
}

/**
 * The families a template asks for, where it says: a dual-stack policy may
 * give both on a dual-stack cluster, so it counts as both. Null: the
 * cluster's default decides.
 */
export function templateFamilies(t: LoadBalancerTemplate): IPFamily[] | null {
  if (t.ipFamilyPolicy === 'PreferDualStack' || t.ipFamilyPolicy === 'RequireDualStack') return ['IPv4', 'IPv6'];
  return t.ipFamilies ?? null;
}

/** Families an LB would have that none of the (non-empty) ranges restrict. */
export function uncoveredFamilies(ranges: readonly string[], families: readonly IPFamily[]): IPFamily[] {
  if (ranges.length === 0) return [];
  const kinds = new Set(ranges.map((r) => (ipaddr.isValidCIDR(r) && ipaddr.parseCIDR(r)[0].kind() === 'ipv6' ? 'IPv6' : 'IPv4')));
  return families.filter((f) => !kinds.has(f));
}

type Ranges = { ok: true; cidrs: string[] } | { ok: false; message: string };

/** The member's source ranges (the field wins over the annotation, as for the clouds), or null if it declares none. */
function declaredRanges(svc: ServiceLike): Ranges | null {
  const field = svc.spec?.loadBalancerSourceRanges;
  const text = svc.metadata?.annotations?.[SOURCE_RANGES_ANNOTATION];
  let raw: string[];
  let where: string;
  if (field !== undefined && field.length > 0) {
    raw = field;
    where = 'spec.loadBalancerSourceRanges';
  } else if (text !== undefined) {
    raw = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    where = SOURCE_RANGES_ANNOTATION;
  } else {
    return null;
  }
  const cidrs: string[] = [];
  for (const r of raw) {
    if (!ipaddr.isValidCIDR(r)) return { ok: false, message: `${where}: ${JSON.stringify(r)} is not a CIDR such as 203.0.113.0/24` };
    cidrs.push(normalise(r));
  }
  return { ok: true, cidrs: [...new Set(cidrs)].sort() };
}

/** 10.1.2.3/8 → 10.0.0.0/8, and IPv6 in its shortest form. */
export function normalise(cidr: string): string {
  const [addr, bits] = ipaddr.parseCIDR(cidr);
  const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return `${net.toString()}/${bits}`;
}

function isZeroCIDR(cidr: string): boolean {
  return cidr.endsWith('/0');
}

/** Is every address of `inner` inside `outer`? */
export function within(inner: string, outer: string): boolean {
  if (!ipaddr.isValidCIDR(outer)) return false;
  const [a, abits] = ipaddr.parseCIDR(inner);
  const [b, bbits] = ipaddr.parseCIDR(outer);
  return a.kind() === b.kind() && abits >= bbits && a.match([b, bbits]);
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...b].sort().every((x, i) => x === a[i]);
}

/**
 * The family a Service gets when it asks for none is the cluster's primary
 * one, which the API server's own Service (default/kubernetes) shows.
 */
export function clusterIPFamilies(services: ServiceLike[]): IPFamily[] {
  const api = services.find((s) => s.metadata?.namespace === 'default' && s.metadata.name === 'kubernetes');
  const first = api?.spec?.ipFamilies?.[0];
  return [first === 'IPv6' ? 'IPv6' : 'IPv4'];
}
