// The names sharedlb reads and writes on Services. One place, so the parser
// can tell a misspelt annotation from one of ours.

export const GROUP = 'sharedlb.io';
export const DEFAULT_CLASS = 'sharedlb.io/shared';

/** Set by users on members. */
export const ENABLED = 'sharedlb.io/enabled';
export const POOL = 'sharedlb.io/pool';
export const PORT_POLICY = 'sharedlb.io/port-policy';
/** "true": the member accepts a new address when an admin repacks its pool (port-policy any implies it). */
export const MOVABLE = 'sharedlb.io/movable';
/** On a LoadBalancerPool, set by an admin: each new value asks the controller to repack the pool's movable members once. */
export const REPACK = 'sharedlb.io/repack';

/** Written by the controller on members: a mirror for people. */
export const ADDRESS = 'sharedlb.io/address';
export const LOAD_BALANCER = 'sharedlb.io/load-balancer';

/** Written by the controller on shared LBs: the store of record. */
export const ALLOCATIONS = 'sharedlb.io/allocations';
export const LB_POOL_LABEL = 'sharedlb.io/pool';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'sharedlb.io';
export const EMPTY_SINCE = 'sharedlb.io/empty-since';
/** The provider profile of the LB's pool, when it was built: a deleted pool's LB is still priced. */
export const LB_PROVIDER = 'sharedlb.io/provider';
/** The LB's class (what its members declared beyond the pool's template); absent for the default class. */
export const LB_CLASS = 'sharedlb.io/class';
/** {"ns/name": uid} of the LB's members: a Service deleted and made again under the same name is a new member. */
export const MEMBER_UIDS = 'sharedlb.io/member-uids';
/** Which annotations the pool's template put on the LB, so that one the admin removes is removed too. */
export const TEMPLATE_ANNOTATIONS = 'sharedlb.io/template-annotations';

export const USER_ANNOTATIONS: readonly string[] = [ENABLED, POOL, PORT_POLICY, MOVABLE];
export const CONTROLLER_ANNOTATIONS: readonly string[] = [ADDRESS, LOAD_BALANCER];

export const READY_CONDITION = 'sharedlb.io/Ready';
