// Which service a name from an operator means, matched the way its registry matches names: a Dubbo
// interface exactly, a Eureka app in any case (the catalog keeps Eureka's upper-case spelling). A
// name the catalog has never seen and the config does not declare means nothing, so no weight,
// route or znode is ever made for an invented name.
import type { Catalog, Subscription } from '../../catalog';
import { canonicalServiceName } from '../config';

type Protocol = 'dubbo' | 'http';

export interface DeclaredService {
  service: string;
  protocol: Protocol;
}

export class ServiceNames {
  /** Every service the catalog has had instances of, with their protocols (the registries bound it). */
  private readonly seen = new Map<string, Set<Protocol>>();
  private readonly declared = new Map<string, Protocol>();
  private readonly subscription: Subscription;

  constructor(catalog: Catalog, declared: readonly DeclaredService[]) {
    for (const entry of declared) this.declared.set(canonicalServiceName(entry.service, entry.protocol), entry.protocol);
    for (const name of catalog.serviceNames()) for (const instance of catalog.instances(name)) this.see(name, instance.protocol);
    this.subscription = catalog.subscribeAll((delta) => {
      for (const instance of delta.added) this.see(delta.service, instance.protocol);
    });
  }

  close(): void {
    this.subscription.unsubscribe();
  }

  private see(service: string, protocol: Protocol): void {
    let protocols = this.seen.get(service);
    if (protocols === undefined) this.seen.set(service, (protocols = new Set()));
    protocols.add(protocol);
  }

  /** The registry's spelling of a name an operator gave, or null when no such service is known. */
  resolve(name: string): string | null {
    if (this.declared.has(name) || this.seen.has(name)) return name;
    const upper = name.toUpperCase();
    if (this.declared.get(upper) === 'http' || this.seen.get(upper)?.has('http')) return upper;
    return null;
  }
}
