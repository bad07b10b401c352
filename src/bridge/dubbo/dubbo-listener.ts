// The bridge's Dubbo listener is the data path's Dubbo connection manager (src/proxy/dubbo/).
export { DubboListener, defaultDubboLimits } from '../../proxy/dubbo/dubbo-listener';
export type { DubboLimits, DubboListenerOptions, DubboServicePolicy } from '../../proxy/dubbo/dubbo-listener';
