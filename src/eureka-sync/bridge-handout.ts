// How an app is handed out to Eureka clients while it is migrated: at the bridge's HTTP listener
// (so every call crosses the weight), or as registered (weight 0, legacy instances present: no
// extra hop). Pure: the same decision serves the embedded server and the external ones.
import { hostname } from 'node:os';
import type { Instance } from '../catalog';
import { DEFAULT_DATA_CENTER_CLASS, DEFAULT_LEASE_DURATION_SECS, DEFAULT_RENEWAL_INTERVAL_SECS, EurekaInstance } from './eureka-instance';
import type { AppVisibility } from './eureka-registry';
import type { EurekaConfig } from './eureka-config';

/** The bridge's HTTP listener as Eureka clients are given it. */
export interface BridgeHandout {
  /** The bridge's id: names its entry (`mesh-bridge:<id>`) in every app. */
  bridgeId: string;
  /** The address clients connect to. */
  ipAddr: string;
  port: number;
  /**
   * The host name handed out is `<app>.<hostSuffix>` (lower case): the HTTP listener reads the
   * app from the Host header's first label, so `*.<hostSuffix>` must resolve to ipAddr.
   */
  hostSuffix: string;
}

/** Metadata key on the bridge's own entries: readers never take them for an instance of the app. */
export const HANDOUT_TAG = 'mesh-bridge.handout';

/** Counts of an app's HTTP instances per stack, as the catalog knows them. */
export interface AppStacks {
  legacy: number;
  mesh: number;
}

export function countHttpStacks(instances: Iterable<Instance>, into: AppStacks = { legacy: 0, mesh: 0 }): AppStacks {
  for (const instance of instances) {
    if (instance.protocol !== 'http') continue;
    if (instance.stack === 'mesh') into.mesh++;
    else into.legacy++;
  }
  return into;
}

/**
 * Where an app's clients go: `bridge` while any share goes to the mesh, or when only the mesh side
 * has instances; `legacy` at weight 0 with legacy instances (the mesh twin gets nothing, so it is
 * not shown); `all` for apps with no HTTP instances, or when there is no bridge to hand out.
 */
export function appVisibility(stacks: AppStacks, meshWeight: number, bridgeAvailable: boolean): AppVisibility {
  if (stacks.legacy + stacks.mesh === 0 || !bridgeAvailable) return 'all';
  if (meshWeight > 0 || stacks.legacy === 0) return 'bridge';
  return 'legacy';
}

export function handoutInstanceId(bridgeId: string): string {
  return `mesh-bridge:${bridgeId}`;
}

/** The bridge's entry in an app: UP, at the HTTP listener, tagged as the bridge's. */
export function handoutInstance(app: string, handout: BridgeHandout, now: number): EurekaInstance {
  const name = app.toUpperCase();
  const vip = app.toLowerCase();
  const hostName = `${vip}.${handout.hostSuffix}`;
  return {
    instanceId: handoutInstanceId(handout.bridgeId),
    app: name,
    hostName,
    ipAddr: handout.ipAddr,
    status: 'UP',
    overriddenStatus: 'UNKNOWN',
    port: { port: handout.port, enabled: true },
    securePort: { port: 443, enabled: false },
    countryId: 1,
    dataCenterInfo: { className: DEFAULT_DATA_CENTER_CLASS, name: 'MyOwn' },
    renewalIntervalInSecs: DEFAULT_RENEWAL_INTERVAL_SECS,
    durationInSecs: DEFAULT_LEASE_DURATION_SECS,
    metadata: { [HANDOUT_TAG]: handout.bridgeId, 'mesh-bridge.protocol': 'http', 'mesh-bridge.stack': 'bridge' },
    homePageUrl: `http://${hostName}:${handout.port}/`,
    vipAddress: vip,
    secureVipAddress: vip,
    lastDirtyTimestamp: now,
    lastUpdatedTimestamp: now,
  };
}

const WILDCARDS = ['0.0.0.0', '::', '[::]', ''];

/** The handout of a bridge whose HTTP listener listens on `port`, from its config. */
export function httpHandout(config: { bridge: { id: string }; http: { host: string }; eureka: EurekaConfig }, port: number): BridgeHandout {
  const address = config.eureka.handout.address ?? (WILDCARDS.includes(config.http.host) ? hostname() : config.http.host);
  return { bridgeId: config.bridge.id, ipAddr: address, port, hostSuffix: config.eureka.handout.hostSuffix };
}
