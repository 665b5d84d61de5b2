// The CLI as a newcomer meets it, against the lab cluster: through bin/sharedlb
// and `kubectl sharedlb` (kubectl built from the same Kubernetes modules),
// every ordinary mistake ends in one line, a non-zero exit and no stack trace.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { KUBECONFIG, KUBECTL_DIR } from './cluster.ts';
import { createPool, installCRD } from './controller-harness.ts';
import { admin, adminKubeConfig, deleteNamespace, eventually, namespace, sweep } from './kube.ts';

const REPO = join(import.meta.dirname, '..');
const HOME = mkdtempSync(join(tmpdir(), 'sharedlb-cli-home-'));
const CRD = 'loadbalancerpools.sharedlb.io';

/** As a person runs it: a fresh HOME, no KUBECONFIG unless given, kubectl and bin/ on PATH. */
function run(args: string[], env: Record<string, string> = {}, command = join(REPO, 'bin', 'sharedlb')): { code: number; out: string; err: string } {
  const { KUBECONFIG: _k, ...rest } = process.env;
  const r = spawnSync(command, args, { encoding: 'utf8', env: { ...rest, HOME, PATH: `${join(REPO, 'bin')}:${KUBECTL_DIR}:${process.env.PATH}`, ...env }, timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** One line on stderr, no stack, a non-zero exit: returns the line. */
function oneLine(r: { code: number; err: string }): string {
  assert.notEqual(r.code, 0, 'a failure exits non-zero');
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 1, `one line, not:\n${r.err}`);
  return lines[0] as string;
}

function kubeconfigAs(name: string, token: string): string {
  const cluster = adminKubeConfig().getCurrentCluster();
  const file = join(HOME, `${name}.kubeconfig`);
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'lab',
    clusters: [{ name: 'lab', cluster: { server: cluster?.server, 'certificate-authority': cluster?.caFile } }],
    users: [{ name, user: { token } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: name } }],
  }), { mode: 0o600 });
  return file;
}

async function crdGone(name: string): Promise<void> {
  await admin().delete(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`).catch(() => undefined);
  await eventually(`CRD ${name} to be gone`, async () => (await admin().call('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)).status === 404, 60_000);
}

describe('the sharedlb CLI, as a newcomer meets it', () => {
  let ns = '';

  before(async () => {
    await installCRD();
    await sweep();
    ns = await namespace('cli');
  });

  after(async () => {
    await crdGone('squatters.sharedlb.io');
    await installCRD();
    await deleteNamespace(ns);
  });

  it('works as `kubectl sharedlb`, with kubectl passing --kubeconfig and -o through', async () => {
    await createPool('cli-pool', { default: true, provider: 'generic' });
    const help = run(['sharedlb', '--help'], {}, join(KUBECTL_DIR, 'kubectl'));
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /^usage: kubectl sharedlb <command>/);
    const r = run(['sharedlb', 'report', `--kubeconfig=${KUBECONFIG}`, '-o', 'json'], {}, join(KUBECTL_DIR, 'kubectl'));
    assert.equal(r.code, 0, r.err);
    const direct = run(['report', `--kubeconfig=${KUBECONFIG}`, '-o', 'json']);
    const { generatedAt: _a, ...viaKubectl } = JSON.parse(r.out);
    const { generatedAt: _b, ...viaSharedlb } = JSON.parse(direct.out);
    assert.deepEqual(viaKubectl, viaSharedlb, 'the same report either way');
    assert.ok(Array.isArray(viaKubectl.assumptions) && viaKubectl.assumptions.length > 0);
  });

  it('plans the Services of a live cluster with its pools (--from-cluster), writing nothing', async () => {
    await admin().post(`/api/v1/namespaces/${ns}/services`, { metadata: { name: 'mqtt', annotations: { 'sharedlb.io/enabled': 'true' } }, spec: { ports: [{ name: 'mqtt', port: 1883 }] } });
    const r = run(['plan', '--from-cluster', '-o', 'json'], { KUBECONFIG });
    assert.equal(r.code, 0, r.err);
    const plan = JSON.parse(r.out) as { members: Array<{ service: string; pool: string; state: string }> };
    assert.deepEqual(plan.members.filter((m) => m.service === `${ns}/mqtt`).map((m) => [m.pool, m.state]), [['cli-pool', 'Allocated']]);
    const svc = await admin().get<{ metadata: { annotations: Record<string, string> } }>(`/api/v1/namespaces/${ns}/services/mqtt`);
    assert.equal(svc.metadata.annotations['sharedlb.io/address'], undefined, 'plan wrote nothing');
  });

  it('says in one line what is wrong with the kubeconfig or the context', () => {
    assert.equal(oneLine(run(['report', '--kubeconfig', '/nonexistent'])), 'sharedlb report: kubeconfig /nonexistent: no such file');
    assert.equal(oneLine(run(['controller', '--kubeconfig', '/nonexistent'])), 'sharedlb controller: kubeconfig /nonexistent: no such file');
    const empty = join(HOME, 'empty');
    writeFileSync(empty, '');
    assert.equal(oneLine(run(['report', '--kubeconfig', empty])), `sharedlb report: kubeconfig ${empty} is empty`);
    assert.equal(oneLine(run(['report'])), `sharedlb report: no kubeconfig: ${HOME}/.kube/config does not exist; pass --kubeconfig PATH or set KUBECONFIG`);
    assert.match(oneLine(run(['report', '--context', 'prod'], { KUBECONFIG })), /^sharedlb report: context "prod" is not in the kubeconfig \(it has: \S+\)$/);
    assert.match(oneLine(run(['sharedlb', 'report', '--context', 'prod'], { KUBECONFIG }, join(KUBECTL_DIR, 'kubectl'))), /^kubectl sharedlb report: context "prod"/);
  });

  it('refuses a mistyped controller flag with its name and the usage, before anything starts', () => {
    const r = run(['controller', '--kubeconfig', '/nonexistent', '--qps', 'fast']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^sharedlb controller: --qps must be a whole number, 0 or more, got "fast"\nusage: sharedlb controller/);
  });

  it('says the server cannot be reached, and --debug shows the stack', () => {
    const dead = join(HOME, 'dead.kubeconfig');
    writeFileSync(dead, readFileSync(KUBECONFIG, 'utf8').replace(/https:\/\/127\.0\.0\.1:\d+/, 'https://127.0.0.1:1'));
    assert.match(oneLine(run(['report', '--kubeconfig', dead])), /^sharedlb report: cannot reach the API server at https:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\): is the cluster running/);
    assert.match(oneLine(run(['plan', '--from-cluster', '--kubeconfig', dead])), /^sharedlb plan: cannot reach the API server/);
    const debug = run(['report', '--kubeconfig', dead, '--debug']);
    assert.equal(debug.code, 1);
    assert.match(debug.err, /\n\s+at /);
  });

  it('names the verb and the resource that are forbidden', async () => {
    await admin().post(`/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'nobody' } });
    const tr = await eventually('a token', () => admin().post<{ status: { token: string } }>(`/api/v1/namespaces/${ns}/serviceaccounts/nobody/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } }));
    const line = oneLine(run(['report', '--kubeconfig', kubeconfigAs('nobody', tr.status.token)]));
    assert.match(line, /^sharedlb report: forbidden: .*cannot list resource "loadbalancerpools" in API group "sharedlb\.io" at the cluster scope; ask a cluster admin/);
    assert.match(line, new RegExp(`system:serviceaccount:${ns}:nobody`));
  });

  it('says sharedlb is not installed, and how to install it; plan falls back to a default pool and says so', async () => {
    await crdGone(CRD);
    assert.equal(oneLine(run(['report'], { KUBECONFIG })), `sharedlb report: sharedlb is not installed on this cluster: it has no LoadBalancerPool CRD (${CRD}); install it with \`kubectl apply -k manifests/\` from the sharedlb repository (README: "Installing on a cluster")`);
    const plan = run(['plan', '--from-cluster', '-o', 'json'], { KUBECONFIG });
    assert.equal(plan.code, 0, plan.err);
    assert.match(plan.err, /no pools in the cluster \(sharedlb is not installed on this cluster: it has no LoadBalancerPool CRD \(loadbalancerpools\.sharedlb\.io\)\): planning with one default pool of the aws-nlb profile/);
    assert.ok((JSON.parse(plan.out) as { members: Array<{ service: string }> }).members.some((m) => m.service === `${ns}/mqtt`));
  });

  it('says when the CRD is there but not served, after retrying for a while', async () => {
    // Another CRD of the group holding the kind first: ours is created but never established (NamesAccepted: False).
    await admin().post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      metadata: { name: 'squatters.sharedlb.io' },
      spec: { group: 'sharedlb.io', scope: 'Cluster', names: { plural: 'squatters', singular: 'squatter', kind: 'LoadBalancerPool', listKind: 'LoadBalancerPoolList' }, versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
    });
    await eventually('the squatter established', async () => (await admin().get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/squatters.sharedlb.io')).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
    const crd = parse(readFileSync(join(REPO, 'manifests', 'crd', `${CRD}.yaml`), 'utf8'));
    await admin().post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    const started = Date.now();
    const line = oneLine(run(['report'], { KUBECONFIG }));
    assert.ok(Date.now() - started >= 9000, 'it retried before giving up');
    assert.match(line, /^sharedlb report: the LoadBalancerPool CRD exists but the API server does not serve sharedlb\.io\/v1alpha1 yet \(Established: False.*\); try again in a moment$/);
    await crdGone('squatters.sharedlb.io');
    await crdGone(CRD);
  });
});
