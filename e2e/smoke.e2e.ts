// Proof that the local cluster is real Kubernetes: the built version, a real
// EndpointSlice from kube-controller-manager, an address from the cloud
// simulator (and its refusal past the listener limit), and RBAC that denies.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError, restClient } from '../controller/kube-rest.ts';
import { KUBE_VERSION } from './cluster.ts';
import { admin, adminKubeConfig, deleteNamespace, eventually, namespace, runPod, setPodStatus } from './kube.ts';

interface Slice { metadata: { labels: Record<string, string> }; endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }
interface Svc { status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> } }; spec: { ports: unknown[] } }

describe('local cluster', () => {
  let ns = '';
  before(async () => {
    ns = await namespace('smoke');
  });
  after(async () => {
    await admin().delete('/api/v1/namespaces/kube-system/configmaps/cloud-simulator').catch(() => undefined);
    await deleteNamespace(ns);
  });

  it('serves the version it was built as', async () => {
    const v = await admin().get<{ gitVersion: string; major: string; minor: string }>('/version');
    assert.equal(v.gitVersion, KUBE_VERSION);
    assert.equal(`${v.major}.${v.minor}`, '1.36');
  });

  it('kube-controller-manager writes EndpointSlices for a Ready pod the helper made', async () => {
    await runPod({ namespace: ns, name: 'web-0', labels: { app: 'web' }, ip: '10.244.0.10', ports: [{ containerPort: 8080 }] });
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    const slices = () => admin().get<{ items: Slice[] }>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`);
    const slice = await eventually('an EndpointSlice with the pod', async () => {
      const s = (await slices()).items.find((x) => x.endpoints?.some((e) => e.addresses.includes('10.244.0.10')));
      return s;
    });
    assert.equal(slice.metadata.labels['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
    assert.equal(slice.endpoints?.[0]?.conditions?.ready, true);

    await setPodStatus(ns, 'web-0', '10.244.0.10', false);
    await eventually('the endpoint to turn not-ready', async () =>
      (await slices()).items.some((x) => x.endpoints?.some((e) => e.addresses.includes('10.244.0.10') && e.conditions?.ready === false)));
  });

  it('the cloud simulator gives a LoadBalancer Service an address, and keeps it when ports change', async () => {
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'lb' },
      spec: { type: 'LoadBalancer', ports: [{ name: 'a', port: 9092 }] },
    });
    const path = `/api/v1/namespaces/${ns}/services/lb`;
    const ip = await eventually('an LB address', async () => (await admin().get<Svc>(path)).status?.loadBalancer?.ingress?.[0]?.ip);
    assert.match(ip, /^198\.51\.100\.\d+$/);
    await admin().patch(path, { spec: { ports: [{ name: 'a', port: 9092 }, { name: 'b', port: 9093 }] } }, 'merge');
    await eventually('the port change to land', async () => (await admin().get<Svc>(path)).spec.ports.length === 2);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await admin().get<Svc>(path)).status?.loadBalancer?.ingress?.[0]?.ip, ip);
    const billed = await eventually('the simulator to bill it', async () => {
      const cm = await admin().get<{ data: { addresses: string } }>('/api/v1/namespaces/kube-system/configmaps/cloud-simulator-state');
      return (JSON.parse(cm.data.addresses) as Record<string, string>)[`${ns}/lb`] === ip;
    });
    assert.ok(billed);
  });

  it('the cloud simulator refuses more listeners than its limit, with an event and no address', async () => {
    await admin().post('/api/v1/namespaces/kube-system/configmaps', { metadata: { name: 'cloud-simulator' }, data: { maxListeners: '2', delayMs: '100' } });
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'big' },
      spec: { type: 'LoadBalancer', ports: [1, 2, 3].map((i) => ({ name: `p${i}`, port: 1000 + i })) },
    });
    const ev = await eventually('a ListenerLimitExceeded event', async () => {
      const list = await admin().get<{ items: Array<{ reason: string; note: string; regarding: { name: string } }> }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
      return list.items.find((e) => e.reason === 'ListenerLimitExceeded' && e.regarding.name === 'big');
    });
    assert.match(ev.note, /at most 2 listeners; this Service asks for 3/);
    const svc = await admin().get<Svc>(`/api/v1/namespaces/${ns}/services/big`);
    assert.equal(svc.status?.loadBalancer?.ingress, undefined);
  });

  it('RBAC denies an unprivileged ServiceAccount', async () => {
    await admin().post(`/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'nobody' } });
    const tr = await admin().post<{ status: { token: string } }>(`/api/v1/namespaces/${ns}/serviceaccounts/nobody/token`, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 },
    });
    const kc = adminKubeConfig();
    const cluster = kc.getCurrentCluster();
    assert.ok(cluster);
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'nobody', token: tr.status.token }],
      contexts: [{ name: 'nobody', cluster: cluster.name, user: 'nobody' }],
      currentContext: 'nobody',
    });
    const nobody = restClient(kc);
    try {
      const who = await nobody.post<{ status: { userInfo: { username: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview',
      });
      assert.equal(who.status.userInfo.username, `system:serviceaccount:${ns}:nobody`);
      await assert.rejects(nobody.get(`/api/v1/namespaces/${ns}/secrets`), (e: unknown) => e instanceof ApiError && e.status === 403);
      await assert.rejects(nobody.get('/api/v1/services'), (e: unknown) => e instanceof ApiError && e.status === 403);
    } finally {
      nobody.close();
    }
  });
});
