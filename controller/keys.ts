// The work queue's keys: a pool to place, or a member to converge. One queue
// carries both (pool placements and member write-backs share its concurrency
// and its API-server budget); these are the only places its strings are
// made and read.

export type ReconcileKey = { kind: 'pool'; pool: string } | { kind: 'member'; member: string };

export const poolKey = (pool: string): string => `pool:${pool}`;
/** `member` is namespace/name. */
export const memberKey = (member: string): string => `member:${member}`;

export function parseKey(key: string): ReconcileKey {
  if (key.startsWith('pool:')) return { kind: 'pool', pool: key.slice(5) };
  if (key.startsWith('member:')) return { kind: 'member', member: key.slice(7) };
  throw new Error(`not a reconcile key: ${JSON.stringify(key)}`);
}
