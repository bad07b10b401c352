// Test peers older than the Node.js we test on: apache-dubbo-js calls util.isString and
// util.isFunction, which Node 23 removed. Defined here, for the tests' own process only and only
// where missing, so the real peer runs unchanged on the current LTS as well as on Node 20.
// The module object itself (not an import wrapper's copy), so the peer sees what is defined.
const util = require('node:util') as Record<string, unknown>;

const legacy: Record<string, (value: unknown) => boolean> = {
  isString: (value) => typeof value === 'string',
  isFunction: (value) => typeof value === 'function',
  isArray: (value) => Array.isArray(value),
};

const target = util;
for (const [name, check] of Object.entries(legacy)) {
  if (typeof target[name] !== 'function') {
    try {
      target[name] = check;
    } catch {
      Object.defineProperty(target, name, { value: check, configurable: true, writable: true });
    }
  }
}
