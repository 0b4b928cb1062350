// Every file the program renders and uploads, with the host and path it goes to.
import type { ClusterPlan } from "./index";
import { renderProxyConfig, renderProxyHosts } from "./nginx";

/** Where the dtable-server-proxy's files live on the dtable-web host (beside SeaTable's compose files). */
export const PROXY_DIR = "/opt/seatable-compose";
export const PROXY_CONFIG_PATH = `${PROXY_DIR}/nginx-proxy.conf`;
export const PROXY_HOSTS_PATH = `${PROXY_DIR}/dtable-server-proxy.hosts`;

export type RenderedFile = { readonly host: string; readonly path: string; readonly content: string };

export function renderedFiles(plan: ClusterPlan): RenderedFile[] {
  const { config, routing } = plan;
  const web = config.hosts.web.name;
  const servers = config.hosts.servers.map((s) => s.name);
  return [
    { host: web, path: PROXY_CONFIG_PATH, content: renderProxyConfig(routing, servers, config.proxy) },
    { host: web, path: PROXY_HOSTS_PATH, content: renderProxyHosts(config.hosts.servers) },
  ];
}
