// What the Gateway API conformance run needs built here (no registry is
// reachable and there is no Docker engine): the suite itself as a test
// binary (e2e/conformance, the upstream module unmodified), its echo-basic
// backend and CoreDNS (e2e/coredns), each rebuilt only when its module
// changes, and the images under the exact names the suite's manifests use —
// they cannot be renamed by flag.

import { join } from 'node:path';
import { ROOT } from './cluster.ts';
import { buildWhenChanged, go, moduleDir } from './go-build.ts';
import type { ImageSpec } from './images.ts';

const E2E = import.meta.dirname;
const OUT = join(ROOT, 'bin', 'conformance');
export const GATEWAY_API_VERSION = 'v1.6.3';
export const SUITE = join(OUT, 'conformance.test');

/** The echo-basic tags the v1.6.3 manifests name: one binary (the suite's own version) serves them all. */
export const ECHO_IMAGES = ['registry.k8s.io/gateway-api/echo-basic:v1.5.1', 'registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.2', 'registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.3'];
export const COREDNS_IMAGE = 'registry.k8s.io/coredns/coredns:v1.12.2';

export interface ConformanceBuild {
  seconds: number;
  built: boolean;
}

/** The suite binary, echo-basic and CoreDNS; each module rebuilt when its sources change. */
export function buildConformance(): ConformanceBuild {
  const suiteDir = join(E2E, 'conformance');
  const dnsDir = join(E2E, 'coredns');
  const suite = buildWhenChanged(suiteDir, join(OUT, 'suite.sha256'), () => {
    go(['test', '-c', '-trimpath', '-o', SUITE, '.'], suiteDir);
    go(['build', '-trimpath', '-ldflags=-s -w', '-o', join(OUT, 'echo-basic'), 'sigs.k8s.io/gateway-api/conformance/echo-basic'], suiteDir);
  });
  const dns = buildWhenChanged(dnsDir, join(OUT, 'coredns.sha256'), () => go(['build', '-trimpath', '-ldflags=-s -w', '-o', join(OUT, 'coredns'), '.'], dnsDir));
  return { seconds: suite.seconds + dns.seconds, built: suite.built || dns.built };
}

/** The Gateway API's standard-channel CRDs of the suite's bundle, from the module the suite was built from. */
export function crdDir(): string {
  return join(moduleDir(join(E2E, 'conformance'), 'sigs.k8s.io/gateway-api'), 'config', 'crd', 'standard');
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
