import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ApiError } from '../controller/kube-rest.ts';
import { ClusterProblem } from '../controller/cluster-read.ts';
import { explainClusterError, loadKubeConfig } from './kubeconfig.ts';

const dir = mkdtempSync(join(tmpdir(), 'sharedlb-kc-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const good = file('good', JSON.stringify({
  apiVersion: 'v1', kind: 'Config', 'current-context': 'lab',
  clusters: [{ name: 'lab', cluster: { server: 'https://127.0.0.1:6443' } }],
  users: [{ name: 'me', user: { token: 't' } }],
  contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'me' } }, { name: 'other', context: { cluster: 'gone', user: 'me' } }],
}));
const fails = (c: Parameters<typeof loadKubeConfig>[0]): string => {
  try {
    loadKubeConfig(c);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('the kubeconfig a command uses', () => {
  it('says in one line what is wrong with the file', () => {
    assert.equal(fails({ path: join(dir, 'missing') }), `kubeconfig ${join(dir, 'missing')}: no such file`);
    assert.equal(fails({ path: file('empty', '  \n') }), `kubeconfig ${join(dir, 'empty')} is empty`);
    assert.match(fails({ path: file('yaml', 'clusters: [\n') }), /^kubeconfig .*yaml is not valid YAML: [^\n]+$/);
    assert.match(fails({ path: file('list', '- a\n- b\n') }), /is not a kubeconfig \(expected a Config/);
    assert.match(fails({ path: file('none', 'apiVersion: v1\nkind: Config\n') }), /defines no clusters$/);
    assert.equal(fails({ path: dir }), `kubeconfig ${dir}: is a directory`);
    if (process.getuid?.() !== 0) {
      chmodSync(file('secret', 'x: 1'), 0o000);
      assert.match(fails({ path: join(dir, 'secret') }), /permission denied$/);
    }
  });

  it('names the contexts there are when the one asked for is not one, or names no cluster', () => {
    assert.equal(fails({ path: good, context: 'prod' }), 'context "prod" is not in the kubeconfig (it has: lab, other)');
    assert.equal(fails({ path: good, context: 'other' }), 'context "other" names cluster "gone", which the kubeconfig does not define');
    assert.equal(loadKubeConfig({ path: good }).getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  });

  it('without --kubeconfig, reads $KUBECONFIG and says when nothing is there', () => {
    const saved = process.env.KUBECONFIG;
    try {
      process.env.KUBECONFIG = `${join(dir, 'nope')}:${join(dir, 'nope2')}`;
      assert.equal(fails({}), `no kubeconfig: no file named in KUBECONFIG exists (${join(dir, 'nope')}, ${join(dir, 'nope2')})`);
      process.env.KUBECONFIG = `${join(dir, 'nope')}:${good}`;
      assert.equal(loadKubeConfig({}).getCurrentContext(), 'lab');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it("turns the API server's refusals and a dead server into one line that says what to do", () => {
    const kc = loadKubeConfig({ path: good });
    const forbidden = new ApiError('GET', '/apis/sharedlb.io/v1alpha1/loadbalancerpools', 403, { message: 'loadbalancerpools.sharedlb.io is forbidden: User "alice" cannot list resource "loadbalancerpools" in API group "sharedlb.io" at the cluster scope' });
    assert.equal(explainClusterError(forbidden, kc), 'forbidden: loadbalancerpools.sharedlb.io is forbidden: User "alice" cannot list resource "loadbalancerpools" in API group "sharedlb.io" at the cluster scope; ask a cluster admin for that permission or use another --context');
    assert.match(explainClusterError(new ApiError('GET', '/x', 401, {}), kc), /did not accept the credentials of context "lab" \(401 Unauthorized\)/);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    assert.equal(explainClusterError(refused, kc), 'cannot reach the API server at https://127.0.0.1:6443 (ECONNREFUSED): is the cluster running, and is "lab" the right context?');
    assert.equal(explainClusterError(new ClusterProblem('sharedlb is not installed on this cluster'), kc), 'sharedlb is not installed on this cluster');
  });
});
