// The install manifests against the real API server: the whole kustomize base
// passes a server-side dry-run apply, and the controller runs on exactly the
// RBAC they grant, authenticated as their ServiceAccount (not as admin).

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './cluster.ts';
import { createPool, deletePool, installCRD, startController, type RunningController } from './controller-harness.ts';
import { admin, adminKubeConfig, deleteNamespace, eventually, namespace, sweep } from './kube.ts';

const MANIFESTS = join(import.meta.dirname, '..', 'manifests');
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

const RESOURCES: Record<string, [prefix: string, plural: string]> = {
  Namespace: ['/api/v1', 'namespaces'],
  ServiceAccount: ['/api/v1', 'serviceaccounts'],
  Service: ['/api/v1', 'services'],
  CustomResourceDefinition: ['/apis/apiextensions.k8s.io/v1', 'customresourcedefinitions'],
  ClusterRole: ['/apis/rbac.authorization.k8s.io/v1', 'clusterroles'],
  ClusterRoleBinding: ['/apis/rbac.authorization.k8s.io/v1', 'clusterrolebindings'],
  Role: ['/apis/rbac.authorization.k8s.io/v1', 'roles'],
  RoleBinding: ['/apis/rbac.authorization.k8s.io/v1', 'rolebindings'],
  Deployment: ['/apis/apps/v1', 'deployments'],
  PodDisruptionBudget: ['/apis/policy/v1', 'poddisruptionbudgets'],
};

function base(): Obj[] {
  const k = parseAllDocuments(readFileSync(join(MANIFESTS, 'kustomization.yaml'), 'utf8'))[0]?.toJS() as { resources: string[] };
  return k.resources.flatMap((r) => parseAllDocuments(readFileSync(join(MANIFESTS, r), 'utf8')).map((d) => d.toJS() as Obj));
}

function path(o: Obj): string {
  const r = RESOURCES[o.kind];
  if (r === undefined) throw new Error(`no REST path known for kind ${o.kind}`);
  const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '';
  return `${r[0]}${ns}/${r[1]}/${o.metadata.name}`;
}

async function apply(o: Obj, dryRun: boolean): Promise<void> {
  await admin().patch(`${path(o)}?fieldManager=sharedlb-e2e&force=true${dryRun ? '&dryRun=All' : ''}`, o, 'apply');
}

describe('install manifests', () => {
  let ns = '';
  let ctl: RunningController | undefined;
  const objects = base();

  before(async () => {
    await sweep();
    await installCRD();
  });
  after(async () => {
    await ctl?.stop();
    await deletePool('e2e-rbac');
    if (ns) await deleteNamespace(ns);
    for (const o of objects.filter((x) => x.kind === 'ClusterRole' || x.kind === 'ClusterRoleBinding')) await admin().delete(path(o)).catch(() => undefined);
    await deleteNamespace('sharedlb-system');
  });

  it('the whole base passes a server-side dry-run apply', async () => {
    assert.deepEqual([...new Set(objects.map((o) => o.kind))].sort(), ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Deployment', 'Namespace', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    // Namespaced objects are admitted only into a namespace that exists.
    await apply(objects.find((o) => o.kind === 'Namespace') as Obj, false);
    for (const o of objects) await apply(o, true);
  });

  it('the controller runs on the ServiceAccount and RBAC the manifests grant', async () => {
    for (const o of objects) if (o.kind !== 'Deployment' && o.kind !== 'PodDisruptionBudget' && o.kind !== 'Service') await apply(o, false);
    const tr = await eventually('a token for sharedlb-controller', () => admin().post<{ status: { token: string } }>('/api/v1/namespaces/sharedlb-system/serviceaccounts/sharedlb-controller/token', {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 },
    }));
    const cluster = adminKubeConfig().getCurrentCluster();
    const kubeconfig = join(ROOT, 'sharedlb-sa.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: cluster?.server, 'certificate-authority': cluster?.caFile } }],
      users: [{ name: 'sharedlb-controller', user: { token: tr.status.token } }],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'sharedlb-controller' } }],
      'current-context': 'e2e',
    }), { mode: 0o600 });
    await createPool('e2e-rbac', { default: true, provider: 'generic' });
    ns = await namespace('rbac');
    ctl = await startController('sharedlb-system', [`--kubeconfig=${kubeconfig}`, '--lease-duration=4', '--renew-deadline=3', '--retry-period=1']);
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'mqtt', annotations: { 'sharedlb.io/enabled': 'true' } },
      spec: { selector: { app: 'mqtt' }, ports: [{ name: 'mqtt', port: 1883 }] },
    });
    const svc = await eventually('the member Allocated', async () => {
      const s = await admin().get<{ metadata: { annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; reason: string }> } }>(`/api/v1/namespaces/${ns}/services/mqtt`);
      return s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated') ? s : undefined;
    }, 30_000);
    assert.match(svc.metadata.annotations?.['sharedlb.io/address'] ?? '', /^198\.51\.100\.\d+:1883\/TCP$/);
    assert.doesNotMatch(ctl.logText(), /403|forbidden/i, 'no request was forbidden');
    const pool = await admin().get<{ status?: { members?: number; ports?: string } }>('/apis/sharedlb.io/v1alpha1/loadbalancerpools/e2e-rbac');
    assert.equal(pool.status?.members, 1);
  });
});
