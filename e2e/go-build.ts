// Building the lab's Go programs (its tools, the conformance suite, MetalLB):
// each Go module here is built again only when its sources change, judged by
// a hash of its .go files, go.mod and go.sum kept beside what it built.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The hash of a module's sources (with its subdirectories: its commands). */
function sourceHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.go') || f === 'go.mod' || f === 'go.sum') h.update(p.slice(dir.length)).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** `go …` in a module, CGO off (every program here is static); a failure says which. */
export function go(args: string[], cwd: string): void {
  const r = spawnSync('go', args, { cwd, stdio: 'inherit', env: { ...process.env, CGO_ENABLED: '0' } });
  if (r.status !== 0) throw new Error(`go ${args.join(' ')} (in ${cwd}) failed (exit ${r.status ?? r.signal})`);
}

/** Run `build` unless `stamp` records the module's current sources; then record them. */
export function buildWhenChanged(moduleDir: string, stamp: string, build: () => void): { built: boolean; seconds: number } {
  const want = sourceHash(moduleDir);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return { built: false, seconds: 0 };
  const t0 = Date.now();
  mkdirSync(dirname(stamp), { recursive: true });
  build();
  writeFileSync(stamp, want);
  return { built: true, seconds: (Date.now() - t0) / 1000 };
}

/** A module's directory as the build resolves it (for its manifests and CRDs), asked from the module that requires it. */
export function moduleDir(from: string, module: string): string {
  const r = spawnSync('go', ['list', '-m', '-f', '{{.Dir}}', module], { cwd: from, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`go list -m ${module}: ${r.stderr}`);
  return r.stdout.trim();
}
