// Small value checks shared by the config schema and the routing code.
import { BlockList, isIP } from "node:net";

const DASHED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX32 = /^[0-9a-f]{32}$/i;

/** A base UUID as SeaTable writes it (dashed) or as dtable-events also accepts it (32 hex digits). */
export function isUuid(value: string): boolean {
  return DASHED.test(value) || HEX32.test(value);
}

/** The lower-case dashed form, the one routing.json uses. */
export function normaliseUuid(value: string): string {
  const hex = value.replace(/-/g, "").toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Addresses a cluster node may have without the allowPublicAddresses opt-out: private
// ranges, carrier-grade NAT, and the documentation ranges the shipped stacks use.
const nonPublic = new BlockList();
for (const [net, bits] of [
  ["10.0.0.0", 8],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["100.64.0.0", 10],
  ["192.0.2.0", 24],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
] as const) {
  nonPublic.addSubnet(net, bits, "ipv4");
}
nonPublic.addSubnet("fc00::", 7, "ipv6");
nonPublic.addSubnet("2001:db8::", 32, "ipv6");

const notAHost = new BlockList();
notAHost.addSubnet("0.0.0.0", 8, "ipv4");
notAHost.addSubnet("127.0.0.0", 8, "ipv4");
notAHost.addSubnet("224.0.0.0", 3, "ipv4");
notAHost.addAddress("::", "ipv6");
notAHost.addAddress("::1", "ipv6");
notAHost.addSubnet("ff00::", 8, "ipv6");

export type AddressProblem = "malformed" | "not-a-host" | "public" | undefined;

/** What, if anything, keeps an address from being a cluster node's private address. */
export function addressProblem(address: string): AddressProblem {
  const family = isIP(address);
  if (family === 0) return "malformed";
  const type = family === 4 ? "ipv4" : "ipv6";
  if (notAHost.check(address, type)) return "not-a-host";
  if (!nonPublic.check(address, type)) return "public";
  return undefined;
}

/** "seatable/seatable-enterprise:6.1.4" → "6.1.4"; undefined when the tag is not a version. */
export function versionFromImage(image: string): string | undefined {
  const tag = /:([^:/]+)$/.exec(image)?.[1];
  return tag !== undefined && /^\d+\.\d+(\.\d+)?$/.test(tag) ? tag : undefined;
}

/** An address as the host part of a URL: IPv6 in brackets. */
export function urlHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}
