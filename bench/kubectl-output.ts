// Services as `kubectl get svc -A -o json|yaml` prints them: the fields the
// API server adds (uid, resourceVersion, managedFields, clusterIPs, status)
// around what a workload generator declares. The plan benchmark's input.

import { dump } from 'js-yaml';
import type { ServiceLike } from '../allocator/types.ts';

let serial = 0;
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0').slice(-width);

/** One Service as the API server returns it. */
export function asServed(s: ServiceLike): Record<string, unknown> {
  const i = ++serial;
  const spec = (s.spec ?? {}) as Record<string, unknown>;
  const meta = s.metadata ?? {};
  const created = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...meta,
      creationTimestamp: meta.creationTimestamp ?? created,
      labels: { app: meta.name, 'app.kubernetes.io/managed-by': 'Helm', 'helm.sh/chart': `${meta.name}-1.2.3` },
      uid: `${hex(i, 8)}-1b2c-4d5e-8f90-${hex(i * 7919, 12)}`,
      resourceVersion: String(100000 + i),
      managedFields: [{
        apiVersion: 'v1', fieldsType: 'FieldsV1', manager: 'helm', operation: 'Update', time: created,
        fieldsV1: { 'f:metadata': { 'f:annotations': Object.fromEntries(Object.keys(meta.annotations ?? {}).map((k) => [`f:${k}`, {}])), 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:ports': {}, 'f:selector': {}, 'f:sessionAffinity': {}, 'f:type': {} } },
      }],
    },
    spec: {
      clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
      clusterIPs: [`10.96.${(i >> 8) & 255}.${i & 255}`],
      internalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      selector: { app: meta.name },
      sessionAffinity: 'None',
      type: 'ClusterIP',
      ...spec,
      ports: ((spec.ports as Array<Record<string, unknown>> | undefined) ?? []).map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })),
    },
    status: { loadBalancer: {} },
  };
}

/** The List kubectl prints, as JSON (four-space indent, as kubectl's) or YAML. */
export function kubectlOutput(items: ServiceLike[], format: 'json' | 'yaml'): string {
  const list = { apiVersion: 'v1', items: items.map(asServed), kind: 'List', metadata: { resourceVersion: '' } };
  return format === 'json' ? `${JSON.stringify(list, null, 4)}\n` : dump(list, { lineWidth: -1, noRefs: true, seqNoIndent: true, sortKeys: true });
}
