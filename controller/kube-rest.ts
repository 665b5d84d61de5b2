// A small JSON client for the Kubernetes REST API, on the kubeconfig that
// @kubernetes/client-node loads. The generated client serialises MicroTime
// with milliseconds (events.k8s.io/v1 rejects that) and makes patch content
// types awkward; controllers need exact control over both, and over
// resourceVersion preconditions, so writes go through here.

import { Agent, request } from 'node:https';
import { createSecureContext } from 'node:tls';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(method: string, path: string, status: number, body: unknown) {
    const s = body as { message?: string; reason?: string } | null;
    super(`${method} ${path}: ${status} ${s?.reason ?? ''}${s?.message ? `: ${s.message}` : ''}`);
    this.status = status;
    this.reason = s?.reason ?? '';
    this.body = body;
  }
}

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';
const PATCH_CONTENT: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface Rest {
  server: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown, type: PatchType): Promise<T>;
  delete<T>(path: string, body?: unknown): Promise<T>;
  /** Raw, for callers that read the status code themselves. */
  call(method: string, path: string, body?: unknown, contentType?: string, timeoutMs?: number): Promise<{ status: number; body: unknown }>;
  close(): void;
}

/** Microsecond RFC 3339, as metav1.MicroTime wants it. */
export function microTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * What a request path addresses, RBAC-style: "services", "services/status",
 * "discovery.k8s.io/endpointslices" (core resources carry no group).
 */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]?.split('/').filter((p) => p !== '') ?? [];
  if (parts[0] !== 'api' && parts[0] !== 'apis') return path.split('?')[0] ?? path;
  const group = parts[0] === 'api' ? '' : (parts[1] ?? '');
  let rest = parts.slice(parts[0] === 'api' ? 2 : 3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const resource = rest[2] === undefined ? (rest[0] ?? '') : `${rest[0]}/${rest[2]}`;
  return group === '' ? resource : `${group}/${resource}`;
}

/**
 * How long what the kubeconfig adds to a request (credentials, TLS material)
 * is reused. client-node re-reads every file it names and builds an agent
 * each time it is asked, a cost paid per request. Credentials that rotate
 * (a token file, an exec plugin) are read again after this, or at once
 * after a 401.
 */
const AUTH_REUSE_MS = 10_000;

/** client-go's default for Retry-After retries. */
const MAX_RETRIES = 10;
/** A Retry-After longer than this is waited as this: a caller can always try again itself. */
const MAX_RETRY_WAIT_SECONDS = 10;

export interface RestOptions {
  maxSockets?: number;
  userAgent?: string;
  /** Called once per response (or transport failure, with status 0): for request metrics. */
  onResponse?: (method: string, path: string, status: number) => void;
  /**
   * Asked before every attempt, retries included; what it throws fails the
   * request unsent. The leader's fence: a write retried after a 429 must
   * not land once leadership has lapsed.
   */
  beforeAttempt?: (method: string, path: string) => void;
}

type Applied = Record<string, unknown> & { headers?: Record<string, string> };
type Raw = { status: number; body: unknown; retryAfter: number | null };

/** One HTTP exchange: the response's status, its body (JSON where it is), and a Retry-After if it gave one. */
function exchange(send: typeof request, url: string, options: Parameters<typeof request>[1], payload: string | undefined, what: string, timeoutMs: number): Promise<Raw> {
  return new Promise<Raw>((resolve, reject) => {
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text === '' ? null : JSON.parse(text);
        } catch {
          // not JSON (e.g. /readyz): keep the text
        }
        const after = Number(res.headers['retry-after']);
        resolve({ status: res.statusCode ?? 0, body: parsed, retryAfter: Number.isFinite(after) && after >= 0 ? after : null });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${what}: timed out after ${timeoutMs}ms`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export function restClient(kc: KubeConfig, opts: RestOptions = {}): Rest {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/$/, '');
  const secure = server.startsWith('https:');
  let agent: Agent | HttpAgent | undefined;
  let applied: { at: number; o: Applied } | null = null;
  const kubeconfigOptions = async (): Promise<Applied> => {
    if (applied === null || performance.now() - applied.at > AUTH_REUSE_MS) {
      const o: Applied = { headers: {} };
      await kc.applyToHTTPSOptions(o as never);
      applied = { at: performance.now(), o };
    }
    return applied.o;
  };

  const once = async (method: string, path: string, body?: unknown, contentType = 'application/json', timeoutMs = 30_000): Promise<Raw> => {
    const o = await kubeconfigOptions();
    // TLS material as one secure context: given as ca/cert/key, the agent joins them into the key it files
    // every request's socket under (https.Agent.getName), kilobytes of text per request.
    agent ??= secure
      ? new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 32, secureContext: createSecureContext({ ca: o.ca as string, cert: o.cert as string, key: o.key as string }), rejectUnauthorized: o.rejectUnauthorized as boolean | undefined })
      : new HttpAgent({ keepAlive: true, maxSockets: opts.maxSockets ?? 32 });
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      ...(o.headers ?? {}),
      accept: 'application/json',
      'user-agent': opts.userAgent ?? 'sharedlb',
      ...(payload !== undefined ? { 'content-type': contentType, 'content-length': String(Buffer.byteLength(payload)) } : {}),
    };
    const options = { method, headers, agent, ...(o.auth ? { auth: o.auth as string } : {}), timeout: timeoutMs };
    try {
      const r = await exchange(secure ? request : (httpRequest as typeof request), `${server}${path}`, options, payload, `${method} ${path}`, timeoutMs);
      if (r.status === 401) applied = null;
      opts.onResponse?.(method, path, r.status);
      return r;
    } catch (e) {
      opts.onResponse?.(method, path, 0);
      throw e;
    }
  };
  // client-go's rule (rest/request.go): a 429, or a 5xx with Retry-After, was
  // not acted on; wait as told and send it again, a bounded number of times.
  // The API server says 429 "storage is (re)initializing" while it starts.
  const call = async (method: string, path: string, body?: unknown, contentType?: string, timeoutMs?: number): Promise<{ status: number; body: unknown }> => {
    for (let attempt = 1; ; attempt++) {
      opts.beforeAttempt?.(method, path);
      const r = await once(method, path, body, contentType, timeoutMs);
      const retriable = r.status === 429 || (r.status >= 500 && r.retryAfter !== null);
      if (!retriable || attempt >= MAX_RETRIES) return { status: r.status, body: r.body };
      await new Promise((resolve) => setTimeout(resolve, Math.min(r.retryAfter ?? 1, MAX_RETRY_WAIT_SECONDS) * 1000));
    }
  };
  const json = async <T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> => {
    const r = await call(method, path, body, contentType);
    if (r.status < 200 || r.status >= 300) throw new ApiError(method, path, r.status, r.body);
    return r.body as T;
  };
  return {
    server,
    get: (path) => json('GET', path),
    post: (path, body) => json('POST', path, body),
    put: (path, body) => json('PUT', path, body),
    patch: (path, body, type) => json('PATCH', path, body, PATCH_CONTENT[type]),
    delete: (path, body) => json('DELETE', path, body),
    call,
    close: () => agent?.destroy(),
  };
}

export interface ListPage<T> {
  items: T[];
  metadata: { resourceVersion: string; continue?: string };
}

/**
 * A list in pages, as client-go's pager makes it: all pages are one snapshot
 * (the continue token pins the resourceVersion); an expired token fails the
 * list (410), and the caller lists again. Pages of 250, not client-go's 500:
 * a page of EndpointSlices then parses into less than V8's young generation
 * (the Deployment's --max-semi-space-size), so objects a relist replaces die
 * young.
 */
export async function* listPages<T>(rest: Rest, path: string, query: Record<string, string> = {}, limit = 250): AsyncGenerator<ListPage<T>> {
  let next = '';
  do {
    const q = new URLSearchParams({ ...query, limit: String(limit), ...(next ? { continue: next } : {}) });
    const page = await rest.get<ListPage<T>>(`${path}?${q}`);
    yield page;
    next = page.metadata.continue ?? '';
  } while (next !== '');
}

/** `rest` with `around` put around each request: it decides whether, and when, `send` goes. */
export function aroundRequests(rest: Rest, around: <T>(method: string, path: string, send: () => Promise<T>) => Promise<T>): Rest {
  return {
    ...rest,
    get: (path) => around('GET', path, () => rest.get(path)),
    post: (path, body) => around('POST', path, () => rest.post(path, body)),
    put: (path, body) => around('PUT', path, () => rest.put(path, body)),
    patch: (path, body, type) => around('PATCH', path, () => rest.patch(path, body, type)),
    delete: (path, body) => around('DELETE', path, () => rest.delete(path, body)),
    call: (method, path, body, ct, t) => around(method, path, () => rest.call(method, path, body, ct, t)),
  };
}

/**
 * At most `qps` requests a second through `rest`, as client-go's QPS: the
 * load a controller puts on the API server follows what it changes, and a
 * reconcile that finds nothing to change (most of a resync, or of a restart)
 * is not held back by it. Requests wait their turn in order.
 */
export function rateLimited(rest: Rest, qps: number): Rest {
  const q = new PQueue({ intervalCap: qps, interval: 1000 });
  return aroundRequests(rest, (_method, _path, send) => q.add(send));
}
