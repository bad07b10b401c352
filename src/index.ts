// What a user embeds: the codec, the catalog, and the error hierarchy. Everything else is internal.
export * as dubbo from './dubbo-codec';
export * from './catalog';
export * from './errors';
export { loadBridgeConfig, validateBridgeConfig } from './bridge/config';
export type { BridgeConfig } from './bridge/config';
