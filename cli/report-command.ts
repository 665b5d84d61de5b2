// `sharedlb report`: the cost report of a live cluster's shared LBs.

import { fetchLiveReport, fetchShowback, parseShowbackBy } from '../controller/cluster-read.ts';
import { restClient } from '../controller/kube-rest.ts';
import { renderReport, renderShowback } from '../controller/report-render.ts';
import { commandArgs, type Io } from './command-args.ts';
import { clusterFailure, loadKubeConfig } from './kubeconfig.ts';

export const REPORT_USAGE = `usage: sharedlb report [--kubeconfig PATH] [--context NAME] [--by namespace|label=KEY] [-o table|json|csv|html]

  --kubeconfig PATH    kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME       kubeconfig context to use (default: its current-context)
  --by GROUP           showback: each member's share of its LB's bill, summed per namespace or per the
                       value of a label (the Service's, else its namespace's), e.g. --by label=team
  -o, --output FORMAT  table (default), json, csv or html (html: the report, not showback)`;

export async function reportCommand(argv: string[], io: Io): Promise<number> {
  const values = commandArgs('report', REPORT_USAGE, argv, {
    kubeconfig: { type: 'string' }, context: { type: 'string' }, by: { type: 'string' }, output: { type: 'string', short: 'o', default: 'table' }, help: { type: 'boolean', short: 'h' },
  }, io);
  if (typeof values === 'number') return values;
  const by = values.by === undefined ? null : parseShowbackBy(values.by);
  if (values.by !== undefined && (by === null || values.output === 'html')) {
    io.stderr(`sharedlb report: --by takes namespace or label=KEY, with -o table, json or csv\n${REPORT_USAGE}\n`);
    return 2;
  }
  if (!['table', 'json', 'csv', 'html'].includes(values.output)) {
    io.stderr(`sharedlb report: -o must be table, json, csv or html\n${REPORT_USAGE}\n`);
    return 2;
  }
  const kc = loadKubeConfig({ path: values.kubeconfig, context: values.context });
  const rest = restClient(kc, { userAgent: 'sharedlb-report' });
  try {
    io.stdout(by === null ? renderReport(await fetchLiveReport(rest), values.output) : renderShowback(await fetchShowback(rest, by), values.output));
    return 0;
  } catch (e) {
    return clusterFailure(io, 'sharedlb report', e, kc);
  } finally {
    rest.close();
  }
}
