// The mesh side's services as the config declares them, turned into catalog instances under the
// `mesh` source, so the registry writers make them visible to the legacy stacks; and which services
// are being migrated, from the weights, so the writers steer their consumers to the bridge.
import { Catalog, Instance, instanceDefaults } from '../catalog';
import type { MigrationState } from '../zookeeper-sync/zookeeper-writer';
import { MeshServiceConfig } from './config';
import { StackWeights } from '../proxy/router/stack-weights';
import { WeightControl } from './control/weight-control';

export const MESH_SOURCE = 'mesh';

/**
 * The methods a service declares in config (`mesh.services[].methods`, when the schema has it), as
 * the `methods` label its instances carry unless they name their own: the bridge's provider URL then
 * lists them from the start, whatever legacy providers are registered.
 */
function declaredMethods(service: MeshServiceConfig): string | undefined {
  const methods = (service as { methods?: unknown }).methods;
  return Array.isArray(methods) && methods.length > 0 && methods.every((m) => typeof m === 'string') ? methods.join(',') : undefined;
}

export function meshInstances(service: MeshServiceConfig): Instance[] {
  const methods = declaredMethods(service);
  return service.instances.map((instance) => ({
    ...instanceDefaults(),
    id: `${instance.host}:${instance.port}`,
    service: service.name,
    protocol: service.protocol,
    host: instance.host,
    port: instance.port,
    stack: 'mesh',
    weight: instance.weight,
    version: instance.version,
    group: instance.group,
    labels: methods !== undefined && instance.labels.methods === undefined ? { ...instance.labels, methods } : instance.labels,
    origin: { source: MESH_SOURCE },
  }));
}

/** Makes the catalog's mesh source exactly the configured services (others it had are removed). */
export function loadMeshServices(catalog: Catalog, services: readonly MeshServiceConfig[]): void {
  const names = new Set(services.map((s) => s.name));
  for (const service of services) catalog.replaceSource(MESH_SOURCE, service.name, meshInstances(service));
  for (const name of catalog.serviceNames()) {
    if (!names.has(name)) catalog.replaceSource(MESH_SOURCE, name, []);
  }
}

/** A service is being migrated while some of its calls (or one method's) go to the mesh. */
export function isMigrating(weights: StackWeights, service: string): boolean {
  if (weights.meshWeight(service) > 0) return true;
  return weights.list().some((w) => w.service === service && w.method !== undefined && w.mesh > 0);
}

/** The highest mesh weight of a service or any of its methods, percent. */
export function maxWeight(weights: StackWeights, service: string): number {
  let max = weights.meshWeight(service);
  for (const w of weights.list()) if (w.service === service && w.method !== undefined && w.mesh > max) max = w.mesh;
  return max;
}

/** The bridge's weights as the registry writers see them: migrating or not, and when that may change. */
export function migrationState(control: WeightControl): MigrationState {
  return {
    isMigrating: (service) => isMigrating(control.weights, service),
    maxWeight: (service) => maxWeight(control.weights, service),
    onChange: (listener) => control.onApply(listener),
  };
}
