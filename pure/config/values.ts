// Small value checks shared by the config schema and the routing code.
import { BlockList, isIP, SocketAddress } from "node:net";
import { parseImageReference } from "./image-reference";

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

// link-local addresses only mean something together with an interface of the
// machine that uses them, which the deploy machine and the containers do not share
const notAHost = new BlockList();
notAHost.addSubnet("0.0.0.0", 8, "ipv4");
notAHost.addSubnet("127.0.0.0", 8, "ipv4");
notAHost.addSubnet("169.254.0.0", 16, "ipv4");
notAHost.addSubnet("224.0.0.0", 3, "ipv4");
notAHost.addAddress("::", "ipv6");
notAHost.addAddress("::1", "ipv6");
notAHost.addSubnet("fe80::", 10, "ipv6");
notAHost.addSubnet("ff00::", 8, "ipv6");

/** One spelling per address: IPv6 lower-case and shortened (RFC 5952), so that "FD00:0::1" and "fd00::1" compare equal. */
export function canonicalAddress(address: string): string {
  return isIP(address) === 6 ? new SocketAddress({ address, family: "ipv6" }).address : address;
}

/**
 * Why a string is not one plain IP address, in words that follow the quoted
 * value; undefined when it is one. Each of these forms reaches a host as part of
 * a URL, a known_hosts line or a `docker -p` address, where it means something else.
 */
export function addressFormProblem(address: string): string | undefined {
  if (address.startsWith("[")) return "is in brackets; write the address without them";
  if (address.includes("/")) return "has a prefix length; expected one address, without /bits";
  if (address.includes("%")) return "has a zone index (%...); expected a node's address without one";
  // 010.0.0.1 is 8.0.0.1 to inet_aton (ssh, curl) and 10.0.0.1 to others
  if (/^[\d.]+$/.test(address) && /(^|\.)0\d/.test(address)) return "has a part with a leading zero, which some programs read as octal; write it without";
  const family = isIP(address);
  if (family === 0) return "is not an IPv4 or IPv6 address";
  const v4 = family === 6 ? /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(canonicalAddress(address))?.[1] : undefined;
  if (v4) return `is the IPv4 address ${v4} written as IPv6; write it as ${v4}`;
  return undefined;
}

export type AddressProblem = "malformed" | "not-a-host" | "public" | undefined;

/** What, if anything, keeps an address from being a cluster node's private address. */
export function addressProblem(address: string): AddressProblem {
  if (addressFormProblem(address) !== undefined) return "malformed";
  const type = isIP(address) === 4 ? "ipv4" : "ipv6";
  if (notAHost.check(address, type)) return "not-a-host";
  if (!nonPublic.check(address, type)) return "public";
  return undefined;
}

/** "registry:5000/seatable/seatable-enterprise:6.1.4@sha256:…" → "6.1.4"; undefined when the tag is not a version. */
export function versionFromImage(image: string): string | undefined {
  const tag = parseImageReference(image)?.tag;
  return tag !== undefined && /^\d+\.\d+(\.\d+)?$/.test(tag) ? tag : undefined;
}

/** An address as the host part of a URL: IPv6 in brackets. */
export function urlHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}
