// What a Java Dubbo 2.7 consumer makes of the provider and override URLs it reads from ZooKeeper,
// for tests (no Java Dubbo can run here): which providers it keeps, after its registry's matching
// (UrlUtils.isMatch), the merge of its own parameters into each provider URL (ClusterUtils.mergeUrl),
// the override configurators applied in order (AbstractConfigurator, the branch for URLs without
// `configVersion`, which is what `override://` entries in the registry are) and the disabled/enabled
// check that decides whether an invoker is made (RegistryDirectory.toInvokers). Written from reading
// those classes, kept to the parts that decide whether a provider is called.
import { DubboUrl, parseDubboUrl, urlInterface } from '../../src/dubbo-codec/dubbo-url';

export interface ConsumerReference {
  interface: string;
  version?: string;
  group?: string;
  application: string;
  /** The consumer's own address (NetUtils.getLocalHost()). */
  host: string;
}

const ANY = '*';

function param(url: DubboUrl, key: string): string | undefined {
  return url.params.get(key);
}

function bool(url: DubboUrl, key: string, fallback: boolean): boolean {
  const value = param(url, key);
  return value === undefined || value === '' ? fallback : value === 'true';
}

/** The consumer's subscription URL as it asks the registry (`consumer://host/iface?category=...`). */
function subscription(ref: ConsumerReference): DubboUrl {
  const params = new Map<string, string>([
    ['application', ref.application],
    ['category', 'providers,configurators,routers'],
    ['interface', ref.interface],
    ['side', 'consumer'],
  ]);
  if (ref.version !== undefined) params.set('version', ref.version);
  if (ref.group !== undefined) params.set('group', ref.group);
  return { protocol: 'consumer', username: '', password: '', host: ref.host, port: 0, path: ref.interface, params };
}

function matchCategory(category: string, categories: string): boolean {
  if (categories === '') return category === 'providers';
  if (categories.includes(ANY)) return true;
  if (categories.includes('-')) return !categories.includes(`-${category}`);
  return categories.split(',').includes(category);
}

/** UrlUtils.isMatch(consumerUrl, providerUrl): whether the registry hands a URL to this consumer. */
export function isMatch(consumer: DubboUrl, provider: DubboUrl): boolean {
  const ci = urlInterface(consumer);
  const pi = urlInterface(provider);
  if (!(ci === ANY || pi === ANY || ci === pi)) return false;
  if (!matchCategory(param(provider, 'category') ?? 'providers', param(consumer, 'category') ?? 'providers')) return false;
  if (!bool(provider, 'enabled', true) && param(consumer, 'enabled') !== ANY) return false;
  const cg = param(consumer, 'group');
  const cv = param(consumer, 'version');
  const pg = param(provider, 'group');
  const pv = param(provider, 'version');
  const groupOk = cg === ANY || cg === pg || (cg !== undefined && pg !== undefined && cg.split(',').includes(pg));
  const versionOk = cv === ANY || cv === pv;
  return groupOk && versionOk;
}

/** ClusterUtils.mergeUrl, the parts that matter here: the consumer's side and application replace the provider's. */
function mergeConsumer(provider: DubboUrl, ref: ConsumerReference): DubboUrl {
  const params = new Map(provider.params);
  const application = params.get('application');
  if (application !== undefined) params.set('remote.application', application);
  params.set('application', ref.application);
  params.set('side', 'consumer');
  return { ...provider, params };
}

const CONDITION_KEYS = ['category', 'check', 'dynamic', 'enabled', 'group', 'version', 'application', 'side', 'configVersion', 'compatible_config', 'interfaces'];

/** AbstractConfigurator.configure for an override URL without `configVersion`, then OverrideConfigurator.doConfigure. */
export function configure(override: DubboUrl, url: DubboUrl, ref: ConsumerReference): DubboUrl {
  if (!bool(override, 'enabled', true) || override.host === '' || url.host === '') return url;
  if (param(override, 'configVersion') !== undefined) throw new Error('this model covers override URLs without configVersion only');
  let host: string;
  if (override.port !== 0) {
    if (url.port !== override.port) return url;
    host = url.host;
  } else if ((param(url, 'side') ?? 'provider') === 'consumer') {
    host = ref.host;
  } else {
    host = '0.0.0.0';
  }
  if (!(override.host === '0.0.0.0' || override.host === host)) return url;
  const providers = param(override, 'providers');
  const address = `${url.host}:${url.port}`;
  if (!(providers === undefined || providers === '' || providers.includes(address) || providers.includes('0.0.0.0'))) return url;
  const configApplication = param(override, 'application') ?? (override.username || undefined);
  const currentApplication = param(url, 'application') ?? (url.username || undefined);
  if (!(configApplication === undefined || configApplication === ANY || configApplication === currentApplication)) return url;
  const conditions = new Set(CONDITION_KEYS);
  for (const [key, value] of override.params) {
    if (key.startsWith('~') || key === 'application' || key === 'side') {
      conditions.add(key);
      if (value !== ANY && value !== param(url, key.startsWith('~') ? key.slice(1) : key)) return url;
    }
  }
  const params = new Map(url.params);
  for (const [key, value] of override.params) if (!conditions.has(key)) params.set(key, value);
  return { ...url, params };
}

/** RegistryDirectory.toInvokers: an invoker is made when `disabled` is absent and `enabled` not false, or `disabled` is false. */
function enabled(url: DubboUrl): boolean {
  return url.params.has('disabled') ? !bool(url, 'disabled', false) : bool(url, 'enabled', true);
}

/** A provider a consumer keeps, with the weight its load balancer gives it (the URL's `weight` after overrides; warm-up left out). */
export interface CallableProvider {
  address: string;
  weight: number;
}

/** The providers this consumer would keep, given the decoded URLs under `providers` and `configurators`. */
export function callableProviders(ref: ConsumerReference, providerUrls: readonly string[], overrideUrls: readonly string[]): CallableProvider[] {
  const consumer = subscription(ref);
  const overrides = overrideUrls
    .map((text) => parseDubboUrl(text))
    .filter((url) => url.protocol === 'override' && isMatch(consumer, url))
    // Sorted as Configurator.compareTo: by host (0.0.0.0 first), then priority.
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : Number(param(a, 'priority') ?? 0) - Number(param(b, 'priority') ?? 0)));
  const out: CallableProvider[] = [];
  for (const text of providerUrls) {
    const provider = parseDubboUrl(text);
    if (provider.protocol !== 'dubbo' || !isMatch(consumer, provider)) continue;
    let url = mergeConsumer(provider, ref);
    for (const override of overrides) url = configure(override, url, ref);
    const weight = Number(param(url, 'weight') ?? 100);
    if (enabled(url)) out.push({ address: `${provider.host}:${provider.port}`, weight: Number.isFinite(weight) ? Math.max(weight, 0) : 100 });
  }
  return out;
}

/** The `host:port` of every provider this consumer would keep. */
export function enabledProviders(ref: ConsumerReference, providerUrls: readonly string[], overrideUrls: readonly string[]): string[] {
  return callableProviders(ref, providerUrls, overrideUrls).map((p) => p.address);
}

/**
 * RandomLoadBalance.doSelect: by weight when the weights differ and some is above 0, else uniformly
 * (so when only zero-weight providers are left, they are called).
 */
export function pickRandom(providers: readonly CallableProvider[], random: number): CallableProvider {
  const total = providers.reduce((sum, p) => sum + p.weight, 0);
  const same = providers.every((p) => p.weight === providers[0].weight);
  if (total > 0 && !same) {
    let offset = random * total;
    for (const provider of providers) {
      offset -= provider.weight;
      if (offset < 0) return provider;
    }
  }
  return providers[Math.floor(random * providers.length)];
}
