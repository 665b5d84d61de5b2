// MetalLB in the lab, as its users run it: its controller and speaker built
// from its Go module (e2e/metallb, v0.15.2) into images under the upstream
// names, installed from its own metallb-native.yaml, its CRDs included, in
// layer-2 mode on the link between the lab's node and client namespaces.
//
// What is changed in its manifest, and why:
//   - the ValidatingWebhookConfiguration is left out and the controller runs
//     with --webhook-mode=disabled and --disable-cert-rotation: kube-apiserver
//     runs on this machine's loopback, outside the node's network, and cannot
//     reach a webhook Service's ClusterIP;
//   - both run with --lb-class: the lab's cloud simulator serves
//     LoadBalancer Services of the default class, MetalLB only those of the
//     class a pool's template names (METALLB_CLASS).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { KUBECONFIG, KUBECTL_DIR, ROOT } from './cluster.ts';
import { kubectl } from './kube.ts';
import { buildWhenChanged, go, moduleDir } from './go-build.ts';
import type { ImageSpec } from './images.ts';

const DIR = join(import.meta.dirname, 'metallb');
const OUT = join(ROOT, 'bin', 'metallb');
const METALLB_VERSION = 'v0.15.2';
export const METALLB_CLASS = 'metallb.io/lab';
export const METALLB_NS = 'metallb-system';

/** The controller and speaker binaries; rebuilt when e2e/metallb changes. */
export function buildMetalLB(): { built: boolean; seconds: number } {
  return buildWhenChanged(DIR, join(OUT, 'source.sha256'), () => go(['build', '-trimpath', '-ldflags=-s -w', '-o', `${OUT}/`, 'go.universe.tf/metallb/controller', 'go.universe.tf/metallb/speaker'], DIR));
}

export function metallbImages(): ImageSpec[] {
  // As upstream: the controller runs as the manifest's runAsUser; the speaker as root, with NET_RAW only.
  return ['controller', 'speaker'].map((c) => ({
    tag: `quay.io/metallb/${c}:${METALLB_VERSION}`,
    files: [{ src: join(OUT, c), dest: `/${c}`, mode: 0o755 }],
    config: { Entrypoint: [`/${c}`] },
  }));
}

type Doc = { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec?: { containers?: Array<{ name: string; args?: string[] }> } } } };

/** metallb-native.yaml as the lab applies it (see the top of this file). */
export function labManifest(): string {
  const text = readFileSync(join(moduleDir(DIR, 'go.universe.tf/metallb'), 'config', 'manifests', 'metallb-native.yaml'), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Doc).filter((d) => d !== null && d.kind !== 'ValidatingWebhookConfiguration');
  for (const d of docs) {
    for (const c of d.spec?.template?.spec?.containers ?? []) {
      const extra = c.name === 'controller' ? ['--webhook-mode=disabled', '--disable-cert-rotation'] : [];
      if (c.name === 'controller' || c.name === 'speaker') c.args = [...(c.args ?? []), ...extra, `--lb-class=${METALLB_CLASS}`];
    }
  }
  return docs.map((d) => stringify(d)).join('---\n');
}

/** MetalLB's objects applied; its pools and advertisements are the caller's. */
export function installMetalLB(): void {
  kubectl(['apply', '--server-side', '-f', '-'], labManifest());
}

export function uninstallMetalLB(): void {
  spawnSync(join(KUBECTL_DIR, 'kubectl'), ['delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: labManifest(), env: { ...process.env, KUBECONFIG } });
}
