import { admin } from '/work/main/e2e/kube.ts';
import { inBatches } from '/work/main/bench/lib.ts';
const nss = (await admin().get<{ items: Array<{ metadata: { name: string } }> }>('/api/v1/namespaces?labelSelector=sharedlb.io%2Fe2e%3Dtrue')).items.map((n) => n.metadata.name);
for (const ns of nss) {
  const svcs = (await admin().get<{ items: Array<{ metadata: { name: string } }> }>(`/api/v1/namespaces/${ns}/services`)).items.map((s) => s.metadata.name);
  console.log(ns, svcs.length);
  await inBatches(svcs, 16, (n) => admin().delete(`/api/v1/namespaces/${ns}/services/${n}`).catch(() => undefined));
}
process.exit(0);
