// `sharedlb report`: the cost report of a live cluster's shared LBs.

import { KubeConfig, type V1Service } from '@kubernetes/client-node';
import { LB_POOL_LABEL, MANAGED_BY, MANAGED_BY_LABEL } from '../allocator/annotations.ts';
import { parsePool, poolSet, type PoolSet } from '../allocator/pools.ts';
import { liveReport, type LiveLoadBalancer, type LiveReport } from '../allocator/report.ts';
import { restClient, type Rest } from './kube-rest.ts';
import { commandArgs, type Io } from './command-args.ts';
import { reportCsv, reportHtml, reportTable } from './report-render.ts';
import { readLoadBalancer } from '../allocator/lb-record.ts';

export const REPORT_USAGE = `usage: sharedlb report [--kubeconfig PATH] [--context NAME] [-o table|json|csv|html]`;

/** A shared LB Service as the report sees it. */
export function liveLoadBalancer(svc: V1Service): LiveLoadBalancer {
  const ingress = svc.status?.loadBalancer?.ingress?.[0];
  const { classKey, assignments } = readLoadBalancer(svc).state;
  return {
    name: svc.metadata?.name ?? '',
    namespace: svc.metadata?.namespace ?? '',
    pool: svc.metadata?.labels?.[LB_POOL_LABEL] ?? '',
    address: ingress?.ip ?? ingress?.hostname ?? '',
    classKey,
    assignments,
  };
}

/** The live report, read straight from the API server (pools, and every shared LB Service). */
export async function fetchLiveReport(rest: Rest): Promise<LiveReport> {
  const pools: PoolSet = poolSet((await rest.get<{ items: unknown[] }>('/apis/sharedlb.io/v1alpha1/loadbalancerpools')).items.map(parsePool));
  const selector = encodeURIComponent(`${MANAGED_BY_LABEL}=${MANAGED_BY},${LB_POOL_LABEL}`);
  const lbs = (await rest.get<{ items: V1Service[] }>(`/api/v1/services?labelSelector=${selector}`)).items;
  return liveReport([...pools.pools.values()], lbs.map(liveLoadBalancer));
}

export function renderReport(r: LiveReport, format: string): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(r, null, 2)}\n`;
    case 'csv':
      return reportCsv(r);
    case 'html':
      return reportHtml(r);
    default:
      return reportTable(r);
  }
}

export async function reportCommand(argv: string[], io: Io): Promise<number> {
  const values = commandArgs('report', REPORT_USAGE, argv, {
    kubeconfig: { type: 'string' }, context: { type: 'string' }, output: { type: 'string', short: 'o', default: 'table' }, help: { type: 'boolean', short: 'h' },
  }, io);
  if (typeof values === 'number') return values;
  if (!['table', 'json', 'csv', 'html'].includes(values.output)) {
    io.stderr(`sharedlb report: -o must be table, json, csv or html\n${REPORT_USAGE}\n`);
    return 2;
  }
  const kc = new KubeConfig();
  if (values.kubeconfig) kc.loadFromFile(values.kubeconfig);
  else kc.loadFromDefault();
  if (values.context) kc.setCurrentContext(values.context);
  const rest = restClient(kc, { userAgent: 'sharedlb-report' });
  try {
    io.stdout(renderReport(await fetchLiveReport(rest), values.output));
    return 0;
  } catch (e) {
    io.stderr(`sharedlb report: ${(e as Error).message}\n`);
    return 1;
  } finally {
    rest.close();
  }
}
