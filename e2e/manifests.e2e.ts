// The install manifests against the real API server: the whole kustomize base
// passes a server-side dry-run apply, and the controller runs on exactly the
// RBAC they grant, authenticated as their ServiceAccount (not as admin).

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { setTimeout as sleep } from 'node:timers/promises';
import { AUDIT_LOG, NODE_NAME, ROOT } from './cluster.ts';
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
  let auditFrom = new Date();
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

  it('the controller, as the image runs it, works on the ServiceAccount and RBAC the manifests grant', async () => {
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
    await createPool('e2e-rbac', { default: true, provider: 'generic', emptyLoadBalancerGraceSeconds: 1 });
    ns = await namespace('rbac');
    auditFrom = new Date();
    // The bundle the image runs (npm test builds it first), not the sources. These are the
    // grants of manifests/ alone: where the lab has the Gateway API's CRDs (after
    // `make conformance`), --gateway-api auto would probe them with a list these grants refuse.
    ctl = await startController('sharedlb-system', [`--kubeconfig=${kubeconfig}`, '--lease-duration=4', '--renew-deadline=3', '--retry-period=1', '--event-series-interval=1', '--gateway-api=off'], { bundle: true });
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'mqtt', annotations: { 'sharedlb.io/enabled': 'true' } },
      spec: { selector: { app: 'mqtt' }, ports: [{ name: 'mqtt', port: 1883 }] },
    });
    const svc = await eventually('the member Allocated', async () => {
      const s = await admin().get<{ metadata: { annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; reason: string }> } }>(`/api/v1/namespaces/${ns}/services/mqtt`);
      return s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated') ? s : undefined;
    }, 30_000);
    assert.match(svc.metadata.annotations?.['sharedlb.io/address'] ?? '', /^198\.51\.100\.\d+:1883\/TCP$/);
    assert.doesNotMatch(ctl.logText(), /\b403\b|forbidden/i, 'no request was forbidden');
    const pool = await admin().get<{ status?: { members?: number; ports?: string } }>('/apis/sharedlb.io/v1alpha1/loadbalancerpools/e2e-rbac');
    assert.equal(pool.status?.members, 1);
  });

  it('grants nothing the controller does not use (kube-apiserver audit log)', async () => {
    assert.ok(ctl !== undefined, 'the controller runs on the ServiceAccount (previous test)');
    // Walk the controller through every kind of write it makes: a second
    // member with hand-made endpoints (LB update; mirrored slice created,
    // updated, deleted), a repeated refusal (event series), members leaving
    // (empty LB deleted after the pool's 1 s grace).
    await admin().post(`/api/v1/namespaces/${ns}/services`, { metadata: { name: 'feed', annotations: { 'sharedlb.io/enabled': 'true' } }, spec: { ports: [{ name: 'feed', port: 7000 }] } });
    const endpoint = (ready: boolean) => ({ addresses: ['10.244.9.9'], conditions: { ready, serving: ready, terminating: false }, nodeName: NODE_NAME });
    const src = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
    await admin().post(src, { metadata: { name: 'feed-1', labels: { 'kubernetes.io/service-name': 'feed', 'endpointslice.kubernetes.io/managed-by': 'e2e.sharedlb.io' } }, addressType: 'IPv4', endpoints: [endpoint(true)], ports: [{ name: 'feed', port: 7000, protocol: 'TCP' }] });
    const mirrored = (ready: boolean) => eventually(`the mirrored slice, ready=${ready}`, async () => {
      const l = await admin().get<{ items: Array<{ endpoints?: Array<{ conditions?: { ready?: boolean } }> }> }>('/apis/discovery.k8s.io/v1/namespaces/sharedlb-system/endpointslices?labelSelector=endpointslice.kubernetes.io/managed-by%3Dcontroller.sharedlb.io');
      return l.items.some((x) => x.endpoints?.[0]?.conditions?.ready === ready);
    });
    await mirrored(true);
    await admin().patch(`${src}/feed-1`, { endpoints: [endpoint(false)] }, 'merge');
    await mirrored(false);

    const reason = async (name: string): Promise<string | undefined> => (await admin().get<{ status?: { conditions?: Array<{ type: string; reason: string }> } }>(`/api/v1/namespaces/${ns}/services/${name}`)).status?.conditions?.find((c) => c.type === 'sharedlb.io/Ready')?.reason;
    const policy = (v: string | null) => admin().patch(`/api/v1/namespaces/${ns}/services/mqtt`, { metadata: { annotations: { 'sharedlb.io/port-policy': v } } }, 'merge');
    for (const v of ['sideways', null, 'sideways']) {
      await policy(v);
      await eventually(`mqtt ${v ?? 'valid'} again`, async () => (await reason('mqtt')) === (v === null ? 'Allocated' : 'Invalid'));
      await sleep(1100); // past the event series interval
    }
    await eventually('the refusal counted into its event series', async () => {
      const l = await admin().get<{ items: Array<{ reason?: string; series?: { count: number } }> }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
      return l.items.some((e) => e.reason === 'Invalid' && (e.series?.count ?? 0) >= 2);
    });

    for (const name of ['mqtt', 'feed']) await admin().delete(`/api/v1/namespaces/${ns}/services/${name}`);
    await eventually('the empty shared LB deleted after its grace', async () => {
      const l = await admin().get<{ items: unknown[] }>('/api/v1/namespaces/sharedlb-system/services?labelSelector=sharedlb.io/pool%3De2e-rbac');
      return l.items.length === 0;
    }, 30_000);
    await ctl.stop();
    ctl = undefined;

    const used = auditedRequests(auditFrom);
    const granted = grants(objects);
    const denied = used.filter((u) => u.code === 403);
    assert.deepEqual(denied, [], 'no request was refused');
    const beyond = [...new Set(used.filter((u) => !granted.some((g) => covers(g, u))).map(show))];
    assert.deepEqual(beyond, [], 'every request is one the manifests grant');
    const unused = granted.filter((g) => !used.some((u) => covers(g, u))).map((g) => `${g.verb} ${g.resource}${g.namespace ? ` in ${g.namespace}` : ''}`);
    assert.deepEqual(unused, [], 'every grant is used');
    process.stderr.write(`# audit: ${used.length} requests by the controller's ServiceAccount, ${granted.length} grants, each used\n`);
  });
});

interface Grant { verb: string; resource: string; namespace?: string }
interface Request extends Grant { code: number }

const show = (r: Grant): string => `${r.verb} ${r.resource}${r.namespace ? ` in ${r.namespace}` : ''}`;
const covers = (g: Grant, r: Grant): boolean => g.verb === r.verb && g.resource === r.resource && (g.namespace === undefined || g.namespace === r.namespace);

/** (verb, group/resource[/subresource], namespace) of every rule the ClusterRole and Role grant. */
function grants(objects: Obj[]): Grant[] {
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
  return objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').flatMap((o) =>
    ((o as unknown as { rules: Rule[] }).rules).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((verb) => ({
      verb, resource: g === '' ? res : `${g}/${res}`, ...(o.kind === 'Role' ? { namespace: o.metadata.namespace } : {}),
    }))))));
}

/** What the controller's ServiceAccount asked of kube-apiserver since `from`, from its audit log. */
function auditedRequests(from: Date): Request[] {
  const user = 'system:serviceaccount:sharedlb-system:sharedlb-controller';
  type Audit = { stage: string; verb: string; user: { username: string }; objectRef?: { resource?: string; subresource?: string; apiGroup?: string; namespace?: string }; responseStatus?: { code: number }; requestReceivedTimestamp: string };
  return readFileSync(AUDIT_LOG, 'utf8').split('\n').filter((l) => l.includes(user)).map((l) => JSON.parse(l) as Audit)
    .filter((a) => a.user.username === user && a.objectRef?.resource !== undefined && new Date(a.requestReceivedTimestamp) >= from)
    .map((a) => {
      const o = a.objectRef as NonNullable<Audit['objectRef']>;
      const res = `${o.resource}${o.subresource ? `/${o.subresource}` : ''}`;
      return { verb: a.verb, resource: o.apiGroup ? `${o.apiGroup}/${res}` : res, ...(o.namespace ? { namespace: o.namespace } : {}), code: a.responseStatus?.code ?? 0 };
    });
}
