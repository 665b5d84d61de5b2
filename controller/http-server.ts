// The controller's HTTP endpoints: probes, the cost report, metrics.

import { createServer, type Server } from 'node:http';
import type { LiveReport } from '../allocator/report.ts';
import type { Showback } from '../allocator/showback.ts';
import { registry } from './metrics.ts';
import { renderReport } from './report-render.ts';

export interface Endpoints {
  /** Caches not yet listed, each with why; empty once all are. */
  unsynced(): string[];
  /** Milliseconds since the controller began listing its caches. */
  startingForMs(): number;
  role(): 'leader' | 'follower';
  report(): LiveReport;
  /** Each namespace's share of the bills, for the page and report.json. */
  showback(): Showback;
}

/**
 * A controller whose caches cannot be listed at all (a CRD not installed,
 * RBAC missing) does nothing; past this long, /healthz says so, so that the
 * pod's restarts and its probe's message show the cause where people look.
 */
export const START_GRACE_MS = 60_000;

/** `listen`: "host:port" or "port". */
export async function serve(listen: string, e: Endpoints): Promise<Server> {
  const at = listen.lastIndexOf(':');
  const host = at < 0 ? undefined : listen.slice(0, at) || undefined;
  const port = Number(at < 0 ? listen : listen.slice(at + 1));
  const server = createServer((req, res) => {
    const unsynced = req.url === '/healthz' || req.url === '/readyz' ? e.unsynced() : [];
    if (req.url === '/healthz') {
      const stuck = unsynced.length > 0 && e.startingForMs() > START_GRACE_MS;
      res.statusCode = stuck ? 503 : 200;
      return void res.end(stuck ? `not started after ${Math.round(e.startingForMs() / 1000)} s: ${unsynced.join('; ')}` : 'ok');
    }
    if (req.url === '/leader') return void res.end(e.role());
    if (req.url === '/readyz') {
      res.statusCode = unsynced.length === 0 ? 200 : 503;
      return void res.end(unsynced.length === 0 ? 'ok' : `caches not synced: ${unsynced.join('; ')}`);
    }
    if (req.url === '/report' || req.url === '/report.json') {
      res.setHeader('content-type', req.url === '/report' ? 'text/html; charset=utf-8' : 'application/json');
      // The page shows tenants' names and has no script: let a browser run none, nor load anything.
      res.setHeader('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'");
      res.setHeader('x-content-type-options', 'nosniff');
      return void res.end(renderReport(e.report(), req.url === '/report' ? 'html' : 'json', e.showback()));
    }
    if (req.url === '/metrics') {
      void registry.metrics().then((m) => {
        res.setHeader('content-type', registry.contentType);
        res.end(m);
      });
      return;
    }
    res.statusCode = 404;
    res.end('not found');
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}
