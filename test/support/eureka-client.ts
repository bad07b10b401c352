// A real eureka-js-client registered with a Eureka endpoint (the bridge's embedded one), with
// intervals short enough for tests. Started and stopped by the test.
const { Eureka } = require('eureka-js-client') as { Eureka: new (options: Record<string, unknown>) => EurekaJsClient };

interface EurekaJsClient {
  start(cb: (err?: Error) => void): void;
  stop(cb: (err?: Error) => void): void;
  getInstancesByAppId(app: string): Array<Record<string, unknown>>;
}

export interface EurekaClientOptions {
  /** The Eureka server's port on 127.0.0.1. */
  port: number;
  /** `/eureka/apps/` (Spring Cloud) or `/eureka/v2/apps/` (eureka-js-client's default). */
  servicePath?: string;
  app: string;
  instanceId: string;
  /** The registered instance's own port. */
  instancePort: number;
  metadata?: Record<string, string>;
  /** Fetch and heartbeat every this many ms. */
  intervalMs?: number;
}

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export interface StartedEurekaClient {
  client: EurekaJsClient;
  /** Instances of an app in the client's last fetch. */
  instances(app: string): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startEurekaClient(options: EurekaClientOptions): Promise<StartedEurekaClient> {
  const interval = options.intervalMs ?? 200;
  const client = new Eureka({
    logger: quiet,
    instance: {
      app: options.app,
      instanceId: options.instanceId,
      hostName: '127.0.0.1',
      ipAddr: '127.0.0.1',
      port: { $: options.instancePort, '@enabled': true },
      vipAddress: options.app.toLowerCase(),
      metadata: options.metadata ?? {},
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    },
    eureka: {
      host: '127.0.0.1',
      port: options.port,
      servicePath: options.servicePath ?? '/eureka/apps/',
      heartbeatInterval: interval,
      registryFetchInterval: interval,
      maxRetries: 0,
      preferIpAddress: true,
    },
  });
  await new Promise<void>((resolve, reject) => client.start((err) => (err ? reject(err) : resolve())));
  let stopped: Promise<void> | null = null;
  return {
    client,
    instances: (app) => client.getInstancesByAppId(app) ?? [],
    stop: () => (stopped ??= new Promise<void>((resolve) => client.stop(() => resolve()))),
  };
}
