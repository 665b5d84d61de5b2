// `sharedlb controller`: flags and kubeconfig in, the running controller out.

import { DEFAULT_CLASS } from '../allocator/annotations.ts';
import { startController, type ControllerOptions } from '../controller/run.ts';
import { commandArgs, type Io } from './command-args.ts';
import { loadKubeConfig } from './kubeconfig.ts';

export const CONTROLLER_USAGE = `usage: sharedlb controller [--kubeconfig PATH] [--context NAME] [--namespace NS] [--class NAME]
                           [--node-port-range FROM-TO] [--listen ADDR:PORT] [--concurrency N] [--qps N] [--resync SECONDS] [--relist SECONDS]

  --kubeconfig PATH    kubeconfig to use (default: in-cluster, then $KUBECONFIG / ~/.kube/config)
  --namespace NS       where shared LB Services live (default: $POD_NAMESPACE or sharedlb-system)
  --class NAME         loadBalancerClass that opts LoadBalancer Services in (default ${DEFAULT_CLASS})
  --node-port-range    the API server's --service-node-port-range (default 30000-32767)
  --listen ADDR:PORT   /healthz, /readyz, /metrics, /report and /report.json (default :8080; "off" to disable)
  --concurrency N      reconciles at once (default 8)
  --qps N              at most N API requests a second from reconciles and events, as client-go's QPS;
                       a reconcile that changes nothing makes none. Default 0: no limit on this side, as in
                       controller-runtime — the API server's Priority and Fairness decides, and --concurrency
                       bounds the requests in flight
  --no-leader-elect    do not take a Lease (only when exactly one replica runs)
  --lease-duration S, --renew-deadline S, --retry-period S   leader election timing (15, 10, 2)
  --resync S           reconcile every member and pool this often from the caches (default 300)
  --relist S           list everything from the API server afresh this often, whatever the watches say (default 600)
  --event-series-interval S   a repeating event's count is written at most this often (default 60)
  --gateway-api auto|on|off   serve GatewayClasses of controller sharedlb.io/gateway-controller (default auto:
                       when the API server serves gateway.networking.k8s.io/v1 at start; docs/gateway-api.md)`;

type Tuning = Required<Pick<ControllerOptions, 'nodePortRange' | 'concurrency' | 'qps' | 'resyncSeconds' | 'relistSeconds' | 'lease' | 'eventSeriesSeconds'>>;

/** client-go's leader election JitterFactor: the renew deadline must outlast this many retry periods. */
const JITTER_FACTOR = 1.2;

const NUMBER_KINDS = {
  whole: { ok: (x: number) => Number.isInteger(x) && x >= 1, says: 'a whole number, at least 1' },
  count: { ok: (x: number) => Number.isInteger(x) && x >= 0, says: 'a whole number, 0 or more' },
  seconds: { ok: (x: number) => Number.isFinite(x) && x > 0, says: 'a number of seconds above 0' },
};

/**
 * The controller's numeric flags, or what is wrong with them: a mistyped
 * value is refused before anything starts, never carried in as NaN (a p-queue
 * that throws, a resync timer that fires without pause).
 */
export function controllerTuning(v: Record<string, string | boolean | undefined>): Tuning | string {
  const range = /^(\d+)-(\d+)$/.exec(String(v['node-port-range']));
  if (range === null || Number(range[1]) < 1 || Number(range[1]) > Number(range[2]) || Number(range[2]) > 65535) {
    return `--node-port-range must be FROM-TO within 1-65535, got ${JSON.stringify(v['node-port-range'])}`;
  }
  const problems: string[] = [];
  const number = (flag: string, kind: keyof typeof NUMBER_KINDS): number => {
    const x = Number(v[flag]);
    if (String(v[flag]).trim() === '' || !NUMBER_KINDS[kind].ok(x)) problems.push(`--${flag} must be ${NUMBER_KINDS[kind].says}, got ${JSON.stringify(v[flag])}`);
    return x;
  };
  const t: Tuning = {
    nodePortRange: { from: Number(range[1]), to: Number(range[2]) },
    concurrency: number('concurrency', 'whole'),
    qps: number('qps', 'count'),
    resyncSeconds: number('resync', 'seconds'),
    relistSeconds: number('relist', 'seconds'),
    lease: { durationSeconds: number('lease-duration', 'seconds'), renewDeadlineSeconds: number('renew-deadline', 'seconds'), retrySeconds: number('retry-period', 'seconds') },
    eventSeriesSeconds: number('event-series-interval', 'seconds'),
  };
  if (problems.length > 0) return problems.join('; ');
  const { durationSeconds, renewDeadlineSeconds, retrySeconds } = t.lease;
  // client-go's rules (leaderelection.NewLeaderElector): a leader must renew before others may take over, and retry in time.
  if (!(durationSeconds > renewDeadlineSeconds)) return `--lease-duration (${durationSeconds}) must be longer than --renew-deadline (${renewDeadlineSeconds})`;
  if (!(renewDeadlineSeconds > JITTER_FACTOR * retrySeconds)) return `--renew-deadline (${renewDeadlineSeconds}) must be longer than ${JITTER_FACTOR} × --retry-period (${retrySeconds})`;
  return t;
}

export async function controllerCommand(argv: string[], io: Io): Promise<number> {
  const values = commandArgs('controller', CONTROLLER_USAGE, argv, {
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string' },
    class: { type: 'string', default: DEFAULT_CLASS },
    'node-port-range': { type: 'string', default: '30000-32767' },
    listen: { type: 'string', default: ':8080' },
    concurrency: { type: 'string', default: '8' },
    qps: { type: 'string', default: '0' },
    resync: { type: 'string', default: '300' },
    relist: { type: 'string', default: '600' },
    'leader-elect': { type: 'boolean', default: true },
    'no-leader-elect': { type: 'boolean', default: false },
    'lease-duration': { type: 'string', default: '15' },
    'renew-deadline': { type: 'string', default: '10' },
    'retry-period': { type: 'string', default: '2' },
    'event-series-interval': { type: 'string', default: '60' },
    'gateway-api': { type: 'string', default: 'auto' },
    help: { type: 'boolean', short: 'h' },
  }, io);
  if (typeof values === 'number') return values;
  const tuning = controllerTuning(values);
  if (typeof tuning === 'string') {
    io.stderr(`sharedlb controller: ${tuning}\n${CONTROLLER_USAGE}\n`);
    return 2;
  }
  const gatewayApi = values['gateway-api'];
  if (gatewayApi !== 'auto' && gatewayApi !== 'on' && gatewayApi !== 'off') {
    io.stderr(`sharedlb controller: --gateway-api must be auto, on or off, got ${JSON.stringify(gatewayApi)}\n${CONTROLLER_USAGE}\n`);
    return 2;
  }
  const kc = loadKubeConfig({ path: values.kubeconfig, context: values.context, inCluster: true });
  const ctl = await startController({
    kc,
    namespace: values.namespace ?? process.env.POD_NAMESPACE ?? 'sharedlb-system',
    className: values.class,
    listen: values.listen === 'off' ? null : values.listen,
    leaderElect: values['leader-elect'] && !values['no-leader-elect'],
    gatewayApi,
    ...tuning,
  });
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  await ctl.stop();
  return 0;
}

