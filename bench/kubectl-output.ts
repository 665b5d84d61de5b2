// Services as `kubectl get svc -A -o json|yaml` prints them: the generator's
// Services already carry what the API server adds to the spec and status;
// this adds the managedFields every object carries, and prints the List as
// kubectl does. The plan benchmark's input.

import { dump } from 'js-yaml';
import type { ServiceLike } from '../allocator/types.ts';

function withManagedFields(s: ServiceLike): ServiceLike & { metadata: Record<string, unknown> } {
  const meta = s.metadata ?? {};
  const managedFields = [{
    apiVersion: 'v1', fieldsType: 'FieldsV1', manager: 'helm', operation: 'Update', time: meta.creationTimestamp,
    fieldsV1: {
      'f:metadata': { 'f:annotations': Object.fromEntries(Object.keys(meta.annotations ?? {}).map((k) => [`f:${k}`, {}])), 'f:labels': { '.': {}, 'f:app.kubernetes.io/name': {} } },
      'f:spec': { 'f:internalTrafficPolicy': {}, 'f:ports': {}, 'f:selector': {}, 'f:sessionAffinity': {}, 'f:type': {} },
    },
  }];
  return { ...s, metadata: { ...meta, managedFields } };
}

/** The List kubectl prints, as JSON (four-space indent, as kubectl's) or YAML (keys sorted, sequences not indented, as kubectl's). */
export function kubectlOutput(items: ServiceLike[], format: 'json' | 'yaml'): string {
  const list = { apiVersion: 'v1', items: items.map(withManagedFields), kind: 'List', metadata: { resourceVersion: '' } };
  return format === 'json' ? `${JSON.stringify(list, null, 4)}\n` : dump(list, { lineWidth: -1, noRefs: true, seqNoIndent: true, sortKeys: true });
}
