// Every command block of the README, run as written, as a newcomer would after
// its two set-up commands: in a fresh directory that holds the clone's files
// (its own HOME; KUBECONFIG is the lab cluster's), the cluster ones against the lab
// cluster with its kubectl. The block with `make test` is the command running
// this very test, and is the only one not run.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KUBECONFIG, KUBECTL_DIR } from './cluster.ts';
import { installCRD } from './controller-harness.ts';
import { admin, deleteNamespace, sweep } from './kube.ts';

const REPO = join(import.meta.dirname, '..');

interface Block { line: number; text: string }

/** The ```sh blocks of a Markdown text, with the line each starts on. */
function shellBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let open: Block | null = null;
  markdown.split('\n').forEach((l, i) => {
    if (open === null && /^```sh\s*$/.test(l)) open = { line: i + 1, text: '' };
    else if (open !== null && /^```\s*$/.test(l)) {
      blocks.push(open);
      open = null;
    } else if (open !== null) open.text += `${l}\n`;
  });
  return blocks;
}

const blocks = shellBlocks(readFileSync(join(REPO, 'README.md'), 'utf8'));
const setupIndex = blocks.findIndex((b) => /^make deps\b/m.test(b.text));
const setup = blocks[setupIndex] as Block;
const runnable = blocks.filter((b, i) => i !== setupIndex && !/^make test\b/m.test(b.text));

/** Summary lines of `sharedlb plan`'s table: how many members it allocated, per plan printed. */
const allocatedCounts = (out: string): number[] => [...out.matchAll(/^Members:\s+\d+ \((\d+) allocated/gm)].map((m) => Number(m[1]));

/**
 * What a reader is told to expect of each block, by its first line: checked
 * on what it printed, not only its exit status.
 */
const expectations: Record<string, (out: string, dir: string) => void> = {
  'sharedlb plan -f examples/services.yaml': (out, dir) => {
    const counts = allocatedCounts(out);
    assert.equal(counts.length, 2, 'two plans printed as tables');
    for (const n of counts) assert.ok(n >= 170, `a plan of the sample allocates its members (${n})`);
    assert.match(out, /^Load balancers: \d+ \(lower bound \d+\)$/m);
    const json = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as { summary: { allocated: number } };
    assert.ok(json.summary.allocated >= 170, `plan.json allocates (${json.summary.allocated})`);
  },
  'sharedlb plan --from-cluster': (out) => {
    assert.equal(allocatedCounts(out).length, 2, 'a plan of the cluster and of its dump, as tables');
  },
  'kubectl apply -k manifests/': (out) => {
    assert.match(out, /^aws-nlb\s+aws-nlb\s+\S*\s+true\b/m, 'kubectl get loadbalancerpools shows the sample pool, marked default');
    assert.match(out, /no shared LBs|LOAD BALANCER/i, 'sharedlb report prints a report');
  },
};

describe('the README, command by command', () => {
  // A fresh directory holding the clone's files: what the blocks write stays out of the repository.
  const dir = mkdtempSync(join(tmpdir(), 'sharedlb-readme-'));
  const home = mkdtempSync(join(tmpdir(), 'sharedlb-readme-home-'));

  before(async () => {
    for (const f of readdirSync(REPO)) if (f !== '.git') symlinkSync(join(REPO, f), join(dir, f));
    await installCRD();
    await sweep();
  });

  after(async () => {
    // What "Installing on a cluster" created, but the CRD (other tests use it).
    await admin().delete('/apis/sharedlb.io/v1alpha1/loadbalancerpools/aws-nlb').catch(() => undefined);
    await deleteNamespace('sharedlb-system');
    for (const [kind, name] of [['clusterroles', 'sharedlb-controller'], ['clusterrolebindings', 'sharedlb-controller']]) {
      await admin().delete(`/apis/rbac.authorization.k8s.io/v1/${kind}/${name}`).catch(() => undefined);
    }
  });

  it('has the set-up block and blocks to run, each checked by its output where the README says what to expect', () => {
    assert.ok(setupIndex >= 0, 'a block starting with make deps');
    assert.ok(runnable.length >= 4, `found ${runnable.length} blocks`);
    for (const first of Object.keys(expectations)) assert.ok(runnable.some((b) => b.text.startsWith(`${first}\n`)), `a block starts with ${first}`);
  });

  for (const b of runnable) {
    const first = b.text.split('\n')[0];
    it(`README.md:${b.line}: ${first}`, () => {
      const { KUBECONFIG: _k, ...env } = process.env;
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', `${setup.text}\n${b.text}`], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...env, HOME: home, KUBECONFIG, PATH: `${KUBECTL_DIR}:${process.env.PATH}` },
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `exit ${r.status ?? r.signal}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      expectations[first ?? '']?.(r.stdout, dir);
    });
  }
});
