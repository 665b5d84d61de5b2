// How sharedlb is packaged, checked without a Docker engine: the Dockerfile's
// build stage replayed step by step, and the Helm chart against the kustomize
// base — with default values it renders the same objects (the Namespace aside:
// Helm installs into one that exists), its CRD is the manifests' own, and its
// values change what they say. (e2e/node.e2e.ts runs both on a real node.)

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { KUBECTL_DIR } from './cluster.ts';
import { buildTools, TOOLS_BIN } from './images.ts';

const REPO = join(import.meta.dirname, '..');
const CHART = join(REPO, 'charts', 'sharedlb');

interface Obj { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> }

function exec(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 32 * 2 ** 20 });
}
const objects = (text: string): Map<string, Obj> =>
  new Map(parseAllDocuments(text).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null).map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  buildTools();
  return exec(join(TOOLS_BIN, 'helm'), args);
}
const template = (...set: string[]): string => {
  const r = helm(['template', 'sharedlb', CHART, '--namespace', 'sharedlb-system', '--include-crds', ...set.flatMap((s) => ['--set', s])]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};
const deployment = (text: string): { spec: { replicas: number; template: { spec: { containers: Array<{ image: string; args: string[]; env: Array<{ name: string; value?: string }>; resources: unknown }> } } } } =>
  objects(text).get('Deployment/sharedlb-system/sharedlb-controller') as never;

describe('the Dockerfile', { timeout: 300_000 }, () => {
  it('its build stage has what the bundle needs: COPY as written, then RUN npm run build', () => {
    const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    const build = text.slice(text.indexOf('FROM '), text.indexOf('\nFROM ', text.indexOf('FROM ') + 1));
    const dir = mkdtempSync(join(tmpdir(), 'sharedlb-docker-build-'));
    try {
      let ran = 0;
      for (const line of build.split('\n')) {
        const copy = /^COPY\s+(.+)\s+(\S+)$/.exec(line);
        const runStep = /^RUN\s+(.+)$/.exec(line);
        if (copy !== null) {
          for (const src of (copy[1] as string).split(/\s+/)) cpSync(join(REPO, src), join(dir, (copy[2] as string).endsWith('/') && !src.endsWith('/') ? join(copy[2] as string, src) : (copy[2] as string)), { recursive: true });
        } else if (runStep !== null && runStep[1] === 'npm ci --no-audit --no-fund') {
          // The same lockfile, already installed in this clone: no second download.
          symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
        } else if (runStep !== null) {
          const r = spawnSync('sh', ['-c', runStep[1] as string], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${join(REPO, 'node_modules', '.bin')}:${process.env.PATH}` } });
          assert.equal(r.status, 0, `RUN ${runStep[1]}:\n${r.stdout}${r.stderr}`);
          ran++;
        }
      }
      assert.equal(ran, 1, 'the build stage runs one build');
      assert.ok(existsSync(join(dir, 'dist', 'sharedlb.mjs')), 'the stage produced dist/sharedlb.mjs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Helm chart', { timeout: 600_000 }, () => {
  it('passes helm lint', () => {
    const r = helm(['lint', '--strict', CHART]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('renders with default values the objects of kubectl kustomize manifests/, the Namespace aside', () => {
    const k = exec(join(KUBECTL_DIR, 'kubectl'), ['kustomize', join(REPO, 'manifests')]);
    assert.equal(k.status, 0, k.stderr);
    const base = objects(k.stdout);
    const chart = objects(template());
    assert.ok(base.delete('Namespace//sharedlb-system'), 'the base creates the namespace; the chart installs into it');
    assert.deepEqual([...chart.keys()].sort(), [...base.keys()].sort());
    for (const [key, o] of base) assert.deepEqual(chart.get(key), o, key);
  });

  it('renders with gatewayApi.enabled the objects of kubectl kustomize manifests/gateway-api/ besides', () => {
    const k = exec(join(KUBECTL_DIR, 'kubectl'), ['kustomize', join(REPO, 'manifests', 'gateway-api')]);
    assert.equal(k.status, 0, k.stderr);
    const gateway = objects(k.stdout);
    const chart = objects(template('gatewayApi.enabled=true'));
    const plain = objects(template());
    assert.deepEqual([...chart.keys()].filter((key) => !plain.has(key)).sort(), [...gateway.keys()].sort());
    for (const [key, o] of gateway) assert.deepEqual(chart.get(key), o, key);
  });

  it('ships the manifests\' CRD unchanged', () => {
    assert.equal(readFileSync(join(CHART, 'crds', 'loadbalancerpools.sharedlb.io.yaml'), 'utf8'), readFileSync(join(REPO, 'manifests', 'crd', 'loadbalancerpools.sharedlb.io.yaml'), 'utf8'));
  });

  it('sets image, replicas, resources, heap, leader election and pools from values', () => {
    const d = deployment(template('image.repository=lab.local/sharedlb', 'image.tag=dev', 'replicas=3', 'resources.limits.memory=2Gi', 'heap.percentOfMemoryLimit=60', 'leaderElection.leaseDurationSeconds=30'));
    const c = d.spec.template.spec.containers[0];
    assert.equal(d.spec.replicas, 3);
    assert.equal(c?.image, 'lab.local/sharedlb:dev');
    assert.deepEqual(c?.resources, { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '2Gi' } });
    assert.match(c?.env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '', /--max-old-space-size-percentage=60\b/);
    assert.deepEqual(c?.args, ['controller', '--listen=:8080', '--lease-duration=30']);
    const single = deployment(template('replicas=1', 'leaderElection.enabled=false'));
    assert.deepEqual(single.spec.template.spec.containers[0]?.args, ['controller', '--listen=:8080', '--no-leader-elect']);
    const pools = objects(template('pools[0].name=generic', 'pools[0].spec.default=true', 'pools[0].spec.provider=generic'));
    assert.deepEqual(pools.get('LoadBalancerPool//generic')?.spec, { default: true, provider: 'generic' });
    assert.equal(objects(template('metrics.service=false')).has('Service/sharedlb-system/sharedlb-controller-metrics'), false);
  });

  it('refuses two replicas without leader election', () => {
    const r = helm(['template', 'sharedlb', CHART, '--set', 'leaderElection.enabled=false']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /needs replicas: 1/);
  });
});
