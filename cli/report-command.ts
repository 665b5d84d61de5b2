// `sharedlb report`: the cost report of a live cluster's shared LBs.

import { fetchLiveReport } from '../controller/cluster-read.ts';
import { restClient } from '../controller/kube-rest.ts';
import { renderReport } from '../controller/report-render.ts';
import { commandArgs, type Io } from './command-args.ts';
import { clusterFailure, loadKubeConfig } from './kubeconfig.ts';

export const REPORT_USAGE = `usage: sharedlb report [--kubeconfig PATH] [--context NAME] [-o table|json|csv|html]

  --kubeconfig PATH    kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME       kubeconfig context to use (default: its current-context)
  -o, --output FORMAT  table (default), json, csv or html`;

export async function reportCommand(argv: string[], io: Io): Promise<number> {
  const values = commandArgs('report', REPORT_USAGE, argv, {
    kubeconfig: { type: 'string' }, context: { type: 'string' }, output: { type: 'string', short: 'o', default: 'table' }, help: { type: 'boolean', short: 'h' },
  }, io);
  if (typeof values === 'number') return values;
  if (!['table', 'json', 'csv', 'html'].includes(values.output)) {
    io.stderr(`sharedlb report: -o must be table, json, csv or html\n${REPORT_USAGE}\n`);
    return 2;
  }
  const kc = loadKubeConfig({ path: values.kubeconfig, context: values.context });
  const rest = restClient(kc, { userAgent: 'sharedlb-report' });
  try {
    io.stdout(renderReport(await fetchLiveReport(rest), values.output));
    return 0;
  } catch (e) {
    return clusterFailure(io, 'sharedlb report', e, kc);
  } finally {
    rest.close();
  }
}
