// The embedded Eureka server alone in its process, for the sync benchmark (bench/sync.ts): an
// EmbeddedEureka over a Catalog, its router mounted at the root of an express app, as
// test/integration/eureka-embedded.test.ts and the bridge mount it.
//
// Usage: node --import tsx bench/support/sync-eureka.ts [--delta-retention-ms=180000]  -> prints "READY <port>"
import { Server } from 'node:http';
import express from 'express';
import { Catalog } from '../../src/catalog';
import { EmbeddedEureka } from '../../src/eureka-sync/embedded-eureka';
import { createEurekaRouter } from '../../src/eureka-sync/eureka-server';
import { Registry } from '../../src/telemetry/metrics';
import { announce, arg, exitOnSignal } from './child-protocol';

const deltaRetentionMs = Number(arg('delta-retention-ms', '180000'));

const catalog = new Catalog();
const eureka = new EmbeddedEureka({ catalog, metrics: new Registry(), deltaRetentionMs });
eureka.start();
const app = express();
app.use(createEurekaRouter(eureka));
const server: Server = app.listen(0, '127.0.0.1', () => announce(server));
exitOnSignal(() => {
  eureka.stop();
  server.close();
});
