// The controller as an admin installs it, on a real node: the lab's kubelet
// and containerd run the image built here from `kubectl apply -k manifests/`
// (only the image replaced, through kustomize), in the restricted namespace,
// with the projected service-account token; backends are real pods whose
// readiness probes decide their EndpointSlices, and packets from a client
// reach them through a shared LB and kube-proxy.

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AUDIT_LOG, KUBECONFIG, KUBECTL_DIR, ROOT } from './cluster.ts';
import { createPool, deletePool, installCRD } from './controller-harness.ts';
import { controllerImage, inspectArchive, TOOLS_BIN, type BuiltImage } from './images.ts';
import { admin, deleteNamespace, eventually, namespace, sweep } from './kube.ts';
import { KUBELET_NODE, LabNode } from './node.ts';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..');
const SYSTEM_NS = 'sharedlb-system';
const figures: Record<string, unknown> = {};

/** kubectl, without blocking this process (kubectl logs goes through the kubelet, which calls the API server back). */
async function kubectl(args: string[]): Promise<string> {
  try {
    return (await run(join(KUBECTL_DIR, 'kubectl'), args, { encoding: 'utf8', env: { ...process.env, KUBECONFIG }, timeout: 120_000 })).stdout;
  } catch (e) {
    throw new Error(`kubectl ${args.join(' ')}: ${(e as { stderr?: string }).stderr ?? String(e)}`);
  }
}

/** The Dockerfile's final stage, as far as an image's contract goes. */
function dockerfileFinalStage(): { entrypoint: string[]; cmd: string[]; user: string; workdir: string; env: Record<string, string>; expose: string[]; copies: Array<{ src: string; dest: string }> } {
  const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const stage = text.slice(text.lastIndexOf('\nFROM '));
  const one = (k: string): string => (new RegExp(`^${k}\\s+(.+)$`, 'm').exec(stage)?.[1] ?? '').trim();
  const env: Record<string, string> = {};
  for (const m of stage.matchAll(/^ENV\s+(\w+)=(\S+)$/gm)) env[m[1] as string] = m[2] as string;
  const workdir = one('WORKDIR');
  const copies = [...stage.matchAll(/^COPY\s+(?:--from=\S+\s+)?(\S+)\s+(\S+)$/gm)].map((m) => ({ src: m[1] as string, dest: (m[2] as string).startsWith('/') ? (m[2] as string) : join(workdir, m[2] as string) }));
  return { entrypoint: JSON.parse(one('ENTRYPOINT')) as string[], cmd: JSON.parse(one('CMD')) as string[], user: one('USER'), workdir, env, expose: one('EXPOSE').split(/\s+/), copies };
}

interface Pod { metadata: { name: string }; spec: { nodeName?: string }; status: { podIP?: string; conditions?: Array<{ type: string; status: string }> } }
const podReady = (p: Pod): boolean => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
const controllerPods = async (): Promise<Pod[]> =>
  (await admin().get<{ items: Pod[] }>(`/api/v1/namespaces/${SYSTEM_NS}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/name=sharedlb,app.kubernetes.io/component=controller')}`)).items;
const leaseHolder = async (): Promise<string | undefined> =>
  (await admin().get<{ spec: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/sharedlb-controller`).catch(() => undefined))?.spec.holderIdentity;

describe('a real node runs what an admin installs', { timeout: 600_000 }, () => {
  const node = new LabNode();
  const overlay = join(ROOT, 'overlay');
  let ns = '';
  let images: BuiltImage[] = [];

  before(async () => {
    await installCRD();
    await sweep();
    const f = await node.start();
    images = f.images;
    Object.assign(figures, { toolsBuildSeconds: f.toolsBuildSeconds, imagesBuildSeconds: f.imagesBuildSeconds, nodeStartSeconds: f.nodeStartSeconds, imageMB: Object.fromEntries(f.images.map((i) => [i.tag, Number((i.bytes / 2 ** 20).toFixed(1))])) });
    // Only the image is replaced: the manifests are the ones an admin applies.
    mkdirSync(overlay, { recursive: true });
    writeFileSync(join(overlay, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `resources: [${relative(overlay, join(REPO, 'manifests'))}]`,
      'images:',
      `  - {name: ghcr.io/sharedlb/sharedlb, newName: ${controllerImage().tag.split(':')[0]}, newTag: ${controllerImage().tag.split(':')[1]}}`,
      '',
    ].join('\n'));
    ns = await namespace('node');
  });

  after(async () => {
    await run(join(TOOLS_BIN, 'helm'), ['uninstall', 'sharedlb', '--namespace', SYSTEM_NS, '--kubeconfig', KUBECONFIG]).catch(() => undefined);
    spawnSync(join(KUBECTL_DIR, 'kubectl'), ['delete', '-k', overlay, '--ignore-not-found', '--wait=false'], { env: { ...process.env, KUBECONFIG } });
    await deletePool('e2e-node');
    if (ns !== '') await deleteNamespace(ns);
    await eventually('the controller pods gone', async () => (await controllerPods()).length === 0, 60_000, 500).catch(() => undefined);
    await node.stop();
    process.stderr.write(`# node figures: ${JSON.stringify(figures)}\n`);
  });

  it('builds the controller image the Dockerfile describes', () => {
    const d = dockerfileFinalStage();
    const built = images.find((i) => i.tag === controllerImage().tag);
    assert.ok(built);
    const { config, files } = inspectArchive(built.archive);
    assert.deepEqual(config.Entrypoint, d.entrypoint);
    assert.deepEqual(config.Cmd, d.cmd);
    assert.equal(config.User, d.user);
    assert.equal(config.WorkingDir, d.workdir);
    assert.deepEqual(Object.keys(config.ExposedPorts ?? {}).sort(), d.expose.map((p) => (p.includes('/') ? p : `${p}/tcp`)).sort());
    for (const [k, v] of Object.entries(d.env)) assert.ok(config.Env?.includes(`${k}=${v}`), `ENV ${k}=${v}`);
    // Every file the Dockerfile copies from the build (dist/), where it puts it.
    for (const c of d.copies) {
      const src = join(REPO, c.src.replace(/^\/src\//, ''));
      for (const f of readdirSync(src)) assert.ok(files.includes(join(c.dest, f)), `${join(c.dest, f)} is in the image`);
    }
    // The entrypoint's program is found on the image's PATH, as in node:24-bookworm-slim.
    const path = (config.Env?.find((e) => e.startsWith('PATH=')) ?? '').slice(5).split(':');
    assert.ok(path.some((dir) => files.includes(join(dir, d.entrypoint[0] as string))), `${d.entrypoint[0]} on PATH`);
    assert.equal(config.User?.split(':')[0], '65532');
  });

  it('runs both replicas Ready from kubectl apply -k, in the restricted namespace, one holding the Lease', async () => {
    const t0 = Date.now();
    await kubectl(['apply', '-k', overlay]);
    const pods = await eventually('two controller pods Ready', async () => {
      const ps = await controllerPods();
      return ps.length === 2 && ps.every(podReady) ? ps : undefined;
    }, 180_000, 500);
    figures.applyToBothReadySeconds = (Date.now() - t0) / 1000;
    assert.ok(pods.every((p) => p.spec.nodeName === KUBELET_NODE));
    const nsObj = await admin().get<{ metadata: { labels: Record<string, string> } }>(`/api/v1/namespaces/${SYSTEM_NS}`);
    assert.equal(nsObj.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    const holder = await eventually('a leader', leaseHolder, 30_000, 250);
    assert.ok(pods.some((p) => holder.startsWith(p.metadata.name)), `${holder} is one of the pods`);
    // Logs are JSON lines, read through the kubelet.
    const lines = (await kubectl(['-n', SYSTEM_NS, 'logs', pods[0]?.metadata.name as string])).trim().split('\n');
    assert.ok(lines.length > 0);
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), l);
    // The PDB and the metrics Service select the pods.
    const pdb = await eventually('the PDB counts the pods', async () => {
      const p = await admin().get<{ status?: { expectedPods?: number; currentHealthy?: number } }>(`/apis/policy/v1/namespaces/${SYSTEM_NS}/poddisruptionbudgets/sharedlb-controller`);
      return p.status?.expectedPods === 2 ? p : undefined;
    }, 30_000, 500);
    assert.equal(pdb.status?.currentHealthy, 2);
    const slices = await eventually('metrics Service endpoints', async () => {
      const l = await admin().get<{ items: Array<{ endpoints?: Array<{ addresses: string[] }> }> }>(`/apis/discovery.k8s.io/v1/namespaces/${SYSTEM_NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dsharedlb-controller-metrics`);
      const addrs = l.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort();
      return addrs.length === 2 ? addrs : undefined;
    }, 30_000, 500);
    assert.deepEqual(slices, pods.map((p) => p.status.podIP).sort());
  });

  it('places a member whose backend is a real pod, and traffic reaches it through the shared LB', async () => {
    await createPool('e2e-node', { default: true, provider: 'generic', maxPortsPerLB: 10, portRange: { from: 21000, to: 21010 } });
    await admin().post(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [{
              name: 'backend', image: 'lab.local/backend:1', imagePullPolicy: 'Never',
              args: ['--tcp', '8080'], env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [{ name: 'web', containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
            }],
          },
        },
      },
    });
    await admin().post(`/api/v1/namespaces/${ns}/services`, {
      metadata: { name: 'web', annotations: { 'sharedlb.io/enabled': 'true' } },
      spec: { selector: { app: 'web' }, ports: [{ name: 'web', port: 80, targetPort: 'web' }] },
    });
    const svc = await eventually('web Allocated by the in-cluster controller', async () => {
      const s = await admin().get<{ metadata: { annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; reason: string }> } }>(`/api/v1/namespaces/${ns}/services/web`);
      return s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated') ? s : undefined;
    }, 60_000, 500);
    // Written by the pods' own identity, with the token the kubelet projected.
    const writes = readFileSync(AUDIT_LOG, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { verb: string; user: { username: string }; objectRef?: { resource?: string; namespace?: string; name?: string } })
      .filter((e) => e.verb === 'patch' && e.objectRef?.resource === 'services' && e.objectRef.namespace === ns && e.objectRef.name === 'web');
    assert.ok(writes.length > 0 && writes.every((e) => e.user.username === `system:serviceaccount:${SYSTEM_NS}:sharedlb-controller`), JSON.stringify(writes.map((e) => e.user.username)));
    const address = svc.metadata.annotations?.['sharedlb.io/address'] ?? '';
    const [host, rest] = address.split(':');
    const port = Number(rest?.split('/')[0]);
    // Ready by its own readiness probe, run by the kubelet.
    const pod = await eventually('the backend pod Ready', async () => (await admin().get<{ items: Pod[] }>(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dweb`)).items.find(podReady), 60_000, 500);
    await eventually(`tcp ${address} answers from ${pod.metadata.name}`, async () => (await node.net.probe('tcp', host as string, port)) === pod.metadata.name, 30_000, 500);
    figures.memberAddress = address;
  });

  it('hands over within the lease duration when the leader\'s pod is deleted, moving no member', async () => {
    const before = await admin().get<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/services/web`);
    const holder = await leaseHolder();
    const leader = (await controllerPods()).find((p) => holder?.startsWith(p.metadata.name));
    assert.ok(leader, `the leader ${holder} is a pod`);
    const t0 = Date.now();
    await admin().delete(`/api/v1/namespaces/${SYSTEM_NS}/pods/${leader.metadata.name}`);
    const next = await eventually('another replica leading', async () => {
      const h = await leaseHolder();
      return h !== undefined && h !== holder ? h : undefined;
    }, 30_000, 200);
    figures.handOverSeconds = (Date.now() - t0) / 1000;
    assert.ok((figures.handOverSeconds as number) <= 15, `hand-over took ${figures.handOverSeconds}s; the lease lasts 15s`);
    assert.ok(!next.startsWith(leader.metadata.name));
    // The new leader reconciles everything once it leads: nothing moves.
    await new Promise((r) => setTimeout(r, 5000));
    const afterwards = await admin().get<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/services/web`);
    assert.equal(afterwards.metadata.annotations?.['sharedlb.io/address'], before.metadata.annotations?.['sharedlb.io/address']);
    // The Deployment replaces the pod; both replicas Ready again.
    await eventually('two replicas Ready again', async () => {
      const ps = await controllerPods();
      return ps.length === 2 && ps.every(podReady);
    }, 120_000, 500);
  });

  it('runs the same controller from helm install, taking over the members', async () => {
    const before = await admin().get<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/services/web`);
    // What kubectl apply -k made, but the Namespace and the CRD (deleting it would delete the pools): Helm owns the rest now.
    await kubectl(['delete', '--wait=true', '-n', SYSTEM_NS, 'deployment/sharedlb-controller', 'poddisruptionbudget/sharedlb-controller', 'service/sharedlb-controller-metrics', 'serviceaccount/sharedlb-controller', 'role/sharedlb-controller', 'rolebinding/sharedlb-controller']);
    await kubectl(['delete', 'clusterrole/sharedlb-controller', 'clusterrolebinding/sharedlb-controller']);
    await eventually('the kustomize pods gone', async () => (await controllerPods()).length === 0, 60_000, 500);
    const [repo, tag] = controllerImage().tag.split(':') as [string, string];
    const t0 = Date.now();
    const r = await run(join(TOOLS_BIN, 'helm'), ['install', 'sharedlb', join(REPO, 'charts', 'sharedlb'), '--namespace', SYSTEM_NS, '--kubeconfig', KUBECONFIG,
      '--set', `image.repository=${repo}`, '--set', `image.tag=${tag}`, '--wait', '--timeout', '3m'], { encoding: 'utf8' });
    assert.match(r.stdout, /STATUS: deployed/);
    const pods = await eventually('two Helm-installed pods Ready', async () => {
      const ps = await controllerPods();
      return ps.length === 2 && ps.every(podReady) ? ps : undefined;
    }, 120_000, 500);
    figures.helmInstallToBothReadySeconds = (Date.now() - t0) / 1000;
    const holder = await eventually('a leader among them', async () => {
      const h = await leaseHolder();
      return pods.some((p) => h?.startsWith(p.metadata.name)) ? h : undefined;
    }, 30_000, 250);
    assert.ok(holder);
    // A member placed by the kustomize install keeps its address under the Helm one.
    await new Promise((res) => setTimeout(res, 3000));
    const afterwards = await admin().get<{ metadata: { annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; reason: string }> } }>(`/api/v1/namespaces/${ns}/services/web`);
    assert.equal(afterwards.metadata.annotations?.['sharedlb.io/address'], before.metadata.annotations?.['sharedlb.io/address']);
    assert.ok(afterwards.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated'));
  });
});
