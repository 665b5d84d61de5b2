// `sharedlb plan --from-cluster`: the Services (and pools) of a live cluster,
// read through kubeconfig. Its own module: the Kubernetes client it needs is
// most of a start-up, which planning files does without.

import { ClusterProblem, ensureServed, readPools, readServices } from '../controller/cluster-read.ts';
import { restClient } from '../controller/kube-rest.ts';
import type { Io } from './command-args.ts';
import { clusterFailure, loadKubeConfig } from './kubeconfig.ts';
import type { PlanInput } from './plan-command.ts';

/** The cluster's Services, and its pools when `wantPools`; or the exit status of a failure it has reported. */
export async function readCluster(args: { kubeconfig?: string; context?: string }, wantPools: boolean, io: Io): Promise<PlanInput | number> {
  const kc = loadKubeConfig({ path: args.kubeconfig, context: args.context });
  const rest = restClient(kc, { userAgent: 'sharedlb-plan' });
  try {
    const services = await readServices(rest);
    if (!wantPools) return { services, pools: null };
    try {
      await ensureServed(rest, 0);
    } catch (e) {
      if (!(e instanceof ClusterProblem)) throw e;
      io.stderr(`sharedlb plan: no pools in the cluster (${e.message.split(';')[0]}): planning with one default pool of the aws-nlb profile (--provider or --pools to choose)\n`);
      return { services, pools: null };
    }
    const pools = await readPools(rest);
    return { services, pools: pools.pools.size > 0 ? pools : null };
  } catch (e) {
    return clusterFailure(io, 'sharedlb plan', e, kc);
  } finally {
    rest.close();
  }
}
