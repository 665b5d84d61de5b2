// Service → member request. A Service that opted in either becomes a request
// the allocator can place or is rejected with a reason a person can act on;
// nothing is silently ignored, and one Service's mistake never reaches
// another's placement.

import { CONTROLLER_ANNOTATIONS, DEFAULT_CLASS, ENABLED, GROUP, MOVABLE, PORT_POLICY, POOL, USER_ANNOTATIONS } from './annotations.ts';
import { classKey, declaredScope, memberClass, refusedDeclarations } from './classes.ts';
import { quotaFor, type PoolSet } from './pools.ts';
import { matchesSelector } from './selector.ts';
import { PROTOCOLS, type IPFamily, type MemberPort, type MemberRequest, type Pool, type PortPolicy, type Protocol, type ServiceLike } from './types.ts';

export type MemberParse =
  | { kind: 'ignored' }
  | { kind: 'member'; request: MemberRequest }
  | {
      kind: 'rejected';
      key: string;
      namespace: string;
      name: string;
      created: string;
      /** The pool it asked for or would default to, when known. */
      pool: string | null;
      reason: RejectReason;
      message: string;
    };

/** Invalid: fix the Service. Forbidden: the namespace may not use the pool. NoMatchingPool: no pool builds the LB it declares. */
export type RejectReason = 'Invalid' | 'Forbidden' | 'NoMatchingPool';

export interface ParseOptions {
  /** spec.loadBalancerClass that opts a LoadBalancer Service in. */
  className?: string;
  /** Labels of the Service's namespace, for pools' namespaceSelector. */
  namespaceLabels?: Record<string, string>;
  /** The IP families a Service gets when it asks for none (the cluster's primary service CIDR's). */
  defaultIPFamilies?: IPFamily[];
}

const POLICIES: readonly PortPolicy[] = ['preserve', 'prefer', 'any'];
const OURS = new Set([...USER_ANNOTATIONS, ...CONTROLLER_ANNOTATIONS]);
const PREFIX = `${GROUP}/`;

export function serviceKey(svc: ServiceLike): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
}

// One spelling for every timestamp, so that string order is time order.
function timestamp(t: string | Date | undefined): string {
  if (t === undefined) return '';
  // The API server's own spelling, 2025-01-01T00:00:00Z, without a Date round trip.
  if (typeof t === 'string' && t.length === 20 && t[19] === 'Z' && t[10] === 'T') return `${t.slice(0, 19)}.000Z`;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export function parseMember(svc: ServiceLike, pools: PoolSet, opts: ParseOptions = {}): MemberParse {
  const className = opts.className ?? DEFAULT_CLASS;
  const namespace = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name ?? '';
  const key = `${namespace}/${name}`;
  const created = timestamp(svc.metadata?.creationTimestamp);
  const annotations = svc.metadata?.annotations ?? {};
  const type = svc.spec?.type ?? 'ClusterIP';
  const byClass = type === 'LoadBalancer' && svc.spec?.loadBalancerClass === className;
  const enabled = annotations[ENABLED];
  const poolName = annotations[POOL] ?? pools.defaultPool?.name ?? null;
  const reject = (message: string, reason: RejectReason = 'Invalid'): MemberParse => ({
    kind: 'rejected', key, namespace, name, created, pool: poolName, reason, message,
  });

  if (!byClass) {
    if (enabled === undefined) {
      // Someone meant to configure sharing but never opted in (or misspelt the
      // opt-in): say so rather than ignore it.
      const stray = Object.keys(annotations).filter((a) => a.startsWith(PREFIX) && !CONTROLLER_ANNOTATIONS.includes(a)).sort();
      if (stray.length === 0) return { kind: 'ignored' };
      return reject(`${stray.join(' and ')} is set but the Service has not opted in: add ${ENABLED}: "true" or remove it`);
    }
    if (enabled === 'false') return { kind: 'ignored' };
  }
  if (enabled !== undefined && enabled !== 'true' && enabled !== 'false') {
    return reject(`${ENABLED} must be "true" or "false", not ${JSON.stringify(enabled)}`);
  }
  if (byClass && enabled === 'false') {
    return reject(`${ENABLED} is "false" but spec.loadBalancerClass is ${className}, which only sharedlb serves: remove the annotation, or recreate the Service without the class`);
  }
  if (!byClass) {
    if (type === 'LoadBalancer') {
      const cls = svc.spec?.loadBalancerClass;
      return reject(
        cls === undefined
          ? `a type LoadBalancer Service gets a dedicated cloud LB from the cloud's controller even with ${ENABLED}; use spec.loadBalancerClass: ${className} (it cannot be added to an existing Service: recreate it) or change spec.type to ClusterIP`
          : `spec.loadBalancerClass ${cls} belongs to another controller; use ${className} (recreate the Service) or change spec.type to ClusterIP`,
      );
    }
    if (type !== 'ClusterIP' && type !== 'NodePort') {
      return reject(`a Service of type ${type} cannot be shared: only ClusterIP and NodePort Services (with ${ENABLED}) or LoadBalancer Services of class ${className} can`);
    }
  }

  const unknown = Object.keys(annotations).filter((a) => a.startsWith(PREFIX) && !OURS.has(a)).sort();
  if (unknown.length > 0) {
    return reject(`unknown annotation ${unknown.join(', ')}: sharedlb reads ${USER_ANNOTATIONS.join(', ')}`);
  }

  const refused = refusedDeclarations(svc);
  if (refused !== null) return reject(refused);
  const movable = annotations[MOVABLE];
  if (movable !== undefined && movable !== 'true' && movable !== 'false') return reject(`${MOVABLE} must be "true" or "false", not ${JSON.stringify(movable)}`);

  const policyText = annotations[PORT_POLICY];
  let policy: PortPolicy = byClass ? 'preserve' : 'prefer';
  if (policyText !== undefined) {
    if (!POLICIES.includes(policyText as PortPolicy)) {
      return reject(`${PORT_POLICY} must be one of ${POLICIES.join(', ')}, not ${JSON.stringify(policyText)}`);
    }
    policy = policyText as PortPolicy;
  }

  const chosen = choosePool(annotations, pools, namespace, opts.namespaceLabels ?? { 'kubernetes.io/metadata.name': namespace });
  if ('reason' in chosen) return reject(chosen.message, chosen.reason);
  const pool = chosen.pool;

  const specPorts = svc.spec?.ports ?? [];
  if (specPorts.length === 0) return reject('the Service has no ports: there is nothing to expose');
  const ports: MemberPort[] = [];
  const names: string[] = []; // a handful: an array beats a Set here
  for (let i = 0; i < specPorts.length; i++) {
    const p = specPorts[i] as NonNullable<typeof specPorts>[number];
    const label = p.name ? `port ${JSON.stringify(p.name)}` : `spec.ports[${i}]`;
    const portName = p.name ?? '';
    if (names.includes(portName)) return reject(`${label}: two ports share the name ${JSON.stringify(portName)}; name every port uniquely`);
    names.push(portName);
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    if (!PROTOCOLS.includes(protocol)) return reject(`${label}: unknown protocol ${JSON.stringify(p.protocol)}`);
    if (!pool.protocols.includes(protocol)) {
      return reject(`${label}: LoadBalancerPool ${pool.name} (${pool.provider}) carries ${pool.protocols.join('/')}, not ${protocol}; choose a pool that does`);
    }
    if (!Number.isInteger(p.port) || (p.port as number) < 1 || (p.port as number) > 65535) {
      return reject(`${label}: port must be a number from 1 to 65535`);
    }
    const port = p.port as number;
    if (policy === 'preserve' && pool.reservedPorts.includes(port)) {
      return reject(`${label}: port ${port} is reserved in LoadBalancerPool ${pool.name} and port-policy is preserve; use port-policy prefer or any`);
    }
    ports.push({ name: portName, protocol, port });
  }
  if (!pool.mixedProtocol && ports.some((p) => p.protocol !== ports[0]?.protocol)) {
    const protocols = [...new Set(ports.map((p) => p.protocol))];
    return reject(`the Service mixes ${protocols.join(' and ')}, which one ${pool.provider} LB of pool ${pool.name} cannot carry; split it into one Service per protocol`);
  }
  if (ports.length > pool.maxPortsPerLB) {
    return reject(`the Service has ${ports.length} ports but an LB of pool ${pool.name} carries at most ${pool.maxPortsPerLB}; all of a member's ports share one LB, so split the Service`);
  }
  if (policy === 'preserve' && !pool.samePortAcrossProtocols) {
    const seen = new Set<number>();
    for (const p of ports) {
      if (seen.has(p.port)) {
        return reject(`port ${p.port} is used for both TCP and UDP, which pool ${pool.name} (${pool.provider}) cannot put on one LB; use port-policy prefer or any, or split the Service`);
      }
      seen.add(p.port);
    }
  }
  const lbClass = memberClass(svc, pool, opts.defaultIPFamilies ?? ['IPv4']);
  if (!lbClass.ok) return reject(lbClass.message, lbClass.reason);
  const request: MemberRequest = { key, namespace, name, created, pool: pool.name, policy, ports, classKey: classKey(lbClass.lbClass) };
  if (policy === 'any' || movable === 'true') request.movable = true;
  const quota = quotaFor(pool, opts.namespaceLabels ?? { 'kubernetes.io/metadata.name': namespace });
  if (quota !== null) request.quota = quota;
  return { kind: 'member', request };
}

/**
 * The pool a member lands in: the one it names, else the default. A member
 * that asks for an internal (or external) LB goes only to a pool building
 * LBs of that scope: the default if it does, else the one such pool its
 * namespace may use; otherwise it is told which pools it could name.
 */
function choosePool(annotations: Record<string, string>, pools: PoolSet, namespace: string, labels: Record<string, string>): { pool: Pool } | { reason: RejectReason; message: string } {
  const scope = declaredScope(annotations);
  const admits = (p: Pool): boolean => p.namespaceSelector === null || matchesSelector(p.namespaceSelector, labels);
  // Only a member that asks for a scope needs the pools of that scope (most ask for none).
  const ofScope = (): string[] => [...pools.pools.values()].filter((p) => p.scope === scope && admits(p)).map((p) => p.name).sort();
  const alternatives = (): string => {
    const names = ofScope();
    return names.length > 0 ? `set ${POOL} to one of ${names.join(', ')}` : `no pool that namespace ${namespace} may use builds ${scope} LBs: ask an admin for one`;
  };
  let pool: Pool;
  const wanted = annotations[POOL];
  if (wanted !== undefined) {
    const named = pools.pools.get(wanted);
    if (named === undefined) {
      const broken = pools.broken.get(wanted);
      if (broken !== undefined) return { reason: 'Invalid', message: `LoadBalancerPool ${wanted} is not usable: ${broken.join('; ')}` };
      const names = [...pools.pools.keys()].sort();
      return { reason: 'Invalid', message: `no LoadBalancerPool named ${JSON.stringify(wanted)}${names.length > 0 ? ` (pools: ${names.join(', ')})` : ''}` };
    }
    if (scope !== null && named.scope !== scope) {
      return { reason: 'NoMatchingPool', message: `the Service asks for an ${scope} LB but pool ${named.name} builds ${named.scope} ones: ${alternatives()}` };
    }
    pool = named;
  } else if (scope === null || pools.defaultPool?.scope === scope) {
    if (pools.defaultPool === null) return { reason: 'Invalid', message: pools.noDefaultReason };
    pool = pools.defaultPool;
  } else {
    const candidates = ofScope();
    if (candidates.length !== 1) {
      return { reason: 'NoMatchingPool', message: `the Service asks for an ${scope} LB and the default pool builds ${pools.defaultPool?.scope ?? 'no'} ones: ${alternatives()}` };
    }
    pool = pools.pools.get(candidates[0] as string) as Pool;
  }
  if (!admits(pool)) {
    return { reason: 'Forbidden', message: `namespace ${namespace} may not use LoadBalancerPool ${pool.name} (its namespaceSelector does not match): ask an admin, or choose another pool` };
  }
  return { pool };
}

/** Earlier members win: creation time, then namespace/name. */
export function memberOrder(a: { created: string; key: string }, b: { created: string; key: string }): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
