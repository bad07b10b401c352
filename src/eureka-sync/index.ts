// eureka-sync's public surface: the embedded Eureka-compatible server.
export { EmbeddedEureka } from './embedded-eureka';
export type { EmbeddedEurekaOptions } from './embedded-eureka';
export { createEurekaRouter, createEurekaAppsRouter, EUREKA_APPS_PATHS } from './eureka-server';
export { EurekaRegistry, appsHashcode } from './eureka-registry';
export type { EurekaRegistryOptions, ApplicationsView, ApplicationView, InstanceView } from './eureka-registry';
export * from './eureka-instance';
// The client of external Eureka servers.
export { EurekaRemoteSync } from './eureka-remote';
export type { EurekaRemoteSyncOptions, EurekaRemoteSyncStatus } from './eureka-remote';
export { EUREKA_OWNER_TAG, EUREKA_SOURCES, defaultExportFilter, eurekaLedgerKey } from './eureka-remote-writer';
export type { EurekaRemoteWriterStatus } from './eureka-remote-writer';
export { applyDelta, hashcodesMatch, parseApplications, parseApplicationsJson, snapshotFromFull, snapshotHashcode } from './eureka-remote-delta';
export type { RemoteSnapshot, RemoteEntry, RemoteApplications, RemoteBadInstance } from './eureka-remote-delta';
