// What runs on each host: the containers, as plain data the resource layer maps
// onto docker.Container one to one.
import { createHash } from "node:crypto";
import type { ClusterConfig, NodeHost, SecretRef } from "../config/schema";
import { PORTS } from "../config/schema";
import { canonicalAddress } from "../config/values";
import { goDuration } from "./go-duration";
import { STATUS_PATH } from "./nginx";
import { nodeEnvironment, Role, secretEnvironmentNames } from "./seatable";
import { NodeEnvironment, withAdminEnvironment } from "./environment";

export const SEATABLE_CONTAINER = "seatable-server";
export const PROXY_CONTAINER = "dtable-server-proxy";
export const CADDY_CONTAINER = "caddy";
export const CADDY_IMAGE = "lucaslorentz/caddy-docker-proxy:2.12.0-alpine";
/** The docker network caddy and dtable-web's nginx share (REL's name). */
export const FRONTEND_NETWORK = "frontend-net";

/** Host folder mounted at /shared (REL); SeaTable's conf/ lives below it. */
export const SEATABLE_DIR = "/opt/seatable-server";
/** Host folder for the files this program renders (beside REL's compose files). */
export const COMPOSE_DIR = "/opt/seatable-compose";
export const PROXY_DIR = `${COMPOSE_DIR}/dtable-server-proxy`;
export const PROXY_CONFIG = `${PROXY_DIR}/nginx-proxy.conf`;
export const PROXY_HOSTS = `${PROXY_DIR}/hosts`;
/** Where the proxy container sees PROXY_DIR. */
export const PROXY_DIR_IN_CONTAINER = "/etc/nginx/proxy";
export const SEATABLE_NGINX_CONF = `${COMPOSE_DIR}/config/seatable-nginx.conf`;
/**
 * A seatable-server's /etc/hosts when its extra_hosts hold an IPv6 address,
 * which the docker provider cannot read back (docs/engine-contract.md); the
 * node's "hosts-file" step writes it (seatableHostsFile) before the container starts.
 */
export const SEATABLE_HOSTS = `${COMPOSE_DIR}/seatable-server-hosts`;
/** Label with the sha256 of that file: a new file replaces the container, as a changed extra_hosts does. */
export const HOSTS_FILE_LABEL = "seatable-cluster.hosts-sha256";
export const LICENSE_PATH = `${SEATABLE_DIR}/seatable/seatable-license.txt`;

export type PortSpec = { readonly ip: string; readonly external: number; readonly internal: number };
export type VolumeSpec = { readonly hostPath: string; readonly containerPath: string; readonly readOnly: boolean };

export type ContainerSpec = {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  /** plain environment */
  readonly env: Readonly<Record<string, string>>;
  /** environment variable → the secret config key (or environmentSecrets name) whose value it carries */
  readonly secretEnv: Readonly<Record<string, SecretRef>>;
  readonly ports: readonly PortSpec[];
  readonly volumes: readonly VolumeSpec[];
  /** extra_hosts: name → address; IPv4 only (an IPv6 entry does not survive the provider's read-back) */
  readonly extraHosts: readonly { readonly host: string; readonly ip: string }[];
  readonly labels: Readonly<Record<string, string>>;
  readonly networks: readonly string[];
  /**
   * seconds between SIGTERM and SIGKILL. Whether a stop saves dtable-server's
   * bases is doubtful (seatable-facts.md): a generous timeout gives a save the
   * time if there is one; SeaTable's safety net is the operation log replayed
   * when a base loads.
   */
  readonly stopTimeoutSeconds: number;
  readonly restart: "unless-stopped";
  readonly logOpts: Readonly<Record<string, string>>;
  readonly logDriver: "json-file";
  /** Docker's health check; `pulumi up` waits until the container is healthy */
  readonly healthcheck?: HealthcheckSpec;
};

/** Durations as Go prints them (goDuration), the form the provider reads back: "2m0s", never "120s". */
export type HealthcheckSpec = {
  /** run by the container's shell (CMD-SHELL) */
  readonly command: string;
  readonly interval: string;
  readonly timeout: string;
  readonly retries: number;
  readonly startPeriod: string;
  /** how long `up` waits for healthy */
  readonly waitSeconds: number;
};

type Timing = { readonly interval: number; readonly timeout: number; readonly retries: number; readonly startPeriod: number; readonly wait: number };

const healthcheck = (command: string, t: Timing): HealthcheckSpec => ({
  command,
  interval: goDuration(t.interval),
  timeout: goDuration(t.timeout),
  retries: t.retries,
  startPeriod: goDuration(t.startPeriod),
  waitSeconds: t.wait,
});

/** Seconds; SeaTable's first start (database set-up) takes minutes. */
const SEATABLE_TIMING: Timing = { interval: 20, timeout: 10, retries: 3, startPeriod: 120, wait: 900 };
/** Seconds; nginx starts at once, so `up` learns within a minute that it cannot (a config or image it refuses). */
const PROXY_TIMING: Timing = { interval: 10, timeout: 5, retries: 3, startPeriod: 10, wait: 60 };

/**
 * The proxy answers on its own port inside the container (nginx listens on
 * IPv4 only, hence 127.0.0.1). busybox wget is in the alpine images (not every
 * busybox has wget's -T: Docker's timeout bounds it), curl in most others;
 * without either the check fails and `up` says so.
 */
const proxyHealthCommand = (port: number) => {
  const url = `http://127.0.0.1:${port}${STATUS_PATH}`;
  return `wget -q -O /dev/null ${url} || curl --fail --silent --max-time 5 --output /dev/null ${url} || exit 1`;
};

/** Each role answers on its own port (REL's check, curl on 8000, fits dtable-web only). */
const HEALTHCHECK: Record<Role, string> = {
  "dtable-web": `curl --fail --silent --max-time 5 http://localhost:${PORTS.dtableWeb}/api2/ping/ || exit 1`,
  "dtable-db": `curl --fail --silent --max-time 5 http://localhost:${PORTS.dtableDb}/ping/ || exit 1`,
  "dtable-server": `curl --fail --silent --max-time 5 http://localhost:${PORTS.dtableServer}/ping/ || exit 1`,
};

/** json-file rotation as in the seed: 10 MB × 3. */
const LOG_OPTS = { "max-size": "10m", "max-file": "3" } as const;

/** The node whose storage server cleans up snapshots: exactly one (AD); the dtable-db node. */
export const SNAPSHOT_CLEANUP_ROLE: Role = "dtable-db";

/**
 * extra_hosts of a seatable-server container: the nodes SeaTable calls across
 * hosts. Everything that talks to a dtable-server goes through the proxy on
 * dtable-web, so the dtable-server names are not needed here, and adding or
 * removing one never changes (and so never restarts) a running container.
 */
function seatableExtraHosts(config: ClusterConfig, self: NodeHost) {
  const named = [config.hosts.web, config.hosts.db, ...(self.role === "dtable-server" ? [self] : [])];
  return named.map((h) => ({ host: h.name, ip: canonicalAddress(h.address) }));
}

/**
 * The provider reads extra_hosts back by splitting "name:ip" at every ':'
 * (docs/engine-contract.md): an IPv6 entry comes back as another address, and
 * since extra_hosts forces a new container, every `up` would replace it.
 */
const readsBack = (h: { readonly ip: string }) => !h.ip.includes(":");

/**
 * The /etc/hosts a seatable-server mounts from SEATABLE_HOSTS instead of
 * extra_hosts, when one of its entries is IPv6; undefined when extra_hosts
 * carries them. Docker's own lines, without the container's own name (its ID).
 */
export function seatableHostsFile(config: ClusterConfig, host: NodeHost): string | undefined {
  const entries = seatableExtraHosts(config, host);
  if (entries.every(readsBack)) return undefined;
  return [
    `# seatable-server's /etc/hosts on ${host.name}, rendered by seatable-cluster (IPv6 extra_hosts do not survive the docker provider's read-back).`,
    "127.0.0.1 localhost",
    "::1 localhost ip6-localhost ip6-loopback",
    "fe00::0 ip6-localnet",
    "ff00::0 ip6-mcastprefix",
    "ff02::1 ip6-allnodes",
    "ff02::2 ip6-allrouters",
    ...entries.map((e) => `${e.ip} ${e.host}`),
    "",
  ].join("\n");
}

/**
 * What REL's caddy labels do to every answer from dtable-web (seatable-release
 * compose/seatable-server.yml; the same from v6.1.8 to its newest files, and
 * 6.2's upgrade notice changes nothing here, so 6.1 and 6.2 share them).
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Strict-Transport-Security": "max-age=31536000; includeSubdomains; preload",
  "Referrer-Policy": "same-origin",
  "X-XSS-Protection": "1; mode=block",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "SAMEORIGIN",
};

/** REL's defaults for the office and whiteboard add-ons the policy names (ONLYOFFICE_PORT, COLLABORA_PORT, TLDRAW_PORT). */
const ADDON_PORTS = { onlyoffice: 6233, collabora: 6232, tldraw: 6239 } as const;

/** REL's Content-Security-Policy, directive by directive. */
function contentSecurityPolicy(hostname: string): string {
  const at = (port: number) => `${hostname}:${port}`;
  const directives: readonly (readonly string[])[] = [
    ["block-all-mixed-content"],
    ["default-src", "'none'"],
    ["style-src", "'unsafe-inline'", "'self'", "fonts.googleapis.com"],
    ["script-src", "'unsafe-inline'", "'unsafe-eval'", "'self'"],
    ["script-src-elem", "'unsafe-inline'", "'self'", at(ADDON_PORTS.onlyoffice), "maps.googleapis.com", "unpkg.com"],
    ["font-src", "'self'", "data:", "unpkg.com", at(ADDON_PORTS.tldraw), "fonts.gstatic.com"],
    ["img-src", "'self'", "data:", "blob:", "https:", "market.seatable.io", "market.seatable.com", "mt0.google.com", "maps.googleapis.com", "maps.gstatic.com"],
    ["media-src", "'self'"],
    ["form-action", "'self'", at(ADDON_PORTS.collabora)],
    ["connect-src", "'self'", "market.seatable.io", "market.seatable.com", "https:", "ws:", "blob:", "data:"],
    ["frame-src", "'self'", at(ADDON_PORTS.collabora), at(ADDON_PORTS.onlyoffice)],
    ["frame-ancestors", "'self'"],
    ["worker-src", "'self'", "blob:"],
    ["manifest-src", "'self'"],
    ["object-src", "'self'"],
    ["base-uri", "'self'"],
  ];
  return directives.map((d) => d.join(" ")).join("; ");
}

/** Pages meant to be embedded on other sites (REL): any site may frame them, so no policy either (its frame-ancestors would forbid it). */
const FRAMEABLE_PATHS = [
  "/dtable/view-external-links/*",
  "/dtable/external-links/*",
  "/dtable/external-apps/*",
  "/dtable/forms/*",
  "/apps/custom/*",
  "/external-apps/*",
] as const;

/**
 * One Caddyfile argument, however many words it holds: caddy-docker-proxy
 * splits a label's value into arguments at spaces unless they are quoted, and
 * `header` takes a second and third argument as a find/replace pair.
 */
const oneArg = (value: string) => `\`${value}\``;

/**
 * Labels for caddy-docker-proxy (REL's public entry). The headers are set
 * before dtable-web answers; the framing routes change them when the answer
 * is written (a removal defers caddy's header block), so they win.
 */
function caddyLabels(config: ClusterConfig): Record<string, string> {
  const labels: Record<string, string> = {
    caddy_0: `${config.serverProtocol}://${config.serverHostname}`,
    "caddy_0.reverse_proxy": "{{upstreams 80}}",
    caddy_1: ":80",
    "caddy_1.@http.protocol": "http",
    "caddy_1.redir": `@http https://${config.serverHostname}{uri}`,
  };
  const headers = { ...SECURITY_HEADERS, "Content-Security-Policy": contentSecurityPolicy(config.serverHostname) };
  for (const [name, value] of Object.entries(headers)) labels[`caddy_0.header_0.${name}`] = oneArg(value);
  FRAMEABLE_PATHS.forEach((path, i) => {
    labels[`caddy_0.route_${i}`] = path;
    labels[`caddy_0.route_${i}.header.X-Frame-Options`] = "ALLOWALL";
    labels[`caddy_0.route_${i}.header.-Content-Security-Policy`] = "";
  });
  // Cookies usable inside those frames on other sites. Its own block, applied
  // when the answer is written: in the block above (as REL writes it) the rule
  // would run before dtable-web's cookies exist and change nothing. Browsers
  // refuse SameSite=None without Secure, and Secure cookies over plain http.
  if (config.serverProtocol === "https") {
    labels["caddy_0.header_1.Set-Cookie"] = `(.*) ${oneArg("$1; SameSite=None; Secure")}`;
    labels["caddy_0.header_1.defer"] = "";
  }
  return labels;
}

/** A node's seatable-server environment: the program's, then the stack config's environment. */
export function seatableEnvironment(config: ClusterConfig, host: NodeHost): NodeEnvironment {
  const snapshotCleanup = host.role === SNAPSHOT_CLEANUP_ROLE;
  return withAdminEnvironment(config, host, { env: nodeEnvironment(config, host.role, { snapshotCleanup }), secretEnv: secretEnvironmentNames(host.role, config) });
}

export function seatableContainer(config: ClusterConfig, host: NodeHost): ContainerSpec {
  const role = host.role;
  // Docker reads a published address back in its canonical form
  const address = canonicalAddress(host.address);
  const ports: PortSpec[] = [];
  const volumes: VolumeSpec[] = [{ hostPath: SEATABLE_DIR, containerPath: "/shared", readOnly: false }];
  let labels: Record<string, string> = {};
  let networks: string[] = [];
  if (role === "dtable-web") {
    // gunicorn for the other nodes; never 5000 here: the proxy owns it.
    ports.push({ ip: address, external: PORTS.dtableWeb, internal: PORTS.dtableWeb });
    volumes.push({ hostPath: SEATABLE_NGINX_CONF, containerPath: "/etc/nginx/sites-enabled/default", readOnly: true });
    if (config.publicEntry === "caddy") {
      labels = caddyLabels(config);
      networks = [FRONTEND_NETWORK];
    } else {
      ports.push({ ip: address, external: PORTS.http, internal: PORTS.http });
    }
  } else if (role === "dtable-db") {
    ports.push({ ip: address, external: PORTS.dtableDb, internal: PORTS.dtableDb });
  } else {
    ports.push({ ip: address, external: PORTS.dtableServer, internal: PORTS.dtableServer });
  }
  const environment = seatableEnvironment(config, host);
  const hostsFile = seatableHostsFile(config, host);
  if (hostsFile !== undefined) {
    volumes.push({ hostPath: SEATABLE_HOSTS, containerPath: "/etc/hosts", readOnly: true });
    labels = { ...labels, [HOSTS_FILE_LABEL]: createHash("sha256").update(hostsFile).digest("hex") };
  }
  return {
    name: SEATABLE_CONTAINER,
    image: config.image,
    env: environment.env,
    secretEnv: environment.secretEnv,
    ports,
    volumes,
    extraHosts: hostsFile === undefined ? seatableExtraHosts(config, host) : [],
    labels,
    networks,
    stopTimeoutSeconds: config.stopTimeoutSeconds,
    restart: "unless-stopped",
    logOpts: LOG_OPTS,
    logDriver: "json-file",
    healthcheck: healthcheck(HEALTHCHECK[role], SEATABLE_TIMING),
  };
}

/** nginx routing bases to dtable-servers; its config and /etc/hosts are files this program uploads. */
export function proxyContainer(config: ClusterConfig): ContainerSpec {
  const web = config.hosts.web;
  return {
    name: PROXY_CONTAINER,
    image: config.proxy.image,
    command: ["nginx", "-g", "daemon off;", "-c", `${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`],
    env: {},
    secretEnv: {},
    // the proxy's port (stub_status at /nginx_status too), on the private address only
    ports: [{ ip: canonicalAddress(web.address), external: config.proxy.port, internal: config.proxy.port }],
    volumes: [
      // the folder, not the file: a new config is renamed into place, which a file mount would not see
      { hostPath: PROXY_DIR, containerPath: PROXY_DIR_IN_CONTAINER, readOnly: true },
      // dtable-server names, rewritten in place: scaling never recreates the container
      { hostPath: PROXY_HOSTS, containerPath: "/etc/hosts", readOnly: true },
    ],
    extraHosts: [],
    labels: {},
    networks: [],
    stopTimeoutSeconds: 30,
    restart: "unless-stopped",
    logDriver: "json-file",
    logOpts: LOG_OPTS,
    // `up` fails when nginx does not start (a new image, a config it refuses)
    healthcheck: healthcheck(proxyHealthCommand(config.proxy.port), PROXY_TIMING),
  };
}

/** caddy-docker-proxy as REL runs it, on the public address only. */
export function caddyContainer(config: ClusterConfig): ContainerSpec | undefined {
  const publicAddress = config.hosts.web.publicAddress;
  if (config.publicEntry !== "caddy" || publicAddress === undefined) return undefined;
  return {
    name: CADDY_CONTAINER,
    image: CADDY_IMAGE,
    env: { CADDY_INGRESS_NETWORKS: FRONTEND_NETWORK },
    secretEnv: {},
    ports: [
      { ip: canonicalAddress(publicAddress), external: PORTS.http, internal: PORTS.http },
      { ip: canonicalAddress(publicAddress), external: PORTS.https, internal: PORTS.https },
    ],
    volumes: [
      { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock", readOnly: true },
      { hostPath: "/opt/caddy", containerPath: "/data/caddy", readOnly: false },
    ],
    extraHosts: [],
    labels: {},
    networks: [FRONTEND_NETWORK],
    stopTimeoutSeconds: 30,
    restart: "unless-stopped",
    logDriver: "json-file",
    logOpts: LOG_OPTS,
  };
}
