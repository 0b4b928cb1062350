// Each node's containers as plain data (pure/plan/containers.ts): what each role
// publishes, mounts and joins, and the caddy container of REL's public entry.
// A port on the wrong role (dtable-server without 5000: the proxy reaches no
// base), dtable-web's site not mounted (the proxy's ping locations missing), or
// a port SeaTable keeps inside (6666, 8082, 7780) published, would each be a
// broken or exposed cluster that `pulumi up` reports as a success.
import { caddyContainer, ContainerSpec, proxyContainer, seatableContainer } from "../pure/plan/containers";
import { configOf, stackValues } from "./support/stacks";

const SHARED = { hostPath: "/opt/seatable-server", containerPath: "/shared", readOnly: false };
const SITE = { hostPath: "/opt/seatable-compose/config/seatable-nginx.conf", containerPath: "/etc/nginx/sites-enabled/default", readOnly: true };
const wiring = (c: ContainerSpec) => ({ ports: c.ports, volumes: c.volumes, networks: c.networks, extraHosts: c.extraHosts });

/** the dev stack with each public entry */
const withEntry = (publicEntry: "caddy" | "loadBalancer") => ({ ...stackValues("dev"), publicEntry });

describe.each(["caddy", "loadBalancer"] as const)("public entry %s", (entry) => {
  const config = configOf(withEntry(entry));
  const { web, db, servers } = config.hosts;
  const caddy = entry === "caddy";
  const knows = [
    { host: web.name, ip: web.address },
    { host: db.name, ip: db.address },
  ];

  test("dtable-web publishes gunicorn (8000) and, without caddy, nginx (80) on its private address, mounts its site, and joins caddy's network with caddy", () => {
    const c = seatableContainer(config, web);
    expect(wiring(c)).toEqual({
      ports: [{ ip: web.address, external: 8000, internal: 8000 }, ...(caddy ? [] : [{ ip: web.address, external: 80, internal: 80 }])],
      volumes: [SHARED, SITE],
      networks: caddy ? ["frontend-net"] : [],
      extraHosts: knows,
    });
    // REL's caddy labels go on dtable-web only, and only when caddy reads them
    expect(Object.keys(c.labels).length > 0).toBe(caddy);
  });

  test("dtable-db publishes 7777 only, no site, no network, no label", () => {
    const c = seatableContainer(config, db);
    expect(wiring(c)).toEqual({ ports: [{ ip: db.address, external: 7777, internal: 7777 }], volumes: [SHARED], networks: [], extraHosts: knows });
    expect(c.labels).toEqual({});
  });

  test("each dtable-server publishes 5000 only (the proxy's upstream) and knows its own name besides dtable-web and dtable-db", () => {
    for (const s of servers) {
      const c = seatableContainer(config, s);
      expect(wiring(c)).toEqual({ ports: [{ ip: s.address, external: 5000, internal: 5000 }], volumes: [SHARED], networks: [], extraHosts: [...knows, { host: s.name, ip: s.address }] });
      expect(c.labels).toEqual({});
    }
  });

  test("the proxy joins no network and no caddy label", () => {
    const p = proxyContainer(config);
    expect([p.networks, p.labels, p.extraHosts]).toEqual([[], {}, []]);
  });

  test("caddy exactly when it is the public entry and dtable-web has a public address: 80 and 443 there, the docker socket read-only, its certificates kept on the host", () => {
    const c = caddyContainer(config);
    if (!caddy) {
      expect(c).toBeUndefined();
      return;
    }
    expect(web.publicAddress).toBeDefined();
    expect(c).toMatchObject({
      name: "caddy",
      env: { CADDY_INGRESS_NETWORKS: "frontend-net" },
      secretEnv: {},
      ports: [
        { ip: web.publicAddress, external: 80, internal: 80 },
        { ip: web.publicAddress, external: 443, internal: 443 },
      ],
      volumes: [
        { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock", readOnly: true },
        { hostPath: "/opt/caddy", containerPath: "/data/caddy", readOnly: false },
      ],
      extraHosts: [],
      labels: {},
      networks: ["frontend-net"],
    });
  });
});
