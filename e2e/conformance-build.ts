// What the Gateway API conformance run needs built here (no registry is
// reachable and there is no Docker engine): the suite itself as a test
// binary (e2e/conformance, the upstream module unmodified), its echo-basic
// backend and CoreDNS (e2e/coredns), each rebuilt only when its module
// changes, and the images under the exact names the suite's manifests use —
// they cannot be renamed by flag.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cluster.ts';
import type { ImageSpec } from './images.ts';

const E2E = import.meta.dirname;
const OUT = join(ROOT, 'bin', 'conformance');
export const GATEWAY_API_VERSION = 'v1.6.3';
export const SUITE = join(OUT, 'conformance.test');

/** The echo-basic tags the v1.6.3 manifests name: one binary (the suite's own version) serves them all. */
export const ECHO_IMAGES = ['registry.k8s.io/gateway-api/echo-basic:v1.5.1', 'registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.2', 'registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.3'];
export const COREDNS_IMAGE = 'registry.k8s.io/coredns/coredns:v1.12.2';

function moduleHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.go') || f === 'go.mod' || f === 'go.sum') h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex');
}

function go(args: string[], cwd: string): void {
  const r = spawnSync('go', args, { cwd, stdio: 'inherit', env: { ...process.env, CGO_ENABLED: '0' } });
  if (r.status !== 0) throw new Error(`go ${args.join(' ')} (in ${cwd}) failed (exit ${r.status ?? r.signal})`);
}

export interface ConformanceBuild {
  seconds: number;
  built: boolean;
}

/** The suite binary, echo-basic and CoreDNS; each module rebuilt when its sources change. */
export function buildConformance(): ConformanceBuild {
  const t0 = Date.now();
  mkdirSync(OUT, { recursive: true });
  let built = false;
  const once = (name: string, dir: string, steps: () => void): void => {
    const stamp = join(OUT, `${name}.sha256`);
    const want = moduleHash(dir);
    if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
    steps();
    writeFileSync(stamp, want);
    built = true;
  };
  const suiteDir = join(E2E, 'conformance');
  once('suite', suiteDir, () => {
    go(['test', '-c', '-trimpath', '-o', SUITE, '.'], suiteDir);
    go(['build', '-trimpath', '-ldflags=-s -w', '-o', join(OUT, 'echo-basic'), 'sigs.k8s.io/gateway-api/conformance/echo-basic'], suiteDir);
  });
  const dnsDir = join(E2E, 'coredns');
  once('coredns', dnsDir, () => go(['build', '-trimpath', '-ldflags=-s -w', '-o', join(OUT, 'coredns'), '.'], dnsDir));
  return { seconds: (Date.now() - t0) / 1000, built };
}

/** The Gateway API's standard-channel CRDs of the suite's bundle, from the module the suite was built from. */
export function crdDir(): string {
  const r = spawnSync('go', ['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/gateway-api'], { cwd: join(E2E, 'conformance'), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`go list -m sigs.k8s.io/gateway-api: ${r.stderr}`);
  return join(r.stdout.trim(), 'config', 'crd', 'standard');
}

export function conformanceImages(): ImageSpec[] {
  const echo = (tag: string): ImageSpec => ({
    tag,
    files: [{ src: join(OUT, 'echo-basic'), dest: '/echo-basic', mode: 0o755 }],
    config: { Entrypoint: ['/echo-basic'], User: '65532:65532' },
  });
  // As root: the suite's pod drops every capability but NET_BIND_SERVICE, which a non-root process would not hold without file capabilities.
  const dns: ImageSpec = { tag: COREDNS_IMAGE, files: [{ src: join(OUT, 'coredns'), dest: '/coredns', mode: 0o755 }], config: { Entrypoint: ['/coredns'] } };
  return [...ECHO_IMAGES.map(echo), dns];
}
