// eureka-sync's public surface: the embedded Eureka-compatible server.
export { EmbeddedEureka } from './embedded-eureka';
export type { EmbeddedEurekaOptions } from './embedded-eureka';
export { createEurekaRouter, createEurekaAppsRouter, EUREKA_APPS_PATHS } from './eureka-server';
export { EurekaRegistry, appsHashcode } from './eureka-registry';
export type { EurekaRegistryOptions, ApplicationsView, ApplicationView, InstanceView } from './eureka-registry';
export * from './eureka-instance';
