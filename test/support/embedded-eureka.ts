// The embedded Eureka server alone on an ephemeral port of 127.0.0.1 (no bridge around it), for
// tests that drive it over HTTP. Stopped by the test through close().
import { AddressInfo } from 'node:net';
import { Server } from 'node:http';
import express, { RequestHandler } from 'express';
import { Catalog, MemoryOwnershipLedger } from '../../src/catalog';
import { EmbeddedEureka, EmbeddedEurekaOptions } from '../../src/eureka-sync/embedded-eureka';
import { createEurekaRouter } from '../../src/eureka-sync/eureka-server';
import { Registry } from '../../src/telemetry/metrics';

export interface EmbeddedEurekaHarness {
  base: string;
  port: number;
  eureka: EmbeddedEureka;
  catalog: Catalog;
  metrics: Registry;
  ledger: MemoryOwnershipLedger;
  close(): Promise<void>;
}

/** Starts one; `before` runs ahead of the Eureka routes (e.g. to log requests). */
export async function startEmbeddedEureka(options: Partial<EmbeddedEurekaOptions> = {}, before?: RequestHandler): Promise<EmbeddedEurekaHarness> {
  const catalog = new Catalog();
  const metrics = new Registry();
  const ledger = new MemoryOwnershipLedger('bridge-1');
  const eureka = new EmbeddedEureka({ catalog, metrics, ledger, ...options });
  eureka.start();
  const app = express();
  if (before !== undefined) app.use(before);
  app.use(createEurekaRouter(eureka));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    eureka,
    catalog,
    metrics,
    ledger,
    close: async () => {
      eureka.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
