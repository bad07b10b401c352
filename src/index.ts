// What a user embeds: the codec, the catalog, the registry syncs, the bridge process and the error
// hierarchy. Everything else is internal.
export * as dubbo from './dubbo-codec';
export * from './catalog';
export * from './errors';
export { loadBridgeConfig, validateBridgeConfig } from './bridge/config';
export type { BridgeConfig, RouteConfig, MeshServiceConfig } from './bridge/config';
export { Bridge } from './bridge/bridge-process';
export type { BridgeAddresses } from './bridge/bridge-process';
export { StackWeights } from './proxy/router/stack-weights';
export { ZookeeperSync } from './zookeeper-sync/zookeeper-sync';
export type { ZookeeperSyncOptions, ZookeeperSyncStatus } from './zookeeper-sync/zookeeper-sync';
export { EmbeddedEureka, EurekaRemoteSync, createEurekaRouter } from './eureka-sync';
export type { EmbeddedEurekaOptions, EurekaRemoteSyncOptions, EurekaRemoteSyncStatus } from './eureka-sync';
