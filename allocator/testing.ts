// Builders shared by the allocator's tests (not imported by product code).

import { parsePool, POOL_API_VERSION, POOL_KIND } from './pools.ts';
import type { MemberRequest, Pool, PortPolicy, Protocol, ServiceLike } from './types.ts';

export function pool(spec: Record<string, unknown> = {}, name = 'p'): Pool {
  const r = parsePool({ apiVersion: POOL_API_VERSION, kind: POOL_KIND, metadata: { name }, spec: { default: true, ...spec } });
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.pool;
}

let clock = 0;
export function request(
  key: string,
  ports: Array<[number, Protocol?, string?]>,
  policy: PortPolicy = 'prefer',
  opts: { pool?: string; created?: string; classKey?: string } = {},
): MemberRequest {
  const [namespace, name] = key.split('/') as [string, string];
  clock++;
  return {
    key,
    namespace,
    name,
    created: opts.created ?? new Date(Date.UTC(2025, 0, 1) + clock * 1000).toISOString(),
    pool: opts.pool ?? 'p',
    policy,
    ports: ports.map(([port, protocol, pname], i) => ({ name: pname ?? `p${i}`, protocol: protocol ?? 'TCP', port })),
    classKey: opts.classKey ?? '',
  };
}

export function svc(over: {
  name?: string;
  namespace?: string;
  type?: string;
  class?: string;
  annotations?: Record<string, string>;
  ports?: Array<{ name?: string; port?: number; protocol?: string }>;
}): ServiceLike {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: over.name ?? 's',
      namespace: over.namespace ?? 'ns',
      creationTimestamp: '2025-01-01T00:00:00Z',
      ...(over.annotations ? { annotations: over.annotations } : {}),
    },
    spec: {
      type: over.type ?? 'ClusterIP',
      ...(over.class ? { loadBalancerClass: over.class } : {}),
      ports: over.ports ?? [{ name: 'tcp', port: 9092, protocol: 'TCP' }],
    },
  };
}
