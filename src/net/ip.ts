import { BlockList, isIP } from "node:net";
import { UnsafeValueError } from "../errors.js";

/** Address family as the kernel and `net.isIP` name it. */
export type Family = 4 | 6;

/** `::ffff:a:b` as RFC 5952 prints an IPv4-mapped address (::ffff:0:0/96, RFC 4291 2.5.5.2). */
const MAPPED_V4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * The one canonical text of an address, used for every store key, grant, ban, limit,
 * log line, admin route and firewall rule: IPv4 in dotted decimal; IPv6 per RFC 5952
 * (lower case, zeros compressed); every IPv4-mapped spelling (`::ffff:1.2.3.4`,
 * `0::ffff:1.2.3.4`, `::ffff:0102:0304`) is the IPv4 address, so it gets an IPv4 rule.
 * Undefined for anything that is not an address, including zone-scoped addresses
 * (`fe80::1%eth0`), which a firewall rule cannot carry.
 */
export function canonicalIp(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim();
  const family = isIP(value);
  // Node's isIP refuses leading zeros and short forms, so a valid IPv4 text is canonical.
  if (family === 4) return value;
  // net.isIP accepts a zone suffix (fe80::1%eth0), which no firewall rule can carry.
  if (family !== 6 || value.includes("%")) return undefined;
  // The WHATWG URL parser prints IPv6 hosts in RFC 5952 form, as inet_ntop does.
  const text = new URL(`http://[${value}]/`).hostname.slice(1, -1);
  const mapped = MAPPED_V4.exec(text);
  if (mapped === null) return text;
  const high = parseInt(mapped[1] ?? "0", 16);
  const low = parseInt(mapped[2] ?? "0", 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
}

/** The family of a valid address; throws on anything else. */
export function familyOf(ip: string): Family {
  const family = isIP(ip);
  if (family === 0) throw new UnsafeValueError("IP address", ip);
  return family as Family;
}

/**
 * Named ranges accepted where CIDRs are, like Express's `trust proxy` keywords. A Map, so
 * an entry such as `constructor` can never find an inherited property.
 */
export const CIDR_KEYWORDS: ReadonlyMap<string, readonly string[]> = new Map([
  ["loopback", ["127.0.0.0/8", "::1/128"]],
  ["linklocal", ["169.254.0.0/16", "fe80::/10"]],
  ["private", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]],
  ["uniquelocal", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]],
]);

/** A parsed CIDR such as `10.0.0.0/8`; a bare address is a host route. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: Family;
}

/** Parses `addr/prefix` or a bare address; undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [addressPart, prefixPart, extra] = text.trim().split("/");
  if (addressPart === undefined || extra !== undefined) return undefined;
  const address = canonicalIp(addressPart);
  if (address === undefined) return undefined;
  const family = familyOf(address);
  const max = family === 4 ? 32 : 128;
  if (prefixPart === undefined) return { address, prefix: max, family };
  if (!/^\d{1,3}$/.test(prefixPart)) return undefined;
  const prefix = Number(prefixPart);
  return prefix <= max ? { address, prefix, family } : undefined;
}

/** Expands keywords and validates every entry; returns the bad entries too. */
export function expandCidrs(entries: readonly string[]): { cidrs: Cidr[]; invalid: string[] } {
  const cidrs: Cidr[] = [];
  const invalid: string[] = [];
  for (const entry of entries) {
    const named = CIDR_KEYWORDS.get(entry);
    for (const text of named ?? [entry]) {
      const cidr = parseCidr(text);
      if (cidr) cidrs.push(cidr);
      else invalid.push(entry);
    }
  }
  return { cidrs, invalid };
}

/**
 * A fast membership test over CIDRs and keywords, backed by `net.BlockList`.
 * Throws on an invalid entry: config validation reports those with their key path first.
 */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(entries: readonly string[]) {
    const { cidrs, invalid } = expandCidrs(entries);
    if (invalid.length > 0) throw new UnsafeValueError("CIDR", invalid.join(", "));
    for (const { address, prefix, family } of cidrs) {
      this.list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
    }
    this.size = cidrs.length;
  }

  /** True when the address (canonical or not) lies in one of the ranges. */
  has(ip: string): boolean {
    // IPv4 text that isIP accepts is canonical already: skip the work on the hot path.
    const address = isIP(ip) === 4 ? ip : canonicalIp(ip);
    if (address === undefined) return false;
    return this.list.check(address, isIP(address) === 4 ? "ipv4" : "ipv6");
  }
}
