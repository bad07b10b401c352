// The Dubbo 2 codec's public surface: pure, no I/O.
export * from './header';
export * from './status';
export * from './frame-decoder';
export * from './request-codec';
export * from './response-codec';
export * from './describe-frame';
export { HessianReader, HessianWriter, decodeValue, encodeValue } from './hessian2';
export { HessianScanner } from './hessian2-scanner';
export * from './java-value';
export * from './parameter-types';
export * from './dubbo-url';
