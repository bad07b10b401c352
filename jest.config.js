// Two projects: fast unit tests beside pure code, and integration tests against real peers.
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };

module.exports = {
  // Integration tests start real ZooKeeper, Java and Dubbo peers: allow them time.
  testTimeout: 60000,
  // On 2 cores jest runs in band, in its own process: one server a test leaves listening kept a CI
  // run from ever exiting (seen once, 947 tests passed, port unknown). Exit when the run is done;
  // finding such a leak is `npx jest --detectOpenHandles`' job, not CI's timeout's.
  forceExit: true,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      // apache-dubbo-js (a test peer) needs util.isString, gone since Node 23.
      setupFiles: ['<rootDir>/test/support/node-compat.ts'],
    },
  ],
};
