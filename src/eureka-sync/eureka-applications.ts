// The documents a Eureka server answers fetches with — applications (full and delta), one
// application, one instance — in Eureka's JSON and XML forms. Pure formatting of registry views.
import { formatInstanceJson, formatInstanceXml } from './eureka-instance';
import { ApplicationView, ApplicationsView, InstanceView } from './eureka-registry';
import { xmlLeaf } from './eureka-xml';

function applicationJson(app: ApplicationView): Record<string, unknown> {
  return { name: app.name, instance: app.instances.map((v) => formatInstanceJson(v.instance, v.lease, v.actionType)) };
}

/** `{"applications": {"versions__delta", "apps__hashcode", "application": [...]}}`, numbers as strings as Eureka writes them. */
export function formatApplicationsJson(view: ApplicationsView): string {
  return JSON.stringify({
    applications: {
      versions__delta: String(view.versionsDelta),
      apps__hashcode: view.appsHashcode,
      application: view.applications.map(applicationJson),
    },
  });
}

export function formatApplicationJson(app: ApplicationView): string {
  return JSON.stringify({ application: applicationJson(app) });
}

export function formatInstanceViewJson(view: InstanceView): string {
  return JSON.stringify({ instance: formatInstanceJson(view.instance, view.lease, view.actionType) });
}

function applicationXml(out: string[], app: ApplicationView): void {
  out.push('<application>');
  xmlLeaf(out, 'name', app.name);
  for (const view of app.instances) formatInstanceXml(out, view.instance, view.lease, view.actionType);
  out.push('</application>');
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>';

export function formatApplicationsXml(view: ApplicationsView): string {
  const out: string[] = [XML_DECLARATION, '<applications>'];
  xmlLeaf(out, 'versions__delta', view.versionsDelta);
  xmlLeaf(out, 'apps__hashcode', view.appsHashcode);
  for (const app of view.applications) applicationXml(out, app);
  out.push('</applications>');
  return out.join('');
}

export function formatApplicationXml(app: ApplicationView): string {
  const out: string[] = [XML_DECLARATION];
  applicationXml(out, app);
  return out.join('');
}

export function formatInstanceViewXml(view: InstanceView): string {
  const out: string[] = [XML_DECLARATION];
  formatInstanceXml(out, view.instance, view.lease, view.actionType);
  return out.join('');
}
