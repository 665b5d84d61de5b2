// The shipped manifests parse, and every sample pool is a pool the controller accepts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parsePool } from '../allocator/pools.ts';
import { PROVIDER_NAMES } from '../allocator/profiles.ts';

const root = join(import.meta.dirname, '..', 'manifests');
const docs = (file: string) => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Record<string, unknown>);

describe('manifests', () => {
  it('a sample pool for every provider profile, each valid', () => {
    const samples = readdirSync(join(root, 'samples')).filter((f) => f.startsWith('pool-'));
    assert.deepEqual(samples.map((f) => f.slice(5, -5)).sort(), [...PROVIDER_NAMES].sort());
    for (const f of samples) {
      for (const d of docs(join(root, 'samples', f))) {
        const r = parsePool(d);
        assert.ok(r.ok, `${f}: ${r.ok ? '' : r.problems.join('; ')}`);
      }
    }
  });

  it('the kustomization lists files that exist and hold Kubernetes objects', () => {
    const k = docs(join(root, 'kustomization.yaml'))[0] as { resources: string[] };
    for (const r of k.resources) {
      for (const d of docs(join(root, r))) assert.ok(typeof d.kind === 'string' && typeof d.apiVersion === 'string', r);
    }
  });

  it('the CRD enumerates exactly the provider profiles', () => {
    const crd = docs(join(root, 'crd', 'loadbalancerpools.sharedlb.io.yaml'))[0] as never as {
      spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: { provider: { enum: string[] } } } } } } }> };
    };
    assert.deepEqual(crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties.provider.enum.sort(), [...PROVIDER_NAMES].sort());
  });
});

describe('dashboard', () => {
  it('every metric the Grafana dashboard queries is one the controller exports', () => {
    const dash = JSON.parse(readFileSync(join(root, 'dashboards', 'sharedlb.json'), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const source = readFileSync(join(import.meta.dirname, 'metrics.ts'), 'utf8');
    const exported = new Set([...source.matchAll(/name: '([a-z_]+)'|gauge\('([a-z_]+)'/g)].map((m) => m[1] ?? m[2]));
    for (const p of dash.panels) {
      for (const t of p.targets) {
        for (const m of t.expr.match(/\b(sharedlb|workqueue|controller_runtime)_[a-z_]+/g) ?? []) {
          assert.ok(exported.has(m.replace(/_bucket$/, '')), `${m} in "${t.expr}"`);
        }
      }
    }
  });
});
