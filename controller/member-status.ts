// What a member should show: its address annotations, its Ready condition,
// and (for LoadBalancer-class members) status.loadBalancer.ingress.

import type { V1LoadBalancerIngress, V1Service } from '@kubernetes/client-node';
import { ADDRESS, LOAD_BALANCER, READY_CONDITION } from '../allocator/annotations.ts';
import type { PortOutcome } from '../allocator/placement/allocate.ts';
import type { Reason } from '../allocator/types.ts';

export interface MemberView {
  ready: boolean;
  reason: Reason;
  message: string;
  /** namespace/name of its shared LB, when it holds ports on one. */
  loadBalancer: string | null;
  ingress: V1LoadBalancerIngress[];
  ports: PortOutcome[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

function host(i: V1LoadBalancerIngress): string | null {
  if (i.ip !== undefined && i.ip !== '') return i.ip.includes(':') ? `[${i.ip}]` : i.ip;
  return i.hostname ?? null;
}

/** 203.0.113.7:9092/TCP,203.0.113.7:9093/TCP — every LB address × every port. */
export function addressText(v: MemberView): string {
  const hosts = v.ingress.map(host).filter((h): h is string => h !== null);
  return hosts.flatMap((h) => v.ports.map((p) => `${h}:${p.externalPort}/${p.protocol}`)).join(',');
}

/** Annotation values to set (string) or remove (null). */
export function desiredAnnotations(v: MemberView | null): Record<string, string | null> {
  if (v === null || v.loadBalancer === null) return { [ADDRESS]: null, [LOAD_BALANCER]: null };
  const address = addressText(v);
  return { [ADDRESS]: address === '' ? null : address, [LOAD_BALANCER]: v.loadBalancer };
}

export function annotationPatch(svc: V1Service, want: Record<string, string | null>): Record<string, string | null> | null {
  const have = svc.metadata?.annotations ?? {};
  const patch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(want)) {
    if (v === null ? k in have : have[k] !== v) patch[k] = v;
  }
  return Object.keys(patch).length > 0 ? patch : null;
}

export function currentCondition(svc: V1Service): Condition | undefined {
  return (svc.status?.conditions ?? []).find((c) => c.type === READY_CONDITION) as Condition | undefined;
}

/** The Ready condition; its transition time moves only when its status does. */
export function desiredCondition(svc: V1Service, v: MemberView, now: Date): Condition {
  const status = v.ready ? 'True' : 'False';
  const before = currentCondition(svc);
  return {
    type: READY_CONDITION,
    status,
    reason: v.reason,
    message: v.message,
    lastTransitionTime: before?.status === status ? before.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(svc.metadata?.generation !== undefined ? { observedGeneration: svc.metadata.generation } : {}),
  };
}

export function conditionDiffers(svc: V1Service, c: Condition): boolean {
  const before = currentCondition(svc);
  return before === undefined || before.status !== c.status || before.reason !== c.reason || before.message !== c.message || before.observedGeneration !== c.observedGeneration;
}

/**
 * LoadBalancer-class members show the shared LB's address; ports only where
 * the external port is their own. kube-proxy programs a VIP-mode ingress IP
 * on every port of the member's own spec.ports and ignores ingress[].ports
 * (k8s.io/kubernetes pkg/proxy/serviceport.go, newBaseServiceInfo): unless
 * the member holds every one of its spec ports at its own number on this
 * LB, its number on that IP may be another member's (a port remapped, or
 * one it asked for and waits for, or holds no more while frozen), and nodes
 * would send that member's traffic here. So any such member says ipMode
 * Proxy, which kube-proxy leaves alone (pkg/proxy/util IsVIPMode):
 * in-cluster clients then reach the address through the LB itself, as from
 * outside.
 */
export function desiredIngress(v: MemberView | null, specPorts: ReadonlyArray<{ name?: string; port: number; protocol?: string }>): V1LoadBalancerIngress[] {
  if (v === null || v.loadBalancer === null) return [];
  const own = v.ports.filter((p) => p.externalPort === p.port).map((p) => ({ port: p.port, protocol: p.protocol }));
  const vip = specPorts.every((s) => v.ports.some((p) => p.servicePort === (s.name ?? '') && p.protocol === (s.protocol ?? 'TCP') && p.externalPort === s.port));
  return v.ingress.map((i) => {
    const ipMode = i.ip && !vip ? 'Proxy' : i.ipMode;
    return {
      ...(i.ip ? { ip: i.ip } : {}),
      ...(i.hostname ? { hostname: i.hostname } : {}),
      ...(ipMode ? { ipMode } : {}),
      ...(own.length > 0 ? { ports: own } : {}),
    };
  });
}

export function ingressDiffers(svc: V1Service, want: V1LoadBalancerIngress[]): boolean {
  return JSON.stringify(svc.status?.loadBalancer?.ingress ?? []) !== JSON.stringify(want);
}
