// Which cluster a command talks to, and what to tell a person when that
// fails: every failure is one line that names the file, the context or the
// server, and says what to do — never a stack trace.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseDocument } from 'yaml';
import { ClusterProblem } from '../controller/cluster-read.ts';
import { ApiError } from '../controller/kube-rest.ts';
import { CliError, type Io } from './command-args.ts';

/** A mistake a person can fix; its message is the whole story, in one line. */
export { CliError };

export interface KubeConfigChoice {
  /** --kubeconfig; else $KUBECONFIG, else ~/.kube/config. */
  path?: string;
  /** --context; else the kubeconfig's current-context. */
  context?: string;
  /** The controller: inside a pod, the pod's own ServiceAccount unless --kubeconfig says otherwise. */
  inCluster?: boolean;
}

function readKubeConfigFile(kc: KubeConfig, file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new CliError(`kubeconfig ${file}: ${why}`);
  }
  if (text.trim() === '') throw new CliError(`kubeconfig ${file} is empty`);
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new CliError(`kubeconfig ${file} is not valid YAML: ${doc.errors[0]?.message.split('\n')[0]?.replace(/:$/, '')}`);
  const body = doc.toJS() as { clusters?: unknown } | null;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new CliError(`kubeconfig ${file} is not a kubeconfig (expected a Config with clusters, users and contexts)`);
  try {
    kc.loadFromString(text);
  } catch (e) {
    throw new CliError(`kubeconfig ${file} is not a valid kubeconfig: ${(e as Error).message.split('\n')[0]}`);
  }
  if (kc.getClusters().length === 0) throw new CliError(`kubeconfig ${file} defines no clusters`);
}

export function loadKubeConfig(c: KubeConfigChoice): KubeConfig {
  const kc = new KubeConfig();
  if (c.path !== undefined) {
    readKubeConfigFile(kc, c.path);
  } else if (c.inCluster === true && process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
    return kc;
  } else {
    const env = process.env.KUBECONFIG;
    const files = env ? env.split(':').filter((f) => f !== '') : [join(homedir(), '.kube', 'config')];
    const present = files.filter((f) => existsSync(f));
    if (present.length === 0) {
      throw new CliError(env
        ? `no kubeconfig: no file named in KUBECONFIG exists (${files.join(', ')})`
        : `no kubeconfig: ${files[0]} does not exist; pass --kubeconfig PATH or set KUBECONFIG`);
    }
    if (present.length === 1) readKubeConfigFile(kc, present[0] as string);
    else {
      // Several files merge as kubectl merges them (client-node does); each must read on its own first.
      for (const f of present) readKubeConfigFile(new KubeConfig(), f);
      kc.loadFromDefault();
    }
  }
  const names = kc.getContexts().map((x) => x.name);
  const listed = names.length > 0 ? ` (it has: ${names.join(', ')})` : '';
  if (c.context !== undefined) {
    if (kc.getContextObject(c.context) === null) throw new CliError(`context "${c.context}" is not in the kubeconfig${listed}`);
    kc.setCurrentContext(c.context);
  }
  const current = kc.getContextObject(kc.getCurrentContext());
  if (current === null) throw new CliError(`the kubeconfig has no current context: pass --context NAME${listed}`);
  if (kc.getCurrentCluster() === null) throw new CliError(`context "${current.name}" names cluster "${current.cluster}", which the kubeconfig does not define`);
  return kc;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

/** A failure talking to the cluster, said to a person (with the stack under --debug); the exit code. */
export function clusterFailure(io: Pick<Io, 'stderr' | 'debug'>, command: string, e: unknown, kc: KubeConfig): number {
  if (io.debug === true) io.stderr(`${(e as Error).stack ?? String(e)}\n`);
  io.stderr(`${command}: ${explainClusterError(e, kc)}\n`);
  return 1;
}

/** One line for what went wrong talking to the cluster. */
export function explainClusterError(e: unknown, kc: KubeConfig): string {
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  const context = kc.getCurrentContext();
  if (e instanceof CliError || e instanceof ClusterProblem) return e.message;
  if (e instanceof ApiError) {
    const message = (e.body as { message?: string } | null)?.message;
    if (e.status === 401) return `the API server at ${server} did not accept the credentials of context "${context}" (401 Unauthorized): log in again or pick another --context`;
    // The API server's own words name the verb, the resource and who asked.
    if (e.status === 403) return `forbidden: ${message ?? e.message}; ask a cluster admin for that permission or use another --context`;
    return `the API server at ${server} answered ${e.message.split('\n')[0]}`;
  }
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err.code ?? err.cause?.code;
  if (code !== undefined && UNREACHABLE.has(code)) return `cannot reach the API server at ${server} (${code}): is the cluster running, and is "${context}" the right context?`;
  if (code !== undefined && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(code)) return `TLS with the API server at ${server} failed (${code}): the kubeconfig's certificate authority does not match the server`;
  if (err.message?.includes('timed out')) return `the API server at ${server} did not answer in time: ${err.message}`;
  return `talking to ${server}: ${err.message ?? String(e)}`;
}
