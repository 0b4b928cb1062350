// Every file the program renders and uploads, with the host and path it goes to
// (what `npm run plan -- --out DIR` writes under DIR/<host>/<path>).
import type { ClusterPlan } from "./index";
import { PROXY_CONFIG, PROXY_HOSTS, SEATABLE_NGINX_CONF } from "./containers";
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
  ];
}
