// The HTTP listener lives in the data path shared with the sidecar (src/proxy/http/); this name is
// kept so code written against the bridge's old layout (bench/support/bridge.ts) still builds.
export * from '../../proxy/http/http-listener';
