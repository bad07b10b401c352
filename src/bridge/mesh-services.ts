// The mesh side's services as the config declares them, turned into catalog instances under the
// `mesh` source, so the registry writers make them visible to the legacy stacks.
import { Catalog, Instance, instanceDefaults } from '../catalog';
import { MeshServiceConfig } from './config';

export const MESH_SOURCE = 'mesh';

export function meshInstances(service: MeshServiceConfig): Instance[] {
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
    labels: instance.labels,
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
