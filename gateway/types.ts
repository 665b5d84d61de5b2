// The Gateway API objects sharedlb reads (gateway.networking.k8s.io/v1 and
// v1beta1 ReferenceGrant), as plain shapes: only the fields it acts on.

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const CONTROLLER_NAME = 'sharedlb.io/gateway-controller';

export interface Meta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  /** A string as JSON carries it (typed as client-node's objects are, for its informers). */
  creationTimestamp?: Date;
  deletionTimestamp?: Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface GatewayClassObject {
  metadata?: Meta;
  spec?: { controllerName?: string; parametersRef?: { group?: string; kind?: string; name?: string; namespace?: string } };
  status?: { conditions?: Condition[]; supportedFeatures?: Array<{ name: string }> };
}

export interface RouteGroupKind {
  group?: string;
  kind: string;
}

export interface SecretRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

export interface Listener {
  name: string;
  port: number;
  protocol: string;
  hostname?: string;
  allowedRoutes?: {
    namespaces?: { from?: 'All' | 'Same' | 'Selector' | string; selector?: import('../allocator/types.ts').LabelSelector };
    kinds?: RouteGroupKind[];
  };
  tls?: { mode?: string; certificateRefs?: SecretRef[] };
}

export interface ListenerStatus {
  name: string;
  supportedKinds: Array<{ group: string; kind: string }>;
  attachedRoutes: number;
  conditions: Condition[];
}

export interface GatewayObject {
  metadata?: Meta;
  spec?: { gatewayClassName?: string; listeners?: Listener[]; addresses?: Array<{ type?: string; value?: string }> };
  status?: { addresses?: Array<{ type: string; value: string }>; conditions?: Condition[]; listeners?: ListenerStatus[] };
}

export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
}

export type RouteKind = 'TCPRoute' | 'UDPRoute' | 'HTTPRoute';
export const ROUTE_KINDS: readonly RouteKind[] = ['TCPRoute', 'UDPRoute', 'HTTPRoute'];

export interface RouteRule {
  backendRefs?: BackendRef[];
  // HTTPRoute only: what would need L7.
  matches?: Array<{ path?: { type?: string; value?: string }; headers?: unknown[]; queryParams?: unknown[]; method?: string }>;
  filters?: unknown[];
  timeouts?: unknown;
  retry?: unknown;
  sessionPersistence?: unknown;
  name?: string;
}

export interface RouteParentStatus {
  parentRef: ParentRef;
  controllerName: string;
  conditions: Condition[];
}

export interface RouteObject {
  apiVersion?: string;
  kind: RouteKind;
  metadata?: Meta;
  spec?: { parentRefs?: ParentRef[]; hostnames?: string[]; rules?: RouteRule[] };
  status?: { parents?: RouteParentStatus[] };
}

export interface ReferenceGrantObject {
  metadata?: Meta;
  spec?: { from?: Array<{ group?: string; kind: string; namespace: string }>; to?: Array<{ group?: string; kind: string; name?: string }> };
}

/** What a certificate reference resolves to; the controller reads Secrets, the model only their verdict. */
export type SecretVerdict = 'valid' | 'missing' | 'malformed';

/** A Service as a backend: its ports, to turn a backendRef's port into the name its EndpointSlices carry. */
export interface BackendService {
  ports: Array<{ name: string; port: number; protocol: string }>;
}

/** namespace/name of a namespaced object. */
export const objectKey = (o: { metadata?: Meta }): string => `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}`;
