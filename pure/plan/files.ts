// Every file the program renders and uploads, with the host and path it goes to
// (what `npm run plan -- --out DIR` writes under DIR/<host>/<path>).
import type { ClusterPlan } from "./index";
import { PROXY_CONFIG, PROXY_HOSTS, SEATABLE_HOSTS, SEATABLE_NGINX_CONF, seatableHostsFile } from "./containers";
import { proxyFiles } from "./rollout";
import { renderSeatableNginx } from "./seatable-nginx";

export type RenderedFile = { readonly host: string; readonly path: string; readonly content: string };

export function renderedFiles(plan: ClusterPlan): RenderedFile[] {
  const { config } = plan;
  const web = config.hosts.web.name;
  const proxy = proxyFiles(plan);
  return [
    { host: web, path: PROXY_CONFIG, content: proxy.conf },
    { host: web, path: PROXY_HOSTS, content: proxy.hosts },
    { host: web, path: SEATABLE_NGINX_CONF, content: renderSeatableNginx(config) },
    // seatable-server's /etc/hosts where an IPv6 address keeps it out of extra_hosts
    ...[config.hosts.web, config.hosts.db, ...config.hosts.servers].flatMap((h) => {
      const content = seatableHostsFile(config, h);
      return content === undefined ? [] : [{ host: h.name, path: SEATABLE_HOSTS, content }];
    }),
  ];
}
